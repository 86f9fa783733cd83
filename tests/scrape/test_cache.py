from __future__ import annotations

import math

import pytest

from vigil.model import Labels
from vigil.scrape.cache import Entry, ScrapeCache, merge_target_labels, scrape_offset


@pytest.mark.parametrize(
    ("exposed", "target", "honor", "expected"),
    [
        ({"a": "1"}, {"job": "j"}, False, {"a": "1", "job": "j"}),
        ({"job": "x"}, {"job": "j"}, False, {"job": "j", "exported_job": "x"}),
        (
            {"job": "x", "exported_job": "y"},
            {"job": "j"},
            False,
            {"job": "j", "exported_job": "y", "exported_exported_job": "x"},
        ),
        ({"job": "x"}, {"job": "j"}, True, {"job": "x"}),
        ({"a": "1"}, {"job": "j"}, True, {"a": "1", "job": "j"}),
        ({"job": ""}, {"job": "j"}, False, {"job": "j"}),
    ],
)
def test_target_labels_merge_like_prometheus(
    exposed: dict[str, str], target: dict[str, str], honor: bool, expected: dict[str, str]
) -> None:
    out = merge_target_labels(Labels.from_dict(exposed), sorted(target.items()), honor)
    assert out == Labels.from_dict(expected)


def test_scrape_offsets_are_stable_and_spread() -> None:
    now = 1_700_000_000.123
    offsets = [scrape_offset(f"http://h:{i}/metrics", 15.0, now) for i in range(200)]
    assert all(0 <= o < 15.0 for o in offsets)
    assert offsets == [scrape_offset(f"http://h:{i}/metrics", 15.0, now) for i in range(200)]
    assert max(offsets) - min(offsets) > 10  # spread over the interval
    # The phase is fixed: first scrape lands at the same point of the interval whenever we start.
    phase = (now + offsets[0]) % 15.0
    assert math.isclose(
        (now + 7 + scrape_offset("http://h:0/metrics", 15.0, now + 7)) % 15.0, phase
    )


def test_a_successful_scrape_flushes_entries_it_did_not_see() -> None:
    cache = ScrapeCache()
    for key in ("a", "b", "c"):
        cache.series[key] = Entry(cache.iter, Labels(__name__=key), cache.iter)
    cache.iter_done(True, 3, 0)
    cache.series["a"].iter = cache.iter
    cache.iter_done(True, 1, 0)
    assert list(cache.series) == ["a"]


def test_the_unseen_scan_is_skipped_only_when_every_entry_was_seen() -> None:
    cache = ScrapeCache()
    cache.series["a"] = Entry(1, Labels(__name__="a"), 0)  # not seen in this iteration
    cache.iter_done(True, 1, 0)  # a caller claiming it saw everything: nothing is scanned
    assert "a" in cache.series
    cache.iter_done(True, 0, 0)
    assert "a" not in cache.series


def test_forget_added_drops_new_entries_everywhere() -> None:
    cache = ScrapeCache()
    e = Entry(7, Labels(__name__="n"), cache.iter)
    cache.series["n"] = e
    cache.cur[7] = e
    cache.parser_cache.entries["n"] = ("n", Labels())
    cache.added.append("n")
    cache.forget_added()
    assert not cache.series
    assert not cache.cur
    assert not cache.parser_cache.entries
    assert cache.added == []
