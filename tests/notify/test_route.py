"""The routing tree built from config: first match wins, ``continue``, fallback to the parent, keys."""

from __future__ import annotations

from vigil.model import Labels
from vigil.notify.config import parse_notify_config

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['service=~"foo1|foo2"']
      receiver: foo
      routes:
        - matchers: [severity="critical"]
          receiver: foo-pager
    - matchers: [team="db"]
      receiver: db
      continue: true
    - matchers: [severity="critical"]
      receiver: pager
receivers: [{name: default}, {name: foo}, {name: foo-pager}, {name: db}, {name: pager}]
"""


def receivers(**labels: str) -> list[str]:
    cfg = parse_notify_config(CONFIG, "am.yml")
    return [r.receiver for r in cfg.route.match(Labels.from_dict(labels))]


def test_first_match_wins_and_parent_catches() -> None:
    assert receivers(service="foo1") == ["foo"]
    assert receivers(service="foo1", severity="critical") == ["foo-pager"]
    assert receivers(service="xfoo1") == ["default"]  # anchored regex


def test_continue_goes_on_to_next_sibling() -> None:
    assert receivers(team="db", severity="critical") == ["db", "pager"]
    assert receivers(team="db") == ["db"]


def test_missing_label_is_empty() -> None:
    cfg = parse_notify_config(
        "route:\n  receiver: a\n  routes: [{matchers: ['env!=\"prod\"'], receiver: b}]\n"
        "receivers: [{name: a}, {name: b}]\n",
        "am.yml",
    )
    assert [r.receiver for r in cfg.route.match(Labels.from_dict({}))] == ["b"]


def test_keys_and_group_labels() -> None:
    cfg = parse_notify_config(CONFIG, "am.yml")
    pager = cfg.route.routes[0].routes[0]
    assert pager.key() == '{}/{service=~"foo1|foo2"}/{severity="critical"}'
    labels = Labels.from_dict({"alertname": "X", "service": "foo1", "severity": "critical"})
    assert pager.group_labels(labels) == Labels.from_dict({"alertname": "X"})
    assert len(cfg.route.walk()) == 5
