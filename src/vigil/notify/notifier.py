"""The notifier: alert store, silences, inhibition, dispatcher and pipeline, wired as one.

The server builds one :class:`Notifier` from the loaded ``alertmanager.yml``
(``vigil.notify.config.NotifyConfig``), starts it, feeds it alerts
(:meth:`Notifier.put_alerts`, from the rule evaluator or the v2 API) and asks
it for the API's views (:meth:`Notifier.alerts`, :meth:`Notifier.groups`,
:attr:`Notifier.silences`). A reload (:meth:`Notifier.apply_config`) rebuilds
inhibition, integrations and the aggregation groups as Alertmanager does;
alerts, silences and the notification log carry over, so nothing that was
already sent is sent again.

With a ``data_dir``, silences and the notification log are snapshotted there
(``silences.json``, ``nflog.json``) every ``maintenance_interval`` and on
:meth:`Notifier.stop`, and read back at construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Gauge

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher, compile_anchored
from vigil.notify.dispatch import Dispatcher, Sleep, labels_before, sort_alerts
from vigil.notify.history import AlertEvent
from vigil.notify.inhibit import Inhibitor, InhibitRuleLike
from vigil.notify.nflog import NotificationLog
from vigil.notify.pipeline import NotificationMetrics, Pipeline, TimeIntervalLike
from vigil.notify.receivers import build_integrations
from vigil.notify.receivers.base import Integration
from vigil.notify.receivers.config import ReceiverConfig
from vigil.notify.route import Route
from vigil.notify.silence import Silencer, Silences
from vigil.notify.store import AlertStatus, AlertStore, Marker, StoredAlert, fingerprint_string
from vigil.notify.templates import TemplateSet

__all__ = [
    "AlertView",
    "GroupView",
    "IntegrationsFactory",
    "Notifier",
    "NotifyConfigLike",
]

log = logging.getLogger(__name__)

DEFAULT_MAINTENANCE_INTERVAL = 15 * 60.0  # --data.maintenance-interval
DEFAULT_ALERT_GC_INTERVAL = 30 * 60.0  # --alerts.gc-interval
DEFAULT_RETENTION = 120 * 3600.0  # --data.retention


class GlobalLike(Protocol):
    @property
    def resolve_timeout_s(self) -> float: ...


class NotifyConfigLike(Protocol):
    """What the notifier reads of ``vigil.notify.config.NotifyConfig``."""

    @property
    def route(self) -> Route: ...

    @property
    def receivers(self) -> Mapping[str, ReceiverConfig]: ...

    @property
    def inhibit_rules(self) -> Sequence[InhibitRuleLike]: ...

    @property
    def time_intervals(self) -> Mapping[str, Sequence[TimeIntervalLike]]: ...

    @property
    def global_(self) -> GlobalLike: ...

    @property
    def templates(self) -> Any: ...


IntegrationsFactory = Callable[[ReceiverConfig, Any], Sequence[Integration]]


def _default_factory(receiver: ReceiverConfig, templates: Any) -> Sequence[Integration]:
    return build_integrations(receiver, templates)


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as the v2 API shows it."""

    alert: Alert
    status: AlertStatus
    receivers: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint_string(self.alert.fingerprint)


@dataclass(frozen=True, slots=True)
class GroupView:
    """An aggregation group as ``/api/v2/alerts/groups`` shows it."""

    labels: Labels
    receiver: str
    group_key: str
    alerts: tuple[AlertView, ...]


class Notifier:
    """The notification side of vigil, Alertmanager-compatible."""

    def __init__(
        self,
        config: NotifyConfigLike,
        *,
        data_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        registry: CollectorRegistry | None = None,
        integrations_factory: IntegrationsFactory = _default_factory,
        on_event: Callable[[AlertEvent], None] | None = None,
        external_url: str = "",
        rng: random.Random | None = None,
        retention: float = DEFAULT_RETENTION,
        maintenance_interval: float = DEFAULT_MAINTENANCE_INTERVAL,
        alert_gc_interval: float = DEFAULT_ALERT_GC_INTERVAL,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._registry = registry if registry is not None else CollectorRegistry()
        self._factory = integrations_factory
        self._on_event = on_event
        self._external_url = external_url
        self._rng = rng if rng is not None else random.Random()
        self._maintenance_interval = maintenance_interval
        self._alert_gc_interval = alert_gc_interval
        self.metrics = NotificationMetrics(self._registry)
        self.marker = Marker()
        self.store = AlertStore(
            clock=clock, resolve_timeout=config.global_.resolve_timeout_s, marker=self.marker
        )
        self.silences = Silences(
            path=data_dir / "silences.json" if data_dir is not None else None,
            clock=clock,
            retention=retention,
        )
        self.nflog = NotificationLog(
            path=data_dir / "nflog.json" if data_dir is not None else None,
            clock=clock,
            retention=retention,
        )
        self.silencer = Silencer(self.silences, self.marker)
        self._started = False
        self._tasks: list[asyncio.Task[None]] = []
        self.config = config
        self.inhibitor, self.pipeline, self.dispatcher = self._build(config)
        self._unsubscribe_inhibitor: Callable[[], None] | None = None
        self._gauges()

    # -- wiring -------------------------------------------------------------

    def _integrations(self, config: NotifyConfigLike) -> dict[str, list[Integration]]:
        # a template file that does not parse is a ConfigError: raised here, before a reload
        # replaces anything
        templates = TemplateSet.load(tuple(config.templates or ()), clock=self._clock)
        out: dict[str, list[Integration]] = {}
        for name, receiver in config.receivers.items():
            for kind in receiver.unsupported:
                log.warning("receiver %r: %s integrations are not supported; skipped", name, kind)
            try:
                out[name] = list(self._factory(receiver, templates))
            except Exception:
                log.exception("receiver %r: cannot build its integrations", name)
                out[name] = []
        return out

    def _build(self, config: NotifyConfigLike) -> tuple[Inhibitor, Pipeline, Dispatcher]:
        inhibitor = Inhibitor(config.inhibit_rules, self.marker, clock=self._clock)
        pipeline = Pipeline(
            integrations=self._integrations(config),
            nflog=self.nflog,
            silencer=self.silencer,
            inhibitor=inhibitor,
            time_intervals=config.time_intervals,
            clock=self._clock,
            sleep=self._sleep,
            metrics=self.metrics,
            rng=self._rng,
            on_event=self._on_event,
            external_url=self._external_url,
        )
        dispatcher = Dispatcher(
            config.route, self.store, pipeline, clock=self._clock, sleep=self._sleep
        )
        return inhibitor, pipeline, dispatcher

    def _gauges(self) -> None:
        alerts = Gauge(
            "vigil_alerts", "Alerts in the notifier by state.", ["state"], registry=self._registry
        )
        for state in ("active", "suppressed", "unprocessed"):
            alerts.labels(state).set_function(
                lambda s=state: float(  # type: ignore[misc]
                    sum(1 for v in self._visible() if self.marker.status(v.fingerprint).state == s)
                )
            )
        groups = Gauge(
            "vigil_dispatcher_aggregation_groups",
            "Aggregation groups.",
            registry=self._registry,
        )
        groups.set_function(lambda: float(len(self.dispatcher.groups())))
        silences = Gauge("vigil_silences", "Silences by state.", ["state"], registry=self._registry)
        for state in ("active", "pending", "expired"):
            silences.labels(state).set_function(
                lambda s=state: float(len(self.silences.list(states=[s])))  # type: ignore[misc]
            )

    def _visible(self) -> list[StoredAlert]:
        return self.store.list()

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Start grouping and notifying (alerts already stored are grouped now)."""
        if self._started:
            return
        self._started = True
        self._unsubscribe_inhibitor = self.store.subscribe(self.inhibitor.observe)
        await self.dispatcher.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self._maintenance_interval, self.maintenance)),
            loop.create_task(self._every(self._alert_gc_interval, self.gc_alerts)),
        ]
        log.info("notifier started: %d receivers", len(self.config.receivers))

    async def stop(self) -> None:
        """Stop notifying (in-flight notifications are cancelled), close the integrations'
        HTTP clients and write the snapshots."""
        if not self._started:
            return
        self._started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.dispatcher.stop()
        await self.pipeline.aclose()
        if self._unsubscribe_inhibitor is not None:
            self._unsubscribe_inhibitor()
            self._unsubscribe_inhibitor = None
        self._snapshot()
        log.info("notifier stopped")

    async def apply_config(self, config: NotifyConfigLike) -> None:
        """Swap in a reloaded config: new inhibitor, integrations and aggregation groups."""
        self.store.resolve_timeout = config.global_.resolve_timeout_s
        inhibitor, pipeline, dispatcher = self._build(config)
        if self._started:
            await self.dispatcher.stop()
            if self._unsubscribe_inhibitor is not None:
                self._unsubscribe_inhibitor()
        await self.pipeline.aclose()  # the old integrations' clients
        self.config = config
        self.inhibitor, self.pipeline, self.dispatcher = inhibitor, pipeline, dispatcher
        if self._started:
            self._unsubscribe_inhibitor = self.store.subscribe(self.inhibitor.observe)
            await self.dispatcher.start()
        log.info("notifier configuration applied: %d receivers", len(config.receivers))

    async def _every(self, interval: float, work: Callable[[], object]) -> None:
        while True:
            await self._sleep(interval)
            try:
                work()
            except Exception:
                log.exception("notifier maintenance failed")

    def maintenance(self) -> None:
        """Garbage-collect silences and the notification log, then snapshot them."""
        self.silences.gc()
        self.nflog.gc()
        self._snapshot()

    def gc_alerts(self) -> None:
        """Forget resolved alerts that no aggregation group still has to notify."""
        self.inhibitor.gc()
        self.store.gc(keep=self.dispatcher.holds)

    def _snapshot(self) -> None:
        for what, snap in (("silences", self.silences.snapshot), ("nflog", self.nflog.snapshot)):
            try:
                snap()
            except OSError as exc:
                log.error("cannot write %s snapshot: %s", what, exc)

    # -- alerts in, views out -----------------------------------------------

    def put_alerts(self, alerts: Iterable[Alert]) -> list[StoredAlert]:
        """Store alerts (merged with known ones); groups pick them up at once."""
        return self.store.put(alerts)

    def _receivers(self, labels: Labels) -> tuple[str, ...]:
        return tuple(r.receiver for r in self.config.route.match(labels))

    def _view(self, stored: StoredAlert) -> AlertView:
        labels = stored.alert.labels
        self.inhibitor.mutes(labels)
        self.silencer.mutes(labels)
        return AlertView(
            stored.alert, self.marker.status(stored.fingerprint), self._receivers(labels)
        )

    @staticmethod
    def _keep(
        view: AlertView, active: bool, silenced: bool, inhibited: bool, unprocessed: bool
    ) -> bool:
        s = view.status
        if not active and s.state == "active":
            return False
        if not unprocessed and s.state == "unprocessed":
            return False
        if not silenced and s.silenced_by:
            return False
        return inhibited or not s.inhibited_by

    def alerts(
        self,
        matchers: Sequence[Matcher] = (),
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        receiver: str | None = None,
    ) -> list[AlertView]:
        """``GET /api/v2/alerts``: unresolved alerts with fresh status, sorted by fingerprint.

        ``receiver`` is a regular expression (anchored) over the receivers an alert goes to.
        """
        wanted = compile_anchored(receiver) if receiver else None
        out: list[AlertView] = []
        for stored in self.store.list(matchers):
            view = self._view(stored)
            if not self._keep(view, active, silenced, inhibited, unprocessed):
                continue
            if wanted is not None and not any(wanted.match(r) for r in view.receivers):
                continue
            out.append(view)
        out.sort(key=lambda v: v.fingerprint)
        return out

    def groups(
        self,
        matchers: Sequence[Matcher] = (),
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        receiver: str | None = None,
    ) -> list[GroupView]:
        """``GET /api/v2/alerts/groups``: the aggregation groups and their unresolved alerts."""
        wanted = compile_anchored(receiver) if receiver else None
        now = self._clock()
        out: list[GroupView] = []
        for group in self.dispatcher.groups():
            if wanted is not None and not wanted.match(group.route.receiver):
                continue
            views: list[AlertView] = []
            for a in sort_alerts(list(group.alerts.values())):
                if a.resolved(now):
                    continue
                if not all(m.matches(a.labels.get(m.name)) for m in matchers):
                    continue
                stored = self.store.get(a.fingerprint)
                view = self._view(stored if stored is not None else StoredAlert(a, False))
                view = AlertView(a, view.status, view.receivers)
                if self._keep(view, active, silenced, inhibited, True):
                    views.append(view)
            if views:
                out.append(GroupView(group.labels, group.route.receiver, group.key, tuple(views)))

        def order(x: GroupView, y: GroupView) -> int:
            if x.labels == y.labels:
                return (x.receiver > y.receiver) - (x.receiver < y.receiver)
            return -1 if labels_before(x.labels, y.labels) else 1

        out.sort(key=functools.cmp_to_key(order))
        return out

    def status(self) -> dict[str, Any]:
        """A summary for the status page and API."""
        now = self._clock()
        problems = [p for p in (self.silences.load_error, self.nflog.load_error) if p]
        return {
            "running": self._started,
            "receivers": sorted(self.config.receivers),
            "alerts": sum(1 for s in self.store if not s.alert.resolved(now)),
            "aggregation_groups": len(self.dispatcher.groups()),
            "silences": {
                state: len(self.silences.list(states=[state]))
                for state in ("active", "pending", "expired")
            },
            "nflog_entries": len(self.nflog),
            "problems": problems,
        }
