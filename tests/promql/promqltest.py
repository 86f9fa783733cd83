"""A runner for Prometheus's PromQL test scripts (``*.test``), against Vigil's engine.

The script language is described in ``conformance/promql/FORMAT.md`` (beside the
files, in ../shared or ``$VIGIL_CONFORMANCE_DIR``). This module parses the
scripts, loads the data into a :class:`~vigil.storage.MemoryStorage`, runs every
``eval`` through :class:`vigil.promql.engine.Engine` and judges the result with
the rules of FORMAT.md section 6 (annotations are not checked: the values are
what must match).

Evals are skipped when ``evals.json`` tags them with a feature Vigil does not
implement (native histograms, duration expressions, ``fill`` modifiers...).
Untagged evals are the *required* set the issue's 97% is counted over; evals
tagged only with features in :data:`OPTIONAL_TAGS` (experimental functions,
``limitk``) run too and are reported separately.

Command line (from the repository root)::

    python -m tests.promql.promqltest                        # summary + failures
    python -m tests.promql.promqltest -v functions.test       # one file, every failure
    python -m tests.promql.promqltest --write-known-failures  # regenerate KNOWN_FAILURES.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.model.labels import METRIC_NAME, Labels
from vigil.model.value import is_stale_nan
from vigil.promql.parser import ParseOptions, parse_duration, parse_expr, parse_series_desc
from vigil.promql.series_notation import load_series, merge_series, parse_series
from vigil.storage import MemoryStorage

__all__ = [
    "OPTIONAL_TAGS",
    "Clear",
    "Eval",
    "EvalOutcome",
    "Load",
    "Report",
    "almost_equal",
    "conformance_dir",
    "parse_script",
    "read_known_failures",
    "run_all",
    "run_file",
    "write_known_failures",
]

REPO = Path(__file__).resolve().parents[2]
KNOWN_FAILURES = Path(__file__).resolve().parent / "KNOWN_FAILURES.md"
REGENERATE = "python -m tests.promql.promqltest --write-known-failures"

OPTIONAL_TAGS = frozenset({"experimental_functions", "limitk/limit_ratio"})
"""Manifest tags whose evals run (and are reported apart from the required set)."""

TARGET = 0.97
EPSILON = 1e-6
MIN_NORMAL = sys.float_info.min  # 0x0010000000000000, the smallest normal double

# Engine settings the expected values assume (FORMAT.md section 8).
LOOKBACK_MS = 300_000
TIMEOUT_S = 100.0
MAX_SAMPLES = 50_000_000  # upstream uses 10,000 peak samples; no script tests the limit


def conformance_dir() -> Path:
    env = os.environ.get("VIGIL_CONFORMANCE_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "conformance"
    return base / "promql"


# -- script model ---------------------------------------------------------------------------


class ScriptError(ValueError):
    """The test file itself is malformed."""


@dataclass
class Load:
    line: int
    interval_ms: int
    series: list[tuple[Labels, list[float | None]]]
    skipped_lines: int = 0  # native-histogram or start-timestamp lines we can't load


@dataclass
class Clear:
    line: int


@dataclass
class Expected:
    labels: Labels
    values: list[float | None]


@dataclass
class Eval:
    file: str
    line: int
    kind: str  # "instant" | "range"
    expr: str
    start_ms: int
    end_ms: int = 0
    step_ms: int = 0
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    scalar: float | None = None
    string: str | None = None
    range_vector: tuple[int, int, int] | None = None  # expect range vector from/to/step
    expected: list[Expected] = field(default_factory=list)
    has_histograms: bool = False  # an expected line holds native histograms

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}"


Command = Load | Clear | Eval

_INSTANT_RE = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+at\s+(\S+)\s+(.+)$")
_RANGE_RE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$"
)
_RANGE_VECTOR_RE = re.compile(
    r"^expect\s+range\s+vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$"
)
_EXPECT_RE = re.compile(
    r"^expect\s+(fail|ordered|warn|no_warn|info|no_info)(?:\s+(msg|regex):(.*))?$"
)


def _dur(text: str, where: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise ScriptError(f"{where}: bad duration {text!r}: {err}") from None


def parse_go_number(text: str) -> float | None:
    """Go's ``ParseInt(s, 0, 64)`` then ``ParseFloat(s, 64)``; None if neither accepts it."""
    try:
        return float(int(text, 0))
    except ValueError:
        pass
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _parse_go_string(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return str(json.loads(text))
    raise ScriptError(f"expect string needs a quoted string, got {text!r}")


def parse_script(text: str, file: str = "<test>") -> list[Command]:
    """The commands of one test file (FORMAT.md sections 1 to 5)."""
    lines = [ln.strip(" \t\r") for ln in text.split("\n")]
    lines = ["" if ln.startswith("#") else ln for ln in lines]
    cmds: list[Command] = []
    i = 0
    n = len(lines)
    while i < n:
        ln = lines[i]
        if not ln:
            i += 1
            continue
        word = ln.split(None, 1)[0].lower()
        header = i + 1
        j = i + 1
        while j < n and lines[j]:
            j += 1
        body = lines[i + 1 : j]
        where = f"{file}:{header}"
        if word == "clear":  # one line only: an eval may follow without a blank
            cmds.append(Clear(header))
            i += 1
            continue
        if word.startswith("load"):
            cmds.append(_parse_load(ln, body, where, header))
        elif word.startswith("eval"):
            cmds.append(_parse_eval(ln, body, file, header))
        else:
            raise ScriptError(f"{where}: unknown command {word!r}")
        i = j
    return cmds


def _parse_load(header: str, body: list[str], where: str, line: int) -> Load:
    parts = header.split()
    if len(parts) != 2:
        raise ScriptError(f"{where}: expected 'load <interval>'")
    load = Load(line, _dur(parts[1], where), [])
    by_labels: dict[Labels, int] = {}
    for text in body:
        head = text.split(None, 1)[0]
        if head.endswith("@st") or "{{" in text:
            load.skipped_lines += 1
            continue
        try:
            labels, values = parse_series(text)
        except Exception as err:
            raise ScriptError(f"{where}: bad series line {text!r}: {err}") from None
        if labels in by_labels:  # the later line wins
            load.series[by_labels[labels]] = (labels, values)
        else:
            by_labels[labels] = len(load.series)
            load.series.append((labels, values))
    return load


def _parse_eval(header: str, body: list[str], file: str, line: int) -> Eval:
    where = f"{file}:{line}"
    norm = " ".join(header.split())
    if m := _INSTANT_RE.match(norm):
        mod, at, expr = m.groups()
        ev = Eval(file, line, "instant", expr, _dur(at, where))
    elif m := _RANGE_RE.match(norm):
        mod, start, end, step, expr = m.groups()
        ev = Eval(
            file, line, "range", expr, _dur(start, where), _dur(end, where), _dur(step, where)
        )
        if ev.end_ms < ev.start_ms:
            raise ScriptError(f"{where}: end is before start")
    else:
        raise ScriptError(f"{where}: bad eval header {header!r}")
    if mod == "fail":
        ev.fail = True
    elif mod == "ordered":
        ev.ordered = True
    for text in body:
        first = text.split(None, 1)[0]
        if first == "expect":
            if m := _RANGE_VECTOR_RE.match(" ".join(text.split())):
                ev.range_vector = (
                    _dur(m.group(1), where),
                    _dur(m.group(2), where),
                    _dur(m.group(3), where),
                )
                continue
            rest = text[len("expect") :].strip()
            if rest.startswith("string"):
                ev.string = _parse_go_string(rest[len("string") :].strip())
                continue
            if not (m := _EXPECT_RE.match(text)):
                raise ScriptError(f"{where}: bad expect line {text!r}")
            kind, how, arg = m.groups()
            if kind == "fail":
                ev.fail = True
                if how == "msg":
                    ev.fail_msg = arg.strip()
                elif how == "regex":
                    ev.fail_regex = arg.strip()
            elif kind == "ordered":
                ev.ordered = True
            # warn/info annotations are not checked
            continue
        if first in ("expected_fail_message", "expected_fail_regexp"):
            arg = text[len(first) :].strip()
            if first == "expected_fail_message":
                ev.fail_msg = arg
            else:
                ev.fail_regex = arg
            continue
        if (num := parse_go_number(text)) is not None:
            ev.scalar = num
            break
        if "{{" in text:
            ev.has_histograms = True
            continue
        try:
            labels, values = parse_series_desc(text)
        except Exception as err:
            raise ScriptError(f"{where}: bad result line {text!r}: {err}") from None
        if ev.kind == "instant" and ev.range_vector is None and len(values) != 1:
            raise ScriptError(f"{where}: an instant result line needs exactly one value")
        ev.expected.append(Expected(labels, values))
    return ev


# -- judging --------------------------------------------------------------------------------


def almost_equal(a: float, b: float, epsilon: float = EPSILON) -> bool:
    """Upstream's ``almost.Equal`` with the staleness-NaN rule of FORMAT.md section 6."""
    sa, sb = is_stale_nan(a), is_stale_nan(b)
    if sa or sb:
        return sa and sb
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < MIN_NORMAL:
        return diff < epsilon * MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < epsilon


class MismatchError(Exception):
    """The result does not meet the expectations; the message says how."""


def _fmt(v: float) -> str:
    return "stale" if is_stale_nan(v) else repr(v)


def _final_labels(labels: Labels, drop: bool) -> Labels:
    return labels.without(METRIC_NAME) if drop and METRIC_NAME in labels else labels


def _vector_points(value: Any) -> list[tuple[Labels, list[tuple[int, float]]]]:
    """Rows of a Vector (or Scalar) result as (labels, [(step index, value)])."""
    from vigil.promql.value import Scalar, Vector

    if isinstance(value, Scalar):
        vals = np.asarray(value.values)
        return [(Labels(), [(j, float(v)) for j, v in enumerate(vals)])]
    if not isinstance(value, Vector):
        raise MismatchError(f"expected a vector result, got {type(value).__name__}")
    out = []
    drop = value.drop_name
    for i, labels in enumerate(value.labels):
        present = np.flatnonzero(value.present[i])
        if len(present) == 0:
            continue
        row = value.values[i]
        d = bool(drop[i]) if drop is not None else False
        out.append((_final_labels(labels, d), [(int(j), float(row[j])) for j in present]))
    return out


def _check_series_set(
    got: list[tuple[Labels, list[tuple[int, float]]]],
    ev: Eval,
    times: Callable[[int], int],
    ordered: bool,
    check_sorted: bool,
) -> None:
    """``got``: each series' points as (time key, value); expected values align with times(i)."""
    seen: set[Labels] = set()
    for labels, _ in got:
        if labels in seen:
            raise MismatchError(f"duplicate series in result: {labels}")
        seen.add(labels)
    exp_by = {e.labels: e for e in ev.expected}
    if len(exp_by) != len(ev.expected):
        raise ScriptError(f"{ev.key}: duplicate expected series")
    for labels, _ in got:
        if labels not in exp_by:
            raise MismatchError(f"unexpected series {labels} (expected {len(ev.expected)} series)")
    got_by = dict(got)
    for e in ev.expected:
        if e.labels not in got_by:
            raise MismatchError(f"missing series {e.labels} (got {len(got)} series)")
    if ordered:
        for k, (labels, _) in enumerate(got):
            if labels != ev.expected[k].labels:
                raise MismatchError(
                    f"order: element {k} is {labels}, expected {ev.expected[k].labels}"
                )
    if check_sorted:
        keys = [labels for labels, _ in got]
        if keys != sorted(keys):
            raise MismatchError("range result is not sorted by labels")
    for e in ev.expected:
        want = {times(i): v for i, v in enumerate(e.values) if v is not None}
        have = dict(got_by[e.labels])
        if set(want) != set(have):
            missing = sorted(set(want) - set(have))
            extra = sorted(set(have) - set(want))
            raise MismatchError(
                f"{e.labels}: points differ: missing at {missing[:5]}, unexpected at {extra[:5]}"
            )
        for t, w in sorted(want.items()):
            if not almost_equal(have[t], w):
                raise MismatchError(f"{e.labels} at {t}: got {_fmt(have[t])}, want {_fmt(w)}")


def judge(ev: Eval, value: Any) -> None:
    """Raise :class:`MismatchError` unless ``value`` (the query's result) meets the expectations."""
    from vigil.promql.value import Matrix, Scalar, String

    if ev.string is not None:
        if not isinstance(value, String):
            raise MismatchError(f"expected string {ev.string!r}, got {type(value).__name__}")
        if value.value != ev.string:
            raise MismatchError(f"got string {value.value!r}, want {ev.string!r}")
        return
    if isinstance(value, String):
        raise MismatchError(f"unexpected string result {value.value!r}")
    if ev.kind == "range":
        if ev.ordered:
            raise ScriptError(f"{ev.key}: expect ordered on a range query")
        if ev.scalar is not None:
            raise ScriptError(f"{ev.key}: scalar line in a range eval")
        _check_series_set(_vector_points(value), ev, lambda i: i, ordered=False, check_sorted=True)
        return
    # instant
    if ev.scalar is not None:
        if not isinstance(value, Scalar):
            raise MismatchError(f"expected scalar {ev.scalar!r}, got {type(value).__name__}")
        v = float(np.asarray(value.values)[0])
        if not almost_equal(v, ev.scalar):
            raise MismatchError(f"got scalar {_fmt(v)}, want {_fmt(ev.scalar)}")
        return
    if isinstance(value, Scalar):
        raise MismatchError(f"unexpected scalar result {_fmt(float(np.asarray(value.values)[0]))}")
    if ev.range_vector is not None or isinstance(value, Matrix):
        if not isinstance(value, Matrix):
            raise MismatchError(f"expected a range vector, got {type(value).__name__}")
        if ev.ordered:
            raise ScriptError(f"{ev.key}: expect ordered on a matrix result")
        if ev.range_vector is None:
            if ev.expected:
                raise MismatchError("got a range vector, expected an instant vector")
            rows = [s for s in value.series if s.last[0] > s.first[0]]
            if rows:
                raise MismatchError(f"expected an empty result, got a range vector of {len(rows)}")
            return
        start, _end, step = ev.range_vector
        got: list[tuple[Labels, list[tuple[int, float]]]] = []
        for s in value.series:
            lo, hi = int(s.first[0]), int(s.last[0])
            if hi > lo:
                pts = [(int(t), float(v)) for t, v in zip(s.ts[lo:hi], s.vs[lo:hi], strict=True)]
                got.append((s.labels, pts))
        _check_series_set(got, ev, lambda i: start + i * step, ordered=False, check_sorted=False)
        return
    _check_series_set(
        _vector_points(value), ev, lambda i: 0, ordered=ev.ordered, check_sorted=False
    )


# -- running --------------------------------------------------------------------------------


@dataclass
class EvalOutcome:
    key: str
    kind: str
    tags: tuple[str, ...]
    status: str  # "pass" | "fail" | "skip"
    reason: str = ""
    expr: str = ""

    @property
    def required(self) -> bool:
        return not self.tags


@dataclass
class Report:
    outcomes: list[EvalOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, pred: Callable[[EvalOutcome], bool]) -> tuple[int, int]:
        ran = [o for o in self.outcomes if o.status != "skip" and pred(o)]
        return sum(o.status == "pass" for o in ran), len(ran)

    @property
    def required(self) -> tuple[int, int]:
        return self._count(lambda o: o.required)

    @property
    def optional(self) -> tuple[int, int]:
        return self._count(lambda o: not o.required)

    @property
    def skipped(self) -> int:
        return sum(o.status == "skip" for o in self.outcomes)

    def failures(self) -> list[EvalOutcome]:
        return [o for o in self.outcomes if o.status == "fail"]

    def summary(self) -> str:
        p, m = self.required
        op, om = self.optional
        pct = 100.0 * p / m if m else 0.0
        return (
            f"PromQL conformance: {p}/{m} evals passed ({pct:.1f}%) "
            f"[required: untagged evals; target {TARGET:.0%}]; "
            f"optional features: {op}/{om} passed; skipped: {self.skipped} "
            f"(native histograms and unimplemented experimental syntax); {self.seconds:.1f}s"
        )


def load_manifest(directory: Path) -> dict[str, tuple[str, ...]]:
    path = directory / "evals.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {f"{e['file']}:{e['line']}": tuple(e["tags"]) for e in data["evals"]}


def script_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.test"))


def _make_engine() -> Any:
    from vigil.promql.engine import Engine

    return Engine(lookback_ms=LOOKBACK_MS, max_samples=MAX_SAMPLES, timeout_s=TIMEOUT_S)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_text(err: BaseException) -> str:
    return str(err)


class _Store:
    """The samples loaded since the last ``clear``; rebuilt into a MemoryStorage after loads."""

    def __init__(self) -> None:
        self.data: dict[Labels, dict[int, float]] = {}
        self.storage = MemoryStorage()

    def clear(self) -> None:
        self.data.clear()
        self.storage = MemoryStorage()

    def load(self, cmd: Load) -> None:
        for labels, by_time in merge_series(cmd.series, cmd.interval_ms).items():
            self.data.setdefault(labels, {}).update(by_time)
        storage = MemoryStorage()
        load_series(storage, self.data)
        self.storage = storage


def run_eval(engine: Any, storage: Any, ev: Eval) -> tuple[bool, str]:
    """(passed, reason) for one eval."""
    try:
        expr = parse_expr(ev.expr, ParseOptions(enable_experimental_functions=True))
        if ev.kind == "instant":
            result = engine.instant(storage, expr, ev.start_ms)
        else:
            result = engine.range(storage, expr, ev.start_ms, ev.end_ms, ev.step_ms)
        value = result.value
    except Exception as err:
        if not ev.fail:
            return False, f"error: {type(err).__name__}: {_short(_error_text(err))}"
        text = _error_text(err)
        if ev.fail_msg is not None and text != ev.fail_msg:
            return False, f"failed with {_short(text)!r}, want message {_short(ev.fail_msg)!r}"
        if ev.fail_regex is not None:
            import re2

            if re2.search(ev.fail_regex, text) is None:
                return False, f"failed with {_short(text)!r}, want /{ev.fail_regex}/"
        return True, ""
    if ev.fail:
        return False, "expected the query to fail, it succeeded"
    try:
        judge(ev, value)
    except MismatchError as err:
        return False, _short(str(err))
    except Exception as err:  # a malformed value from the engine
        return False, f"bad result: {type(err).__name__}: {_short(str(err))}"
    return True, ""


def run_file(
    path: Path,
    manifest: dict[str, tuple[str, ...]],
    *,
    engine: Any = None,
    only_line: int | None = None,
) -> list[EvalOutcome]:
    """Run every eval of one file (loads and clears always run, in order)."""
    cmds = parse_script(path.read_text(), path.name)
    if engine is None:
        engine = _make_engine()
    store = _Store()
    out: list[EvalOutcome] = []
    for cmd in cmds:
        if isinstance(cmd, Clear):
            store.clear()
            continue
        if isinstance(cmd, Load):
            store.load(cmd)
            continue
        tags = manifest.get(cmd.key, ())
        if cmd.has_histograms and "native_histograms" not in tags:
            tags = (*tags, "native_histograms")
        if only_line is not None and cmd.line != only_line:
            continue
        unsupported = [t for t in tags if t not in OPTIONAL_TAGS]
        if unsupported:
            out.append(EvalOutcome(cmd.key, cmd.kind, tags, "skip", ",".join(unsupported)))
            continue
        ok, reason = run_eval(engine, store.storage, cmd)
        out.append(EvalOutcome(cmd.key, cmd.kind, tags, "pass" if ok else "fail", reason, cmd.expr))
    return out


def run_all(directory: Path | None = None, files: Sequence[str] = ()) -> Report:
    directory = directory or conformance_dir()
    manifest = load_manifest(directory)
    started = time.monotonic()
    report = Report()
    paths = script_files(directory)
    if files:
        paths = [p for p in paths if p.name in files or p.stem in files]
    engine = _make_engine()
    for path in paths:
        report.outcomes.extend(run_file(path, manifest, engine=engine))
    report.seconds = time.monotonic() - started
    return report


# -- KNOWN_FAILURES.md ----------------------------------------------------------------------

_KNOWN_RE = re.compile(r"^- `([^`]+:\d+)`")
_PINNED_RE = re.compile(r"^Pinned: (\d+)/(\d+) required, (\d+)/(\d+) optional")


@dataclass
class Known:
    keys: set[str]
    pinned_required: int
    pinned_optional: int


def read_known_failures(path: Path = KNOWN_FAILURES) -> Known:
    keys: set[str] = set()
    req = opt = 0
    if path.is_file():
        for ln in path.read_text().splitlines():
            if m := _KNOWN_RE.match(ln):
                keys.add(m.group(1))
            elif m := _PINNED_RE.match(ln):
                req, opt = int(m.group(1)), int(m.group(3))
    return Known(keys, req, opt)


def _category(reason: str) -> str:
    if reason.startswith("error: "):
        body = reason[len("error: ") :]
        name, _, msg = body.partition(": ")
        if name == "ModuleNotFoundError" or "No module named" in msg:
            return "engine module missing"
        if name == "ParseError":
            return "parse error (syntax not supported by the parser)"
        if name == "NotImplementedError":
            return "not implemented"
        if "unknown function" in msg or "not implemented" in msg.lower():
            return "function not implemented"
        return f"evaluation error ({name})"
    if reason.startswith("expected the query to fail"):
        return "missing error"
    if reason.startswith("failed with"):
        return "wrong error message"
    return "wrong result"


def write_known_failures(report: Report, path: Path = KNOWN_FAILURES) -> None:
    p, m = report.required
    op, om = report.optional
    fails = report.failures()
    by_file: dict[str, list[EvalOutcome]] = {}
    for o in fails:
        by_file.setdefault(o.key.split(":")[0], []).append(o)
    cats: dict[str, int] = {}
    for o in fails:
        c = _category(o.reason)
        cats[c] = cats.get(c, 0) + 1
    lines = [
        "# Known PromQL conformance failures",
        "",
        "Every `eval` of the upstream PromQL test files (`../shared/conformance/promql/`) that Vigil's",
        "engine does not pass yet, with the reason the runner reported. `tests/promql/test_conformance.py`",
        "fails when an eval *not* listed here fails (a regression) or when fewer evals pass than pinned",
        "below. Evals listed here that now pass are reported, not failed: regenerate this file to",
        "lock the gain in. Generated, do not edit by hand:",
        "",
        "    " + REGENERATE,
        "",
        "Required = evals `evals.json` tags with no optional feature; optional = evals needing only",
        f"{', '.join(sorted(OPTIONAL_TAGS))}. Native histograms and unimplemented experimental",
        "syntax (duration expressions, fill modifiers, anchored/smoothed, start timestamps,",
        "type-and-unit labels) are skipped and not counted.",
        "",
        f"Pinned: {p}/{m} required, {op}/{om} optional"
        + (f" ({100.0 * p / m:.1f}% required)" if m else ""),
        "",
        "## By cause",
        "",
    ]
    for c, k in sorted(cats.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"* {c}: {k}")
    lines.append("")
    for file in sorted(by_file):
        lines += [f"## {file}", ""]
        for o in sorted(by_file[file], key=lambda o: int(o.key.split(":")[1])):
            tag = "" if o.required else f" [{', '.join(o.tags)}]"
            reason = o.reason.replace("`", "'").replace("\n", " ")
            expr = _short(o.expr, 90).replace("`", "'")
            lines.append(f"- `{o.key}`{tag} `{expr}`: {reason}")
        lines.append("")
    path.write_text("\n".join(lines))


def check_against_known(report: Report, known: Known) -> list[str]:
    """Problems that should fail CI: unlisted failures, pass counts under the pin."""
    problems = []
    new = [o for o in report.failures() if o.key not in known.keys]
    for o in new:
        problems.append(f"new failure {o.key} `{o.expr}`: {o.reason}")
    p, _ = report.required
    op, _ = report.optional
    if p < known.pinned_required:
        problems.append(f"required evals passing: {p} < pinned {known.pinned_required}")
    if op < known.pinned_optional:
        problems.append(f"optional evals passing: {op} < pinned {known.pinned_optional}")
    return problems


def now_passing(report: Report, known: Known) -> list[str]:
    passed = {o.key for o in report.outcomes if o.status == "pass"}
    return sorted(known.keys & passed)


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.promql.promqltest", description=__doc__)
    ap.add_argument("files", nargs="*", help="test files to run (default: all)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    ap.add_argument("--line", type=int, help="run only the eval at this line (one file)")
    ap.add_argument(
        "--write-known-failures",
        action="store_true",
        help=f"rewrite {KNOWN_FAILURES.relative_to(REPO)} from this run (all files only)",
    )
    args = ap.parse_args(list(argv) if argv is not None else None)
    directory = conformance_dir()
    if not directory.is_dir():
        print(f"no conformance files at {directory}; set VIGIL_CONFORMANCE_DIR", file=sys.stderr)
        return 2
    if args.line is not None:
        if len(args.files) != 1:
            ap.error("--line needs exactly one file")
        path = directory / (
            args.files[0] if args.files[0].endswith(".test") else args.files[0] + ".test"
        )
        for o in run_file(path, load_manifest(directory), only_line=args.line):
            print(f"{o.key} {o.status} {o.expr}\n  {o.reason}")
        return 0
    report = run_all(directory, args.files)
    known = read_known_failures()
    for o in report.failures():
        if args.verbose or o.key not in known.keys:
            flag = "" if o.key in known.keys else "NEW "
            print(f"{flag}FAIL {o.key} `{o.expr}`: {o.reason}")
    print(report.summary())
    if args.write_known_failures:
        if args.files:
            ap.error("--write-known-failures needs a run over all files")
        write_known_failures(report)
        print(f"wrote {KNOWN_FAILURES}")
        return 0
    gained = now_passing(report, known)
    if gained:
        print(f"{len(gained)} known failures now pass; regenerate with: {REGENERATE}")
    problems = [] if args.files else check_against_known(report, known)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
