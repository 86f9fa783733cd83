"""``vigil test rules``: promtool's rule unit-test files, run unchanged.

A test file (``promtool test rules test.yml``) names rule files, an
evaluation interval and test groups; each test group loads input series (in the
expanding notation of :mod:`vigil.promql.series_notation`) into a fresh
in-memory storage, evaluates every rule group at each ``evaluation_interval``
step from the start up to the largest ``eval_time``, checks the *firing* alerts
of ``alert_rule_test`` at their eval times, then runs each ``promql_expr_test``
query. Semantics and output follow promtool's ``cmd/promtool/unittest.go``
(Prometheus 3): a failing check prints ``exp:``/``got:`` blocks, a rule that
fails to evaluate stops its test group, and the exit code is 1 if anything
failed.

The file itself is read strictly, with positions: ``file:line:col: field: problem``.

Native histograms (``{{...}}`` values and ``histogram:`` expectations) are not
supported: a test group using them fails, saying so.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.config.nodes import Field, NodeReader, compose
from vigil.model import Labels, Position
from vigil.promql import Expr
from vigil.promql.engine import Engine
from vigil.promql.parser import ParseError
from vigil.promql.parser.literals import format_duration
from vigil.promql.series_notation import SeriesData, load_series, merge_series, parse_series
from vigil.promql.value import Scalar, Vector
from vigil.rules.alerting import AlertState
from vigil.rules.base import RuleContext
from vigil.rules.file import RuleGroupSpec, field_values, load_rule_files
from vigil.rules.group import Group
from vigil.storage.interface import Queryable
from vigil.storage.memory import MemoryStorage

__all__ = [
    "AlertTestCase",
    "ExpAlert",
    "ExpSample",
    "InputSeries",
    "PromqlTestCase",
    "TestFile",
    "TestGroup",
    "format_go_float",
    "is_test_file",
    "load_test_file",
    "parse_test_file",
    "run_test_file",
    "run_test_files",
]

DEFAULT_EVALUATION_INTERVAL_MS = 60_000
LOOKBACK_MS = 300_000

_FILE_KEYS = ("rule_files", "evaluation_interval", "group_eval_order", "tests", "fuzzy_compare")
_GROUP_KEYS = (
    "interval",
    "input_series",
    "alert_rule_test",
    "promql_expr_test",
    "external_labels",
    "external_url",
    "name",
    "start_timestamp",
)
_SERIES_KEYS = ("series", "values")
_ALERT_TEST_KEYS = ("eval_time", "alertname", "exp_alerts")
_EXP_ALERT_KEYS = ("exp_labels", "exp_annotations")
_PROMQL_TEST_KEYS = ("expr", "eval_time", "exp_samples")
_SAMPLE_KEYS = ("labels", "value", "histogram")

# -- the test file ------------------------------------------------------------------------


@dataclass
class InputSeries:
    series: str
    values: str
    data: SeriesData | None = None
    """Labels and expanded values; None when the line does not parse (see the group's errors)."""


@dataclass
class ExpAlert:
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class AlertTestCase:
    eval_time_ms: int
    alertname: str
    exp_alerts: list[ExpAlert] = field(default_factory=list)
    position: Position | None = None


@dataclass
class ExpSample:
    labels: str = ""
    value: float = 0.0
    histogram: str = ""


@dataclass
class PromqlTestCase:
    expr: str
    eval_time_ms: int
    exp_samples: list[ExpSample] = field(default_factory=list)
    position: Position | None = None


@dataclass
class TestGroup:
    """One entry of ``tests:``; ``errors`` holds input-series problems found while reading."""

    __test__ = False  # not a pytest class

    name: str = ""
    interval_ms: int = 0
    start_ms: int = 0
    input_series: list[InputSeries] = field(default_factory=list)
    alert_tests: list[AlertTestCase] = field(default_factory=list)
    promql_tests: list[PromqlTestCase] = field(default_factory=list)
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    errors: list[str] = field(default_factory=list)
    position: Position | None = None

    def max_eval_time_ms(self) -> int:
        times = [a.eval_time_ms for a in self.alert_tests]
        times += [p.eval_time_ms for p in self.promql_tests]
        return max(times, default=0)


@dataclass
class TestFile:
    """A parsed unit-test file; ``rule_files`` are resolved against its directory and globbed."""

    __test__ = False

    source: str
    rule_files: list[str] = field(default_factory=list)
    evaluation_interval_ms: int = DEFAULT_EVALUATION_INTERVAL_MS
    group_eval_order: list[str] = field(default_factory=list)
    fuzzy_compare: bool = False
    tests: list[TestGroup] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_test_file(text: str) -> bool:
    """Whether YAML ``text`` is a unit-test file (it has a top-level ``tests:`` key)."""
    if "tests" not in text:  # cheap answer for big rule files
        return False
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    return isinstance(root, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value == "tests" for k, _ in root.value
    )


def load_test_file(path: str | Path) -> TestFile:
    """Read and parse the test file at ``path``; ``ConfigError`` (or OSError) otherwise."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_test_file(text, str(path), os.path.dirname(str(path)))


def parse_test_file(text: str, source: str, base_dir: str | None = None) -> TestFile:
    """A test file's content; every problem of its shape is raised at once as ``ConfigError``."""
    root = compose(text, source)
    r = NodeReader(text, source, base_dir)
    out = TestFile(source)
    top = r.mapping(root, "")
    if top is None:
        raise ConfigError(r.problems)
    r.check_keys(top, _FILE_KEYS)

    def get(fields: dict[str, Field], key: str) -> yaml.Node | None:
        f = fields.get(key)
        return f.value if f else None

    patterns = r.string_list(get(top, "rule_files"), "rule_files")
    ev = r.duration(get(top, "evaluation_interval"), "evaluation_interval")
    if ev is not None and ev.ms > 0:
        out.evaluation_interval_ms = ev.ms
    order_items = r.string_list(get(top, "group_eval_order"), "group_eval_order")
    seen: set[str] = set()
    for i, (name, node) in enumerate(order_items):
        if name in seen:
            r.error(node, f"group_eval_order[{i}]", f"group name repeated: {name}")
        seen.add(name)
        out.group_eval_order.append(name)
    out.fuzzy_compare = bool(r.boolean(get(top, "fuzzy_compare"), "fuzzy_compare"))
    for i, node in enumerate(r.sequence(get(top, "tests"), "tests") or ()):
        tg = _parse_group(r, node, f"tests[{i}]", out.evaluation_interval_ms)
        if tg is not None:
            out.tests.append(tg)
    if r.problems:
        raise ConfigError(r.problems)
    for pattern, _node in patterns:
        full = r.file_path(pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            out.warnings.append(f"no file match pattern {full}")
        out.rule_files += matches
    return out


def _parse_group(r: NodeReader, node: yaml.Node, path: str, default_ms: int) -> TestGroup | None:
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _GROUP_KEYS)
    tg = TestGroup(position=r.position(node))

    get = field_values(fields)

    tg.name = r.string(get("name"), f"{path}.name") or ""
    interval = r.duration(get("interval"), f"{path}.interval")
    tg.interval_ms = interval.ms if interval is not None and interval.ms > 0 else default_ms
    tg.start_ms = _start_timestamp(r, get("start_timestamp"), f"{path}.start_timestamp")
    tg.external_labels = r.label_map(get("external_labels"), f"{path}.external_labels")
    tg.external_url = r.string(get("external_url"), f"{path}.external_url") or ""
    for i, snode in enumerate(r.sequence(get("input_series"), f"{path}.input_series") or ()):
        spath = f"{path}.input_series[{i}]"
        sf = r.mapping(snode, spath)
        if sf is None:
            continue
        r.check_keys(sf, _SERIES_KEYS)
        s_node, v_node = (sf[k].value if k in sf else None for k in _SERIES_KEYS)
        series = InputSeries(r.string(s_node, f"{spath}.series") or "", r.string(v_node, "") or "")
        try:
            series.data = parse_series(f"{series.series} {series.values}")
        except ParseError as exc:
            tg.errors.append(_series_error(r, exc, series, s_node, v_node, snode, spath))
        tg.input_series.append(series)
    for i, anode in enumerate(r.sequence(get("alert_rule_test"), f"{path}.alert_rule_test") or ()):
        at = _parse_alert_test(r, anode, f"{path}.alert_rule_test[{i}]")
        if at is not None:
            tg.alert_tests.append(at)
    for i, pnode in enumerate(
        r.sequence(get("promql_expr_test"), f"{path}.promql_expr_test") or ()
    ):
        pt = _parse_promql_test(r, pnode, f"{path}.promql_expr_test[{i}]")
        if pt is not None:
            tg.promql_tests.append(pt)
    return tg


def _series_error(
    r: NodeReader,
    exc: ParseError,
    series: InputSeries,
    s_node: yaml.Node | None,
    v_node: yaml.Node | None,
    item: yaml.Node,
    path: str,
) -> str:
    """``file:line:col: path.series: message``, pointing into the field the error is in."""
    offset = exc.position.offset if exc.position is not None else 0
    in_values = offset > len(series.series.encode())
    if in_values:  # a series missing its "}" fails only at the values: blame the series
        try:
            parse_series(series.series)
        except ParseError as own:
            exc, in_values = own, False
            offset = own.position.offset if own.position is not None else 0
    node = (v_node if in_values else s_node) or item
    where = f"{path}.values" if in_values else f"{path}.series"
    pos = r.position(node)
    if (
        pos is not None
        and isinstance(node, yaml.ScalarNode)
        and node.start_mark.line == node.end_mark.line
    ):
        # One-line scalar: step into it (past an opening quote) to the offending character.
        text = series.values if in_values else series.series
        index = offset - (len(series.series.encode()) + 1 if in_values else 0)
        index = len(text.encode()[: max(index, 0)].decode(errors="ignore"))
        quote = 1 if node.style in ("'", '"') else 0
        pos = Position(pos.line, pos.col + quote + index, pos.offset + quote + index)
    return str(ConfigProblem(_parse_message(exc), where, pos, r.source))


def _parse_message(exc: ParseError) -> str:
    return getattr(exc, "message", None) or str(exc)


def _start_timestamp(r: NodeReader, node: yaml.Node | None, path: str) -> int:
    """Milliseconds of ``start_timestamp``: Unix seconds, or RFC 3339 text."""
    text = r.string(node, path)
    if text is None:
        return 0
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        r.error(node, path, f"expected Unix seconds or an RFC 3339 time, got {text!r}")
        return 0
    if dt.tzinfo is None:
        r.error(node, path, f"an RFC 3339 time needs a zone (Z or +hh:mm), got {text!r}")
        return 0
    return round(dt.timestamp() * 1000)


def _eval_time(r: NodeReader, node: yaml.Node | None, path: str) -> int:
    d = r.duration(node, path)
    return d.ms if d is not None else 0


def _parse_alert_test(r: NodeReader, node: yaml.Node, path: str) -> AlertTestCase | None:
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _ALERT_TEST_KEYS)

    get = field_values(fields)

    at = AlertTestCase(
        _eval_time(r, get("eval_time"), f"{path}.eval_time"),
        r.string(get("alertname"), f"{path}.alertname") or "",
        position=r.position(node),
    )
    for i, enode in enumerate(r.sequence(get("exp_alerts"), f"{path}.exp_alerts") or ()):
        epath = f"{path}.exp_alerts[{i}]"
        ef = r.mapping(enode, epath)
        if ef is None:
            continue
        r.check_keys(ef, _EXP_ALERT_KEYS)
        lab = ef.get("exp_labels")
        ann = ef.get("exp_annotations")
        at.exp_alerts.append(
            ExpAlert(
                _string_map(r, lab.value if lab else None, f"{epath}.exp_labels"),
                _string_map(r, ann.value if ann else None, f"{epath}.exp_annotations"),
            )
        )
    return at


def _string_map(r: NodeReader, node: yaml.Node | None, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, f in (r.mapping(node, path) or {}).items():
        value = r.string(f.value, f.path)
        out[name] = value if value is not None else ""
    return out


def _parse_promql_test(r: NodeReader, node: yaml.Node, path: str) -> PromqlTestCase | None:
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _PROMQL_TEST_KEYS)

    get = field_values(fields)

    pt = PromqlTestCase(
        r.string(get("expr"), f"{path}.expr") or "",
        _eval_time(r, get("eval_time"), f"{path}.eval_time"),
        position=r.position(node),
    )
    for i, snode in enumerate(r.sequence(get("exp_samples"), f"{path}.exp_samples") or ()):
        spath = f"{path}.exp_samples[{i}]"
        sf = r.mapping(snode, spath)
        if sf is None:
            continue
        r.check_keys(sf, _SAMPLE_KEYS)
        s = ExpSample()
        if "labels" in sf:
            s.labels = r.string(sf["labels"].value, f"{spath}.labels") or ""
        if "value" in sf:
            s.value = _float(r, sf["value"].value, f"{spath}.value")
        if "histogram" in sf:
            s.histogram = r.string(sf["histogram"].value, f"{spath}.histogram") or ""
        pt.exp_samples.append(s)
    return pt


_YAML_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


def _float(r: NodeReader, node: yaml.Node | None, path: str) -> float:
    text = r.string(node, path)
    if text is None:
        return 0.0
    special = _YAML_FLOATS.get(text.lower())
    if special is not None:
        return special
    try:
        return float(text.replace("_", "")) if text.strip() else 0.0
    except ValueError:
        r.error(node, path, f"expected a number, got {text!r}")
        return 0.0


# -- formatting as promtool does ------------------------------------------------------------


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _labels_string(pairs: Iterable[tuple[str, str]]) -> str:
    """Go's ``labels.Labels.String()``: ``{a="b", c="d"}``, ``__name__`` included."""
    return "{" + ", ".join(f"{n}={_go_quote(v)}" for n, v in pairs) + "}"


def format_go_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'E', -1, 64)``: ``1E+00``, ``3.0000000000000004E+00``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    if v == 0:
        return f"{sign}0E+00"
    tup = Decimal(repr(abs(v))).normalize().as_tuple()
    digits = "".join(str(d) for d in tup.digits)
    exp = int(tup.exponent) + len(digits) - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mant}E{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _go_duration(ms: int) -> str:
    """Go's ``time.Duration.String()`` for whole milliseconds: ``0s``, ``1m0s``, ``1.5s``, ``100ms``."""
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    sec = f"{s}.{frac:03d}".rstrip("0") + "s" if frac else f"{s}s"
    if h:
        return f"{sign}{h}h{m}m{sec}"
    if m:
        return f"{sign}{m}m{sec}"
    return f"{sign}{sec}"


def _indent_lines(text: str, indent: str) -> str:
    return ("\n" + indent).join(text.split("\n"))


_Pairs = tuple[tuple[str, str], ...]
_AlertKey = tuple[_Pairs, _Pairs]


def _alerts_string(alerts: Sequence[_AlertKey]) -> str:
    if not alerts:
        return "[]"
    parts = []
    for i, (lab, ann) in enumerate(alerts):
        body = f"\nLabels:{_labels_string(lab)}\nAnnotations:{_labels_string(ann)}"
        parts.append(f"{i}:" + _indent_lines(body, "  "))
    return "[\n" + ",\n".join(parts) + "\n]"


def _samples_string(samples: Sequence[tuple[Labels, float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{_labels_string(lb.pairs)} {format_go_float(v)}" for lb, v in samples)


def _pairs(d: dict[str, str]) -> _Pairs:
    return tuple(sorted(d.items()))


# -- running ----------------------------------------------------------------------------------


def _exact(a: float, b: float) -> bool:
    return a == b


def _fuzzy(a: float, b: float) -> bool:
    """Equal but for the last bit of the mantissa (promtool's ``fuzzy_compare``)."""
    return a == b or abs(a - b) <= max(math.ulp(a), math.ulp(b))


def _to_samples(value: Any) -> list[tuple[Labels, float]]:
    if isinstance(value, Scalar):
        return [(Labels(), float(value.values[0]))]
    if isinstance(value, Vector):
        return [
            (lb, float(value.values[i, 0]))
            for i, lb in enumerate(value.labels)
            if bool(value.present[i, 0])
        ]
    raise ValueError("rule result is not a vector or scalar")


def _query_func(
    engine: Engine, storage: Queryable
) -> Callable[[str | Expr, int], list[tuple[Labels, float]]]:
    def query(expr: str | Expr, t_ms: int) -> list[tuple[Labels, float]]:
        return _to_samples(engine.instant(storage, expr, t_ms).value)

    return query


def _parse_exp_labels(text: str) -> Labels:
    """promql's ``ParseMetric``: ``name{a="b"}``, ``{a="b"}`` or ``name``; empty is no labels."""
    if not text.strip():
        return Labels()
    labels, values = parse_series(text)
    if values:
        raise ValueError(f"unexpected values after the series in {text!r}")
    return labels


class _RuleSource:
    """The rule groups of a test file's rule files, read once; their error, if any."""

    def __init__(self, paths: Sequence[str], ignore_unknown_fields: bool) -> None:
        self.specs: list[RuleGroupSpec] = []
        self.errors: list[str] = []
        try:
            self.specs = load_rule_files(paths, ignore_unknown_fields=ignore_unknown_fields)
        except ConfigError as exc:
            self.errors = [str(p) for p in exc.problems]


def _ordered(specs: Sequence[RuleGroupSpec], order: Sequence[str]) -> list[RuleGroupSpec]:
    """Groups named in ``group_eval_order`` in that order; unnamed ones rank with the first."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(specs, key=lambda g: rank.get(g.name, 0))


def _run_group(tf: TestFile, tg: TestGroup, rules: _RuleSource) -> list[str]:
    if tg.errors:
        return list(tg.errors)
    if rules.errors:
        return list(rules.errors)
    for at in tg.alert_tests:
        if not at.alertname:
            where = f" (in TestGroup {tg.name})" if tg.name else ""
            return [
                "an item under alert_rule_test misses required attribute alertname "
                f"at eval_time {format_duration(at.eval_time_ms)}{where}"
            ]
    interval = tf.evaluation_interval_ms
    mint = tg.start_ms
    maxt = mint + tg.max_eval_time_ms()
    last_ts = mint + (maxt - mint) // interval * interval

    storage = MemoryStorage()
    data = merge_series(
        (s.data for s in tg.input_series if s.data is not None), tg.interval_ms, mint
    )
    load_series(storage, data, until_ms=last_ts)
    engine = Engine(lookback_ms=LOOKBACK_MS, default_subquery_step_ms=interval)
    now = [mint]
    ctx = RuleContext(
        query=_query_func(engine, storage),
        appendable=storage,
        notify=None,
        external_labels=dict(tg.external_labels),
        external_url=tg.external_url,
        clock=lambda: now[0] / 1000.0,
    )
    groups = [
        Group(spec, ctx, default_interval_s=tg.interval_ms / 1000.0, restored=True)
        for spec in _ordered(rules.specs, tf.group_eval_order)
    ]

    alert_times = sorted({a.eval_time_ms for a in tg.alert_tests})
    names_at: dict[int, set[str]] = {}
    tests_at: dict[int, list[AlertTestCase]] = {}
    for a in tg.alert_tests:
        names_at.setdefault(a.eval_time_ms, set()).add(a.alertname)
        tests_at.setdefault(a.eval_time_ms, []).append(a)

    errs: list[str] = []
    curr = 0
    ts = mint
    while ts <= maxt:
        eval_errs: list[str] = []
        now[0] = ts
        for g in groups:
            g.eval(ts)
            for rule in g.rules:
                if rule.last_error is not None:
                    eval_errs.append(
                        f"    rule: {rule.name}, time: {_go_duration(ts)}, err: {rule.last_error}"
                    )
        if eval_errs:
            return errs + eval_errs
        while curr < len(alert_times) and ts - mint <= alert_times[curr] < ts - mint + interval:
            t = alert_times[curr]
            got: dict[str, list[_AlertKey]] = {}
            for g in groups:
                for rule in g.alerting_rules():
                    if rule.name not in names_at[t]:
                        continue
                    got.setdefault(rule.name, []).extend(
                        (alert.labels.pairs, _pairs(alert.annotations))
                        for alert in rule.active_alerts()
                        if alert.state == AlertState.FIRING
                    )
            for case in tests_at[t]:
                got_alerts = sorted(got.get(case.alertname, []))
                exp_alerts = sorted(
                    (_pairs({**e.labels, "alertname": case.alertname}), _pairs(e.annotations))
                    for e in case.exp_alerts
                )
                if exp_alerts != got_alerts:
                    name = f"    name: {tg.name},\n" if tg.name else ""
                    exp_s = _indent_lines(_alerts_string(exp_alerts), " " * 12)
                    got_s = _indent_lines(_alerts_string(got_alerts), " " * 12)
                    errs.append(
                        f"{name}    alertname: {case.alertname}, "
                        f"time: {format_duration(case.eval_time_ms)}, \n"
                        f"        exp:{exp_s}, \n        got:{got_s}"
                    )
            curr += 1
        ts += interval

    same = _fuzzy if tf.fuzzy_compare else _exact
    for pt in tg.promql_tests:
        errs += _check_expr(engine, storage, pt, mint, same)
    return errs


def _message(err: BaseException) -> str:
    return getattr(err, "message", None) or str(err)


def _check_expr(
    engine: Engine,
    storage: Queryable,
    pt: PromqlTestCase,
    mint: int,
    same: Callable[[float, float], bool],
) -> list[str]:
    head = f"    expr: {_go_quote(pt.expr)}, time: {format_duration(pt.eval_time_ms)}"
    try:
        got = _to_samples(engine.instant(storage, pt.expr, mint + pt.eval_time_ms).value)
    except Exception as err:  # any query error is the test's failure, as in promtool
        return [f"{head}, err: {_message(err)}"]
    exp: list[tuple[Labels, float]] = []
    for s in pt.exp_samples:
        try:
            if s.histogram:
                raise ValueError("native histogram samples are not supported by vigil")
            exp.append((_parse_exp_labels(s.labels), s.value))
        except (ParseError, ValueError) as err:
            return [f"{head}, err: labels {_go_quote(s.labels)}: {_message(err)}"]
    exp.sort(key=lambda x: x[0].pairs)
    got.sort(key=lambda x: x[0].pairs)
    if len(exp) == len(got) and all(
        el == gl and same(ev, gv) for (el, ev), (gl, gv) in zip(exp, got, strict=True)
    ):
        return []
    return [f"{head},\n        exp: {_samples_string(exp)}\n        got: {_samples_string(got)}"]


def run_test_file(
    path: str | Path,
    out: TextIO,
    *,
    run: Sequence[str] = (),
    ignore_unknown_fields: bool = False,
) -> bool:
    """Run one test file, writing promtool's report to ``out``; True when every test passed.

    ``run``: regular expressions (RE2, unanchored); only test groups whose ``name``
    matches one of them run. ``ignore_unknown_fields`` applies to the rule files.
    """
    out.write(f"Unit Testing:  {path}\n")
    errs: list[str] = []
    try:
        tf = load_test_file(path)
    except ConfigError as exc:
        errs = [str(p) for p in exc.problems]
    except (OSError, UnicodeDecodeError) as exc:
        errs = [f"{path}: cannot read test file: {exc}"]
    else:
        for w in tf.warnings:
            out.write(f"  WARNING: {w}\n")
        errs = _run_file(tf, run, ignore_unknown_fields)
    if errs:
        out.write("  FAILED:\n")
        for e in errs:
            out.write(e + "\n\n")
    else:
        out.write("  SUCCESS\n")
    out.write("\n")
    return not errs


def _run_file(tf: TestFile, run: Sequence[str], ignore_unknown_fields: bool) -> list[str]:
    matcher: Callable[[str], bool] = lambda _name: True  # noqa: E731
    if run:
        import re2

        pattern = re2.compile("|".join(run))
        matcher = lambda name: pattern.search(name) is not None  # noqa: E731
    rules = _RuleSource(tf.rule_files, ignore_unknown_fields)
    errs: list[str] = []
    for tg in tf.tests:
        if matcher(tg.name):
            errs += _run_group(tf, tg, rules)
    return errs


def run_test_files(
    paths: Sequence[str | Path],
    out: TextIO,
    *,
    run: Sequence[str] = (),
    ignore_unknown_fields: bool = False,
) -> int:
    """Run every test file like ``promtool test rules``; the exit code (0 all passed, 1 not)."""
    ok = True
    for p in paths:
        ok = run_test_file(p, out, run=run, ignore_unknown_fields=ignore_unknown_fields) and ok
    return 0 if ok else 1
