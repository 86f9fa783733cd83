"""``POST /api/v1/import/prometheus``: text exposition with timestamps, for backfill.

Like VictoriaMetrics' endpoint of the same name: the body is the Prometheus
text format (or OpenMetrics when the Content-Type says so, optionally gzip),
samples carry their own timestamps (those without one get the ``timestamp``
query parameter, in seconds, or the time of the request), and each
``extra_label=name=value`` parameter is added to every series (replacing a
label of the same name).

One request is one transaction: a parse error (answered 400 with
``line:col: reason``) or a refused sample (out of order, duplicate, out of
bounds: 400 naming the series) leaves nothing stored. 204 means every sample
was committed and is durable. Send big backfills as several requests.

The body is parsed into columns (:func:`vigil.textparse.bulk.parse_columns`:
vectorised for the usual backfill shape, the full parser otherwise), grouped
by series, and checked: within a request the samples of a series must come
oldest first (an exact repeat is ignored, a different value at the same time is
a duplicate), as with appends. A store offering
:class:`~vigil.storage.BulkImportable` (the TSDB: old samples straight into
blocks) then takes all series at once; any other gets one appender transaction.
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from vigil.api.errors import (
    BadDataError,
    InternalError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from vigil.api.write import IngestMetrics
from vigil.model import Labels
from vigil.storage import (
    Appendable,
    AppendError,
    BulkImportable,
    DuplicateSampleError,
    OutOfOrderError,
    Series,
    StorageError,
)
from vigil.textparse import (
    Format,
    ParseError,
    UnsupportedContentTypeError,
    format_for_content_type,
)
from vigil.textparse.bulk import Columns, SeriesKeyCache, parse_columns

__all__ = ["DEFAULT_MAX_IMPORT_BYTES", "ImportResult", "Importer", "gunzip", "parse_extra_labels"]

DEFAULT_MAX_IMPORT_BYTES = 256 * 1024 * 1024


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing (413) before more than *limit* bytes are produced."""
    d = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadDataError(f"gzip: can't decompress the body: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise PayloadTooLargeError(f"decompressed body is over the limit of {limit} bytes")
    if not d.eof:
        raise BadDataError("gzip: the body is truncated")
    return out


def parse_extra_labels(values: Sequence[str]) -> list[tuple[str, str]]:
    """``["name=value", ...]`` from ``extra_label`` parameters, validated."""
    out: list[tuple[str, str]] = []
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BadDataError(f"extra_label {item!r}: expected name=value")
        try:
            Labels.from_pairs([(name, value)])
        except ValueError as exc:
            raise BadDataError(f"extra_label {item!r}: {exc}") from None
        out.append((name, value))
    return out


class ImportResult:
    __slots__ = ("samples", "series")

    def __init__(self, samples: int, series: int) -> None:
        self.samples = samples
        self.series = series


class Importer:
    endpoint = "import_prometheus"

    def __init__(
        self,
        appendable: Appendable,
        *,
        metrics: IngestMetrics,
        clock: Callable[[], float] = time.time,
        max_bytes: int = DEFAULT_MAX_IMPORT_BYTES,
    ) -> None:
        self._appendable = appendable
        self._metrics = metrics
        self._clock = clock
        self.max_bytes = max_bytes
        # Series texts seen before -> (name, labels), by format, for the vectorised parser.
        self._prom_keys: SeriesKeyCache = {}
        self._om_keys: SeriesKeyCache = {}

    def import_text(
        self,
        body: bytes,
        content_type: str | None,
        *,
        extra_labels: Sequence[tuple[str, str]] = (),
        default_timestamp_ms: int | None = None,
    ) -> ImportResult:
        """Parse and store *body* in one transaction (blocking: run it in a thread)."""
        default_t = (
            default_timestamp_ms if default_timestamp_ms is not None else int(self._clock() * 1000)
        )
        extra = dict(extra_labels)
        vectorised = True
        while True:
            try:
                cols = parse_columns(
                    body,
                    content_type,
                    default_timestamp_ms=default_t,
                    cache=self._key_cache(content_type),
                    vectorised=vectorised,
                )
            except UnsupportedContentTypeError as exc:
                raise UnsupportedMediaTypeError(str(exc)) from None
            except ParseError as exc:
                raise BadDataError(
                    f"line {exc.line}:{exc.col}: {exc.reason}; nothing was imported"
                ) from None
            try:
                series = _group(cols, extra)
                break
            except AppendError as exc:
                if cols.lines is None:
                    vectorised = False  # again line by line, to name the line
                    continue
                self._metrics.rejected.labels(self.endpoint, exc.reason).inc()
                raise BadDataError(f"{exc}; nothing was imported") from None
        try:
            if isinstance(self._appendable, BulkImportable):
                samples = self._appendable.import_series(series).samples
            else:
                samples = self._append(series)
        except AppendError as exc:
            self._metrics.rejected.labels(self.endpoint, exc.reason).inc()
            raise BadDataError(
                f"{exc.reason.replace('_', '-')} sample: {exc}; nothing was imported"
            ) from None
        except StorageError as exc:
            raise InternalError(f"storage: {exc}") from None
        self._metrics.samples.labels(self.endpoint).inc(samples)
        return ImportResult(samples, len(series))

    def _key_cache(self, content_type: str | None) -> SeriesKeyCache:
        try:
            om = format_for_content_type(content_type) is Format.OPENMETRICS
        except UnsupportedContentTypeError:
            om = False  # parse_columns says so
        return self._om_keys if om else self._prom_keys

    def _append(self, series: Sequence[Series]) -> int:
        """One appender transaction, for a store without bulk import."""
        app = self._appendable.appender()
        samples = 0
        try:
            for s in series:
                ref = 0
                for t, v in zip(s.timestamps.tolist(), s.values.tolist(), strict=True):
                    ref = app.append(ref, s.labels if not ref else None, t, v)
                samples += len(s)
            app.commit()
        except BaseException:
            app.rollback()
            raise
        return samples


def _group(cols: Columns, extra: dict[str, str]) -> list[Series]:
    """The samples of *cols* as one :class:`Series` per final label set, oldest first.

    Raises OutOfOrderError / DuplicateSampleError, naming the line when *cols* knows
    it, for a series whose samples do not come oldest first in the body.
    """
    final: dict[Labels, int] = {}
    fcode = np.empty(len(cols.names), dtype=np.int64)
    for i, (name, labels) in enumerate(cols.names):
        full = labels.with_name(name)
        for lname, value in extra.items():
            full = full.set(lname, value)
        fcode[i] = final.setdefault(full.without_empty(), len(final))
    if not len(cols):
        return []
    codes = fcode[cols.codes]
    order = np.argsort(codes, kind="stable")
    c, ts, vs = codes[order], cols.timestamps[order], cols.values[order]
    same = c[1:] == c[:-1]
    worse = same & (ts[1:] <= ts[:-1])
    if bool(worse.any()):
        repeat = worse & (ts[1:] == ts[:-1]) & (vs[1:].view(np.uint64) == vs[:-1].view(np.uint64))
        wrong = np.flatnonzero(worse & ~repeat)
        if len(wrong):
            by_code = list(final)
            k = int(wrong[0])
            if cols.lines is not None:
                lines = cols.lines[order]
                k = int(wrong[np.argmin(lines[wrong + 1])])
            err = OutOfOrderError if ts[k + 1] < ts[k] else DuplicateSampleError
            where = f"line {int(cols.lines[order][k + 1])}: " if cols.lines is not None else ""
            raise err(
                f"{where}{err.reason.replace('_', '-')} sample: series {by_code[int(c[k])]} "
                f"at {int(ts[k + 1])} after {int(ts[k])}"
            )
        keep = np.ones(len(c), dtype=np.bool_)
        keep[1:] = ~repeat
        c, ts, vs = c[keep], ts[keep], vs[keep]
    bounds = [0, *(np.flatnonzero(c[1:] != c[:-1]) + 1).tolist(), len(c)]
    by_code = list(final)
    return [Series(by_code[int(c[a])], ts[a:b], vs[a:b]) for a, b in itertools.pairwise(bounds)]
