"""POST /api/v1/import/prometheus: text with timestamps, one transaction per request."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from vigil.api import ApiOptions, create_app
from vigil.api.errors import BadDataError, PayloadTooLargeError
from vigil.api.importer import gunzip, parse_extra_labels
from vigil.model import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.storage import MemoryStorage
from vigil.tsdb.db import TSDB

from .conftest import NOW, serve
from .test_write import _all

URL = "/api/v1/import/prometheus"


def test_import_with_timestamps_extra_labels_and_a_default_time(
    client: httpx.Client, store: MemoryStorage, registry: CollectorRegistry
) -> None:
    body = (
        "# HELP http_requests_total Requests.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{code="200",job="old"} 10 1699999000000\n'
        'http_requests_total{code="200",job="old"} 12 1699999015000\n'
        "temperature 21.5\n"
    )
    r = client.post(
        URL, content=body, params=[("extra_label", "job=backfill"), ("extra_label", "dc=x")]
    )
    assert r.status_code == 204, r.text
    assert _all(store) == {
        'http_requests_total{code="200", dc="x", job="backfill"}': [
            (1699999000000, 10.0),
            (1699999015000, 12.0),
        ],
        'temperature{dc="x", job="backfill"}': [(int(NOW * 1000), 21.5)],
    }
    labels = {"endpoint": "import_prometheus"}
    assert registry.get_sample_value("vigil_ingest_samples_total", labels) == 3


def test_openmetrics_and_gzip_and_the_timestamp_parameter(
    client: httpx.Client, store: MemoryStorage
) -> None:
    body = b"# TYPE a gauge\na 1 1600000000.5\na 2\n# EOF\n"
    r = client.post(
        URL,
        content=gzip.compress(body),
        params={"timestamp": "1600000001"},
        headers={
            "Content-Type": "application/openmetrics-text; version=1.0.0",
            "Content-Encoding": "gzip",
        },
    )
    assert r.status_code == 204, r.text
    assert _all(store) == {"a{}": [(1600000000500, 1.0), (1600000001000, 2.0)]}


def test_a_parse_error_names_the_line_and_nothing_is_imported(
    client: httpx.Client, store: MemoryStorage
) -> None:
    body = "a 1 1000\nb{x=} 2 1000\n"
    r = client.post(URL, content=body)
    assert r.status_code == 400
    err = r.json()
    assert err["errorType"] == "bad_data"
    assert err["error"].startswith("line 2:")
    assert err["error"].endswith("nothing was imported")
    assert _all(store) == {}


def test_an_out_of_order_sample_names_its_line_and_nothing_is_imported(
    client: httpx.Client, store: MemoryStorage
) -> None:
    r = client.post(URL, content="a 1 2000\nb 1 1000\na 2 1000\n")
    assert r.status_code == 400
    assert r.json()["error"].startswith("line 3: out-of-order sample")
    assert _all(store) == {}


def test_bad_parameters_and_types(client: httpx.Client) -> None:
    assert client.post(URL, content="a 1", params={"extra_label": "nolabel"}).status_code == 400
    assert client.post(URL, content="a 1", params={"extra_label": "1x=y"}).status_code == 400
    assert client.post(URL, content="a 1", params={"timestamp": "soon"}).status_code == 400
    r = client.post(URL, content="{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = client.post(URL, content="a 1", headers={"Content-Encoding": "br"})
    assert r.status_code == 415


def test_gunzip_is_bounded() -> None:
    assert gunzip(gzip.compress(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(PayloadTooLargeError):
        gunzip(gzip.compress(b"x" * 10_000), 100)
    with pytest.raises(BadDataError, match="truncated"):
        gunzip(gzip.compress(b"x" * 100)[:-10], 1000)
    with pytest.raises(BadDataError, match="gzip"):
        gunzip(b"not gzip", 1000)


def test_parse_extra_labels() -> None:
    assert parse_extra_labels(["a=b", "c=d=e", "f="]) == [("a", "b"), ("c", "d=e"), ("f", "")]


# -- into a real TSDB: bulk import into blocks --------------------------------------------


def _tsdb_all(db: TSDB) -> dict[str, list[tuple[int, float]]]:
    q = db.querier(-(2**62), 2**62)
    try:
        got = q.select([Matcher(MatchType.REGEX, "__name__", ".+")])
    finally:
        q.close()
    return {
        str(s.labels): list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True)) for s in got
    }


def _open(path: Path) -> TSDB:
    return TSDB.open(path, background=False, retention_ms=None, clock=lambda: int(NOW * 1000))


def _backfill_body(
    series: int, start_ms: int, steps: int, step_ms: int
) -> tuple[bytes, dict[str, list[tuple[int, float]]]]:
    want: dict[str, list[tuple[int, float]]] = {}
    lines = []
    for k in range(steps):  # time-major, like a dump of many scrapes
        t = start_ms + k * step_ms
        for i in range(series):
            v = float(i * 1000 + k) + (0.25 if i % 2 else 0.0)
            lines.append(f'backfill_metric{{i="{i}",job="old"}} {v!r} {t}')
            want.setdefault(f'backfill_metric{{i="{i}", job="old"}}', []).append((t, v))
    return ("\n".join(lines) + "\n").encode(), want


def test_a_backfill_goes_into_blocks_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data"
    start = int(NOW * 1000) - 3 * 86_400_000  # three days ago, over several 2 h ranges
    body, want = _backfill_body(30, start, 400, 60_000)
    db = _open(path)
    try:
        with serve(create_app(ApiOptions(db, registry=CollectorRegistry()))) as c:
            r = c.post(URL, content=body)
            assert r.status_code == 204, r.text
        assert len(db.blocks) == 4  # 400 minutes from a 2 h boundary
        assert db.head.series_count() == 0
        assert _tsdb_all(db) == want
    finally:
        db.close()
    db = _open(path)
    try:
        assert _tsdb_all(db) == want
    finally:
        db.close()


def test_a_malformed_line_in_the_middle_stores_nothing_in_the_tsdb(tmp_path: Path) -> None:
    start = int(NOW * 1000) - 86_400_000
    body, _ = _backfill_body(10, start, 50, 15_000)
    lines = body.split(b"\n")
    lines[250] = b'backfill_metric{i="x",job="old"} 1 oops'
    db = _open(tmp_path / "data")
    try:
        with serve(create_app(ApiOptions(db, registry=CollectorRegistry()))) as c:
            r = c.post(URL, content=b"\n".join(lines))
        assert r.status_code == 400
        assert r.json()["error"].startswith("line 251:")
        assert r.json()["error"].endswith("nothing was imported")
        assert db.blocks == ()
        assert _tsdb_all(db) == {}
    finally:
        db.close()


def test_an_import_overlapping_head_data_merges_with_it(tmp_path: Path) -> None:
    now = int(NOW * 1000)
    db = _open(tmp_path / "data")
    try:
        app = db.appender()
        labels = Labels.from_dict({"__name__": "m"})
        app.append(0, labels, now - 60_000, 5.0)
        app.append(0, labels, now, 6.0)
        app.commit()
        body = f"m 1 {now - 3 * 3_600_000}\nm 2 {now - 2 * 3_600_000}\nn 3 {now}\n".encode()
        with serve(create_app(ApiOptions(db, registry=CollectorRegistry()))) as c:
            r = c.post(URL, content=body)
            assert r.status_code == 204, r.text
            # a sample older than the head's newest for a head series is refused, all of it
            r = c.post(URL, content=f"n 4 {now + 1000}\nm 9 {now - 30_000}\n".encode())
            assert r.status_code == 400
            assert "out-of-order" in r.json()["error"]
        assert _tsdb_all(db) == {
            "m{}": [
                (now - 3 * 3_600_000, 1.0),
                (now - 2 * 3_600_000, 2.0),
                (now - 60_000, 5.0),
                (now, 6.0),
            ],
            "n{}": [(now, 3.0)],
        }
    finally:
        db.close()
