"""The Prometheus remote-write 1.0 receiver: snappy, protobuf, one transaction per request.

Semantics (Prometheus's ``storage/remote/write_handler.go`` for 1.0, plus
vigil's rule that an ingest endpoint never answers 2xx for data it did not
store):

- The compressed body is bounded (413), and so is the decompressed size, read
  from the snappy header before anything is allocated (413).
- A body that is not snappy or not a WriteRequest: 400, nothing stored.
- All samples of a request are appended in one transaction. An out-of-order,
  duplicate (same timestamp, other value) or out-of-bounds sample (including
  more than 10 minutes in the future) rolls the whole request back and answers
  400, as Prometheus does: the sender drops the batch instead of retrying it
  forever. Exact duplicates (a resent batch) are accepted silently.
- A series with invalid labels (no ``__name__``, a bad name, duplicate names)
  or native-histogram samples (not supported yet) is skipped and counted; the
  rest is committed and the answer is 400 saying what was dropped (Prometheus
  answers 204 there, which hides the loss).
- 204 only after the commit returned, i.e. after the store made the samples
  durable. A store failure (disk full) is 500 so the sender retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cramjam
from prometheus_client import CollectorRegistry, Counter

from vigil.api.errors import BadDataError, InternalError, PayloadTooLargeError
from vigil.api.protobuf import ProtobufError, decode_labels, decode_write_request
from vigil.model import METRIC_NAME, Labels
from vigil.storage import Appendable, AppendError, OutOfBoundsError, SeriesRef, StorageError

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "IngestMetrics",
    "RemoteWriteReceiver",
    "WriteResult",
    "snappy_decompress",
]

DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_AHEAD_MS = 10 * 60 * 1000


class IngestMetrics:
    """Counters shared by the push endpoints, labelled by endpoint."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "vigil_ingest_requests",
            "Push requests received, by endpoint and HTTP status code.",
            ["endpoint", "code"],
            registry=registry,
        )
        self.samples = Counter(
            "vigil_ingest_samples",
            "Samples committed by push endpoints.",
            ["endpoint"],
            registry=registry,
        )
        self.rejected = Counter(
            "vigil_ingest_samples_rejected",
            "Samples refused by push endpoints, by reason.",
            ["endpoint", "reason"],
            registry=registry,
        )


def _varint_prefix(data: bytes) -> int:
    n = shift = 0
    for i, b in enumerate(data[:10]):
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n
        shift += 7
        if i == 9:
            break
    raise BadDataError("snappy: the body does not start with a valid length header")


def snappy_decompress(body: bytes, limit: int) -> bytes:
    """Decompress a snappy *block* (not framed) body of at most *limit* bytes uncompressed."""
    size = _varint_prefix(body)
    if size > limit:
        raise PayloadTooLargeError(
            f"decompressed body would be {size} bytes, over the limit of {limit} bytes"
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise BadDataError(f"snappy: can't decompress the body: {exc}") from None


@dataclass
class WriteResult:
    series: int = 0
    samples: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    first_dropped: str = ""

    def drop(self, reason: str, n: int, what: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        if not self.first_dropped:
            self.first_dropped = what


class RemoteWriteReceiver:
    """Decodes WriteRequests and appends them; one instance per server (holds a series cache)."""

    endpoint = "remote_write"

    def __init__(
        self,
        appendable: Appendable,
        *,
        metrics: IngestMetrics,
        clock: Callable[[], float] = time.time,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
        cache_size: int = 1_000_000,
    ) -> None:
        self._appendable = appendable
        self._metrics = metrics
        self._clock = clock
        self.max_decompressed_bytes = max_decompressed_bytes
        self._cache_size = cache_size
        # raw label bytes -> (labels or an error text, ref known to the store)
        self._cache: dict[bytes, tuple[Labels | str, SeriesRef]] = {}

    def decompress(self, body: bytes) -> bytes:
        return snappy_decompress(body, self.max_decompressed_bytes)

    def _labels(self, key: bytes) -> Labels | str:
        try:
            pairs = decode_labels(key)
        except ProtobufError as exc:
            return f"labels: {exc}"
        try:
            labels = Labels.from_pairs(p for p in pairs if p[1]).without_empty()
        except (ValueError, TypeError) as exc:
            return f"series {pairs!r}: {exc}"
        if METRIC_NAME not in labels:
            return f"series {labels}: no {METRIC_NAME} label"
        return labels

    def write(self, data: bytes) -> WriteResult:
        """Append a decompressed WriteRequest in one transaction (blocking: run it in a thread)."""
        try:
            series = decode_write_request(data, self._cache)
        except ProtobufError as exc:
            raise BadDataError(f"malformed WriteRequest: {exc}") from None
        cache = self._cache
        if len(cache) > self._cache_size:
            cache.clear()
        result = WriteResult()
        max_t = int(self._clock() * 1000) + MAX_AHEAD_MS
        new_refs: dict[bytes, tuple[Labels | str, SeriesRef]] = {}
        app = self._appendable.appender()
        append = app.append
        labels: Labels | str = ""
        try:
            for s in series:
                entry = cache.get(s.key)
                if entry is None:
                    entry = new_refs.get(s.key) or (self._labels(s.key), 0)
                labels, ref = entry
                if isinstance(labels, str):
                    new_refs[s.key] = entry
                    result.drop("invalid_labels", len(s.values) + s.histograms, labels)
                    continue
                if s.histograms:
                    result.drop(
                        "native_histogram",
                        s.histograms,
                        f"series {labels}: native histograms are not supported",
                    )
                ts = s.timestamps
                n = len(ts)
                if n == 0:
                    continue
                first_ref = ref
                if n == 1:  # what senders batch: one sample per series per request
                    t = ts[0]
                    if t > max_t:
                        raise OutOfBoundsError(f"timestamp {t} is more than 10m in the future")
                    ref = append(ref, labels, t, s.values[0])
                else:
                    for t, v in zip(ts, s.values, strict=True):
                        if t > max_t:
                            raise OutOfBoundsError(f"timestamp {t} is more than 10m in the future")
                        ref = append(ref, labels, t, v)
                result.series += 1
                result.samples += n
                if ref != first_ref:
                    new_refs[s.key] = (labels, ref)
            app.commit()
        except AppendError as exc:
            app.rollback()
            reason = exc.reason
            self._metrics.rejected.labels(self.endpoint, reason).inc()
            raise BadDataError(
                f"{reason.replace('_', '-')} sample for series {labels}: {exc}"
            ) from None
        except BaseException:
            app.rollback()
            raise
        cache.update(new_refs)
        for reason, n in result.dropped.items():
            self._metrics.rejected.labels(self.endpoint, reason).inc(n)
        self._metrics.samples.labels(self.endpoint).inc(result.samples)
        return result

    def handle(self, body: bytes) -> WriteResult:
        """Decompress, decode, append; raises an ApiError for anything but full success."""
        data = self.decompress(body)
        try:
            result = self.write(data)
        except StorageError as exc:
            raise InternalError(f"storage: {exc}") from None
        if result.dropped:
            parts = ", ".join(
                f"{n} {r.replace('_', ' ')}" for r, n in sorted(result.dropped.items())
            )
            raise BadDataError(
                f"stored {result.samples} samples; dropped {parts} (first: {result.first_dropped})"
            )
        return result
