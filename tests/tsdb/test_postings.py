"""The head's inverted index answers matchers exactly like a scan would."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.tsdb.postings import MemPostings


def build(n: int, seed: int = 0) -> tuple[MemPostings, dict[int, Labels]]:
    rng = np.random.default_rng(seed)
    p = MemPostings()
    series: dict[int, Labels] = {}
    for ref in range(1, n + 1):
        d = {"__name__": f"m{rng.integers(0, 4)}", "job": f"j{rng.integers(0, 3)}"}
        if rng.random() < 0.5:
            d["env"] = str(rng.choice(["prod", "dev", "stage"]))
        if rng.random() < 0.3:
            d["code"] = str(rng.integers(200, 205))
        labels = Labels.from_dict(d)
        series[ref] = labels
        p.add(ref, labels)
    return p, series


MATCHERS = [
    [Matcher.equal("__name__", "m1")],
    [Matcher.equal("env", "")],
    [Matcher.equal("env", "prod"), Matcher.equal("job", "j2")],
    [Matcher(MatchType.NOT_EQUAL, "env", "prod")],
    [Matcher(MatchType.REGEX, "env", "pr.*|de.")],
    [Matcher(MatchType.REGEX, "env", ".*")],
    [Matcher(MatchType.REGEX, "env", ".+")],
    [Matcher(MatchType.NOT_REGEX, "code", "20[0-2]")],
    [Matcher(MatchType.NOT_REGEX, "code", ".*")],
    [
        Matcher.equal("__name__", "m0"),
        Matcher(MatchType.NOT_EQUAL, "code", ""),
        Matcher.equal("x", ""),
    ],
    [Matcher.equal("nope", "x")],
    [Matcher(MatchType.NOT_EQUAL, "job", "j0"), Matcher(MatchType.REGEX, "__name__", "m[23]")],
]


@pytest.mark.parametrize("matchers", MATCHERS, ids=lambda ms: ",".join(map(str, ms)))
def test_select_equals_a_scan(matchers: list[Matcher]) -> None:
    p, series = build(500)
    expected = [r for r, lb in series.items() if all(m.matches(lb.get(m.name)) for m in matchers)]
    got = p.select(matchers, lambda: np.array(sorted(series), dtype=np.int64))
    assert got.tolist() == expected


def test_out_of_order_adds_stay_sorted_and_removal_works() -> None:
    p = MemPostings()
    a = Labels.from_dict({"__name__": "m", "k": "a"})
    b = Labels.from_dict({"__name__": "m", "k": "b"})
    for ref in (5, 3, 9, 1):
        p.add(ref, a if ref != 9 else b)
    assert p.get("__name__", "m").tolist() == [1, 3, 5, 9]
    p.remove({3: a, 9: b})
    assert p.get("__name__", "m").tolist() == [1, 5]
    assert p.label_values("k") == ["a"]  # value "b" had no series left
    p.remove({1: a, 5: a})
    assert p.label_names() == []


def test_regex_is_evaluated_per_distinct_value_not_per_series() -> None:
    p = MemPostings()
    for ref in range(1, 10_001):
        p.add(ref, Labels.from_dict({"__name__": "m", "job": f"j{ref % 3}"}))
    calls = {"n": 0}

    class Counting(Matcher):
        def matches(self, value: str) -> bool:
            calls["n"] += 1
            return super().matches(value)

    got = p.select([Counting(MatchType.REGEX, "job", "j[12]")], lambda: np.empty(0, np.int64))
    assert len(got) == 6667
    assert calls["n"] <= 5  # 3 values (+ the empty-string check), not 10,000 series
