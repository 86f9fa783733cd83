"""Inhibition rules, as Alertmanager applies them."""

from __future__ import annotations

import pytest

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher, MatchType
from vigil.notify.inhibit import Inhibitor
from vigil.notify.store import AlertStore, Marker, fingerprint_string

from .test_pipeline import T0, Harness, InhibitRule, make_config, route


def eq(name: str, value: str) -> Matcher:
    return Matcher(MatchType.EQUAL, name, value)


def setup(rule: InhibitRule) -> tuple[AlertStore, Inhibitor, list[float]]:
    now = [1000.0]
    marker = Marker()
    store = AlertStore(clock=lambda: now[0], marker=marker)
    inhibitor = Inhibitor([rule], marker, clock=lambda: now[0])
    store.subscribe(inhibitor.observe)
    return store, inhibitor, now


RULE = InhibitRule((eq("severity", "critical"),), (eq("severity", "warning"),), ("cluster",))


def test_firing_source_mutes_target_with_equal_labels() -> None:
    store, inh, _ = setup(RULE)
    src = Alert(Labels(alertname="Down", severity="critical", cluster="a"), ends_at=2000)
    store.put([src])
    target = Labels(alertname="Slow", severity="warning", cluster="a")
    assert inh.mutes(target)
    status = store.marker.status(Alert(target).fingerprint)
    assert status.inhibited_by == (fingerprint_string(src.fingerprint),)
    assert status.state == "suppressed"
    assert not inh.mutes(Labels(alertname="Slow", severity="warning", cluster="b"))
    assert not inh.mutes(Labels(alertname="Slow", severity="info", cluster="a"))
    # a label missing on both sides is equal
    store.put([Alert(Labels(alertname="Down", severity="critical"), ends_at=2000)])
    assert inh.mutes(Labels(alertname="X", severity="warning"))


def test_resolved_source_does_not_mute() -> None:
    store, inh, now = setup(RULE)
    store.put([Alert(Labels(alertname="Down", severity="critical", cluster="a"), ends_at=1100)])
    target = Labels(alertname="Slow", severity="warning", cluster="a")
    assert inh.mutes(target)
    now[0] = 1100
    assert not inh.mutes(target)
    assert store.marker.status(Alert(target).fingerprint).state == "active"
    inh.gc()
    assert not inh.mutes(target)


def test_alert_matching_both_sides_does_not_inhibit_itself() -> None:
    rule = InhibitRule((eq("alertname", "A"),), (eq("team", "x"),), ())
    store, inh, _ = setup(rule)
    both = Labels(alertname="A", team="x")
    store.put([Alert(both, ends_at=2000)])
    assert not inh.mutes(both)
    # another source that does not match the target side does inhibit it
    store.put([Alert(Labels(alertname="A", team="y"), ends_at=2000)])
    assert inh.mutes(both)


@pytest.mark.anyio
async def test_inhibited_alert_is_not_notified_until_the_source_resolves() -> None:
    cfg = make_config(route(), inhibit_rules=(RULE,))
    h = Harness(cfg)
    await h.notifier.start()
    h.fire("Down", severity="critical", cluster="a")
    h.fire("Slow", severity="warning", cluster="a")
    await h.clock.advance(31)
    assert [c.names for c in h.rec().calls] == [["Down"]]
    (slow,) = [v for v in h.notifier.alerts() if v.alert.name == "Slow"]
    assert slow.status.state == "suppressed"
    assert h.notifier.alerts(inhibited=False)[0].alert.name == "Down"
    h.resolve("Down", severity="critical", cluster="a")
    await h.clock.advance(300)
    assert sorted(n for c in h.rec().calls[1:] for n in c.names) == ["Down-resolved", "Slow"]
    assert h.rec().calls[1].time == T0 + 330
    await h.notifier.stop()
