"""Exposition formats as pull iterators with positions.

>>> from vigil.textparse import new_parser, Sample
>>> body = b'# TYPE up gauge\nup{job="a"} 1\n'
>>> [e.value for e in new_parser(body, "text/plain; version=0.0.4") if isinstance(e, Sample)]
[1.0]

See docs/textparse.md for the formats, the strict and lenient OpenMetrics
modes, and what each parser accepts.
"""

from vigil.textparse.cache import SeriesCache
from vigil.textparse.entries import (
    Comment,
    Entry,
    Exemplar,
    Help,
    MetricType,
    Sample,
    Type,
    Unit,
)
from vigil.textparse.errors import ParseError, UnsupportedContentTypeError
from vigil.textparse.negotiate import SCRAPE_ACCEPT, Format, format_for_content_type, new_parser
from vigil.textparse.openmetrics import OpenMetricsParser
from vigil.textparse.prometheus import PrometheusTextParser

__all__ = [
    "SCRAPE_ACCEPT",
    "Comment",
    "Entry",
    "Exemplar",
    "Format",
    "Help",
    "MetricType",
    "OpenMetricsParser",
    "ParseError",
    "PrometheusTextParser",
    "Sample",
    "SeriesCache",
    "Type",
    "Unit",
    "UnsupportedContentTypeError",
    "format_for_content_type",
    "new_parser",
]
