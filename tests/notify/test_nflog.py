"""The notification log: DedupStage.needsUpdate, entries, retention, persistence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vigil.notify.nflog import Entry, NotificationLog, ReceiverKey, needs_update

R = ReceiverKey("team", "webhook", 0)


def entry(firing: set[int], resolved: set[int], ts: float = 1000.0) -> Entry:
    return Entry("g", R, ts, frozenset(firing), frozenset(resolved))


@pytest.mark.parametrize(
    ("prev", "firing", "resolved", "send_resolved", "now", "want"),
    [
        # never notified: only when something fires
        (None, set(), {1}, True, 1000, False),
        (None, {1}, set(), True, 1000, True),
        # a new firing alert
        (entry({1}, set()), {1, 2}, set(), True, 1001, True),
        # fewer firing alerts, resolved ones: only with send_resolved
        (entry({1, 2}, set()), {1}, {2}, True, 1001, True),
        (entry({1, 2}, set()), {1}, {2}, False, 1001, False),
        # all resolved: notify (whatever send_resolved) if firing alerts were notified
        (entry({1}, set()), set(), {1}, False, 1001, True),
        (entry(set(), {1}), set(), {1, 2}, True, 1001, False),
        # nothing changed: only after the repeat interval (strictly older)
        (entry({1}, set()), {1}, set(), True, 1000 + 3600, False),
        (entry({1}, set()), {1}, set(), True, 1000 + 3600.001, True),
        (entry({1}, {2}), {1}, {2}, True, 1500, False),
    ],
)
def test_needs_update(
    prev: Entry | None,
    firing: set[int],
    resolved: set[int],
    send_resolved: bool,
    now: float,
    want: bool,
) -> None:
    assert needs_update(prev, firing, resolved, 3600, send_resolved, now=now) is want


def test_log_query_gc() -> None:
    now = [1000.0]
    nf = NotificationLog(clock=lambda: now[0], retention=100)
    nf.log(R, "g", [1, 2], [3])
    other = ReceiverKey("team", "webhook", 1)
    assert nf.query("g", other) is None
    e = nf.query("g", R)
    assert e is not None
    assert e.timestamp == 1000
    assert e.firing_alerts == frozenset({1, 2})
    assert e.resolved_alerts == frozenset({3})
    assert str(R) == "team/webhook/0"
    now[0] = 1099
    assert nf.gc() == 0
    now[0] = 1100
    assert nf.gc() == 1
    assert len(nf) == 0


def test_persistence(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "nflog.json"
    nf = NotificationLog(path=path, clock=lambda: now[0], retention=100)
    nf.log(R, '{}:{alertname="A"}', [2**64 - 1], [])
    nf.log(ReceiverKey("x", "email", 2), "h", [], [5])
    assert nf.snapshot() == 2
    again = NotificationLog(path=path, clock=lambda: now[0])
    assert sorted(again.entries(), key=lambda e: e.group_key) == sorted(
        nf.entries(), key=lambda e: e.group_key
    )
    # expired entries are not loaded
    now[0] = 1200
    assert len(NotificationLog(path=path, clock=lambda: now[0])) == 0


def test_corrupt_snapshot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "nflog.json"
    path.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.ERROR):
        nf = NotificationLog(path=path)
    assert len(nf) == 0
    assert nf.load_error is not None
    assert str(path) in nf.load_error
