"""POST /api/v1/import/prometheus: text with timestamps, one transaction per request."""

from __future__ import annotations

import gzip

import httpx
import pytest
from prometheus_client import CollectorRegistry

from vigil.api.errors import BadDataError, PayloadTooLargeError
from vigil.api.importer import gunzip, parse_extra_labels
from vigil.storage import MemoryStorage

from .conftest import NOW
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
