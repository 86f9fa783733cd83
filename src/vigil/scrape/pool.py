"""A scrape pool: the loops of one scrape config (one job), kept in step with its targets.

:meth:`ScrapePool.sync` starts a loop for each new target, leaves running
loops of unchanged targets alone, and stops the loops of targets that went
away; those get end-of-run staleness markers after about two intervals
(like Prometheus: if the target comes back in a new loop meanwhile, the
late markers are older than its new samples and the store ignores them).
:meth:`ScrapePool.reload` swaps in a changed config: loops restart with the
new settings and keep their scrape cache when the labels it holds are still
right, so no series goes stale across a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from prometheus_client import CollectorRegistry, Counter, Gauge

from vigil.config.types import ScrapeConfig
from vigil.model import Labels
from vigil.scrape.cache import ScrapeCache
from vigil.scrape.http import HttpScraper, auth_from_config, client_factory
from vigil.scrape.loop import (
    Clock,
    LoopOptions,
    ScrapeLoop,
    ScrapeResult,
    TargetHealth,
)
from vigil.scrape.relabel import relabel
from vigil.scrape.targets import DroppedTarget, Target
from vigil.storage.interface import Appendable

__all__ = ["ScrapeMetrics", "ScrapePool"]

log = logging.getLogger(__name__)


class ScrapeMetrics:
    """The scrape layer's self-metrics, registered in ``registry`` (a private one if None).

    Counters mirror Prometheus's ``prometheus_target_*`` family under ``vigil_``:
    scrapes, failed scrapes by reason, samples rejected by the store by reason,
    samples appended, targets per pool.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.pool_targets = Gauge(
            "vigil_scrape_pool_targets",
            "Active targets in a scrape pool.",
            ["scrape_job"],
            registry=r,
        )
        self.pool_dropped_targets = Gauge(
            "vigil_scrape_pool_dropped_targets",
            "Discovered targets that relabelling dropped or that were invalid.",
            ["scrape_job"],
            registry=r,
        )
        self.scrapes = Counter("vigil_scrapes", "Scrapes performed.", ["scrape_job"], registry=r)
        self.scrapes_failed = Counter(
            "vigil_scrapes_failed",
            "Scrapes that failed (up 0), by reason.",
            ["scrape_job", "reason"],
            registry=r,
        )
        self.samples_appended = Counter(
            "vigil_scrape_samples_appended",
            "Samples scraped and appended (after metric relabelling), in committed scrapes.",
            ["scrape_job"],
            registry=r,
        )
        self.samples_rejected = Counter(
            "vigil_scrape_samples_rejected",
            "Scraped samples the store refused, by reason (out_of_order, duplicate, out_of_bounds).",
            ["scrape_job", "reason"],
            registry=r,
        )
        self.stale_markers = Counter(
            "vigil_scrape_stale_markers",
            "Staleness markers written for series that disappeared.",
            ["scrape_job"],
            registry=r,
        )

    def for_pool(self, job: str) -> _PoolStats:
        return _PoolStats(self, job)

    def forget(self, job: str) -> None:
        """Remove a pool's gauges when the pool is gone (counters stay, they only grow)."""
        for g in (self.pool_targets, self.pool_dropped_targets):
            with contextlib.suppress(KeyError):
                g.remove(job)


class _PoolStats:
    """A pool's children of :class:`ScrapeMetrics`, resolved once (the loops' ``LoopStats``)."""

    def __init__(self, m: ScrapeMetrics, job: str) -> None:
        self._m = m
        self._job = job
        self._scrapes = m.scrapes.labels(job)
        self._appended = m.samples_appended.labels(job)
        self._stale = m.stale_markers.labels(job)
        self.targets = m.pool_targets.labels(job)
        self.dropped = m.pool_dropped_targets.labels(job)

    def observe(self, result: ScrapeResult) -> None:
        self._scrapes.inc()
        if result.failure_reason:
            self._m.scrapes_failed.labels(self._job, result.failure_reason).inc()
        else:
            self._appended.inc(result.post_relabel - sum(result.rejected.values()))
        if result.stale_markers:
            self._stale.inc(result.stale_markers)
        for reason, n in result.rejected.items():
            self._m.samples_rejected.labels(self._job, reason).inc(n)


def _cache_reusable(a: ScrapeConfig, b: ScrapeConfig) -> bool:
    """Whether the labels a scrape cache holds under ``a`` are still right under ``b``."""
    return (a.honor_labels, a.honor_timestamps, a.metric_relabel_configs) == (
        b.honor_labels,
        b.honor_timestamps,
        b.metric_relabel_configs,
    )


class ScrapePool:
    """The scrape loops of one job. Use from the event loop that runs them."""

    def __init__(
        self,
        config: ScrapeConfig,
        appendable: Appendable,
        *,
        clock: Clock = time.time,
        metrics: ScrapeMetrics | None = None,
        executor: Executor | None = None,
        offset_seed: int = 0,
    ) -> None:
        self._appendable = appendable
        self._clock = clock
        self._metrics = metrics if metrics is not None else ScrapeMetrics()
        self._stats = self._metrics.for_pool(config.job_name)
        self._executor = executor
        self._offset_seed = offset_seed
        self._loops: dict[Target, ScrapeLoop] = {}
        self._dropped: list[DroppedTarget] = []
        self._stale_tasks: set[asyncio.Task[None]] = set()
        self._config = config
        self._new_client = client_factory(config)
        self._auth = auth_from_config(config)
        self._forced_error: str | None = None

    @property
    def config(self) -> ScrapeConfig:
        return self._config

    @property
    def job_name(self) -> str:
        return self._config.job_name

    def __len__(self) -> int:
        return len(self._loops)

    def loops(self) -> dict[Target, ScrapeLoop]:
        return dict(self._loops)

    def active_targets(self) -> list[TargetHealth]:
        return [loop.health for loop in self._loops.values()]

    def dropped_targets(self) -> list[DroppedTarget]:
        return list(self._dropped)

    # -- loops ------------------------------------------------------------------

    def _metric_relabel(self) -> Callable[[Labels], Labels | None] | None:
        configs = self._config.metric_relabel_configs
        if not configs:
            return None
        return lambda lset: relabel(lset, configs)

    def _new_loop(self, target: Target, cache: ScrapeCache | None = None) -> ScrapeLoop:
        sc = self._config
        scraper = HttpScraper(
            self._new_client(),
            target.url,
            timeout_s=target.scrape_timeout.seconds,
            body_size_limit=sc.body_size_limit,
            auth=self._auth,
            server_name=sc.tls_config.server_name,
            compression=sc.enable_compression,
            owns_client=True,
        )
        options = LoopOptions(
            interval_s=target.scrape_interval.seconds,
            timeout_s=target.scrape_timeout.seconds,
            honor_labels=sc.honor_labels,
            honor_timestamps=sc.honor_timestamps,
            sample_limit=sc.sample_limit,
            label_limit=sc.label_limit,
            label_name_length_limit=sc.label_name_length_limit,
            label_value_length_limit=sc.label_value_length_limit,
            metric_relabel=self._metric_relabel(),
        )
        loop = ScrapeLoop(
            scraper,
            self._appendable,
            options,
            target_labels=target.labels,
            discovered_labels=target.discovered_labels,
            scrape_pool=sc.job_name,
            clock=self._clock,
            cache=cache,
            stats=self._stats,
            executor=self._executor,
        )
        loop.forced_error = self._forced_error
        return loop

    def _start(self, target: Target, loop: ScrapeLoop) -> None:
        interval_ms = target.scrape_interval.ms
        offset_ms = target.offset_ms(interval_ms, int(self._clock() * 1000), self._offset_seed)
        loop.start(offset_s=offset_ms / 1000)

    def _stale_later(self, loop: ScrapeLoop) -> None:
        """End-of-run staleness: about two intervals after the loop stopped."""
        if loop.last is None:
            return  # never scraped: nothing to mark

        async def mark() -> None:
            interval = loop.options.interval_s
            await asyncio.sleep(interval)
            t_ms = int(self._clock() * 1000)  # when its next scrape would have been
            await asyncio.sleep(interval * 1.1)
            fut = asyncio.get_running_loop().run_in_executor(self._executor, loop.mark_stale, t_ms)
            await asyncio.shield(fut)

        task = asyncio.get_running_loop().create_task(mark(), name=f"stale {loop.scraper.url}")
        self._stale_tasks.add(task)
        task.add_done_callback(self._stale_tasks.discard)

    async def sync(self, targets: Sequence[Target], dropped: Sequence[DroppedTarget] = ()) -> None:
        """Make the running loops match ``targets``."""
        sc = self._config
        wanted: dict[Target, Target] = {}
        for t in targets:
            wanted.setdefault(t, t)  # equal targets (same labels and URL) scrape once
        keep = sc.keep_dropped_targets
        self._dropped = list(dropped)[:keep] if keep else list(dropped)
        limit = sc.target_limit
        forced = (
            f"target_limit exceeded (number of targets: {len(wanted)}, limit: {limit})"
            if limit and len(wanted) > limit
            else None
        )
        if forced and forced != self._forced_error:
            log.warning("scrape pool %s: %s", sc.job_name, forced)
        self._forced_error = forced
        gone = [t for t in self._loops if t not in wanted]
        stopping = [self._loops.pop(t) for t in gone]
        for t, target in wanted.items():
            loop = self._loops.get(t)
            if loop is None:
                loop = self._new_loop(target)
                self._loops[t] = loop
                self._start(target, loop)
            else:
                loop.discovered_labels = target.discovered_labels
                loop.forced_error = forced
        if stopping:
            await asyncio.gather(*(loop.stop() for loop in stopping))
            for loop in stopping:
                self._stale_later(loop)
        self._stats.targets.set(len(self._loops))
        self._stats.dropped.set(len(self._dropped))

    async def reload(self, config: ScrapeConfig) -> None:
        """Apply a changed config to the running loops (a no-op when it is equal)."""
        if config == self._config:
            return
        if config.job_name != self._config.job_name:
            raise ValueError(
                f"scrape pool {self._config.job_name!r} cannot become {config.job_name!r}"
            )
        new_client = client_factory(config)  # may raise for bad TLS files: old config stays
        old_config = self._config
        self._config = config
        self._new_client = new_client
        self._auth = auth_from_config(config)
        reuse = _cache_reusable(old_config, config)
        old_loops = self._loops
        self._loops = {}
        await asyncio.gather(*(loop.stop() for loop in old_loops.values()))
        for target, old in old_loops.items():
            if not reuse:
                self._stale_later(old)
            loop = self._new_loop(target, cache=old.cache if reuse else None)
            loop.last = old.last
            self._loops[target] = loop
            self._start(target, loop)

    async def stop(self, *, stale: bool = False) -> None:
        """Stop every loop. ``stale`` writes end-of-run staleness markers now
        (for a job removed from the config); a shutdown writes none, as Prometheus."""
        loops = list(self._loops.values())
        self._loops = {}
        await asyncio.gather(*(loop.stop() for loop in loops))
        tasks = list(self._stale_tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if stale:
            t_ms = int(self._clock() * 1000)
            ev = asyncio.get_running_loop()
            await asyncio.gather(
                *(ev.run_in_executor(self._executor, loop.mark_stale, t_ms) for loop in loops)
            )
        self._metrics.forget(self._config.job_name)
