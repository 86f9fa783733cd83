"""Silences: validation, Alertmanager's update rules, expiry, GC, persistence."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from vigil.model import Labels
from vigil.model.alert import fingerprint
from vigil.model.matchers import Matcher, MatchType
from vigil.notify.silence import (
    ACTIVE,
    EXPIRED,
    PENDING,
    Silence,
    SilenceError,
    SilenceNotFoundError,
    Silencer,
    Silences,
)
from vigil.notify.store import Marker

from .test_pipeline import T0, Harness, make_config, route


class Clock:
    def __init__(self, t: float = 10_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def m(name: str, value: str, t: MatchType = MatchType.EQUAL) -> Matcher:
    return Matcher(t, name, value)


def sil(
    *matchers: Matcher,
    start: float = 10_000.0,
    end: float = 11_000.0,
    id: str = "",
    created_by: str = "",
    comment: str = "",
) -> Silence:
    return Silence(matchers, start, end, created_by=created_by, comment=comment, id=id)


def test_create_gives_a_uuid_and_never_starts_in_the_past() -> None:
    clock = Clock()
    s = Silences(clock=clock)
    sid = s.set(sil(m("alertname", "A"), start=9_000, created_by="me", comment="c"))
    assert uuid.UUID(sid).version == 4
    got = s.get(sid)
    assert got.starts_at == 10_000
    assert got.updated_at == 10_000
    assert (got.created_by, got.comment) == ("me", "c")
    assert s.state(got) == ACTIVE


@pytest.mark.parametrize(
    ("silence", "message"),
    [
        (sil(), "at least one matcher required"),
        (
            sil(m("a", ""), m("b", ".*", MatchType.REGEX)),
            "at least one matcher must not match the empty string",
        ),
        (sil(m("a", "x"), start=12_000, end=11_000), "end time must not be before start time"),
        (sil(m("a b", "x")), "invalid label matcher 0"),
    ],
)
def test_validation(silence: Silence, message: str) -> None:
    s = Silences(clock=Clock())
    with pytest.raises(SilenceError, match=message):
        s.set(silence)
    assert len(s) == 0


def test_update_in_place_or_replace() -> None:
    clock = Clock()
    s = Silences(clock=clock)
    sid = s.set(sil(m("alertname", "A")))
    old = s.get(sid)
    # active, same matchers, same start, later end: updated in place
    clock.t = 10_100
    assert s.set(Silence(old.matchers, old.starts_at, 12_000, id=sid, comment="longer")) == sid
    assert s.get(sid).ends_at == 12_000
    # matchers changed: the old one expires now, a new one is created
    new_id = s.set(Silence((m("alertname", "B"),), old.starts_at, 12_000, id=sid))
    assert new_id != sid
    assert s.state(s.get(sid)) == EXPIRED
    assert s.get(sid).ends_at == 10_100
    assert s.get(new_id).starts_at == 10_100
    # an active silence cannot move its start: replaced too
    third = s.set(Silence((m("alertname", "B"),), 10_050, 12_000, id=new_id))
    assert third != new_id
    # a pending one can move its start into the future
    pid = s.set(sil(m("x", "y"), start=20_000, end=30_000))
    assert s.state(s.get(pid)) == PENDING
    assert s.set(sil(m("x", "y"), start=21_000, end=30_000, id=pid)) == pid
    with pytest.raises(SilenceNotFoundError):
        s.set(sil(m("x", "y"), id="nope"))


def test_expire() -> None:
    clock = Clock()
    s = Silences(clock=clock)
    active = s.set(sil(m("a", "1")))
    pending = s.set(sil(m("a", "1"), start=20_000, end=30_000))
    clock.t = 10_500
    s.expire(active)
    s.expire(pending)
    assert s.get(active).ends_at == 10_500
    assert (s.get(pending).starts_at, s.get(pending).ends_at) == (10_500, 10_500)
    assert {s.state(x) for x in s.list()} == {EXPIRED}
    with pytest.raises(SilenceError, match="already expired"):
        s.expire(active)
    with pytest.raises(SilenceNotFoundError):
        s.expire("nope")


def test_gc_after_retention() -> None:
    clock = Clock()
    s = Silences(clock=clock, retention=3600)
    sid = s.set(sil(m("a", "1")))
    clock.t = 11_000 + 3600
    assert s.gc() == 0
    clock.t += 1
    assert s.gc() == 1
    with pytest.raises(SilenceNotFoundError):
        s.get(sid)


def test_list_by_state_matchers_and_labels() -> None:
    s = Silences(clock=Clock())
    a = s.set(sil(m("alertname", "A"), m("team", "x")))
    b = s.set(sil(m("alertname", "B"), start=20_000, end=30_000))
    assert {x.id for x in s.list(states=[ACTIVE])} == {a}
    assert {x.id for x in s.list(states=[PENDING])} == {b}
    assert {x.id for x in s.list(matchers=[m("team", "x")])} == {a}
    assert {x.id for x in s.list(labels=Labels(alertname="A", team="x", y="z"))} == {a}
    assert s.matching(Labels(alertname="B")) == ([], [b])


def test_silencer_marks_alerts() -> None:
    marker = Marker()
    s = Silences(clock=Clock())
    sid = s.set(sil(m("alertname", "A", MatchType.REGEX)))
    silencer = Silencer(s, marker)
    labels = Labels(alertname="A")
    assert silencer.mutes(labels)
    assert marker.status(fingerprint(labels)).silenced_by == (sid,)
    assert not silencer.mutes(Labels(alertname="AB"))


def test_persistence_roundtrip(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "data" / "silences.json"
    s = Silences(path=path, clock=clock)
    sid = s.set(sil(m("alertname", "A"), m("job", "a|b", MatchType.REGEX), comment="x"))
    assert s.snapshot() == 1
    assert not list(path.parent.glob(".*tmp"))
    again = Silences(path=path, clock=clock)
    assert again.get(sid) == s.get(sid)
    assert again.get(sid).matchers[1].matches("b")


def test_corrupt_snapshot_is_reported_with_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "silences.json"
    path.write_text('{"silences": [{"id": 1')
    with caplog.at_level(logging.ERROR):
        s = Silences(path=path, clock=Clock())
    assert len(s) == 0
    assert s.load_error is not None
    assert str(path) in s.load_error
    assert str(path) in caplog.text
    path.write_text(json.dumps({"silences": [{"id": "x"}]}))
    assert Silences(path=path, clock=Clock()).load_error is not None


@pytest.mark.anyio
async def test_silenced_alert_is_notified_after_the_silence_expires() -> None:
    h = Harness(make_config(route()))
    await h.notifier.start()
    sid = h.notifier.silences.set(
        Silence((m("alertname", "A"),), starts_at=T0, ends_at=T0 + 600, created_by="t")
    )
    h.fire("A")
    await h.clock.advance(31)
    assert h.rec().calls == []
    (view,) = h.notifier.alerts()
    assert view.status.silenced_by == (sid,)
    assert view.status.state == "suppressed"
    assert h.notifier.alerts(silenced=False) == []
    await h.clock.advance(600)  # expired at +600; the flush at +630 sends
    assert [c.time - T0 for c in h.rec().calls] == [630]
    assert h.notifier.alerts()[0].status.state == "active"
    await h.notifier.stop()
