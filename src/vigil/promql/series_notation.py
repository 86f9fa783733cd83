"""Series in the expanding notation, as loaded by PromQL test scripts and promtool unit tests.

The notation (``up{job="a"} 0+1x10 _ stale``) is parsed by
:func:`vigil.promql.parser.parse_series_desc`; this module is the other half of
a ``load <interval>`` block: it turns the expanded values into timestamped
samples and appends them to any :class:`~vigil.storage.interface.Appendable`.

Both the PromQL conformance runner (``tests/promql/promqltest.py``) and
``vigil test rules`` (:mod:`vigil.rules.unittest`) load their data through it,
so the two agree on what ``1+2x3``, ``_`` and ``stale`` mean:

=========  =====================================================
``v``      one sample
``a+bxN``  N+1 samples a, a+b, ..., a+N*b (``a-bxN`` counts down)
``axN``    N+1 copies of a
``_``      one step without a sample; ``_xN`` is N steps
``stale``  a staleness marker
=========  =====================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from vigil.model.labels import Labels
from vigil.promql.parser import ParseError, SequenceValue, parse_series_desc
from vigil.storage.interface import Appendable

__all__ = [
    "ParseError",
    "SequenceValue",
    "SeriesData",
    "load_series",
    "merge_series",
    "parse_series",
    "samples",
]

SeriesData = tuple[Labels, list[SequenceValue]]
"""One parsed series line: its labels and its expanded values (``None`` for ``_``)."""


def parse_series(text: str) -> SeriesData:
    """``metric{a="b"} 0+1x3 _ stale`` -> (labels, [0.0, 1.0, 2.0, 3.0, None, STALE_NAN]).

    Raises :class:`~vigil.promql.parser.ParseError` with the position in ``text``.
    """
    return parse_series_desc(text)


def samples(
    values: Sequence[SequenceValue], interval_ms: int, start_ms: int = 0
) -> Iterator[tuple[int, float]]:
    """The ``(timestamp, value)`` samples of expanded values, one step of ``interval_ms`` each."""
    for i, v in enumerate(values):
        if v is not None:
            yield start_ms + i * interval_ms, v


def merge_series(
    series: Iterable[SeriesData], interval_ms: int, start_ms: int = 0
) -> dict[Labels, dict[int, float]]:
    """Samples by series; a series given twice is merged, the later line winning per timestamp."""
    out: dict[Labels, dict[int, float]] = {}
    for labels, values in series:
        out.setdefault(labels, {}).update(samples(values, interval_ms, start_ms))
    return out


def load_series(
    appendable: Appendable,
    data: dict[Labels, dict[int, float]],
    *,
    until_ms: int | None = None,
) -> int:
    """Append ``data`` (from :func:`merge_series`) in one transaction; returns the sample count.

    Samples after ``until_ms`` (when given) are left out. Each series' samples go in
    time order; a refused sample rolls the whole transaction back and re-raises.
    """
    app = appendable.appender()
    count = 0
    try:
        for labels, by_time in data.items():
            ref = 0
            for t in sorted(by_time):
                if until_ms is not None and t > until_ms:
                    break
                ref = app.append(ref, labels, t, by_time[t])
                count += 1
    except BaseException:
        app.rollback()
        raise
    app.commit()
    return count
