from __future__ import annotations

import pytest

from vigil.api.errors import BadDataError
from vigil.api.targets import ActiveTarget, DroppedTarget, format_duration, targets_data


class Source:
    def active_targets(self) -> list[ActiveTarget]:
        return [
            ActiveTarget(
                discovered_labels={"__address__": "h:1", "job": "a"},
                labels={"instance": "h:1", "job": "a"},
                scrape_pool="a",
                scrape_url="http://h:1/metrics",
                global_url="http://h:1/metrics",
                health="up",
                last_scrape=1700000000.25,
                last_scrape_duration=0.012,
                scrape_interval="15s",
                scrape_timeout="10s",
            ),
            ActiveTarget({}, {}, "b", "http://h:2/metrics", "http://h:2/metrics", "unknown"),
        ]

    def dropped_targets(self) -> list[DroppedTarget]:
        return [DroppedTarget({"__address__": "h:3"}, "a")]


def test_targets_shape_matches_prometheus() -> None:
    data = targets_data(Source())
    first = data["activeTargets"][0]
    assert first == {
        "discoveredLabels": {"__address__": "h:1", "job": "a"},
        "labels": {"instance": "h:1", "job": "a"},
        "scrapePool": "a",
        "scrapeUrl": "http://h:1/metrics",
        "globalUrl": "http://h:1/metrics",
        "lastError": "",
        "lastScrape": "2023-11-14T22:13:20.250000Z",
        "lastScrapeDuration": 0.012,
        "health": "up",
        "scrapeInterval": "15s",
        "scrapeTimeout": "10s",
    }
    assert data["activeTargets"][1]["lastScrape"] == "0001-01-01T00:00:00Z"
    assert data["droppedTargets"] == [{"discoveredLabels": {"__address__": "h:3"}}]


def test_state_and_pool_filters() -> None:
    assert set(targets_data(Source(), "active")) == {"activeTargets"}
    assert set(targets_data(Source(), "dropped")) == {"droppedTargets"}
    assert len(targets_data(Source(), "any", "b")["activeTargets"]) == 1
    with pytest.raises(BadDataError, match="state: 'sleeping'"):
        targets_data(Source(), "sleeping")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (15, "15s"),
        (60, "1m"),
        (90, "1m30s"),
        (0.5, "500ms"),
        (7200, "2h"),
        (86400, "1d"),
        (0, "0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
