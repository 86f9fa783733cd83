from __future__ import annotations

from pathlib import Path

import pytest

from vigil.notify.history import AlertEvent, AlertHistory


def state(
    t: float, name: str, fp: str, new: str, old: str = "", severity: str = "page"
) -> AlertEvent:
    return AlertEvent(
        time=t,
        kind="state",
        alertname=name,
        fingerprint=fp,
        state=new,
        previous=old,
        severity=severity,
        labels={"alertname": name, "severity": severity},
        value=1.5,
    )


def sent(t: float, name: str, fp: str, outcome: str = "sent") -> AlertEvent:
    return AlertEvent(
        time=t,
        kind="notification",
        alertname=name,
        fingerprint=fp,
        state="firing",
        receiver="team",
        integration="webhook[0]",
        outcome=outcome,
        detail="" if outcome == "sent" else "connection refused",
    )


def test_events_survive_a_restart_and_filter_by_time_name_severity_and_kind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.db"
    h = AlertHistory(path)
    h.record(
        [
            state(100, "HighErrorRate", "a1", "pending", "inactive"),
            state(160, "HighErrorRate", "a1", "firing", "pending"),
            sent(161, "HighErrorRate", "a1"),
            state(200, "DiskLow", "b1", "firing", "pending", severity="warning"),
            sent(201, "DiskLow", "b1", outcome="failed"),
        ]
    )
    h.close()

    h = AlertHistory(path)
    everything = h.query()
    assert [e.time for e in everything] == [201, 200, 161, 160, 100]  # newest first
    assert [e.state for e in h.query(alertname="HighErrorRate", kind="state")] == [
        "firing",
        "pending",
    ]
    assert [e.alertname for e in h.query(severity="warning")] == ["DiskLow"]
    assert [e.time for e in h.query(start=150, end=200)] == [200, 161, 160]
    failed = h.query(kind="notification", alertname="DiskLow")[0]
    assert (failed.outcome, failed.detail, failed.receiver) == (
        "failed",
        "connection refused",
        "team",
    )
    assert h.query(limit=2)[-1].time == 200
    assert everything[1].labels == {"alertname": "DiskLow", "severity": "warning"}
    assert everything[1].to_json()["previous"] == "pending"
    assert "outcome" in everything[0].to_json()


def test_stats_count_firing_per_bucket_and_time_to_resolve() -> None:
    h = AlertHistory()
    h.record(
        [
            state(10, "A", "f1", "firing"),  # firing before the window, resolved inside it
            state(100, "A", "f1", "resolved", "firing"),
            state(110, "A", "f2", "firing"),
            state(170, "A", "f2", "resolved", "firing"),
            state(130, "A", "f3", "firing", severity="warning"),
            state(250, "B", "g1", "firing"),
            state(299, "B", "g2", "firing"),
            state(300, "B", "g1", "resolved", "firing"),
        ]
    )
    s = h.stats(start=60, end=300, step=60)
    assert s.firing_counts == {
        ("A", "page"): [1, 0, 0, 0],
        ("A", "warning"): [0, 1, 0, 0],
        ("B", "page"): [0, 0, 0, 2],
    }
    assert sorted(s.resolve_seconds["A"]) == [60, 90]
    assert s.resolve_seconds["B"] == [50]
    body = s.to_json()
    assert body["timeToResolve"]["A"] == {"count": 2, "mean": 75.0, "median": 75.0, "max": 90}
    assert [f["total"] for f in body["firing"]] == [1, 1, 2]
    only_b = h.stats(start=0, end=400, step=400, alertname="B")
    assert list(only_b.firing_counts) == [("B", "page")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 0, "end": 10, "step": 0}, "step must be positive"),
        ({"start": 10, "end": 10, "step": 1}, "is not after start"),
        ({"start": 0, "end": 1e9, "step": 1}, "too many"),
    ],
)
def test_bad_stats_requests_say_what_is_wrong(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertHistory().stats(**kwargs)


def test_unknown_kind_is_refused_and_prune_drops_old_events() -> None:
    with pytest.raises(ValueError, match="kind 'other'"):
        AlertEvent(time=1, kind="other", alertname="A", fingerprint="x", state="firing")
    h = AlertHistory()
    with pytest.raises(ValueError, match="kind 'bogus'"):
        h.query(kind="bogus")
    h.record([state(1, "A", "x", "firing"), state(5, "A", "x", "resolved")])
    assert h.prune(before=3) == 1
    assert [e.time for e in h.query()] == [5]
