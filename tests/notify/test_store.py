"""The alert store: Alertmanager's merge rules, resolve timeout, subscribers, GC, queries."""

from __future__ import annotations

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher, MatchType
from vigil.notify.store import (
    ACTIVE,
    SUPPRESSED,
    UNPROCESSED,
    AlertStore,
    StoredAlert,
    fingerprint_string,
)


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


A = Labels(alertname="A")


def test_alert_without_end_gets_resolve_timeout_and_is_flagged() -> None:
    clock = Clock()
    store = AlertStore(clock=clock, resolve_timeout=300)
    (s,) = store.put([Alert(A)])
    assert s.timeout
    assert s.alert.starts_at == 1000
    assert s.alert.ends_at == 1300
    assert s.alert.updated_at == 1000
    # an alert with only an end starts at its end
    (s,) = store.put([Alert(Labels(alertname="B"), ends_at=900)])
    assert (s.alert.starts_at, s.alert.ends_at, s.timeout) == (900, 900, False)


def test_update_keeps_earliest_start_and_takes_the_new_end() -> None:
    clock = Clock()
    store = AlertStore(clock=clock)
    store.put([Alert(A, starts_at=900, ends_at=1200)])
    clock.t = 1060
    (s,) = store.put([Alert(A, starts_at=1000, ends_at=1240)])
    assert (s.alert.starts_at, s.alert.ends_at) == (900, 1240)
    # resolving it: the explicit end wins
    clock.t = 1100
    (s,) = store.put([Alert(A, starts_at=1000, ends_at=1100)])
    assert (s.alert.starts_at, s.alert.ends_at) == (900, 1100)
    assert s.alert.resolved(clock())


def test_a_later_explicit_end_rules_over_a_timeout() -> None:
    clock = Clock()
    store = AlertStore(clock=clock, resolve_timeout=60)
    store.put([Alert(A, starts_at=1000, ends_at=2000)])
    clock.t = 1010
    (s,) = store.put([Alert(A, starts_at=1000)])  # timeout end 1070 < 2000: keep 2000
    assert s.alert.ends_at == 2000
    store2 = AlertStore(clock=clock, resolve_timeout=600)
    store2.put([Alert(A, starts_at=1000)])  # timeout end 1610
    clock.t = 1020
    (s,) = store2.put([Alert(A, starts_at=1000, ends_at=1500)])  # explicit, not overlapping start
    assert s.alert.ends_at == 1500


def test_alert_after_a_resolved_one_is_not_merged() -> None:
    clock = Clock()
    store = AlertStore(clock=clock)
    store.put([Alert(A, starts_at=900, ends_at=950)])
    (s,) = store.put([Alert(A, starts_at=1000, ends_at=2000)])
    assert (s.alert.starts_at, s.alert.ends_at) == (1000, 2000)


def test_subscribers_get_every_change_and_a_replay() -> None:
    store = AlertStore(clock=Clock())
    store.put([Alert(A)])
    seen: list[StoredAlert] = []
    cancel = store.subscribe(seen.append)
    assert [s.alert.labels for s in seen] == [A]
    store.put([Alert(Labels(alertname="B"))])
    assert len(seen) == 2
    cancel()
    store.put([Alert(Labels(alertname="C"))])
    assert len(seen) == 2


def test_gc_deletes_resolved_alerts_unless_still_held() -> None:
    clock = Clock()
    store = AlertStore(clock=clock)
    store.put([Alert(A, ends_at=1500), Alert(Labels(alertname="B"), ends_at=1100)])
    b = Alert(Labels(alertname="B")).fingerprint
    store.marker.set_inhibited(b, [])
    clock.t = 1200
    assert store.gc(keep=lambda fp: fp == b) == []
    gone = store.gc()
    assert [s.alert.name for s in gone] == ["B"]
    assert [s.alert.name for s in store] == ["A"]
    assert store.marker.status(b).state == UNPROCESSED  # its status went with it


def test_list_filters_and_status() -> None:
    clock = Clock()
    store = AlertStore(clock=clock)
    a = Alert(Labels(alertname="A", team="x"), ends_at=2000)
    b = Alert(Labels(alertname="B", team="y"), ends_at=2000)
    c = Alert(Labels(alertname="C", team="x"), ends_at=2000)
    old = Alert(Labels(alertname="Old"), starts_at=1, ends_at=10)
    store.put([a, b, c, old])
    assert store.marker.status(a.fingerprint).state == UNPROCESSED
    store.marker.set_silenced(a.fingerprint, ["s1"])
    store.marker.set_inhibited(b.fingerprint, [])
    assert store.marker.status(a.fingerprint).state == SUPPRESSED
    assert store.marker.status(b.fingerprint).state == ACTIVE

    def names(**kw: bool) -> list[str]:
        return sorted(s.alert.name for s in store.list(**kw))  # type: ignore[arg-type]

    assert names() == ["A", "B", "C"]  # resolved alerts are not listed
    assert names(silenced=False) == ["B", "C"]
    assert names(active=False) == ["A", "C"]
    assert names(unprocessed=False) == ["A", "B"]
    team_x = [Matcher(MatchType.EQUAL, "team", "x")]
    assert sorted(s.alert.name for s in store.list(team_x)) == ["A", "C"]


def test_fingerprint_string_is_16_hex_digits() -> None:
    assert fingerprint_string(0xABC) == "0000000000000abc"
