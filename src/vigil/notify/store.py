"""The notifier's alert store: alerts by fingerprint, merged as Alertmanager merges them.

Semantics follow Alertmanager's ``provider/mem`` and the v2 API's
``postAlertsHandler``: an alert without ``starts_at`` starts now (or at its
``ends_at``); an alert without ``ends_at`` ends ``resolve_timeout`` from now and
is flagged as *timeout*; an update of a known alert whose activity overlaps the
stored one is merged (earliest start, the younger alert's end unless an explicit
end of the older one is later). Every stored alert is passed to the
subscribers, synchronously, in the order of :meth:`AlertStore.put`.

The :class:`Marker` keeps each alert's status (``unprocessed``, ``active``,
``suppressed``, with the silences and inhibiting alerts that suppress it), as
Alertmanager's ``types.MemMarker`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from vigil.model.alert import Alert
from vigil.model.matchers import Matcher

__all__ = [
    "ACTIVE",
    "SUPPRESSED",
    "UNPROCESSED",
    "AlertStatus",
    "AlertStore",
    "Marker",
    "StoredAlert",
    "fingerprint_string",
]

UNPROCESSED = "unprocessed"
ACTIVE = "active"
SUPPRESSED = "suppressed"

DEFAULT_RESOLVE_TIMEOUT = 300.0


def fingerprint_string(fp: int) -> str:
    """A fingerprint as Alertmanager prints it: 16 hex digits."""
    return f"{fp:016x}"


@dataclass(frozen=True, slots=True)
class AlertStatus:
    state: str = UNPROCESSED
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    pending_silences: tuple[str, ...] = ()


class Marker:
    """Alert status by fingerprint; alerts never marked are ``unprocessed``."""

    def __init__(self) -> None:
        self._status: dict[int, AlertStatus] = {}

    def status(self, fp: int) -> AlertStatus:
        return self._status.get(fp, AlertStatus())

    def set_silenced(self, fp: int, active: Sequence[str], pending: Sequence[str] = ()) -> None:
        old = self._status.get(fp, AlertStatus())
        self._set(fp, replace(old, silenced_by=tuple(active), pending_silences=tuple(pending)))

    def set_inhibited(self, fp: int, by: Sequence[str]) -> None:
        old = self._status.get(fp, AlertStatus())
        self._set(fp, replace(old, inhibited_by=tuple(by)))

    def _set(self, fp: int, status: AlertStatus) -> None:
        state = SUPPRESSED if status.silenced_by or status.inhibited_by else ACTIVE
        self._status[fp] = replace(status, state=state)

    def delete(self, fp: int) -> None:
        self._status.pop(fp, None)

    def count(self, state: str) -> int:
        return sum(1 for s in self._status.values() if s.state == state)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as stored: ``ends_at`` is always set; ``timeout`` says it was not sent."""

    alert: Alert
    timeout: bool

    @property
    def fingerprint(self) -> int:
        return self.alert.fingerprint


def _merge(old: StoredAlert, new: StoredAlert, now: float) -> StoredAlert:
    """Alertmanager's ``Alert.Merge``: ``new`` is the younger unless its ``updated_at`` is older."""
    a, o = old, new
    if o.alert.updated_at < a.alert.updated_at:
        a, o = o, a
    starts = min(a.alert.starts_at, o.alert.starts_at)
    ends = o.alert.ends_at
    assert ends is not None
    assert a.alert.ends_at is not None
    if ends <= now:
        # the latest explicit end wins when both are resolved
        if a.alert.ends_at <= now and a.alert.ends_at > ends:
            ends = a.alert.ends_at
    elif a.alert.ends_at > ends and not a.timeout:
        # a non-timeout end always rules if it is the latest
        ends = a.alert.ends_at
    merged = o.alert.with_times(starts_at=starts, ends_at=ends, updated_at=o.alert.updated_at)
    return StoredAlert(merged, o.timeout)


Subscriber = Callable[[StoredAlert], None]


class AlertStore:
    """Alerts by fingerprint, with subscribers and garbage collection of resolved alerts."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT,
        marker: Marker | None = None,
    ) -> None:
        self._clock = clock
        self.resolve_timeout = resolve_timeout
        self.marker = marker if marker is not None else Marker()
        self._alerts: dict[int, StoredAlert] = {}
        self._subscribers: list[Subscriber] = []

    # -- writing ------------------------------------------------------------

    def normalize(self, alert: Alert, now: float) -> StoredAlert:
        """What the v2 API does before storing: default times, flag timeouts, stamp updated_at."""
        starts = alert.starts_at
        if not starts:
            starts = alert.ends_at if alert.ends_at else now
        if alert.ends_at is None or alert.ends_at == 0:
            return StoredAlert(
                alert.with_times(
                    starts_at=starts, ends_at=now + self.resolve_timeout, updated_at=now
                ),
                timeout=True,
            )
        return StoredAlert(
            alert.with_times(starts_at=starts, ends_at=alert.ends_at, updated_at=now),
            timeout=False,
        )

    def put(self, alerts: Iterable[Alert]) -> list[StoredAlert]:
        """Store alerts as received now; return them as stored (merged)."""
        now = self._clock()
        out: list[StoredAlert] = []
        for raw in alerts:
            new = self.normalize(raw, now)
            fp = new.fingerprint
            old = self._alerts.get(fp)
            if old is not None:
                o, n = old.alert, new.alert
                assert o.ends_at is not None
                assert n.ends_at is not None
                if (o.starts_at < n.ends_at < o.ends_at) or (o.starts_at < n.starts_at < o.ends_at):
                    new = _merge(old, new, now)
            self._alerts[fp] = new
            out.append(new)
            for subscriber in list(self._subscribers):
                subscriber(new)
        return out

    def subscribe(self, subscriber: Subscriber, *, replay: bool = True) -> Callable[[], None]:
        """Call ``subscriber`` for every alert stored from now on (and, with ``replay``, those
        already stored). Returns a function that unsubscribes."""
        self._subscribers.append(subscriber)
        if replay:
            for stored in list(self._alerts.values()):
                subscriber(stored)

        def cancel() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return cancel

    def gc(self, keep: Callable[[int], bool] = lambda fp: False) -> list[StoredAlert]:
        """Delete resolved alerts, except those ``keep(fingerprint)`` still holds (for example
        while their resolved notification is pending); returns the deleted ones."""
        now = self._clock()
        gone = [s for fp, s in self._alerts.items() if s.alert.resolved(now) and not keep(fp)]
        for s in gone:
            del self._alerts[s.fingerprint]
            self.marker.delete(s.fingerprint)
        return gone

    # -- reading ------------------------------------------------------------

    def get(self, fp: int) -> StoredAlert | None:
        return self._alerts.get(fp)

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self) -> Iterator[StoredAlert]:
        return iter(list(self._alerts.values()))

    def list(
        self,
        matchers: Sequence[Matcher] = (),
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        include_resolved: bool = False,
    ) -> list[StoredAlert]:
        """The alerts the v2 API lists: not resolved, filtered by status flags and matchers.

        Statuses are read from the marker as they are; the notifier refreshes them first.
        """
        now = self._clock()
        out: list[StoredAlert] = []
        for stored in self._alerts.values():
            a = stored.alert
            if not include_resolved and a.resolved(now):
                continue
            status = self.marker.status(stored.fingerprint)
            if not active and status.state == ACTIVE:
                continue
            if not unprocessed and status.state == UNPROCESSED:
                continue
            if not silenced and status.silenced_by:
                continue
            if not inhibited and status.inhibited_by:
                continue
            if not all(m.matches(a.labels.get(m.name)) for m in matchers):
                continue
            out.append(stored)
        return out
