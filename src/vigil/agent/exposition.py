"""Render a registry for a scrape, negotiating the format and the compression.

:func:`render_metrics` is the one rendering function under every ``/metrics``
adapter (ASGI, WSGI, Django).  It serves:

* the Prometheus text format 0.0.4 (``text/plain; version=0.0.4``) by default;
* OpenMetrics 1.0 (``application/openmetrics-text; version=1.0.0``) when the
  ``Accept`` header prefers it, by RFC 9110 rules: each format gets the
  q-value of the most specific media range that matches it (a range with
  parameters beats ``type/subtype``, which beats ``type/*``, which beats
  ``*/*``); the highest q wins; on a tie, the format the client listed first
  wins, and the text format wins when both match the same range (``*/*``);
  ``q=0`` excludes a format.  An ``Accept`` header that matches neither format
  gets the text format (a scraper is better served by data than by a 406);
* gzip when ``Accept-Encoding`` gives ``gzip`` (or ``x-gzip``, or ``*`` without
  excluding gzip) a q-value above zero.

The response headers are ``Content-Type``, ``Content-Encoding`` (only when
compressed) and ``Vary: Accept, Accept-Encoding`` (always, since the body
depends on both).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client import generate_latest as _generate_text
from prometheus_client.openmetrics import exposition as _openmetrics
from prometheus_client.registry import Collector

from vigil.agent import multiprocess

__all__ = [
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_TEXT",
    "negotiate_encoding",
    "negotiate_format",
    "render_metrics",
]

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

FORMAT_TEXT = "text"
FORMAT_OPENMETRICS = "openmetrics"

#: gzip level: 6 is zlib's default, most of level 9's ratio for a fraction of its time.
GZIP_LEVEL = 6

# prometheus_client's OpenMetrics writer has no annotations.
_generate_openmetrics: Callable[[Collector], bytes] = _openmetrics.generate_latest

_VARY = ("Vary", "Accept, Accept-Encoding")

# (type, subtype, acceptable versions) of each format; version None = unspecified.
_FORMATS: tuple[tuple[str, str, str, frozenset[str | None]], ...] = (
    # Text first: it is the server's preference when both match the same range.
    (FORMAT_TEXT, "text", "plain", frozenset({None, "0.0.4", "1.0.0"})),
    (FORMAT_OPENMETRICS, "application", "openmetrics-text", frozenset({None, "0.0.1", "1.0.0"})),
)


@dataclass(frozen=True)
class _MediaRange:
    type: str
    subtype: str
    params: dict[str, str]
    q: float
    order: int

    @property
    def specificity(self) -> int:
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 3 if self.params else 2


def _parse_q(value: str) -> float | None:
    try:
        q = float(value)
    except ValueError:
        return None
    if not 0.0 <= q <= 1.0:
        return None
    return q


def _parse_accept(header: str) -> list[_MediaRange]:
    ranges: list[_MediaRange] = []
    for order, item in enumerate(header.split(",")):
        pieces = [p.strip() for p in item.split(";")]
        media = pieces[0].lower()
        if "/" not in media:
            if media == "*":  # some clients send a bare "*"
                media = "*/*"
            else:
                continue
        mtype, _, subtype = media.partition("/")
        if not mtype or not subtype or (mtype == "*" and subtype != "*"):
            continue
        params: dict[str, str] = {}
        q = 1.0
        valid = True
        for piece in pieces[1:]:
            key, sep, value = piece.partition("=")
            key = key.strip().lower()
            value = value.strip().strip('"')
            if not sep or not key:
                continue
            if key == "q":
                parsed = _parse_q(value)
                if parsed is None:
                    valid = False
                    break
                q = parsed
            else:
                params[key] = value
        if valid:
            ranges.append(_MediaRange(mtype, subtype, params, q, order))
    return ranges


def _matches(rng: _MediaRange, mtype: str, subtype: str, versions: frozenset[str | None]) -> bool:
    if rng.type == "*":
        return True
    if rng.type != mtype:
        return False
    if rng.subtype == "*":
        return True
    if rng.subtype != subtype:
        return False
    return rng.params.get("version") in versions


def negotiate_format(accept: str | None) -> str:
    """``"openmetrics"`` or ``"text"`` for an ``Accept`` header (see the module docs)."""
    if not accept or not accept.strip():
        return FORMAT_TEXT
    ranges = _parse_accept(accept)
    best: tuple[float, int, int] | None = None  # (q, -order, -format index)
    best_format = FORMAT_TEXT
    for index, (fmt, mtype, subtype, versions) in enumerate(_FORMATS):
        matching = [r for r in ranges if _matches(r, mtype, subtype, versions)]
        if not matching:
            continue
        top = max(r.specificity for r in matching)
        chosen = min((r for r in matching if r.specificity == top), key=lambda r: r.order)
        if chosen.q <= 0.0:
            continue
        score = (chosen.q, -chosen.order, -index)
        if best is None or score > best:
            best = score
            best_format = fmt
    return best_format


def negotiate_encoding(accept_encoding: str | None) -> str | None:
    """``"gzip"`` when the ``Accept-Encoding`` header allows gzip, else ``None`` (identity)."""
    if not accept_encoding:
        return None
    gzip_q: float | None = None
    star_q: float | None = None
    for item in accept_encoding.split(","):
        pieces = [p.strip() for p in item.split(";")]
        coding = pieces[0].lower()
        q: float | None = 1.0
        for piece in pieces[1:]:
            key, sep, value = piece.partition("=")
            if sep and key.strip().lower() == "q":
                q = _parse_q(value.strip())
        if q is None:
            continue
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    effective = gzip_q if gzip_q is not None else star_q
    return "gzip" if effective is not None and effective > 0.0 else None


def render_metrics(
    registry: CollectorRegistry | Collector | None,
    accept: str | None,
    accept_encoding: str | None,
) -> tuple[bytes, list[tuple[str, str]]]:
    """Render *registry* for a scrape; return ``(body, headers)``.

    ``registry=None`` means the process's default registry, or the sum over
    all workers when multi-process mode is active
    (:func:`vigil.agent.multiprocess.collection_registry`).
    """
    source: Collector
    if registry is None:
        source = multiprocess.collection_registry() if multiprocess.is_active() else REGISTRY
    else:
        source = registry
    if negotiate_format(accept) == FORMAT_OPENMETRICS:
        body = _generate_openmetrics(source)
        content_type = CONTENT_TYPE_OPENMETRICS
    else:
        body = _generate_text(source)
        content_type = CONTENT_TYPE_TEXT
    headers = [("Content-Type", content_type)]
    if negotiate_encoding(accept_encoding) == "gzip":
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(_VARY)
    return body, headers
