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
import operator
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vigil.model import METRIC_NAME, Labels, is_valid_metric_name
from vigil.model.value import STALE_NAN, is_stale_nan
from vigil.scrape.cache import Entry, ScrapeCache, merge_target_labels, scrape_offset
from vigil.scrape.http import BodySizeLimitError, ScrapeError, Scraper
from vigil.storage.interface import (
    BATCH_REASONS,
    BATCH_UNKNOWN_REF,
    Appendable,
    Appender,
    AppendError,
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    StorageError,
    append_many_fallback,
)
from vigil.textparse import (
    Comment,
    Format,
    Help,
    OpenMetricsParser,
    ParseError,
    PrometheusTextParser,
    Sample,
    Type,
    Unit,
    UnsupportedContentTypeError,
    format_for_content_type,
    new_parser,
)

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; float() is the fallback
    _orjson = None  # type: ignore[assignment]

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

F64 = npt.NDArray[np.float64]
_REF = operator.attrgetter("ref")

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
            fmt = format_for_content_type(content_type)
        except UnsupportedContentTypeError as exc:
            raise _ScrapeFailedError(str(exc), "content_type") from None
        if fmt == cache.fast_format and self._append_body_fast(app, body, fmt, t, result):
            return
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
        if cache.fast_format != fmt:
            cache.fast_format = fmt
            cache.meta_lines.clear()

    def _append_body_fast(
        self, app: Appender, body: bytes, fmt: Format, t: int, result: ScrapeResult
    ) -> bool:
        """The steady-state scrape: a known series costs a split, a dict look-up and a
        float parse, and the known series' samples are appended as one batch.

        Returns False, having changed nothing, when the body needs the full parser
        (which then reports errors with their positions): a line the full parser would
        parse differently or reject, a value token its fast path would not take, or a
        series that occurs twice. Lines that are not a known series followed by a
        value (new series, timestamps, metadata seen for the first time, odd blanks)
        are parsed one by one by the full parser itself, which is exact because both
        formats' line syntax is context-free in the modes a scrape uses (Prometheus
        text; lenient OpenMetrics, whose body-level rules are checked here).
        """
        cache = self.cache
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        lines = text.split("\n")
        om = fmt == Format.OPENMETRICS
        if om:
            if lines[-1] == "" and len(lines) > 1:
                lines.pop()
            if lines[-1] != "# EOF":
                return False
            lines.pop()
        it = cache.iter
        series_get = cache.series.get
        dropped = cache.dropped
        meta = cache.meta_lines
        ces: list[Entry] = []
        vals: list[str] = []
        ces_append = ces.append
        vals_append = vals.append
        dkeys: list[str] = []
        dvals: list[str] = []
        # (known samples before it, sample lines before it, the parsed sample)
        others: list[tuple[int, int, Sample]] = []
        ok = True
        for i, line in enumerate(lines):
            key, _, val = line.rpartition(" ")
            ce = series_get(key)
            if ce is not None:
                if ce.iter == it:
                    ok = False  # a series twice: the full path tells which one is the duplicate
                    break
                ce.iter = it  # marks it seen (undone below if the full path takes over)
                ces_append(ce)
                vals_append(val)
                continue
            if key in dropped:
                dkeys.append(key)
                dvals.append(val)
                continue
            if line in meta:
                continue
            if not line:
                if om:
                    ok = False  # a blank line: an error in OpenMetrics
                    break
                continue
            entry = _parse_line(line, om, cache)
            if entry is None:
                ok = False
                break
            if type(entry) is Sample:
                entry.line = i + 1
                others.append((len(ces), len(ces) + len(dkeys) + len(others), entry))
            elif len(meta) < 100_000:
                meta.add(line)
        values: F64 | None = None
        if ok:
            try:
                values = _parse_values(vals)
                if dvals:
                    _parse_values(dvals)
            except ValueError:
                ok = False
        if ok and others:
            # A known series both among the known samples and written unusually (with a
            # timestamp, say): which one wins depends on the order; the full path decides.
            series = cache.series
            for _, _, e in others:
                ce = series.get(e.series)
                if ce is not None and ce.iter == it:
                    ok = False
                    break
        if not ok or values is None:
            for ce in ces:
                ce.iter = it - 1  # not seen by this scrape after all (any value but it)
            return False
        # -- no way back from here: apply in the body's order, as _append_body would.
        return self._apply_fast(app, t, result, ces, values, dkeys, others)

    def _apply_fast(
        self,
        app: Appender,
        t: int,
        result: ScrapeResult,
        ces: list[Entry],
        values: F64,
        dkeys: list[str],
        others: list[tuple[int, int, Sample]],
    ) -> bool:
        cache = self.cache
        it = cache.iter
        dropped = cache.dropped
        cur = cache.cur
        opts = self.options
        limit = opts.sample_limit
        n = len(ces)
        seen_dropped = 0
        for k in dkeys:
            if dropped[k] != it:
                dropped[k] = it
                seen_dropped += 1
        # Parsed text never yields the stale-marker NaN, so every known sample counts.
        counted = n
        total = n + len(dkeys)
        added = n
        new = 0
        seen = n
        over_limit = False
        if others:
            # New series, samples with timestamps, known series written unusually: the
            # per-sample rules of _append_body, in body order (errors count what came before).
            series = cache.series
            rejected = result.rejected
            honor_ts = opts.honor_timestamps
            check_labels = bool(
                opts.label_limit or opts.label_name_length_limit or opts.label_value_length_limit
            )
            max_t = t + MAX_AHEAD_MS
            append = app.append
            added_keys = cache.added
            added_others = 0
            try:
                for known_before, lines_before, e in others:
                    total = lines_before + 1
                    added = known_before + added_others
                    ts = e.timestamp_ms if honor_ts else None
                    key = e.series
                    ce = series.get(key)
                    if ce is not None:
                        if ce.iter != it:
                            ce.iter = it
                            seen += 1
                        elif ts is None:
                            added += 1
                            added_others += 1
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
                    added_others += 1
                    v = e.value
                    if limit and (v == v or not is_stale_nan(v)):
                        counted += 1
                        if counted > limit:
                            over_limit = True
                            continue
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
                total = len(ces) + len(dkeys) + len(others)
                added = n + added_others
            finally:
                result.scraped = total
                result.post_relabel = added
                result.series_added = new
        result.scraped = total
        result.post_relabel = added
        result.series_added = new
        if limit and counted > limit:
            over_limit = True
        if over_limit:
            result.series_added = 0
            raise _ScrapeFailedError(
                f"sample_limit exceeded: {counted} samples after metric relabelling, limit {limit}",
                "sample_limit",
            )
        if n:
            refs_l = list(map(_REF, ces))
            refs = np.array(refs_l, dtype=np.int64)
            many = getattr(app, "append_many", None)
            codes = (
                many(refs, t, values)
                if many is not None
                else append_many_fallback(app, refs, t, values)
            )
            cur.update(zip(refs_l, ces, strict=True))
            if codes is not None:
                self._batch_refusals(app, t, result, ces, values, codes)
        result.stale_markers = self._append_stale(app, t)
        if not others and cache.parser_cache.entries:
            # Every line was a known series: the parser's own cache (parsed labels per
            # series, ~400 B each) is dead weight until the full path runs again.
            cache.parser_cache.clear()
        cache.iter_done(True, seen, seen_dropped)
        return True

    def _batch_refusals(
        self,
        app: Appender,
        t: int,
        result: ScrapeResult,
        ces: list[Entry],
        values: F64,
        codes: npt.NDArray[np.uint8],
    ) -> None:
        """Count the samples a batch refused; re-append those whose ref the store forgot."""
        cur = self.cache.cur
        rejected = result.rejected
        for i in np.flatnonzero(codes).tolist():
            ce = ces[i]
            del cur[ce.ref]
            code = int(codes[i])
            if code == BATCH_UNKNOWN_REF:
                try:
                    ref2 = app.append(0, ce.labels, t, float(values[i]))
                except AppendError as exc:
                    rejected[exc.reason] = rejected.get(exc.reason, 0) + 1
                    continue
                ce.ref = ref2
                cur[ref2] = ce
            else:
                reason = BATCH_REASONS[code]
                rejected[reason] = rejected.get(reason, 0) + 1

    def _new_series_labels(self, e: Sample) -> Labels | None:
        exposed = e.labels.with_name(e.name)
        lset = merge_target_labels(
            exposed, self._target_pairs, self.options.honor_labels, self.cache.pairs
        )
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
        if cur and cur.keys() >= prev.keys():
            return 0  # the usual scrape: every series of the previous one is back
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


def _parse_line(
    line: str, om: bool, cache: ScrapeCache
) -> Sample | Help | Type | Comment | Unit | None:
    """One line through the full parser of its format, alone (the scrape fast path's
    way to read a line it does not know); None when the parser rejects it."""
    try:
        if om:
            entries = list(
                OpenMetricsParser(line + "\n# EOF", strict=False, series_cache=cache.parser_cache)
            )
        else:
            entries = list(PrometheusTextParser(line, series_cache=cache.parser_cache))
    except ParseError:
        return None
    if len(entries) != 1:
        return None  # a blank line: the caller handles those itself
    e = entries[0]
    assert isinstance(e, (Sample, Help, Type, Comment, Unit))
    return e


_JSON_NUMBERS = re.compile(r"[-+.0-9eE,]*").fullmatch


def _parse_values(tokens: list[str]) -> F64:
    """Value tokens as floats, exactly as the parsers' fast path reads them (``float()``,
    no ``_``, printable ASCII); ValueError when one is not such a token.

    Tokens that are all JSON numbers go through orjson at once (bit-identical to
    ``float()``: both round correctly; ``-0``, an integer to JSON, is left to float()).
    """
    joined = ",".join(tokens)
    if (
        _orjson is not None
        and _JSON_NUMBERS(joined) is not None
        and "-0," not in joined
        and not joined.endswith("-0")
    ):
        try:
            out = np.array(_orjson.loads("[" + joined + "]"), dtype=np.float64)
        except (ValueError, OverflowError):  # orjson.JSONDecodeError is a ValueError
            pass
        else:
            if len(out) == len(tokens):
                return out
    if "_" in joined or not (joined.isascii() and joined.isprintable()):
        raise ValueError("a value token the parser's fast path does not take")
    return np.fromiter(map(float, tokens), np.float64, len(tokens))
