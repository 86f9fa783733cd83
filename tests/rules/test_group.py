"""Group evaluation: recording and alerting rules over the real engine and MemoryStorage."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from vigil.model import Labels
from vigil.rules.alerting import RESOLVED_RETENTION_S, AlertingRule, AlertState
from vigil.rules.base import RuleHealth
from vigil.rules.file import parse_rule_file
from vigil.rules.group import Group, RuleMetrics
from vigil.rules.recording import RecordingRule

from ._helpers import Env, add_samples, make_env, series, stale_at

MIN = 60_000


def _group(env: Env, text: str, **kw: object) -> Group:
    [spec] = parse_rule_file(text, "rules.yml")
    return Group(spec, env.ctx, **kw)  # type: ignore[arg-type]


def _up(env: Env, instance: str, points: Sequence[tuple[int, float]]) -> None:
    add_samples(env.storage, Labels(__name__="up", job="api", instance=instance), points)


RECORDING = """groups:
  - name: rec
    interval: 1m
    labels: {team: core}
    rules:
      - record: job:up:sum
        expr: sum by (job, instance) (up)
        labels: {source: rule}
"""


def test_recording_rule_writes_results_and_stale_markers() -> None:
    env = make_env()
    _up(env, "a", [(0, 1), (MIN, 1), (2 * MIN, 1)])
    _up(env, "b", [(0, 0), (MIN, 0)])
    g = _group(env, RECORDING)
    for t in (0, MIN, 2 * MIN):
        g.eval(t)
    got = series(env.storage, "job:up:sum")
    a = Labels(__name__="job:up:sum", job="api", instance="a", source="rule", team="core")
    b = a.set("instance", "b")
    assert got[a] == [(0, 1.0), (MIN, 1.0), (2 * MIN, 1.0)]
    # b is still within the 5m lookback at 2m; it disappears once it leaves it.
    assert got[b] == [(0, 0.0), (MIN, 0.0), (2 * MIN, 0.0)]
    g.eval(6 * MIN)  # the lookback window is (1m, 6m]: b's last sample (1m) left it
    g.eval(7 * MIN)
    assert stale_at(env.storage, b) == [6 * MIN]
    assert stale_at(env.storage, a) == [7 * MIN]
    [rule] = g.rules
    assert rule.health == RuleHealth.GOOD
    assert rule.last_error is None


def test_recording_rule_errors() -> None:
    env = make_env()
    _up(env, "a", [(0, 1)])
    _up(env, "b", [(0, 1)])
    text = """groups:
  - name: g
    limit: 1
    rules:
      - record: dup
        expr: up
        labels: {instance: same}
      - record: many
        expr: up
      - record: ok
        expr: vector(1)
"""
    registry_metrics = RuleMetrics(None)
    g = _group(env, text, metrics=registry_metrics)
    g.eval(0)
    dup, many, ok = g.rules
    assert dup.health == RuleHealth.BAD
    assert dup.last_error == (
        "vector contains metrics with the same labelset after applying rule labels"
    )
    assert many.last_error == "exceeded limit 1 with 2 series"
    assert ok.health == RuleHealth.GOOD
    assert series(env.storage, "ok") == {Labels(__name__="ok"): [(0, 1.0)]}
    assert series(env.storage, "dup") == {}
    assert series(env.storage, "many") == {}


def test_query_offset_shifts_query_and_write_time() -> None:
    env = make_env()
    _up(env, "a", [(0, 5), (MIN, 7)])
    text = """groups:
  - name: g
    query_offset: 1m
    rules:
      - record: r
        expr: sum(up)
"""
    g = _group(env, text)
    g.eval(2 * MIN)
    assert series(env.storage, "r") == {Labels(__name__="r"): [(MIN, 7.0)]}


ALERT = """groups:
  - name: alerts
    interval: 1m
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels: {severity: page, instance: "{{ $labels.instance }}-x"}
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} down ({{ $value }})"
          ext: "{{ $externalLabels.dc }} {{ $externalURL }}"
"""


def test_alert_lifecycle_alerts_series_and_notifications() -> None:
    env = make_env(external_labels={"dc": "eu"}, external_url="http://vigil:9090")
    _up(env, "a", [(t * MIN, 0) for t in range(5)] + [(5 * MIN, 1)])
    g = _group(env, ALERT)
    [rule] = g.rules
    assert isinstance(rule, AlertingRule)
    assert str(rule.state) == "unknown"
    labels = Labels(alertname="InstanceDown", instance="a-x", job="api", severity="page")

    g.eval(0)
    [a] = rule.active_alerts()
    assert a.state == AlertState.PENDING
    assert a.labels == labels
    assert a.active_at == 0
    assert a.annotations == {"summary": "a of api down (0)", "ext": "eu http://vigil:9090"}
    assert env.notes.calls == []  # pending alerts are not sent
    g.eval(MIN)
    assert str(rule.state) == "pending"
    g.eval(2 * MIN)
    assert str(rule.state) == "firing"
    [sent] = env.notes.last
    assert sent.labels == labels
    assert sent.starts_at == 120.0
    assert sent.ends_at == 120.0 + 4 * 60  # 4 * max(resend delay, interval)
    assert sent.annotations["summary"] == "a of api down (0)"
    assert sent.generator_url == "http://vigil:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    n = len(env.notes.calls)
    g.eval(3 * MIN)  # resend delay (1m) not passed since 2m: "before", not "at"
    assert len(env.notes.calls) == n
    g.eval(4 * MIN)
    assert len(env.notes.calls) == n + 1
    assert env.notes.last[0].ends_at == 240.0 + 240

    g.eval(5 * MIN)  # up is 1: resolved
    [resolved] = env.notes.last
    assert resolved.ends_at == 300.0
    assert resolved.resolved(300.0)
    assert rule.active_alerts() == []
    assert str(rule.state) == "inactive"

    alerts = series(env.storage, "ALERTS")
    pending = Labels.from_dict({**labels.to_dict(), "__name__": "ALERTS", "alertstate": "pending"})
    firing = pending.set("alertstate", "firing")
    assert alerts[pending] == [(0, 1.0), (MIN, 1.0), (2 * MIN, math.nan)]
    assert alerts[firing] == [(2 * MIN, 1.0), (3 * MIN, 1.0), (4 * MIN, 1.0), (5 * MIN, math.nan)]
    for_state = series(env.storage, "ALERTS_FOR_STATE")
    key = Labels.from_dict({**labels.to_dict(), "__name__": "ALERTS_FOR_STATE"})
    assert [v for _, v in for_state[key][:5]] == [0.0] * 5

    # Resolved alerts are re-sent (resend delay) until the 15 minute retention ends.
    sent_resolved = 0
    t = 6 * MIN
    while t <= 5 * MIN + RESOLVED_RETENTION_S * 1000 + 2 * MIN:
        before = len(env.notes.calls)
        g.eval(t)
        sent_resolved += len(env.notes.calls) - before
        t += MIN
    assert rule.active == {}
    assert 6 <= sent_resolved <= 8
    assert all(c[0].ends_at == 300.0 for c in env.notes.calls[-sent_resolved:])


def _nan_eq(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and (x[1] == y[1] or (math.isnan(x[1]) and math.isnan(y[1])))
        for x, y in zip(a, b, strict=True)
    )


def test_keep_firing_for() -> None:
    env = make_env()
    _up(env, "a", [(0, 0), (MIN, 1), (2 * MIN, 1), (3 * MIN, 1), (4 * MIN, 1)])
    text = """groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        keep_firing_for: 2m
"""
    g = _group(env, text)
    [rule] = g.rules
    assert isinstance(rule, AlertingRule)
    g.eval(0)
    assert rule.state == AlertState.FIRING  # for: 0 fires at once
    g.eval(MIN)
    [a] = rule.active_alerts()
    assert a.state == AlertState.FIRING
    assert a.keep_firing_since == 60.0
    g.eval(2 * MIN)
    assert rule.state == AlertState.FIRING
    g.eval(3 * MIN)  # 2m after the condition went away
    assert str(rule.state) == "inactive"
    assert env.notes.last[0].ends_at == 180.0


def test_alert_limit_and_duplicate_labelsets() -> None:
    env = make_env()
    for inst in ("a", "b", "c"):
        _up(env, inst, [(0, 0)])
    text = """groups:
  - name: g
    limit: 2
    rules:
      - alert: Down
        expr: up == 0
      - alert: Same
        expr: up == 0
        labels: {instance: x}
      - alert: Templated
        expr: up == 0
        labels: {instance: "{{ $labels.nosuch }}"}
"""
    g = _group(env, text)
    g.eval(0)
    down, same, templated = g.rules
    assert down.last_error == "exceeded limit of 2 with 3 alerts"
    assert isinstance(down, AlertingRule)
    assert down.active == {}
    msg = "vector contains metrics with the same labelset after applying alert labels"
    assert same.last_error == msg
    # an empty templated value removes the label, so instance no longer tells them apart
    assert templated.last_error == msg
    assert all(r.health == RuleHealth.BAD for r in g.rules)
    assert series(env.storage, "ALERTS") == {}
    assert env.notes.calls == []


def test_failing_template_leaves_an_error_string() -> None:
    env = make_env()
    _up(env, "a", [(0, 0)])
    text = """groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        annotations:
          bad: "{{ index $labels 1 2 }}"
          q: "{{ with query \\"sum(up)\\" }}{{ . | first | value }}{{ end }}"
"""
    g = _group(env, text)
    g.eval(0)
    [rule] = g.rules
    assert isinstance(rule, AlertingRule)
    [a] = rule.active_alerts()
    assert a.annotations["bad"].startswith("<error expanding template: ")
    assert a.annotations["q"] == "0"
    assert rule.health == RuleHealth.GOOD


def test_restore_for_state_after_restart() -> None:
    env = make_env()
    _up(env, "a", [(t * MIN, 0) for t in range(40)])
    text = """groups:
  - name: g
    interval: 1m
    rules:
      - alert: Down
        expr: up == 0
        for: 30m
"""
    before = _group(env, text)
    for t in range(0, 11):
        before.eval(t * MIN)  # pending since 0, written to ALERTS_FOR_STATE up to 10m
    # "Restart" at 15m: a new group, not restored yet (ALERTS written only after).
    after = _group(env, text, restored=False)
    after.eval(15 * MIN)
    after.eval(16 * MIN)
    [rule] = after.rules
    assert isinstance(rule, AlertingRule)
    assert rule.active_alerts()[0].active_at == 900.0
    assert not any(t >= 15 * MIN for s in series(env.storage, "ALERTS").values() for t, _ in s)
    after.restore_for_state(env.storage, 16 * 60.0)
    [a] = rule.active_alerts()
    # pending 10m when it went down at 10m, 20m left (> grace period): shifted by the outage
    assert a.active_at == 0 + (16 * 60 - 10 * 60)
    assert rule.restored
    after.eval(17 * MIN)
    assert any(t == 17 * MIN for s in series(env.storage, "ALERTS").values() for t, _ in s)


def test_restore_within_grace_period() -> None:
    env = make_env()
    _up(env, "a", [(t * MIN, 0) for t in range(100)])
    text = """groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 15m
"""
    before = _group(env, text)
    for t in range(0, 11):
        before.eval(t * MIN)  # 10m pending of 15m: 5m left, within the 10m grace period
    after = _group(env, text, restored=False)
    after.eval(12 * MIN)
    after.restore_for_state(env.storage, 12 * 60.0)
    [rule] = after.rules
    assert isinstance(rule, AlertingRule)
    assert rule.active_alerts()[0].active_at == 12 * 60 + 600 - 900
    # beyond the outage tolerance nothing is restored
    late = _group(env, text, restored=False)
    late.eval(80 * MIN)
    late.restore_for_state(env.storage, 80 * 60.0)
    [late_rule] = late.rules
    assert isinstance(late_rule, AlertingRule)
    assert late_rule.active_alerts()[0].active_at == 4800.0


def test_copy_state_keeps_alerts_and_stales_removed_rules() -> None:
    env = make_env()
    _up(env, "a", [(t * MIN, 0) for t in range(10)])
    old = _group(
        env,
        """groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
      - record: gone
        expr: vector(1)
""",
    )
    old.eval(0)
    old.eval(MIN)
    new = _group(
        env,
        """groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
        annotations: {summary: changed}
""",
    )
    new.copy_state(old)
    new.eval(2 * MIN)
    [rule] = new.rules
    assert isinstance(rule, AlertingRule)
    [a] = rule.active_alerts()
    assert a.active_at == 0.0
    assert a.annotations == {"summary": "changed"}
    assert stale_at(env.storage, Labels(__name__="gone")) == [2 * MIN]


def test_direct_rule_objects() -> None:
    env = make_env()
    rec = RecordingRule("x", "vector(2)")
    assert rec.eval(0, env.ctx, 0, 0) == [(Labels(__name__="x"), 2.0)]
    rule = AlertingRule("A", "vector(1) > 0", labels={"k": "v"})
    out = rule.eval(1000, env.ctx, 0, 0)
    assert (Labels(__name__="ALERTS", alertname="A", alertstate="firing", k="v"), 1.0) in out
    with pytest.raises(Exception, match="rule result is not a vector or scalar"):
        RecordingRule("s", '"str"').eval(0, env.ctx, 0, 0)


def test_group_slot_is_stable_and_inside_the_interval() -> None:
    env = make_env()
    g = _group(env, RECORDING)
    off = g.offset_ms()
    assert 0 <= off < 60_000
    for now in (0, 59_999, 1_234_567, 10**12 + 7):
        t = g.eval_timestamp(now)
        assert t <= now < t + 60_000
        assert (t - off) % 60_000 == 0


# -- one transaction per evaluation ----------------------------------------------------


class CountingStorage:
    """MemoryStorage's appenders, counting commits (the seam the group writes through)."""

    def __init__(self, env: Env) -> None:
        self.storage = env.storage
        self.commits = 0

    def appender(self) -> CountingStorage.Appender:
        return CountingStorage.Appender(self)

    class Appender:
        def __init__(self, outer: CountingStorage) -> None:
            self.outer = outer
            self.app = outer.storage.appender()

        def append(self, ref: int, labels: Labels | None, t: int, v: float) -> int:
            return self.app.append(ref, labels, t, v)

        def commit(self) -> None:
            self.outer.commits += 1
            self.app.commit()

        def rollback(self) -> None:
            self.app.rollback()


def _counting_env() -> tuple[Env, CountingStorage]:
    env = make_env()
    counting = CountingStorage(env)
    env.ctx.appendable = counting
    return env, counting


INDEPENDENT = """groups:
  - name: g
    rules:
      - alert: Down
        expr: up == 0
        annotations: {summary: "{{ $labels.instance }} is down ({{ $value }})"}
      - alert: Up
        expr: up == 1
      - record: job:up:sum
        expr: sum by (job) (up)
"""


def test_one_commit_per_group_evaluation() -> None:
    env, counting = _counting_env()
    _up(env, "a", [(0, 0), (MIN, 0)])
    _up(env, "b", [(0, 1), (MIN, 1)])
    g = _group(env, INDEPENDENT)
    g.eval(0)
    g.eval(MIN)
    assert counting.commits == 2
    assert [r.health for r in g.rules] == [RuleHealth.GOOD] * 3
    alerts = series(env.storage, "ALERTS")
    assert {(lb["alertname"], lb["alertstate"]) for lb in alerts} == {
        ("Down", "firing"),
        ("Up", "firing"),
    }
    assert series(env.storage, "job:up:sum") == {
        Labels(__name__="job:up:sum", job="api"): [(0, 1.0), (MIN, 1.0)]
    }
    down = g.rules[0]
    assert isinstance(down, AlertingRule)
    assert [a.annotations["summary"] for a in down.active_alerts()] == ["a is down (0)"]


CHAINED = """groups:
  - name: chain
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - record: job:up:double
        expr: job:up:sum * 2
      - alert: Many
        expr: job:up:double > 1
"""


def test_a_rule_reading_an_earlier_result_sees_it_at_the_same_evaluation() -> None:
    env, counting = _counting_env()
    _up(env, "a", [(0, 1)])
    _up(env, "b", [(0, 1)])
    g = _group(env, CHAINED)
    g.eval(0)
    # committed before each rule reading what the transaction held, and at the end
    assert counting.commits == 3
    assert series(env.storage, "job:up:double") == {
        Labels(__name__="job:up:double", job="api"): [(0, 4.0)]
    }
    many = g.rules[2]
    assert isinstance(many, AlertingRule)
    assert [a.value for a in many.active_alerts()] == [4.0]


def test_two_rules_writing_one_series_first_wins_and_stale_markers_skip_it() -> None:
    env = make_env()
    _up(env, "a", [(0, 1), (MIN, 1)])
    text = """groups:
  - name: dup
    rules:
      - record: same
        expr: sum(up)
      - record: same
        expr: sum(up) * 10
"""
    g = _group(env, text)
    g.eval(0)
    assert series(env.storage, "same") == {Labels(__name__="same"): [(0, 1.0)]}
    first, second = g.rules
    assert first.health == second.health == RuleHealth.GOOD
    # the second rule's sample was refused: it owns no series, so it marks nothing stale
    assert g.series_prev[1] == {}
    g.eval(MIN)
    assert series(env.storage, "same") == {Labels(__name__="same"): [(0, 1.0), (MIN, 1.0)]}


def test_a_failed_commit_marks_the_rules_of_the_transaction() -> None:
    env = make_env()
    _up(env, "a", [(0, 1)])

    class Failing:
        def appender(self) -> Failing:
            return self

        def append(self, ref: int, labels: Labels | None, t: int, v: float) -> int:
            return 1

        def commit(self) -> None:
            raise OSError("disk full")

        def rollback(self) -> None:
            pass

    env.ctx.appendable = Failing()
    g = _group(env, RECORDING)
    g.eval(0)
    [rule] = g.rules
    assert rule.health == RuleHealth.BAD
    assert rule.last_error == "appending samples failed: disk full"
    assert g.series_prev == [{}]
