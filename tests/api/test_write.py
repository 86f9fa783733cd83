"""POST /api/v1/write: a remote-write 1.0 receiver with Prometheus's semantics."""

from __future__ import annotations

import math

import cramjam
import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from vigil.api.errors import PayloadTooLargeError
from vigil.api.protobuf import encode_write_request
from vigil.api.write import IngestMetrics, RemoteWriteReceiver, snappy_decompress
from vigil.model.matchers import Matcher, MatchType
from vigil.storage import MemoryStorage

from .conftest import NOW, serve

T0 = int(NOW * 1000) - 60_000
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def _snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def _body(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]) -> bytes:
    return _snappy(encode_write_request(series))


def _all(store: MemoryStorage) -> dict[str, list[tuple[int, float]]]:
    q = store.querier(-(2**62), 2**62)
    out = {
        str(s.labels): list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        for s in q.select([Matcher(MatchType.NOT_EQUAL, "__name__", "")])
    }
    q.close()
    return out


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_write_is_stored_and_answered_204(
    client: httpx.Client, store: MemoryStorage, registry: CollectorRegistry
) -> None:
    body = _body(
        [
            ([("__name__", "up"), ("job", "a")], [(T0, 1.0), (T0 + 15_000, 0.0)]),
            ([("__name__", "temp"), ("room", "")], [(T0, -3.5)]),  # empty label dropped
        ]
    )
    r = client.post("/api/v1/write", content=body, headers=HEADERS)
    assert r.status_code == 204, r.text
    assert _all(store) == {
        'up{job="a"}': [(T0, 1.0), (T0 + 15_000, 0.0)],
        "temp{}": [(T0, -3.5)],
    }
    assert _metric(registry, "vigil_ingest_samples_total", endpoint="remote_write") == 3
    assert (
        _metric(registry, "vigil_ingest_requests_total", endpoint="remote_write", code="204") == 1
    )
    # A sender resending its newest samples is accepted: exact duplicates are ignored.
    again = _body([([("__name__", "up"), ("job", "a")], [(T0 + 15_000, 0.0)])])
    assert client.post("/api/v1/write", content=again, headers=HEADERS).status_code == 204
    assert len(_all(store)['up{job="a"}']) == 2


def test_headers_may_be_missing_like_old_senders(
    client: httpx.Client, store: MemoryStorage
) -> None:
    r = client.post("/api/v1/write", content=_body([([("__name__", "x")], [(T0, 1.0)])]))
    assert r.status_code == 204
    assert _all(store) == {"x{}": [(T0, 1.0)]}


def _error(r: object) -> tuple[int, str, str]:
    resp = r  # an httpx.Response
    body = resp.json()  # type: ignore[attr-defined]
    assert body["status"] == "error"
    return resp.status_code, body["errorType"], body["error"]  # type: ignore[attr-defined]


def test_a_body_that_is_not_snappy_is_400(client: httpx.Client, store: MemoryStorage) -> None:
    r = client.post("/api/v1/write", content=b"\x05not snappy at all", headers=HEADERS)
    code, etype, msg = _error(r)
    assert (code, etype) == (400, "bad_data")
    assert "snappy" in msg
    assert _all(store) == {}


def test_a_body_that_is_not_a_write_request_is_400_and_nothing_is_stored(
    client: httpx.Client, store: MemoryStorage
) -> None:
    good = encode_write_request([([("__name__", "a")], [(T0, 1.0)])])
    r = client.post("/api/v1/write", content=_snappy(good + b"\x0a\x40\x0a"), headers=HEADERS)
    code, etype, msg = _error(r)
    assert (code, etype) == (400, "bad_data")
    assert "malformed WriteRequest: offset" in msg
    assert _all(store) == {}


def test_compressed_body_over_the_limit_is_413_before_reading_it_all(client: httpx.Client) -> None:
    rng = np.random.default_rng(1)
    r = client.post("/api/v1/write", content=rng.bytes(100 * 1024), headers=HEADERS)
    code, etype, msg = _error(r)
    assert (code, etype) == (413, "bad_data")
    assert "over the limit of 65536 bytes" in msg


def test_decompression_bomb_is_413_from_the_header(store: MemoryStorage) -> None:
    rx = RemoteWriteReceiver(
        store, metrics=IngestMetrics(CollectorRegistry()), max_decompressed_bytes=1000
    )
    bomb = _snappy(b"\x00" * 5000)  # a few hundred bytes on the wire
    assert len(bomb) < 1000
    with pytest.raises(PayloadTooLargeError, match="would be 5000 bytes"):
        rx.handle(bomb)
    assert snappy_decompress(_snappy(b"abc"), 3) == b"abc"


def test_wrong_content_encoding_or_type_or_v2_is_415(client: httpx.Client) -> None:
    body = _body([([("__name__", "a")], [(T0, 1.0)])])
    for headers in (
        {**HEADERS, "Content-Encoding": "gzip"},
        {**HEADERS, "Content-Type": "application/json"},
        {**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
    ):
        code, etype, _ = _error(client.post("/api/v1/write", content=body, headers=headers))
        assert (code, etype) == (415, "bad_data")


def test_an_out_of_order_sample_rolls_back_the_whole_request(
    client: httpx.Client, store: MemoryStorage, registry: CollectorRegistry
) -> None:
    ok = _body([([("__name__", "a")], [(T0 + 1000, 1.0)])])
    assert client.post("/api/v1/write", content=ok, headers=HEADERS).status_code == 204
    bad = _body(
        [
            ([("__name__", "b")], [(T0, 1.0)]),  # fine on its own
            ([("__name__", "a")], [(T0, 2.0)]),  # older than the stored sample
        ]
    )
    code, etype, msg = _error(client.post("/api/v1/write", content=bad, headers=HEADERS))
    assert (code, etype) == (400, "bad_data")
    assert msg.startswith("out-of-order sample for series a{}")
    assert _all(store) == {"a{}": [(T0 + 1000, 1.0)]}  # b was not stored either
    labels = {"endpoint": "remote_write", "reason": "out_of_order"}
    assert registry.get_sample_value("vigil_ingest_samples_rejected_total", labels) == 1


def test_duplicate_timestamp_with_another_value_and_future_samples_are_400(
    client: httpx.Client, store: MemoryStorage
) -> None:
    dup = _body([([("__name__", "a")], [(T0, 1.0), (T0, 2.0)])])
    code, _, msg = _error(client.post("/api/v1/write", content=dup, headers=HEADERS))
    assert code == 400
    assert msg.startswith("duplicate sample")
    future = _body([([("__name__", "a")], [(int(NOW * 1000) + 11 * 60_000, 1.0)])])
    code, _, msg = _error(client.post("/api/v1/write", content=future, headers=HEADERS))
    assert code == 400
    assert "out-of-bounds" in msg
    assert "in the future" in msg
    assert _all(store) == {}


def test_series_with_invalid_labels_are_dropped_and_reported_the_rest_is_stored(
    client: httpx.Client, store: MemoryStorage, registry: CollectorRegistry
) -> None:
    body = _body(
        [
            ([("job", "no-name")], [(T0, 1.0)]),
            ([("__name__", "ok")], [(T0, 1.0)]),
            ([("__name__", "bad-name")], [(T0, 1.0), (T0 + 1, 2.0)]),
            ([("__name__", "x"), ("a", "1"), ("a", "2")], [(T0, 1.0)]),
        ]
    )
    code, etype, msg = _error(client.post("/api/v1/write", content=body, headers=HEADERS))
    assert (code, etype) == (400, "bad_data")
    assert msg.startswith("stored 1 samples; dropped 4 invalid labels (first: series ")
    assert "no __name__ label" in msg
    assert _all(store) == {"ok{}": [(T0, 1.0)]}
    labels = {"endpoint": "remote_write", "reason": "invalid_labels"}
    assert registry.get_sample_value("vigil_ingest_samples_rejected_total", labels) == 4


def test_nan_and_stale_markers_keep_their_bits(client: httpx.Client, store: MemoryStorage) -> None:
    from vigil.model.value import STALE_NAN, is_stale_nan

    body = _body([([("__name__", "a")], [(T0, math.nan), (T0 + 1, STALE_NAN)])])
    assert client.post("/api/v1/write", content=body, headers=HEADERS).status_code == 204
    (v1, v2) = [v for _, v in _all(store)["a{}"]]
    assert math.isnan(v1)
    assert not is_stale_nan(v1)
    assert is_stale_nan(v2)


def test_storage_failure_is_500_so_the_sender_retries(registry: CollectorRegistry) -> None:
    from vigil.api import ApiOptions, create_app
    from vigil.storage import StorageError

    class FullDisk(MemoryStorage):
        def appender(self):  # type: ignore[no-untyped-def]
            app = super().appender()

            def commit() -> None:
                raise StorageError("write wal: no space left on device")

            app.commit = commit  # type: ignore[method-assign]
            return app

    with serve(create_app(ApiOptions(FullDisk(), registry=registry))) as c:
        body = _body([([("__name__", "a")], [(T0, 1.0)])])
        code, etype, msg = _error(c.post("/api/v1/write", content=body, headers=HEADERS))
    assert (code, etype) == (500, "internal")
    assert "no space left on device" in msg


def test_known_series_are_looked_up_by_their_raw_label_bytes(store: MemoryStorage) -> None:
    rx = RemoteWriteReceiver(store, metrics=IngestMetrics(CollectorRegistry()))
    calls = 0
    real = rx._labels

    def counting(key: bytes):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(key)

    rx._labels = counting  # type: ignore[method-assign]
    for i in range(3):
        rx.write(encode_write_request([([("__name__", "a")], [(T0 + i, 1.0)])]))
    assert calls == 1
    assert len(_all(store)["a{}"]) == 3
