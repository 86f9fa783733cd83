"""The notification pipeline: what one flush of one aggregation group does.

Stage for stage it is Alertmanager's ``notify/notify.go``:

1. drop inhibited alerts (MuteStage with the inhibitor);
2. drop everything when the route has ``active_time_intervals`` and none
   contains now (TimeActiveStage), or when one of its ``mute_time_intervals``
   does (TimeMuteStage);
3. drop silenced alerts (MuteStage with the silencer);
4. for each integration of the receiver, concurrently: dedup against the
   notification log (:func:`vigil.notify.nflog.needs_update`), send with retries
   (exponential backoff from 0.5 s, factor 1.5, jitter 50 %, at most 60 s apart,
   until the flush's deadline; a :class:`DeliveryError` with ``retry=False``
   stops at once), and log the notification only after it succeeded.

Resolved alerts go to an integration only if it has ``send_resolved``; a
notification with nothing but resolved alerts for an integration without it is
not sent but still logged, so the log forgets the firing alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from vigil.model.alert import Alert
from vigil.notify.dispatch import FlushContext, Sleep
from vigil.notify.history import AlertEvent
from vigil.notify.inhibit import Inhibitor
from vigil.notify.nflog import NotificationLog, ReceiverKey, needs_update
from vigil.notify.receivers.base import DeliveryError, Integration, NotificationContext
from vigil.notify.silence import Silencer
from vigil.notify.store import fingerprint_string

__all__ = ["Backoff", "NotificationMetrics", "Pipeline", "TimeIntervalLike"]

log = logging.getLogger(__name__)

EventHook = Callable[[AlertEvent], None]


class TimeIntervalLike(Protocol):
    def contains(self, t: float) -> bool: ...


class NotificationMetrics:
    """Alertmanager's ``alertmanager_notifications_*`` family under ``vigil_``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.notifications = Counter(
            "vigil_notifications",
            "Notifications attempted (one per flush and integration, retries included).",
            ["integration"],
            registry=r,
        )
        self.notifications_failed = Counter(
            "vigil_notifications_failed",
            "Notifications that failed after all retries, by reason.",
            ["integration", "reason"],
            registry=r,
        )
        self.requests = Counter(
            "vigil_notification_requests",
            "Delivery attempts sent to integrations.",
            ["integration"],
            registry=r,
        )
        self.requests_failed = Counter(
            "vigil_notification_requests_failed",
            "Delivery attempts that failed.",
            ["integration"],
            registry=r,
        )
        self.latency = Histogram(
            "vigil_notification_latency_seconds",
            "Latency of delivery attempts.",
            ["integration"],
            buckets=(1, 5, 10, 15, 20),
            registry=r,
        )

    def init_integration(self, name: str) -> None:
        self.notifications.labels(name)
        self.requests.labels(name)
        self.requests_failed.labels(name)
        self.latency.labels(name)


class Backoff:
    """cenkalti/backoff's exponential backoff as Alertmanager configures it (never gives up)."""

    def __init__(
        self,
        rng: random.Random,
        *,
        initial: float = 0.5,
        multiplier: float = 1.5,
        jitter: float = 0.5,
        maximum: float = 60.0,
    ) -> None:
        self._rng = rng
        self._current = initial
        self._multiplier = multiplier
        self._jitter = jitter
        self._max = maximum

    def next(self) -> float:
        delta = self._jitter * self._current
        wait = self._current - delta + self._rng.random() * (2 * delta)
        self._current = min(self._current * self._multiplier, self._max)
        return wait


class _DeadlineExceededError(Exception):
    pass


class Pipeline:
    """Runs the stages for one flush; ``integrations`` maps receiver names to their integrations."""

    def __init__(
        self,
        *,
        integrations: Mapping[str, Sequence[Integration]],
        nflog: NotificationLog,
        silencer: Silencer,
        inhibitor: Inhibitor,
        time_intervals: Mapping[str, Sequence[TimeIntervalLike]] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        metrics: NotificationMetrics | None = None,
        rng: random.Random | None = None,
        on_event: EventHook | None = None,
        external_url: str = "",
    ) -> None:
        self.integrations = integrations
        self.nflog = nflog
        self.silencer = silencer
        self.inhibitor = inhibitor
        self.time_intervals = time_intervals or {}
        self._clock = clock
        self._sleep = sleep
        self.metrics = metrics if metrics is not None else NotificationMetrics()
        self._rng = rng if rng is not None else random.Random()
        self._on_event = on_event
        self.external_url = external_url
        for its in integrations.values():
            for i in its:
                self.metrics.init_integration(i.name)

    async def aclose(self) -> None:
        """Release what the integrations keep between notifications (their HTTP clients).

        Integrations may have an ``async aclose()``; those without one hold nothing.
        Called when the notifier stops or replaces this pipeline on a reload.
        """
        for its in self.integrations.values():
            for i in its:
                close = getattr(i, "aclose", None)
                if close is None:
                    continue
                try:
                    await close()
                except Exception:
                    log.exception("closing integration %s[%d] failed", i.name, i.index)

    # -- the stages ---------------------------------------------------------

    def _in_intervals(self, names: Sequence[str], now: float) -> bool:
        for name in names:
            intervals = self.time_intervals.get(name)
            if intervals is None:
                log.warning("time interval %r is not defined; ignoring it", name)
                continue
            if any(ti.contains(now) for ti in intervals):
                return True
        return False

    async def __call__(self, ctx: FlushContext, alerts: Sequence[Alert]) -> bool:
        """One flush; True when every integration succeeded (or had nothing to do)."""
        integrations = self.integrations.get(ctx.receiver)
        if integrations is None:
            log.error("no integrations for receiver %r (group %s)", ctx.receiver, ctx.group_key)
            return False
        alerts = [a for a in alerts if not self.inhibitor.mutes(a.labels)]
        if not alerts:
            return True
        if ctx.active_time_intervals and not self._in_intervals(ctx.active_time_intervals, ctx.now):
            log.debug("group %s: route not within an active time interval", ctx.group_key)
            return True
        if ctx.mute_time_intervals and self._in_intervals(ctx.mute_time_intervals, ctx.now):
            log.debug("group %s: route within a mute time interval", ctx.group_key)
            return True
        alerts = [a for a in alerts if not self.silencer.mutes(a.labels)]
        if not alerts:
            return True
        results = await asyncio.gather(
            *(self._integration(ctx, i, alerts) for i in integrations), return_exceptions=True
        )
        ok = True
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, asyncio.CancelledError):
                    raise r
                log.error("group %s: notification failed: %r", ctx.group_key, r)
                ok = False
            elif not r:
                ok = False
        return ok

    async def _integration(
        self, ctx: FlushContext, integration: Integration, alerts: Sequence[Alert]
    ) -> bool:
        now = self._clock()
        firing = {a.fingerprint for a in alerts if not a.resolved(now)}
        resolved = {a.fingerprint for a in alerts if a.resolved(now)}
        key = ReceiverKey(ctx.receiver, integration.name, integration.index)
        entry = self.nflog.query(ctx.group_key, key)
        if not needs_update(
            entry,
            firing,
            resolved,
            ctx.repeat_interval,
            integration.send_resolved,
            now=self._clock(),
        ):
            return True
        if await self._retry(ctx, integration, alerts, firing):
            self.nflog.log(key, ctx.group_key, firing, resolved)
            return True
        return False

    async def _retry(
        self,
        ctx: FlushContext,
        integration: Integration,
        alerts: Sequence[Alert],
        firing: set[int],
    ) -> bool:
        name = integration.name
        m = self.metrics
        m.notifications.labels(name).inc()
        if integration.send_resolved:
            sent = list(alerts)
        else:
            if not firing:
                return True  # only resolved alerts: nothing to send, but log them
            sent = [a for a in alerts if a.fingerprint in firing]
        nctx = NotificationContext(
            receiver=ctx.receiver,
            group_key=ctx.group_key,
            group_labels=ctx.group_labels,
            now=ctx.now,
            external_url=self.external_url,
        )
        backoff = Backoff(self._rng)
        attempt = 0
        last: BaseException | None = None
        reason = "other"
        wait = 0.0
        while True:
            remaining = ctx.deadline - self._clock()
            if wait > 0:
                if wait >= remaining:
                    await self._sleep(max(remaining, 0.0))
                    break
                await self._sleep(wait)
                remaining = ctx.deadline - self._clock()
            if remaining <= 0:
                break
            attempt += 1
            start = self._clock()
            try:
                await self._with_deadline(integration.notify(nctx, sent), remaining)
            except DeliveryError as exc:
                m.latency.labels(name).observe(max(self._clock() - start, 0.0))
                m.requests.labels(name).inc()
                m.requests_failed.labels(name).inc()
                reason = exc.reason
                if not exc.retry:
                    last = exc
                    log.error(
                        "%s/%s[%d]: notify canceled due to unrecoverable error after %d "
                        "attempts: %s",
                        ctx.receiver,
                        name,
                        integration.index,
                        attempt,
                        exc,
                    )
                    self._failed(ctx, integration, sent, reason, str(exc))
                    return False
                if last is None or str(last) != str(exc):
                    log.warning(
                        "%s/%s[%d]: notify attempt %d failed, will retry later: %s",
                        ctx.receiver,
                        name,
                        integration.index,
                        attempt,
                        exc,
                    )
                last = exc
            except _DeadlineExceededError:
                m.requests.labels(name).inc()
                m.requests_failed.labels(name).inc()
                last = TimeoutError("notification timed out at the flush deadline")
                break
            except Exception as exc:  # a bug in an integration: report, retry like AM
                m.latency.labels(name).observe(max(self._clock() - start, 0.0))
                m.requests.labels(name).inc()
                m.requests_failed.labels(name).inc()
                log.exception("%s/%s[%d]: notify attempt failed", ctx.receiver, name, attempt)
                last = exc
                reason = "other"
            else:
                m.latency.labels(name).observe(max(self._clock() - start, 0.0))
                m.requests.labels(name).inc()
                log.debug("%s/%s: notify success after %d attempts", ctx.receiver, name, attempt)
                self._emit(ctx, integration, sent, "sent", "")
                return True
            wait = backoff.next()
        detail = f"notify retry canceled after {attempt} attempts: {last}"
        log.error("%s/%s[%d]: %s", ctx.receiver, name, integration.index, detail)
        self._failed(ctx, integration, sent, reason, detail)
        return False

    async def _with_deadline(self, coro: Any, remaining: float) -> None:
        """Await ``coro`` unless the (injected) clock passes ``remaining`` seconds first."""
        task = asyncio.ensure_future(coro)
        timer = asyncio.ensure_future(self._sleep(remaining))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            timer.cancel()
            raise
        timer.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise _DeadlineExceededError()
        task.result()

    # -- reporting ----------------------------------------------------------

    def _failed(
        self,
        ctx: FlushContext,
        integration: Integration,
        sent: Sequence[Alert],
        reason: str,
        detail: str,
    ) -> None:
        self.metrics.notifications_failed.labels(integration.name, reason).inc()
        self._emit(ctx, integration, sent, "failed", detail)

    def _emit(
        self,
        ctx: FlushContext,
        integration: Integration,
        sent: Sequence[Alert],
        outcome: str,
        detail: str,
    ) -> None:
        if self._on_event is None:
            return
        now = self._clock()
        for a in sent:
            event = AlertEvent(
                time=now,
                kind="notification",
                alertname=a.name,
                fingerprint=fingerprint_string(a.fingerprint),
                state="resolved" if a.resolved(ctx.now) else "firing",
                labels=a.labels.to_dict(),
                severity=a.labels.get("severity"),
                receiver=ctx.receiver,
                integration=f"{integration.name}/{integration.index}",
                outcome=outcome,
                detail=detail,
            )
            try:
                self._on_event(event)
            except Exception:
                log.exception("notification event hook failed")
