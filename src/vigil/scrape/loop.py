"""One target's scrape loop: fetch, parse, append as one transaction, report.

The hot path is :meth:`ScrapeLoop.append_scrape`. A per-target
:class:`ScrapeCache` maps the text of a sample line up to its value (the
``series`` of a parsed :class:`~vigil.textparse.Sample`) to the series'
storage ref and its final labels (after the target's labels, ``honor_labels``
and ``metric_relabel_configs``), so a series seen before costs a dict
look-up, a float parse and an append; labels are built and relabelled only
for new series (Prometheus's ``scrapeCache``).

Semantics follow Prometheus's ``scrape/scrape.go``:

* one scrape is one :class:`~vigil.storage.Appender` transaction; a parse
  error, an unsupported Content-Type, ``sample_limit`` or a label limit
  rolls it back and the scrape counts as failed (``up 0`` and the error);
* series present in the previous scrape and absent now get a staleness
  marker at the scrape's timestamp; a failed scrape marks every series of
  the previous one stale; a removed target (:meth:`ScrapeLoop.mark_stale`)
  marks its series and all its report series stale;
* samples with an exposition timestamp (kept when ``honor_timestamps``)
  are not tracked for staleness; one more than 10 minutes ahead of the
  scrape is refused as ``out_of_bounds``;
* exposed labels that clash with target labels are kept as
  ``exported_<name>`` unless ``honor_labels`` (then the exposed value wins).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from vigil.model import METRIC_NAME, Labels, is_valid_metric_name
from vigil.model.value import STALE_NAN, is_stale_nan
from vigil.scrape.cache import Entry, ScrapeCache, merge_target_labels, scrape_offset
from vigil.scrape.http import BodySizeLimitError, ScrapeError, Scraper
from vigil.storage.interface import (
    Appendable,
    Appender,
    AppendError,
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    StorageError,
)
from vigil.textparse import (
    ParseError,
    Sample,
    UnsupportedContentTypeError,
    new_parser,
)

__all__ = [
    "MAX_AHEAD_MS",
    "REPORT_METRICS",
    "Health",
    "LoopOptions",
    "LoopStats",
    "ScrapeLoop",
    "ScrapeResult",
    "TargetHealth",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock seconds since the epoch (``time.time``); passed in so tests control time."""

REPORT_METRICS = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
"""The series every scrape writes about itself, in Prometheus's order."""

_DUPLICATE = DuplicateSampleError.reason
_OUT_OF_BOUNDS = OutOfBoundsError.reason

MAX_AHEAD_MS = 10 * 60 * 1000
"""Exposed timestamps further than this past the scrape time are refused (out_of_bounds)."""


class Health(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """What the targets API shows about one target (a snapshot; loops replace it)."""

    scrape_pool: str
    scrape_url: str
    labels: Labels
    discovered_labels: Labels
    health: Health = Health.UNKNOWN
    last_error: str = ""
    last_scrape_ms: int | None = None
    last_scrape_duration_s: float = 0.0
    last_samples: int = 0
    interval_s: float = 0.0
    timeout_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LoopOptions:
    """The parts of a scrape config a loop needs (the pool builds it from the config)."""

    interval_s: float
    timeout_s: float
    honor_labels: bool = False
    honor_timestamps: bool = True
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    metric_relabel: Callable[[Labels], Labels | None] | None = None
    """Applied to each new series' labels; ``None`` from it drops the series."""


@dataclass(slots=True)
class ScrapeResult:
    """The outcome of one scrape, as reported in the report series."""

    timestamp_ms: int
    error: str = ""
    scraped: int = 0
    post_relabel: int = 0
    series_added: int = 0
    stale_markers: int = 0
    duration_s: float = 0.0
    rejected: dict[str, int] = field(default_factory=dict)
    """Samples the store refused, by reason (out_of_order, duplicate, out_of_bounds)."""
    failure_reason: str = ""
    """Why the scrape failed, as a counter label: scrape, body_size_limit, parse,
    content_type, sample_limit, label_limit, relabel, storage ('' when it did not)."""


class LoopStats(Protocol):
    """Where a loop reports each scrape's outcome (the pool's self-metrics)."""

    def observe(self, result: ScrapeResult) -> None: ...


class _ScrapeFailedError(Exception):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ScrapeLoop:
    """Scrapes one target every interval and appends each scrape as one transaction.

    ``append_scrape`` is synchronous (parse + append + commit); :meth:`run`
    calls it on ``executor`` (a thread) so that a commit waiting for the disk
    never stalls the event loop that drives the other targets' HTTP.
    """

    def __init__(
        self,
        scraper: Scraper,
        appendable: Appendable,
        options: LoopOptions,
        *,
        target_labels: Labels,
        discovered_labels: Labels | None = None,
        scrape_pool: str = "",
        clock: Clock = time.time,
        cache: ScrapeCache | None = None,
        stats: LoopStats | None = None,
        executor: Executor | None = None,
        offset_key: str | None = None,
    ) -> None:
        self.scraper = scraper
        self.options = options
        self.target_labels = target_labels
        self.cache = cache if cache is not None else ScrapeCache()
        self._appendable = appendable
        self._clock = clock
        self._stats = stats
        self._executor = executor
        self._offset_key = offset_key if offset_key is not None else scraper.url
        self._target_pairs = tuple(p for p in target_labels.pairs if not p[0].startswith("__"))
        self._report_labels = {
            name: merge_target_labels(
                Labels.from_pairs([(METRIC_NAME, name)]), self._target_pairs, False
            )
            for name in REPORT_METRICS
        }
        self.discovered_labels = target_labels if discovered_labels is None else discovered_labels
        self.scrape_pool = scrape_pool
        self.last: ScrapeResult | None = None
        self.forced_error: str | None = None
        """When set, scrapes fail with it without fetching (e.g. target_limit exceeded)."""
        self._task: asyncio.Task[None] | None = None
        self._busy: asyncio.Future[ScrapeResult] | None = None
        self._last_failure_logged = 0.0

    # -- the transaction ------------------------------------------------------

    def append_scrape(
        self,
        body: bytes | None,
        content_type: str | None,
        timestamp_ms: int,
        *,
        scrape_error: ScrapeError | str | None = None,
        started: float | None = None,
    ) -> ScrapeResult:
        """Append one scrape's body (``None`` when the scrape failed with
        ``scrape_error``), its staleness markers and report series; commit.

        ``started`` (``time.perf_counter()`` when the scrape began) makes the
        reported duration include the fetch.
        """
        if started is None:
            started = time.perf_counter()
        result = ScrapeResult(timestamp_ms)
        app = self._appendable.appender()
        failed = scrape_error is not None or body is None
        if scrape_error is not None:
            result.error = str(scrape_error)
            result.failure_reason = (
                "body_size_limit" if isinstance(scrape_error, BodySizeLimitError) else "scrape"
            )
        elif body is not None:
            try:
                self._append_body(app, body, content_type, timestamp_ms, result)
            except _ScrapeFailedError as exc:
                failed = True
                result.error = str(exc)
                result.failure_reason = exc.reason
            except StorageError as exc:
                failed = True
                result.error = f"appending to storage failed: {exc}"
                result.failure_reason = "storage"
            if failed:
                app.rollback()
                self.cache.forget_added()
                app = self._appendable.appender()
        if failed:
            # Nothing of this scrape is kept: every series of the previous one goes stale.
            self.cache.cur.clear()
            try:
                result.stale_markers = self._append_stale(app, timestamp_ms)
            except StorageError as exc:
                log.warning("%s: appending staleness markers failed: %s", self.scraper.url, exc)
                app.rollback()
                app = self._appendable.appender()
            self.cache.iter_done(False)
        result.duration_s = time.perf_counter() - started
        try:
            self._report(app, result)
            app.commit()
        except StorageError as exc:
            app.rollback()
            self.cache.forget_added()
            result.error = f"commit failed: {exc}" + (
                f" (after: {result.error})" if result.error else ""
            )
            result.failure_reason = result.failure_reason or "storage"
        self.cache.added.clear()
        self._update_health(result)
        if self._stats is not None:
            self._stats.observe(result)
        return result

    def _append_body(
        self,
        app: Appender,
        body: bytes,
        content_type: str | None,
        t: int,
        result: ScrapeResult,
    ) -> None:
        cache = self.cache
        it = cache.iter
        series = cache.series
        dropped = cache.dropped
        cur = cache.cur
        opts = self.options
        honor_ts = opts.honor_timestamps
        limit = opts.sample_limit
        check_labels = bool(
            opts.label_limit or opts.label_name_length_limit or opts.label_value_length_limit
        )
        append = app.append
        added_keys = cache.added
        added_keys.clear()
        rejected = result.rejected
        total = added = new = counted = seen = seen_dropped = 0
        over_limit = False
        max_t = t + MAX_AHEAD_MS
        try:
            parser = new_parser(body, content_type, series_cache=cache.parser_cache)
            for e in parser:
                if type(e) is not Sample:
                    continue
                total += 1
                ts = e.timestamp_ms
                if ts is None or not honor_ts:
                    ts = None
                key = e.series
                ce = series.get(key)
                if ce is not None:
                    if ce.iter != it:
                        ce.iter = it
                        seen += 1
                    elif ts is None:
                        # The same series twice in one body, no timestamp to tell them apart.
                        added += 1
                        rejected[_DUPLICATE] = rejected.get(_DUPLICATE, 0) + 1
                        continue
                    lset = ce.labels
                    ref = ce.ref
                else:
                    d_iter = dropped.get(key)
                    if d_iter is not None:
                        if d_iter != it:
                            dropped[key] = it
                            seen_dropped += 1
                        continue
                    new_lset = self._new_series_labels(e)
                    if new_lset is None:
                        dropped[key] = it
                        seen_dropped += 1
                        continue
                    if check_labels:
                        self._check_label_limits(new_lset)
                    lset = new_lset
                    ref = 0
                added += 1
                v = e.value
                if limit and (v == v or not is_stale_nan(v)):
                    counted += 1
                    if counted > limit:
                        over_limit = True
                        continue  # keep parsing, to report how many samples there were
                if ts is None:
                    st = t
                elif ts > max_t:
                    rejected[_OUT_OF_BOUNDS] = rejected.get(_OUT_OF_BOUNDS, 0) + 1
                    continue
                else:
                    st = ts
                try:
                    ref2 = append(ref, lset, st, v)
                except AppendError as exc:
                    rejected[exc.reason] = rejected.get(exc.reason, 0) + 1
                    continue
                if ce is None:
                    ce = series[key] = Entry(ref2, lset, it)
                    added_keys.append(key)
                    new += 1
                    seen += 1
                elif ref2 != ref:
                    ce.ref = ref2
                if ts is None:
                    cur[ref2] = ce
        except ParseError as exc:
            raise _ScrapeFailedError(f"parsing the response failed at {exc}", "parse") from None
        except UnsupportedContentTypeError as exc:
            raise _ScrapeFailedError(str(exc), "content_type") from None
        finally:
            result.scraped = total
            result.post_relabel = added
            result.series_added = new
        if over_limit:
            result.series_added = 0
            raise _ScrapeFailedError(
                f"sample_limit exceeded: {counted} samples after metric relabelling, limit {limit}",
                "sample_limit",
            )
        result.stale_markers = self._append_stale(app, t)
        cache.iter_done(True, seen, seen_dropped)

    def _new_series_labels(self, e: Sample) -> Labels | None:
        exposed = e.labels.with_name(e.name)
        lset = merge_target_labels(exposed, self._target_pairs, self.options.honor_labels)
        relabel = self.options.metric_relabel
        if relabel is not None:
            out = relabel(lset)
            if out is None or not out:
                return None
            lset = out
            name = lset.get(METRIC_NAME)
            if not name:
                raise _ScrapeFailedError(
                    f"line {e.line}: the series {e.series!r} has no metric name after relabelling",
                    "relabel",
                )
            if not is_valid_metric_name(name):
                raise _ScrapeFailedError(
                    f"line {e.line}: relabelling gave the series {e.series!r} "
                    f"the invalid metric name {name!r}",
                    "relabel",
                )
        return lset

    def _check_label_limits(self, lset: Labels) -> None:
        o = self.options
        name = lset.metric_name
        if o.label_limit and len(lset) > o.label_limit:
            raise _ScrapeFailedError(
                f"label_limit exceeded (metric: {name:.50}, number of labels: {len(lset)}, "
                f"limit: {o.label_limit})",
                "label_limit",
            )
        for n, v in lset.pairs:
            if o.label_name_length_limit and len(n) > o.label_name_length_limit:
                raise _ScrapeFailedError(
                    f"label_name_length_limit exceeded (metric: {name:.50}, label name: {n:.50}, "
                    f"length: {len(n)}, limit: {o.label_name_length_limit})",
                    "label_limit",
                )
            if o.label_value_length_limit and len(v) > o.label_value_length_limit:
                raise _ScrapeFailedError(
                    f"label_value_length_limit exceeded (metric: {name:.50}, label name: {n:.50}, "
                    f"value: {v[:50]!r}, length: {len(v)}, limit: {o.label_value_length_limit})",
                    "label_limit",
                )

    def _append_stale(self, app: Appender, t: int) -> int:
        """Staleness markers for the series of the previous scrape missing from this one."""
        cache = self.cache
        prev = cache.prev
        if not prev:
            return 0
        cur = cache.cur
        n = 0
        for ref in prev.keys() - cur.keys() if cur else prev.keys():
            ce = prev[ref]
            try:
                app.append(ce.ref, ce.labels, t, STALE_NAN)
                n += 1
            except (OutOfOrderError, DuplicateSampleError):
                pass  # expected when the target came back in a new loop
            except AppendError:
                pass
        return n

    def _report(self, app: Appender, r: ScrapeResult, stale: bool = False) -> None:
        values = (
            (STALE_NAN,) * len(REPORT_METRICS)
            if stale
            else (
                0.0 if r.error else 1.0,
                r.duration_s,
                float(r.scraped),
                float(r.post_relabel),
                float(r.series_added),
            )
        )
        refs = self.cache.report
        for name, v in zip(REPORT_METRICS, values, strict=True):
            # Out of order or duplicate: the target came back in a new loop.
            with contextlib.suppress(AppendError):
                refs[name] = app.append(
                    refs.get(name, 0), self._report_labels[name], r.timestamp_ms, v
                )

    @property
    def health(self) -> TargetHealth:
        """A snapshot for the targets API."""
        r = self.last
        return TargetHealth(
            scrape_pool=self.scrape_pool,
            scrape_url=self.scraper.url,
            labels=self.target_labels,
            discovered_labels=self.discovered_labels,
            health=Health.UNKNOWN if r is None else Health.DOWN if r.error else Health.UP,
            last_error="" if r is None else r.error,
            last_scrape_ms=None if r is None else r.timestamp_ms,
            last_scrape_duration_s=0.0 if r is None else r.duration_s,
            last_samples=0 if r is None else r.scraped,
            interval_s=self.options.interval_s,
            timeout_s=self.options.timeout_s,
        )

    def _update_health(self, r: ScrapeResult) -> None:
        self.last = r
        if r.error:
            now = time.monotonic()
            # One line per target per minute at most: a down target must not flood the log.
            if now - self._last_failure_logged >= 60.0:
                self._last_failure_logged = now
                log.warning("scrape of %s failed: %s", self.scraper.url, r.error)
            else:
                log.debug("scrape of %s failed: %s", self.scraper.url, r.error)

    def mark_stale(self, timestamp_ms: int) -> int:
        """Staleness markers for every series of the last scrape and for the report
        series: the target is gone. Returns how many series were marked."""
        cache = self.cache
        if not cache.prev and not cache.report:
            return 0
        app = self._appendable.appender()
        cache.cur.clear()
        try:
            n = self._append_stale(app, timestamp_ms)
            if cache.report:
                self._report(app, ScrapeResult(timestamp_ms), stale=True)
                n += len(cache.report)
            app.commit()
        except StorageError as exc:
            app.rollback()
            log.warning("%s: writing staleness markers failed: %s", self.scraper.url, exc)
            return 0
        cache.iter_done(False)
        return n

    # -- running --------------------------------------------------------------

    async def scrape_once(self, timestamp_ms: int | None = None) -> ScrapeResult:
        """Fetch and append one scrape (the transaction runs on the executor)."""
        started = time.perf_counter()
        if timestamp_ms is None:
            timestamp_ms = int(self._clock() * 1000)
        body: bytes | None = None
        content_type: str | None = None
        error: ScrapeError | None = None
        if self.forced_error is not None:
            error = ScrapeError(self.forced_error)
        else:
            try:
                response = await self.scraper.scrape()
                body, content_type = response.body, response.content_type
            except ScrapeError as exc:
                error = exc
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(
            self._executor,
            lambda: self.append_scrape(
                body, content_type, timestamp_ms, scrape_error=error, started=started
            ),
        )
        self._busy = fut
        # Shielded: a stop while the transaction runs waits for it (see stop()).
        return await asyncio.shield(fut)

    async def run(self, *, offset_s: float | None = None) -> None:
        """Scrape every interval until cancelled, first after ``offset_s``
        (default: this target's phase in the interval, see :func:`scrape_offset`)."""
        interval = self.options.interval_s
        if offset_s is None:
            offset_s = scrape_offset(self._offset_key, interval, self._clock())
        loop = asyncio.get_running_loop()
        await asyncio.sleep(offset_s)
        next_tick = loop.time()
        base_ms = int(self._clock() * 1000)
        interval_ms = int(interval * 1000)
        tolerance_ms = min(2, interval_ms // 100)
        k = 0
        while True:
            now_ms = int(self._clock() * 1000)
            # Scrape timestamps exactly one interval apart when the timer was
            # only a little late: delta-of-delta zero compresses best.
            aligned = base_ms + k * interval_ms
            t_ms = aligned if 0 <= now_ms - aligned <= tolerance_ms else now_ms
            try:
                await self.scrape_once(t_ms)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the loop silently
                log.exception("scrape loop of %s: unexpected error", self.scraper.url)
            next_tick += interval
            now = loop.time()
            if next_tick <= now:  # missed ticks (a slow scrape): skip them, keep the phase
                skipped = math.floor((now - next_tick) / interval) + 1
                next_tick += skipped * interval
                k += skipped
            k += 1
            await asyncio.sleep(next_tick - now)

    def start(self, *, offset_s: float | None = None) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self.run(offset_s=offset_s), name=f"scrape {self.scraper.url}"
        )

    async def stop(self) -> None:
        """Stop scraping; returns once no transaction of this loop is running."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        busy, self._busy = self._busy, None
        if busy is not None and not busy.done():
            with contextlib.suppress(Exception):
                await busy
        await self.scraper.aclose()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()
