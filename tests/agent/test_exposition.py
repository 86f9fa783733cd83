"""Content negotiation, formats and compression of render_metrics."""

from __future__ import annotations

import gzip

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from vigil.agent import exposition
from vigil.agent.exposition import (
    CONTENT_TYPE_OPENMETRICS,
    CONTENT_TYPE_TEXT,
    negotiate_encoding,
    negotiate_format,
    render_metrics,
)
from vigil.agent.metrics import Counter, Histogram

# What Prometheus 2.x and 3.x send when scraping.
PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
PROMETHEUS_TEXT_ONLY = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text"),
        ("", "text"),
        ("*/*", "text"),
        ("text/plain", "text"),
        ("text/html", "text"),  # nothing acceptable: the default rather than a 406
        ("application/openmetrics-text", "openmetrics"),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", "openmetrics"),
        ("application/openmetrics-text;version=2.0.0", "text"),  # a version we do not speak
        ("application/openmetrics-text;version=0.0.1", "openmetrics"),
        ("Application/OpenMetrics-Text", "openmetrics"),
        ("application/*", "openmetrics"),
        ("text/*", "text"),
        (PROMETHEUS_2, "openmetrics"),
        (PROMETHEUS_3, "openmetrics"),
        (PROMETHEUS_TEXT_ONLY, "text"),
        # q-values decide, not order.
        ("text/plain;q=0.9, application/openmetrics-text", "openmetrics"),
        ("application/openmetrics-text;q=0.3, text/plain;q=0.8", "text"),
        # q=0 excludes, even when a wildcard would allow it.
        ("application/openmetrics-text;q=0, */*", "text"),
        ("text/plain;q=0, */*;q=0.5", "openmetrics"),
        # The most specific range sets a format's q.
        (
            "application/openmetrics-text;version=1.0.0;q=0.2, application/*;q=0.9, text/plain;q=0.5",
            "text",
        ),
        # On a tie, the range the client listed first wins.
        ("application/openmetrics-text, text/plain", "openmetrics"),
        ("text/plain, application/openmetrics-text", "text"),
        # Malformed pieces are skipped, not fatal.
        ("garbage, application/openmetrics-text;q=abc, text/plain;q=0.1", "text"),
        (";;;,", "text"),
        ("*", "text"),
    ],
)
def test_negotiate_format(accept: str | None, expected: str) -> None:
    assert negotiate_format(accept) == expected


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("deflate, gzip;q=0.5", "gzip"),
        ("gzip;q=0", None),
        ("br", None),
        ("*", "gzip"),
        ("*;q=0", None),
        ("gzip;q=0, *", None),
        ("identity", None),
        ("gzip;q=nope", None),
    ],
)
def test_negotiate_encoding(accept_encoding: str | None, expected: str | None) -> None:
    assert negotiate_encoding(accept_encoding) == expected


@pytest.fixture
def populated(registry: CollectorRegistry) -> CollectorRegistry:
    Counter("requests", "Requests\nserved", ["path"], registry=registry).labels('/a"b').inc(3)
    Histogram("latency_seconds", "Latency", buckets=[0.1, 1], registry=registry).observe(0.5)
    return registry


def test_text_by_default(populated: CollectorRegistry) -> None:
    body, headers = render_metrics(populated, None, None)
    assert headers == [("Content-Type", CONTENT_TYPE_TEXT), ("Vary", "Accept, Accept-Encoding")]
    families = {f.name: f for f in parse_text(body.decode())}
    (total,) = [s for s in families["requests"].samples if s.name == "requests_total"]
    assert total.labels == {"path": '/a"b'}
    assert total.value == 3
    assert "# EOF" not in body.decode()


def test_openmetrics_when_asked(populated: CollectorRegistry) -> None:
    body, headers = render_metrics(populated, PROMETHEUS_3, None)
    assert dict(headers)["Content-Type"] == CONTENT_TYPE_OPENMETRICS
    text = body.decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}  # strict parser: valid OpenMetrics
    assert families["latency_seconds"].type == "histogram"


def test_gzip_when_allowed(populated: CollectorRegistry) -> None:
    plain, _ = render_metrics(populated, None, None)
    body, headers = render_metrics(populated, None, "gzip, deflate")
    assert ("Content-Encoding", "gzip") in headers
    assert ("Vary", "Accept, Accept-Encoding") in headers
    assert gzip.decompress(body) == plain
    # Deterministic output (mtime=0): caches and tests can compare bodies.
    assert render_metrics(populated, None, "gzip")[0] == body


def test_gzip_and_openmetrics_together(populated: CollectorRegistry) -> None:
    body, headers = render_metrics(populated, "application/openmetrics-text", "gzip")
    assert dict(headers) == {
        "Content-Type": CONTENT_TYPE_OPENMETRICS,
        "Content-Encoding": "gzip",
        "Vary": "Accept, Accept-Encoding",
    }
    assert gzip.decompress(body).decode().endswith("# EOF\n")


def test_none_means_the_default_registry_outside_multiprocess_mode() -> None:
    probe = Counter("vigil_exposition_default_probe", "probe")
    try:
        body, _ = render_metrics(None, None, None)
        assert b"vigil_exposition_default_probe_total 0.0" in body
        assert b"process_cpu_seconds_total" in body or b"python_info" in body
    finally:
        REGISTRY.unregister(probe)


def test_collection_errors_propagate(registry: CollectorRegistry) -> None:
    class Broken:
        def describe(self) -> list[object]:
            return []

        def collect(self) -> list[object]:
            raise RuntimeError("database gone")

    registry.register(Broken())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="database gone"):
        render_metrics(registry, None, None)


def test_module_constants() -> None:
    assert exposition.CONTENT_TYPE_TEXT == "text/plain; version=0.0.4; charset=utf-8"
    assert exposition.CONTENT_TYPE_OPENMETRICS.startswith(
        "application/openmetrics-text; version=1.0.0"
    )
