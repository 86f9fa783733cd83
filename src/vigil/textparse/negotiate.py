"""Choosing a parser from a scrape response's Content-Type."""

from __future__ import annotations

from enum import StrEnum

from vigil.textparse.cache import SeriesCache
from vigil.textparse.errors import UnsupportedContentTypeError
from vigil.textparse.openmetrics import OpenMetricsParser
from vigil.textparse.prometheus import PrometheusTextParser

__all__ = [
    "SCRAPE_ACCEPT",
    "Format",
    "format_for_content_type",
    "new_parser",
]

SCRAPE_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
"""The Accept header a scraper sends: OpenMetrics preferred, then Prometheus text."""

_OPENMETRICS_VERSIONS = ("", "0.0.1", "1.0.0")
_UNSUPPORTED = {
    "application/vnd.google.protobuf": "the Prometheus protobuf format",
    "application/json": "JSON",
    "text/html": "an HTML page",
}


class Format(StrEnum):
    PROMETHEUS_TEXT = "prometheus"
    OPENMETRICS = "openmetrics"


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    media, _, rest = content_type.partition(";")
    params: dict[str, str] = {}
    for item in rest.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def format_for_content_type(content_type: str | None) -> Format:
    """OpenMetrics for ``application/openmetrics-text`` (versions 0.0.1 and 1.0.0),
    the Prometheus text format for ``text/plain``, a missing header and any other
    textual type; :class:`UnsupportedContentTypeError` for formats Vigil cannot
    read (protobuf, JSON, HTML, other OpenMetrics versions).
    """
    if not content_type or not content_type.strip():
        return Format.PROMETHEUS_TEXT
    media, params = _media_type(content_type)
    if media == "application/openmetrics-text":
        version = params.get("version", "")
        if version not in _OPENMETRICS_VERSIONS:
            raise UnsupportedContentTypeError(
                f"unsupported OpenMetrics version {version!r} in Content-Type "
                f"{content_type!r}: Vigil reads 0.0.1 and 1.0.0"
            )
        return Format.OPENMETRICS
    what = _UNSUPPORTED.get(media)
    if what is not None:
        raise UnsupportedContentTypeError(
            f"unsupported Content-Type {content_type!r} ({what}): expose the Prometheus text "
            "format (text/plain; version=0.0.4) or OpenMetrics (application/openmetrics-text)"
        )
    return Format.PROMETHEUS_TEXT


def new_parser(
    body: bytes | str,
    content_type: str | None,
    *,
    strict_openmetrics: bool = False,
    series_cache: SeriesCache | None = None,
) -> OpenMetricsParser | PrometheusTextParser:
    """The parser for a response: the format comes from ``content_type``.

    OpenMetrics is parsed leniently by default, as Prometheus's scraper does;
    pass ``strict_openmetrics=True`` for the full OpenMetrics 1.0 rules.
    """
    if format_for_content_type(content_type) is Format.OPENMETRICS:
        return OpenMetricsParser(body, strict=strict_openmetrics, series_cache=series_cache)
    return PrometheusTextParser(body, series_cache=series_cache)
