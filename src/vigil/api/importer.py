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
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence

from vigil.api.errors import (
    BadDataError,
    InternalError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from vigil.api.write import IngestMetrics
from vigil.model import Labels
from vigil.storage import Appendable, AppendError, SeriesRef, StorageError
from vigil.textparse import ParseError, Sample, UnsupportedContentTypeError, new_parser

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

    def import_text(
        self,
        body: bytes,
        content_type: str | None,
        *,
        extra_labels: Sequence[tuple[str, str]] = (),
        default_timestamp_ms: int | None = None,
    ) -> ImportResult:
        """Parse and append *body* in one transaction (blocking: run it in a thread)."""
        try:
            parser = new_parser(body, content_type)
        except UnsupportedContentTypeError as exc:
            raise UnsupportedMediaTypeError(str(exc)) from None
        default_t = (
            default_timestamp_ms if default_timestamp_ms is not None else int(self._clock() * 1000)
        )
        extra = dict(extra_labels)
        series: dict[str, tuple[Labels, SeriesRef]] = {}
        samples = 0
        app = self._appendable.appender()
        entry: Sample | None = None
        try:
            for e in parser:
                if type(e) is not Sample:
                    continue
                entry = e
                hit = series.get(e.series)
                if hit is None:
                    labels = e.labels.with_name(e.name)
                    for name, value in extra.items():
                        labels = labels.set(name, value)
                    hit = (labels.without_empty(), 0)
                labels, ref = hit
                t = e.timestamp_ms
                new_ref = app.append(ref, labels, default_t if t is None else t, e.value)
                if new_ref != ref:
                    series[e.series] = (labels, new_ref)
                samples += 1
            app.commit()
        except ParseError as exc:
            app.rollback()
            raise BadDataError(
                f"line {exc.line}:{exc.col}: {exc.reason}; nothing was imported"
            ) from None
        except AppendError as exc:
            app.rollback()
            self._metrics.rejected.labels(self.endpoint, exc.reason).inc()
            where = f"line {entry.line}: " if entry is not None else ""
            raise BadDataError(
                f"{where}{exc.reason.replace('_', '-')} sample: {exc}; nothing was imported"
            ) from None
        except StorageError as exc:
            app.rollback()
            raise InternalError(f"storage: {exc}") from None
        except BaseException:
            app.rollback()
            raise
        self._metrics.samples.labels(self.endpoint).inc(samples)
        return ImportResult(samples, len(series))
