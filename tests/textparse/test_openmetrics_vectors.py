"""The OpenMetrics 1.0 conformance vectors (../shared/conformance/openmetrics).

Every case runs in strict mode: valid bodies parse, and their samples match
prometheus_client's OpenMetrics parser (the differential oracle); invalid
bodies raise a ParseError that names a line of the body. Lenient mode must
accept every valid body, and reject every invalid one whose fault is syntax.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Timestamp

from vigil.textparse import Help, OpenMetricsParser, ParseError, Sample, Type, Unit

from ._conformance import OPENMETRICS, openmetrics_cases

CASES = openmetrics_cases()
VALID = [c for c in CASES if json.loads((c / "test.json").read_text())["shouldParse"]]
INVALID = [c for c in CASES if c not in VALID]

# Invalid only by OpenMetrics's family rules, which lenient (Prometheus-like) mode skips.
LENIENT_ACCEPTS = {
    *(f"bad_clashing_names_{i}" for i in range(3)),
    *(f"bad_counter_values_{i}" for i in range(20)),
    "bad_exemplar_complex_chars",
    "bad_exemplars_6",
    *(f"bad_exemplars_on_unallowed_metric_types_{i}" for i in range(3)),
    *(f"bad_exemplars_on_unallowed_samples_{i}" for i in range(4)),
    *(f"bad_grouping_or_ordering_{i}" for i in (0, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
    *(f"bad_histograms_{i}" for i in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14)),
    "bad_info_and_stateset_values_0",
    "bad_info_and_stateset_values_1",
    *(f"bad_metadata_in_wrong_place_{i}" for i in range(3)),
    "bad_missing_or_extra_commas_2",  # a trailing comma: Prometheus allows it
    *(f"bad_missing_or_invalid_labels_for_a_type_{i}" for i in range(8)),
    "bad_repeated_metadata_0",
    "bad_repeated_metadata_1",
    "bad_repeated_metadata_3",
    *(f"bad_stateset_info_values_{i}" for i in range(4)),
    "bad_unit_6",
    "bad_unit_7",
}


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_all_vectors_are_present() -> None:
    assert OPENMETRICS.is_dir(), f"{OPENMETRICS} missing; set VIGIL_CONFORMANCE_DIR"
    assert (len(CASES), len(VALID), len(INVALID)) == (211, 44, 167)
    assert all(c.name.startswith("bad_") for c in INVALID)
    assert {c.name for c in INVALID} >= LENIENT_ACCEPTS


def _ours(body: bytes, strict: bool = True) -> list[tuple[Any, ...]]:
    out = []
    for e in OpenMetricsParser(body, strict=strict):
        if isinstance(e, Sample):
            ex = e.exemplar
            exemplar = None if ex is None else (ex.labels.to_dict(), ex.value, ex.timestamp_ms)
            out.append((e.name, e.labels.to_dict(), e.value, e.timestamp_ms, exemplar))
    return out


def _ms(ts: Any) -> int | None:
    if ts is None:
        return None
    if isinstance(ts, Timestamp):
        return int(ts.sec) * 1000 + int(ts.nsec) // 1_000_000
    return int(float(ts) * 1000)


def _oracle(body: bytes) -> list[tuple[Any, ...]]:
    out = []
    for family in text_string_to_metric_families(body.decode("utf-8")):  # type: ignore[no-untyped-call]
        for s in family.samples:
            ex = s.exemplar
            exemplar = None if ex is None else (dict(ex.labels), float(ex.value), _ms(ex.timestamp))
            out.append((s.name, dict(s.labels), float(s.value), _ms(s.timestamp), exemplar))
    return out


def _collapse(samples: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Drop a sample that repeats the previous one's series and millisecond.

    prometheus_client drops such duplicates while parsing (with its own
    sub-millisecond notion of "same"); Vigil yields every line.
    """
    out: list[tuple[Any, ...]] = []
    for s in samples:
        if out and (out[-1][0], out[-1][1], out[-1][3]) == (s[0], s[1], s[3]):
            continue
        out.append(s)
    return out


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    def norm(x: Any) -> Any:
        if isinstance(x, float) and math.isnan(x):
            return "NaN"
        if isinstance(x, tuple):
            return tuple(norm(y) for y in x)
        return x

    return [norm(s) for s in a] == [norm(s) for s in b]


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_vector_parses_to_the_oracles_values(case: Path) -> None:
    body = (case / "metrics").read_bytes()
    ours = _ours(body)
    expected = _oracle(body)
    assert _same(_collapse(ours), _collapse(expected)), f"\nours:   {ours}\noracle: {expected}"


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_vector_metadata_matches_the_oracle(case: Path) -> None:
    body = (case / "metrics").read_bytes()
    theirs = {
        f.name: {"help": f.documentation, "type": f.type, "unit": f.unit}
        for f in text_string_to_metric_families(body.decode("utf-8"))  # type: ignore[no-untyped-call]
    }
    for e in OpenMetricsParser(body):
        if isinstance(e, Help):
            assert theirs[e.name]["help"] == e.text
        elif isinstance(e, Type):
            assert theirs[e.name]["type"] == e.type.value
        elif isinstance(e, Unit):
            assert theirs[e.name]["unit"] == e.unit


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_vector_parses_leniently_too(case: Path) -> None:
    body = (case / "metrics").read_bytes()
    assert _same(_ours(body, strict=False), _ours(body))


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_invalid_vector_is_rejected_with_a_line(case: Path) -> None:
    body = (case / "metrics").read_bytes()
    with pytest.raises(ParseError) as info:
        list(OpenMetricsParser(body))
    err = info.value
    lines = max(1, body.count(b"\n") + (0 if body.endswith(b"\n") else 1))
    assert 1 <= err.line <= lines
    assert err.col >= 1
    assert str(err).startswith(f"{err.line}:{err.col}: ")
    assert err.reason


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_lenient_mode_rejects_only_syntax(case: Path) -> None:
    body = (case / "metrics").read_bytes()
    if case.name in LENIENT_ACCEPTS:
        list(OpenMetricsParser(body, strict=False))
    else:
        with pytest.raises(ParseError):
            list(OpenMetricsParser(body, strict=False))


# A few vectors with the exact line and reason, so messages stay useful.
@pytest.mark.parametrize(
    ("case", "where", "words"),
    [
        ("bad_blank_line", "2:1", "blank line"),
        ("bad_no_eof", "1:1", "# EOF"),
        ("bad_text_after_eof_0", "3:1", "after '# EOF'"),
        ("bad_value_4", "1:3", "invalid value '1_2'"),
        ("bad_timestamp_4", "1:5", "invalid timestamp 'NaN'"),
        ("bad_metric_names_1", "1:2", "unexpected '.'"),
        ("bad_invalid_labels_2", "1:9", "duplicate label name 'a'"),
        ("bad_missing_or_extra_commas_2", "1:14", "trailing comma"),
        ("bad_histograms_9", "3:1", "not above the previous bucket"),
        ("bad_histograms_11", "3:1", "differs from the +Inf bucket"),
        ("bad_grouping_or_ordering_4", "3:1", "timestamps went backwards"),
        ("bad_metadata_in_wrong_place_1", "3:1", "after its samples"),
        ("bad_clashing_names_2", "2:1", "clashes"),
        ("bad_exemplars_6", "2:1", "129 characters"),
        ("bad_type_7", "1:10", "'untyped'"),
        ("bad_unit_4", "1:10", "not a suffix"),
    ],
)
def test_vector_error_names_line_and_reason(case: str, where: str, words: str) -> None:
    body = (OPENMETRICS / case / "metrics").read_bytes()
    with pytest.raises(ParseError) as info:
        list(OpenMetricsParser(body))
    assert str(info.value).startswith(where + ": "), str(info.value)
    assert words in info.value.reason
