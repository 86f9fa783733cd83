"""The scrape manager: one pool per scrape config, kept in step with config and discovery.

>>> manager = ScrapeManager(storage, registry=registry)      # doctest: +SKIP
>>> await manager.apply_config(load_config("vigil.yml"))     # doctest: +SKIP
>>> manager.targets()["node"][0].health                       # doctest: +SKIP
<Health.UP: 'up'>
>>> await manager.stop()                                      # doctest: +SKIP

:meth:`ScrapeManager.apply_config` is a reload: jobs whose config is
unchanged keep their pools and loops untouched; changed jobs restart their
loops with the new settings (keeping scrape caches where valid, so no series
goes stale); removed jobs stop and their series get staleness markers. A
config whose TLS files cannot be loaded is refused before anything changes.
Each pool's targets come from :class:`vigil.scrape.discovery.Discovery`
(static groups plus file_sd files polled every ``discovery_tick`` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry

from vigil.config.types import ScrapeConfig, VigilConfig
from vigil.model import VigilError
from vigil.scrape.discovery import Discovery
from vigil.scrape.http import ssl_context_from_config
from vigil.scrape.loop import Clock, TargetHealth
from vigil.scrape.pool import ScrapeMetrics, ScrapePool
from vigil.scrape.targets import DroppedTarget
from vigil.storage.interface import Appendable

__all__ = ["ScrapeManager", "ScrapeSetupError"]

log = logging.getLogger(__name__)


class ScrapeSetupError(VigilError):
    """A scrape config that parsed but cannot run here (e.g. an unreadable TLS file)."""


def _offset_seed(cfg: VigilConfig) -> int:
    """Servers with different external labels (an HA pair) scrape at different phases."""
    h = hashlib.blake2b(digest_size=8)
    for name, value in sorted(cfg.global_config.external_labels.items()):
        h.update(f"{name}\xff{value}\xff".encode())
    return int.from_bytes(h.digest(), "big")


def _check(sc: ScrapeConfig) -> None:
    tls = sc.tls_config
    if tls.ca_file or tls.ca or tls.cert_file or tls.key_file or tls.cert or tls.key:
        try:
            ssl_context_from_config(tls)
        except (OSError, ValueError) as exc:
            raise ScrapeSetupError(
                f"scrape_configs[{sc.job_name!r}].tls_config: {exc}", source=None
            ) from None


class ScrapeManager:
    """Runs the scrape pools of a config against ``appendable``. Use from one event loop."""

    def __init__(
        self,
        appendable: Appendable,
        *,
        clock: Clock = time.time,
        registry: CollectorRegistry | None = None,
        max_workers: int = 4,
        discovery_tick: float = 1.0,
    ) -> None:
        self._appendable = appendable
        self._clock = clock
        self._metrics = ScrapeMetrics(registry)
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="vigil-scrape")
        self._tick = discovery_tick
        self._pools: dict[str, ScrapePool] = {}
        self._discovery: dict[str, Discovery] = {}
        self._tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._config: VigilConfig | None = None
        self._lock = asyncio.Lock()
        self._stopped = False

    @property
    def config(self) -> VigilConfig | None:
        return self._config

    def pools(self) -> dict[str, ScrapePool]:
        return dict(self._pools)

    def targets(self) -> dict[str, list[TargetHealth]]:
        """Active targets by job, for the targets API."""
        return {job: pool.active_targets() for job, pool in self._pools.items()}

    def dropped_targets(self) -> dict[str, list[DroppedTarget]]:
        return {job: pool.dropped_targets() for job, pool in self._pools.items()}

    def discovery_errors(self) -> dict[str, str]:
        """file_sd files that could not be read, with ``file:line:col: problem``."""
        out: dict[str, str] = {}
        for d in self._discovery.values():
            out.update(d.errors)
        return out

    async def apply_config(self, cfg: VigilConfig) -> None:
        """Start, reload or stop pools so that they match ``cfg``.

        Raises :class:`ScrapeSetupError` (and changes nothing) if a new or
        changed scrape config cannot run.
        """
        async with self._lock:
            if self._stopped:
                raise RuntimeError("the scrape manager is stopped")
            wanted = {sc.job_name: sc for sc in cfg.scrape_configs}
            changed = [
                sc
                for job, sc in wanted.items()
                if job not in self._pools or self._pools[job].config != sc
            ]
            for sc in changed:
                _check(sc)
            seed = _offset_seed(cfg)
            for job in [j for j in self._pools if j not in wanted]:
                await self._stop_discovery(job)
                pool = self._pools.pop(job)
                self._discovery.pop(job, None)
                log.info("scrape pool %s removed (%d targets)", job, len(pool))
                await pool.stop(stale=True)
            for sc in changed:
                job = sc.job_name
                await self._stop_discovery(job)
                existing = self._pools.get(job)
                if existing is None:
                    pool = ScrapePool(
                        sc,
                        self._appendable,
                        clock=self._clock,
                        metrics=self._metrics,
                        executor=self._executor,
                        offset_seed=seed,
                    )
                    self._pools[job] = pool
                else:
                    pool = existing
                    await pool.reload(sc)
                discovery = Discovery(sc)
                self._discovery[job] = discovery
                discovery.poll()
                await pool.sync(*discovery.targets())
                log.info("scrape pool %s: %d targets", job, len(pool))
                if discovery.files:
                    done = asyncio.Event()
                    task = asyncio.get_running_loop().create_task(
                        self._watch(pool, discovery, done), name=f"discovery {job}"
                    )
                    self._tasks[job] = (task, done)
            self._config = cfg

    async def _watch(self, pool: ScrapePool, discovery: Discovery, done: asyncio.Event) -> None:
        """Poll the pool's file_sd files every tick and sync the pool when they change.

        Stopped through ``done`` rather than cancelled, so that a sync in
        progress (loops being stopped and started) always completes.
        """
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), self._tick)
            if done.is_set():
                return
            try:
                if discovery.poll():
                    await pool.sync(*discovery.targets())
            except Exception:
                log.exception("discovery of scrape pool %s failed", pool.job_name)

    async def _stop_discovery(self, job: str) -> None:
        entry = self._tasks.pop(job, None)
        if entry is not None:
            task, done = entry
            done.set()
            await task

    async def stop(self) -> None:
        """Stop every pool (no staleness markers: a restart continues the series)."""
        async with self._lock:
            self._stopped = True
            for job in list(self._tasks):
                await self._stop_discovery(job)
            pools = list(self._pools.values())
            self._pools.clear()
            await asyncio.gather(*(pool.stop() for pool in pools))
            # Waits for a staleness write still running; off the event loop.
            await asyncio.to_thread(self._executor.shutdown, True)
