"""Series descriptions of the PromQL test files: ``metric{a="b"} 0+10x10 _ stale``.

The notation is that of Prometheus's ``promqltest`` (see
``conformance/promql/FORMAT.md``, sections 3 and 4): a series written like a
selector with only ``=`` matchers, then blank-separated items:

=========  ==========================================
``v``      one sample
``a+bxN``  N+1 samples a, a+b, ..., a+N*b (``a-bxN`` counts down)
``axN``    N+1 copies of a
``_``      one missing sample; ``_xN`` is N missing samples
``stale``  a staleness marker
=========  ==========================================

Native histogram samples (``{{...}}``) are not supported: they raise a
:class:`ParseError` saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from vigil.model.labels import METRIC_NAME, Labels
from vigil.model.value import STALE_NAN
from vigil.promql.parser.errors import ParseError, PositionMapper
from vigil.promql.parser.literals import NumberError, parse_number
from vigil.promql.parser.quoting import UnquoteError, scan_string

__all__ = ["SequenceValue", "parse_series_desc"]

SequenceValue = float | None
"""One slot of a series: a float (possibly the staleness NaN), or ``None`` for ``_``."""

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNSIGNED = (
    r"(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
    r"|[iI][nN][fF]|[nN][aA][nN])"
)
_ITEM_RE = re.compile(
    rf"(?P<a>[+-]?{_UNSIGNED}|stale)(?:(?P<sign>[+-])(?P<b>{_UNSIGNED}))?(?:x(?P<n>[0-9]+))?"
)
_BLANK_RE = re.compile(r"_(?:x(?P<n>[0-9]+))?")
_SPACES = " \t"
_Fail = Callable[[int, int, str], ParseError]


def parse_series_desc(text: str) -> tuple[Labels, list[SequenceValue]]:
    """The labels and the expanded values of one series line of a ``load`` block."""
    pm = PositionMapper(text)

    def fail(start: int, end: int, message: str) -> ParseError:
        return ParseError(message, pm.range(start, end), text)

    n = len(text)
    i = 0
    while i < n and text[i] in _SPACES:
        i += 1
    pairs: dict[str, str] = {}
    m = _NAME_RE.match(text, i)
    if m is not None:
        pairs[METRIC_NAME] = m.group()
        i = m.end()
    if i < n and text[i] == "{":
        i = _parse_label_set(text, i + 1, pairs, fail)
    elif m is None:
        raise fail(
            i, i + 1, 'unexpected character in series description, expected a metric name or "{"'
        )
    if i < n and text[i] not in _SPACES:
        raise fail(i, i + 1, "expected a blank between the series and its values")
    try:
        labels = Labels.from_pairs(pairs.items())
    except ValueError as err:
        raise fail(0, i, str(err)) from None
    return labels, _parse_values(text, i, fail)


def _parse_label_set(text: str, i: int, pairs: dict[str, str], fail: _Fail) -> int:
    """Read ``name="value", ...}`` after ``{``; return the index after ``}``."""
    n = len(text)
    while True:
        while i < n and text[i] in _SPACES:
            i += 1
        if i < n and text[i] == "}":
            return i + 1
        m = _LABEL_RE.match(text, i)
        if m is None:
            raise fail(i, i + 1, 'unexpected character in label set, expected identifier or "}"')
        name = m.group()
        i = m.end()
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n or text[i] != "=" or text.startswith("=~", i):
            raise fail(i, i + 1, 'unexpected character in label set, expected "="')
        i += 1
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n or text[i] not in "\"'`":
            raise fail(i, i + 1, "unexpected character in label set, expected string")
        try:
            value, i = scan_string(text, i)
        except UnquoteError as err:
            raise fail(err.index, n, err.message) from None
        if name in pairs:
            raise fail(m.start(), i, f'duplicate label name "{name}"')
        pairs[name] = value
        while i < n and text[i] in _SPACES:
            i += 1
        if i < n and text[i] == ",":
            i += 1
        elif i < n and text[i] == "}":
            return i + 1
        else:
            raise fail(i, i + 1, 'unexpected character in label set, expected "," or "}"')


def _parse_values(text: str, i: int, fail: _Fail) -> list[SequenceValue]:
    values: list[SequenceValue] = []
    n = len(text)
    while True:
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n:
            return values
        end = i
        while end < n and text[end] not in _SPACES:
            end += 1
        item = text[i:end]
        if item.startswith("{{"):
            raise fail(i, end, "native histogram samples are not supported")
        blank = _BLANK_RE.fullmatch(item)
        if blank is not None:
            count = int(blank.group("n")) if blank.group("n") else 1
            values.extend([None] * count)
            i = end
            continue
        m = _ITEM_RE.fullmatch(item)
        if m is None:
            raise fail(i, end, f'unexpected "{item}" in series values, expected number or "stale"')
        try:
            a = STALE_NAN if m.group("a") == "stale" else parse_number(m.group("a"))
            step = parse_number(m.group("b")) if m.group("b") else 0.0
        except NumberError as err:
            raise fail(i, end, str(err)) from None
        if m.group("sign") == "-":
            step = -step
        if m.group("n") is None:
            if m.group("sign"):
                raise fail(i, end, f'unexpected "{item}" in series values, expected "x<count>"')
            values.append(a)
        else:
            v = a
            for _ in range(int(m.group("n")) + 1):
                values.append(v)
                v += step  # accumulated, as upstream does, so values match bit for bit
        i = end
