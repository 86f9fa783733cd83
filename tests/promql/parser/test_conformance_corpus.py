"""Every query of the upstream PromQL test files (``conformance/promql/*.test``) through the parser.

Each ``eval`` line's expression must parse (with experimental functions on,
as the files assume) and survive print -> parse unchanged, except those that
use experimental syntax Vigil's parser does not support yet; those are
counted by feature, and the counts are pinned so that a change shows. Evals
that expect a failure must fail at parse time only where Prometheus fails
them at parse time; every other expected failure happens in evaluation, so
the query must parse.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.promql.parser._shape import key
from vigil.promql.parser import ParseError, ParseOptions, parse_expr, to_string

CONFORMANCE = Path(__file__).resolve().parents[4] / "shared" / "conformance" / "promql"
OPTIONS = ParseOptions(enable_experimental_functions=True)

_HEADER = re.compile(
    r"^eval(?:_fail|_warn|_info|_ordered)?\s+"
    r"(?:instant\s+at\s+\S+|range\s+from\s+\S+\s+to\s+\S+\s+step\s+\S+)\s+(?P<expr>.*)$",
    re.IGNORECASE,
)

# Syntax the parser does not implement (all experimental upstream), by evals.json tag.
UNSUPPORTED_TAGS = (
    "duration_expressions",
    "anchored/smoothed",
    "fill_modifiers",
    "start_timestamps",
)

# Expected failures that Prometheus reports at parse time (all use anchored/smoothed).
PARSE_LEVEL_FAILURES = {
    ("extended_vectors.test", line) for line in (370, 373, 376, 379, 382, 385, 392, 395)
}


@dataclass(frozen=True)
class Eval:
    file: str
    line: int
    expr: str
    tags: tuple[str, ...]
    expect_fail: bool


def _evals() -> list[Eval]:
    manifest = json.loads((CONFORMANCE / "evals.json").read_text())
    tags = {(e["file"], e["line"]): tuple(e["tags"]) for e in manifest["evals"]}
    out = []
    for path in sorted(CONFORMANCE.glob("*.test")):
        lines = path.read_text().split("\n")
        for i, raw in enumerate(lines):
            line = raw.strip()
            if not line.lower().startswith("eval"):
                continue
            m = _HEADER.match(line)
            assert m is not None, f"{path.name}:{i + 1}: unreadable eval header"
            body = []
            for nxt in lines[i + 1 :]:
                nxt = nxt.strip()
                if not nxt or nxt.startswith("#"):
                    break
                body.append(nxt)
            fail = line.lower().startswith("eval_fail") or any(
                b.startswith("expect fail") for b in body
            )
            out.append(Eval(path.name, i + 1, m.group("expr"), tags[(path.name, i + 1)], fail))
    return out


def _unsupported(ev: Eval) -> str | None:
    """Why the parser may refuse this eval's query, or None when it must parse it."""
    for tag in UNSUPPORTED_TAGS:
        if tag in ev.tags:
            return tag
    if "native_histograms" in ev.tags and re.search(r"[<>]/", ev.expr):
        return "histogram trim operators </ >/"
    if re.match(r"\s*(min_of|max_of)\(", ev.expr):
        return "duration_expressions"  # min_of/max_of belong to duration expressions
    return None


pytestmark = pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="no conformance data")


def test_every_conformance_query_parses_or_is_a_counted_skip() -> None:
    evals = _evals()
    parsed = 0
    skipped: Counter[str] = Counter()
    problems = []
    for ev in evals:
        reason = _unsupported(ev)
        try:
            expr = parse_expr(ev.expr, OPTIONS)
        except ParseError as err:
            if (ev.file, ev.line) in PARSE_LEVEL_FAILURES:
                skipped["expected parse failure (" + (reason or "?") + ")"] += 1
            elif reason is not None:
                skipped[reason] += 1
            else:
                problems.append(f"{ev.file}:{ev.line}: {ev.expr!r}: {err}")
            continue
        if (ev.file, ev.line) in PARSE_LEVEL_FAILURES:
            problems.append(f"{ev.file}:{ev.line}: {ev.expr!r} should fail to parse")
            continue
        parsed += 1
        printed = to_string(expr)
        again = parse_expr(printed, OPTIONS)
        if key(again) != key(expr) or to_string(again) != printed:
            problems.append(f"{ev.file}:{ev.line}: round trip changed {ev.expr!r} -> {printed!r}")
    assert problems == []
    total = len(evals)
    print(f"\nconformance queries: {parsed} of {total} parse; skipped: {dict(skipped)}")
    assert total == 2214
    assert parsed == 1857
    assert skipped == {
        "duration_expressions": 65,
        "anchored/smoothed": 127,
        "fill_modifiers": 45,
        "start_timestamps": 2,
        "histogram trim operators </ >/": 110,
        "expected parse failure (anchored/smoothed)": 8,
    }


def test_required_evals_all_parse() -> None:
    """The evals FORMAT.md counts as required (no optional feature at all) parse, every one."""
    plain = [ev for ev in _evals() if not ev.tags]
    assert len(plain) == 847
    for ev in plain:
        parse_expr(ev.expr, OPTIONS)


def test_expected_failures_fail_where_prometheus_fails_them() -> None:
    at_parse = []
    at_eval = []
    for ev in _evals():
        if not ev.expect_fail:
            continue
        try:
            parse_expr(ev.expr, OPTIONS)
            at_eval.append((ev.file, ev.line))
        except ParseError:
            at_parse.append((ev.file, ev.line))
    assert set(at_parse) == PARSE_LEVEL_FAILURES
    assert len(at_eval) == 27  # these must fail in the engine, not the parser
