"""Inhibition: a firing alert that matches a rule's source mutes the alerts its target matches.

Semantics follow Alertmanager's ``inhibit/inhibit.go``: each rule caches the
alerts that match its source matchers; an alert matching the target matchers
is muted when a cached source alert is still firing and has the same values
for every label in ``equal`` (a label missing on both sides counts as equal).
When the alert matches both sides of a rule, source alerts that also match
the target side do not count, so an alert never inhibits itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from vigil.model import Labels
from vigil.model.alert import fingerprint
from vigil.model.matchers import Matcher
from vigil.notify.store import Marker, StoredAlert, fingerprint_string

__all__ = ["InhibitRuleLike", "Inhibitor"]


class InhibitRuleLike(Protocol):
    """What the inhibitor needs of a configured rule (``vigil.notify.config.InhibitRule``)."""

    @property
    def source_matchers(self) -> Sequence[Matcher]: ...

    @property
    def target_matchers(self) -> Sequence[Matcher]: ...

    @property
    def equal(self) -> Sequence[str]: ...


def _matches(matchers: Sequence[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels.get(m.name)) for m in matchers)


class _Rule:
    def __init__(self, rule: InhibitRuleLike) -> None:
        self.source = tuple(rule.source_matchers)
        self.target = tuple(rule.target_matchers)
        self.equal = tuple(rule.equal)
        self.cache: dict[int, StoredAlert] = {}

    def has_equal(self, labels: Labels, exclude_two_sided: bool, now: float) -> int | None:
        for fp, stored in self.cache.items():
            a = stored.alert
            if a.resolved(now):
                continue
            if any(a.labels.get(n) != labels.get(n) for n in self.equal):
                continue
            if exclude_two_sided and _matches(self.target, a.labels):
                continue
            return fp
        return None


class Inhibitor:
    """Feed it every stored alert (:meth:`observe`, a store subscriber); ask :meth:`mutes`."""

    def __init__(
        self,
        rules: Sequence[InhibitRuleLike],
        marker: Marker,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rules = [_Rule(r) for r in rules]
        self.marker = marker
        self._clock = clock

    def observe(self, stored: StoredAlert) -> None:
        labels = stored.alert.labels
        for rule in self._rules:
            if _matches(rule.source, labels):
                rule.cache[stored.fingerprint] = stored

    def gc(self) -> None:
        """Drop resolved source alerts from the caches."""
        now = self._clock()
        for rule in self._rules:
            for fp in [fp for fp, s in rule.cache.items() if s.alert.resolved(now)]:
                del rule.cache[fp]

    def mutes(self, labels: Labels) -> bool:
        """Whether an alert with ``labels`` is inhibited; records the answer in the marker."""
        now = self._clock()
        fp = fingerprint(labels)
        for rule in self._rules:
            if not _matches(rule.target, labels):
                continue
            by = rule.has_equal(labels, _matches(rule.source, labels), now)
            if by is not None:
                self.marker.set_inhibited(fp, [fingerprint_string(by)])
                return True
        self.marker.set_inhibited(fp, [])
        return False
