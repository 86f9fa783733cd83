from __future__ import annotations

import pytest

from vigil.textparse import (
    SCRAPE_ACCEPT,
    Format,
    OpenMetricsParser,
    PrometheusTextParser,
    UnsupportedContentTypeError,
    format_for_content_type,
    new_parser,
)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", Format.OPENMETRICS),
        ("application/openmetrics-text;version=0.0.1", Format.OPENMETRICS),
        ("Application/OpenMetrics-Text", Format.OPENMETRICS),
        ("text/plain; version=0.0.4; charset=utf-8", Format.PROMETHEUS_TEXT),
        ("text/plain", Format.PROMETHEUS_TEXT),
        ("", Format.PROMETHEUS_TEXT),
        (None, Format.PROMETHEUS_TEXT),
        ("application/octet-stream", Format.PROMETHEUS_TEXT),
    ],
)
def test_format_for_content_type(content_type: str | None, expected: Format) -> None:
    assert format_for_content_type(content_type) is expected


@pytest.mark.parametrize(
    ("content_type", "words"),
    [
        (
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
            "encoding=delimited",
            "protobuf",
        ),
        ("application/openmetrics-text; version=2.0.0", "OpenMetrics version '2.0.0'"),
        ("text/html; charset=utf-8", "HTML"),
        ("application/json", "JSON"),
    ],
)
def test_unsupported_content_types_say_what_and_how(content_type: str, words: str) -> None:
    with pytest.raises(UnsupportedContentTypeError) as info:
        format_for_content_type(content_type)
    assert words in str(info.value)
    assert content_type in str(info.value)


def test_new_parser_is_lenient_for_openmetrics_unless_asked() -> None:
    body = b"# TYPE a counter\na_total -1\n# EOF\n"
    lenient = new_parser(body, "application/openmetrics-text; version=1.0.0")
    assert isinstance(lenient, OpenMetricsParser)
    assert not lenient.strict
    assert len(list(lenient)) == 2
    strict = new_parser(body, "application/openmetrics-text", strict_openmetrics=True)
    assert isinstance(strict, OpenMetricsParser)
    assert strict.strict
    assert isinstance(new_parser(body, "text/plain"), PrometheusTextParser)


def test_accept_header_prefers_openmetrics() -> None:
    assert SCRAPE_ACCEPT.startswith("application/openmetrics-text;version=1.0.0")
    assert "text/plain;version=0.0.4" in SCRAPE_ACCEPT
