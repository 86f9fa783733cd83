"""The alerting stack: rule manager, notifier and alert history, built and wired together.

Both ``vigil server`` and embedded mode use it. Data flows one way: the rule
manager evaluates rule files (and Python rules) through the PromQL engine over
the store, writes recording rules and ``ALERTS`` back, and sends its alerts to
the notifier, which routes, groups, silences, inhibits and delivers them.
Alerts posted to ``/api/v2/alerts`` (a real Prometheus can send there) join the
same notifier. Every alert that starts firing or resolves, and every delivery,
is written to the history.

Reload validates everything first (rule files, notifier config, templates) and
applies nothing unless all of it is good.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Unpack

from prometheus_client import CollectorRegistry

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.alert import fingerprint as labels_fingerprint
from vigil.notify.config import NotifyConfig, load_notify_config, parse_notify_config
from vigil.notify.history import AlertEvent, AlertHistory
from vigil.notify.notifier import Notifier
from vigil.notify.store import fingerprint_string
from vigil.promql.engine import Engine
from vigil.rules.alerting import PythonRule, PythonRuleOptions
from vigil.rules.base import RuleContext
from vigil.rules.file import load_rule_files
from vigil.rules.manager import RuleManager
from vigil.rules.query import engine_query

__all__ = ["DEFAULT_NOTIFIER_CONFIG", "Alerting", "AlertingSettings", "default_rules_path"]

log = logging.getLogger("vigil.alerting")

DEFAULT_NOTIFIER_CONFIG = """\
# vigil's notifier without --notifier-config: alerts are grouped, shown and kept in
# the history, and sent nowhere. Pass an alertmanager.yml to deliver them.
route:
  receiver: none
  group_by: [alertname]
receivers:
  - name: none
"""


def default_rules_path() -> Path:
    """The packaged default rule pack (``vigil/rules/packs/default.yml``)."""
    return Path(str(resources.files("vigil.rules").joinpath("packs/default.yml")))


@dataclass(frozen=True)
class AlertingSettings:
    """Where rules and the notifier config come from. Patterns may hold wildcards."""

    rule_files: Sequence[str] = ()
    default_rules: bool = False
    notifier_config: Path | None = None
    data_dir: Path | None = None  # None: silences, notification log and history in memory
    evaluation_interval_s: float = 60.0
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""

    def rule_paths(self) -> list[str]:
        """The files the patterns match now (sorted per pattern), the default pack first."""
        out: list[str] = [str(default_rules_path())] if self.default_rules else []
        for pattern in self.rule_files:
            matched = sorted(glob.glob(pattern))
            if not matched and not glob.has_magic(pattern):
                matched = [pattern]  # a missing file is reported by the loader, with its name
            out += matched
        return out


class Alerting:
    """Owns the rule manager, the notifier and the history; start, reload, stop."""

    def __init__(
        self,
        settings: AlertingSettings,
        *,
        storage: Any,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.engine = engine or Engine()
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()
        data = settings.data_dir
        self.history = AlertHistory(data / "history.db" if data is not None else None)
        self.notify_config = self._read_notify_config(settings)
        self.notifier = Notifier(
            self.notify_config,
            data_dir=data,
            clock=clock,
            registry=self.registry,
            on_event=self._record_notification,
            external_url=settings.external_url,
        )
        self.rules = RuleManager(
            self._context(settings),
            evaluation_interval_s=settings.evaluation_interval_s,
            registry=self.registry,
            queryable=storage,
        )
        self.rules.load(settings.rule_paths())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._firing: dict[int, bool] = {}

    # -- wiring ------------------------------------------------------------------------

    @staticmethod
    def _read_notify_config(settings: AlertingSettings) -> NotifyConfig:
        if settings.notifier_config is not None:
            return load_notify_config(settings.notifier_config)
        return parse_notify_config(DEFAULT_NOTIFIER_CONFIG, "<default notifier config>")

    def _context(self, settings: AlertingSettings) -> RuleContext:
        return RuleContext(
            query=engine_query(self.engine, self.storage),
            appendable=self.storage,
            notify=self._from_rules,
            external_labels=dict(settings.external_labels),
            external_url=settings.external_url,
            clock=self.clock,
            on_state=self._rule_state,
        )

    def _from_rules(self, alerts: Sequence[Alert]) -> None:
        """Rules evaluate in worker threads; the notifier lives on the event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.notifier.put_alerts(alerts)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.notifier.put_alerts(alerts)
        else:
            loop.call_soon_threadsafe(self.notifier.put_alerts, list(alerts))

    def _rule_state(
        self, rule: str, labels: Labels, new: str, old: str, value: float, t: float
    ) -> None:
        """A rule's alert changed state (called from the evaluating thread)."""
        self.history.record(
            [
                AlertEvent(
                    time=t,
                    kind="state",
                    alertname=rule,
                    fingerprint=fingerprint_string(labels_fingerprint(labels)),
                    state=new,
                    previous=old,
                    labels=labels.to_dict(),
                    severity=labels.get("severity"),
                    value=value,
                )
            ]
        )

    def put_alerts(self, alerts: Sequence[Alert]) -> None:
        """Alerts posted to the v2 API: into the notifier; firing/resolved changes into the history.

        (Rule alerts record their own transitions, pending included, through the rule context.)
        """
        if not alerts:
            return
        self.notifier.put_alerts(alerts)
        now = self.clock()
        events: list[AlertEvent] = []
        for a in alerts:
            fp = a.fingerprint
            firing = not a.resolved(now)
            if self._firing.get(fp, False) == firing:
                continue
            if firing:
                self._firing[fp] = True
            else:
                was = self._firing.pop(fp, None)
                if was is None:
                    continue  # a resolved alert never seen firing: nothing changed
            events.append(
                AlertEvent(
                    time=a.starts_at if firing else (a.ends_at or now),
                    kind="state",
                    alertname=a.name,
                    fingerprint=fingerprint_string(fp),
                    state="firing" if firing else "resolved",
                    previous="pending" if firing else "firing",
                    labels=a.labels.to_dict(),
                    severity=a.labels.get("severity"),
                )
            )
        if events:
            self.history.record(events)

    def _record_notification(self, event: AlertEvent) -> None:
        self.history.record([event])

    def register_rule(
        self, name: str, func: Callable[[], object], **options: Unpack[PythonRuleOptions]
    ) -> PythonRule:
        """Embedded mode: alert ``name`` while ``func()`` is true, in the same pipeline as rule files."""
        return self.rules.register_python_rule(name, func, **options)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.notifier.start()
        await self.rules.start()
        log.info(
            "alerting started",
            extra={
                "rule_groups": len(self.rules.groups()),
                "notifier_config": str(self.settings.notifier_config or "<none: alerts not sent>"),
            },
        )

    async def stop(self) -> None:
        await self.rules.stop()
        await self.notifier.stop()
        self.history.close()

    async def reload(self, settings: AlertingSettings) -> None:
        """Apply new settings; raises (ConfigError naming file:line:col) and changes nothing if any part is bad."""
        config = await asyncio.to_thread(self._read_notify_config, settings)
        paths = settings.rule_paths()
        await asyncio.to_thread(load_rule_files, paths)  # validate before changing anything
        await self.notifier.apply_config(config)  # checks its templates before replacing
        self.rules.load(paths)
        self.notify_config = config
        self.settings = settings

    def receivers(self) -> list[str]:
        return sorted(self.notify_config.receivers)

    def config_text(self) -> str:
        return self.notify_config.original_text
