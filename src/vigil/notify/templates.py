"""Alertmanager's notification templates: the data they see, their functions, the defaults.

Integrations render their texts (Slack titles, e-mail subjects, PagerDuty
summaries...) with Go text/template (:mod:`vigil.gotmpl`) over :class:`Data`,
the shape of Alertmanager's ``template.Data``: ``.Receiver``, ``.Status``,
``.Alerts`` (with ``.Firing``/``.Resolved``), ``.GroupLabels``,
``.CommonLabels``, ``.CommonAnnotations``, ``.ExternalURL``. Label sets are
:class:`KV` maps with ``SortedPairs``/``Names``/``Values``/``Remove``; alert
times are :class:`GoTime` values with Go's methods (``.Format``, ``.Unix``...).

:class:`TemplateSet` holds the default templates (:data:`DEFAULT_TEMPLATES`,
written for vigil, producing the texts Alertmanager's ``default.tmpl``
produces) with the user's ``templates:`` files parsed on top, so a user file
can redefine ``slack.default.title`` and so on.

Label and annotation values are data, never markup: for HTML (the e-mail
body) :meth:`TemplateSet.data` is built with ``html=True``, which escapes every
value at the source, so no template, default or user-written, can emit a
label's markup unescaped.
"""

from __future__ import annotations

import glob as globlib
import html as htmllib
import math
import time
import urllib.parse
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar, overload

import re2

from vigil import gotmpl
from vigil.config.errors import ConfigError, ConfigProblem
from vigil.model import Labels, VigilError
from vigil.model.alert import Alert as ModelAlert

__all__ = [
    "DEFAULT_TEMPLATES",
    "KV",
    "Alert",
    "Alerts",
    "Data",
    "GoDuration",
    "GoTime",
    "Pair",
    "Pairs",
    "SafeHTML",
    "TemplateRenderError",
    "TemplateSet",
    "go_format",
    "rfc3339nano",
    "template_funcs",
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = datetime(1, 1, 1, tzinfo=UTC)
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_NS_PER_S = 1_000_000_000


class GoDuration:
    """A ``time.Duration``: integer nanoseconds, printed as Go prints it (``1h2m3.5s``)."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = int(ns)

    @classmethod
    def from_seconds(cls, seconds: float) -> GoDuration:
        return cls(round(seconds * _NS_PER_S))

    def Seconds(self) -> float:  # noqa: N802 - Go's method names
        return self.ns / _NS_PER_S

    def Minutes(self) -> float:  # noqa: N802
        return self.ns / (60 * _NS_PER_S)

    def Hours(self) -> float:  # noqa: N802
        return self.ns / (3600 * _NS_PER_S)

    def Milliseconds(self) -> int:  # noqa: N802
        return int(self.ns / 1_000_000)

    def String(self) -> str:  # noqa: N802
        return str(self)

    def __float__(self) -> float:
        return self.Seconds()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoDuration) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def __repr__(self) -> str:
        return f"GoDuration({self})"

    def __str__(self) -> str:
        ns = self.ns
        if ns == 0:
            return "0s"
        sign = "-" if ns < 0 else ""
        u = abs(ns)
        if u < _NS_PER_S:
            if u < 1_000:
                return f"{sign}{u}ns"
            if u < 1_000_000:
                return f"{sign}{_fixed(u, 3)}µs"
            return f"{sign}{_fixed(u, 6)}ms"
        out = sign
        hours, rest = divmod(u, 3600 * _NS_PER_S)
        minutes, rest = divmod(rest, 60 * _NS_PER_S)
        if hours:
            out += f"{hours}h"
        if hours or minutes:
            out += f"{minutes}m"
        return out + _fixed(rest, 9) + "s"


def _fixed(value: int, digits: int) -> str:
    """``value / 10**digits`` with trailing fractional zeros (and a bare dot) removed."""
    whole, frac = divmod(value, 10**digits)
    text = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


class GoTime:
    """A ``time.Time``: an aware ``datetime`` plus nanoseconds below its microseconds.

    The zero value (``GoTime.zero()``) is Go's ``0001-01-01 00:00:00 UTC``; it is
    what a firing alert's ``EndsAt`` holds.
    """

    __slots__ = ("dt",)

    def __init__(self, dt: datetime) -> None:
        self.dt = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)

    @classmethod
    def from_unix(cls, seconds: float | None) -> GoTime:
        """From Unix seconds (``None`` or 0 is the zero time), at microsecond precision, UTC."""
        if seconds is None or seconds == 0 or math.isnan(seconds):
            return cls(_ZERO)
        micros = round(seconds * 1_000_000)
        return cls(_EPOCH + timedelta(microseconds=micros))

    @classmethod
    def zero(cls) -> GoTime:
        return cls(_ZERO)

    # -- Go's methods ---------------------------------------------------------

    def IsZero(self) -> bool:  # noqa: N802 - Go's method names
        return self.dt == _ZERO

    def Unix(self) -> int:  # noqa: N802
        return self._micros() // 1_000_000

    def UnixMilli(self) -> int:  # noqa: N802
        return self._micros() // 1_000

    def UnixNano(self) -> int:  # noqa: N802
        return self._micros() * 1_000

    def UTC(self) -> GoTime:  # noqa: N802
        return GoTime(self.dt.astimezone(UTC))

    def Local(self) -> GoTime:  # noqa: N802
        """The server's zone is UTC for templates: notifications must not depend on the host."""
        return self.UTC()

    def In(self, zone: tzinfo) -> GoTime:  # noqa: N802
        return GoTime(self.dt.astimezone(zone))

    def Format(self, layout: str) -> str:  # noqa: N802
        return go_format(self.dt, layout)

    def Add(self, d: GoDuration) -> GoTime:  # noqa: N802
        return GoTime(self.dt + timedelta(microseconds=d.ns // 1000))

    def Sub(self, other: GoTime) -> GoDuration:  # noqa: N802
        return GoDuration((self._micros() - other._micros()) * 1000)

    def Before(self, other: GoTime) -> bool:  # noqa: N802
        return self.dt < other.dt

    def After(self, other: GoTime) -> bool:  # noqa: N802
        return self.dt > other.dt

    def Equal(self, other: GoTime) -> bool:  # noqa: N802
        return self.dt == other.dt

    def Year(self) -> int:  # noqa: N802
        return self.dt.year

    def Month(self) -> int:  # noqa: N802
        return self.dt.month

    def Day(self) -> int:  # noqa: N802
        return self.dt.day

    def Hour(self) -> int:  # noqa: N802
        return self.dt.hour

    def Minute(self) -> int:  # noqa: N802
        return self.dt.minute

    def Second(self) -> int:  # noqa: N802
        return self.dt.second

    def String(self) -> str:  # noqa: N802
        return str(self)

    # -- Python ---------------------------------------------------------------

    def _micros(self) -> int:
        delta = self.dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

    def unix_seconds(self) -> float:
        return self._micros() / 1_000_000

    def __str__(self) -> str:
        return go_format(self.dt, "2006-01-02 15:04:05.999999999 -0700 MST")

    def __repr__(self) -> str:
        return f"GoTime({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.dt == self.dt

    def __hash__(self) -> int:
        return hash(self.dt)


def rfc3339nano(t: GoTime) -> str:
    """Go's JSON encoding of a ``time.Time`` (RFC 3339, fraction without trailing zeros)."""
    return go_format(t.dt, "2006-01-02T15:04:05.999999999Z07:00")


# -- layouts ----------------------------------------------------------------------

_Chunk = tuple[str, Any]  # (kind, argument)


def _chunks(layout: str) -> list[_Chunk]:
    """Split a Go layout into literal text and std elements, as Go's ``nextStdChunk``."""
    out: list[_Chunk] = []
    literal: list[str] = []
    i = 0
    n = len(layout)

    def emit(kind: str, arg: Any = None) -> None:
        if literal:
            out.append(("lit", "".join(literal)))
            literal.clear()
        out.append((kind, arg))

    while i < n:
        rest = layout[i:]
        c = layout[i]
        matched: tuple[str, int, Any] | None = None
        if c == "J" and rest.startswith("Jan"):
            matched = ("LongMonth", 7, None) if rest.startswith("January") else ("Month", 3, None)
        elif c == "M" and rest.startswith("Mon"):
            matched = (
                ("LongWeekDay", 6, None) if rest.startswith("Monday") else ("WeekDay", 3, None)
            )
        elif c == "M" and rest.startswith("MST"):
            matched = ("TZ", 3, None)
        elif c == "0" and rest.startswith("002"):
            matched = ("ZeroYearDay", 3, None)
        elif c == "0" and len(rest) > 1 and rest[1] in "123456":
            kinds = {
                "1": "ZeroMonth",
                "2": "ZeroDay",
                "3": "ZeroHour12",
                "4": "ZeroMinute",
                "5": "ZeroSecond",
                "6": "Year",
            }
            matched = (kinds[rest[1]], 2, None)
        elif c == "1":
            matched = ("Hour", 2, None) if rest.startswith("15") else ("NumMonth", 1, None)
        elif c == "2":
            matched = ("LongYear", 4, None) if rest.startswith("2006") else ("Day", 1, None)
        elif c == "_" and rest.startswith("_2"):
            if rest.startswith("_2006"):
                literal.append("_")
                matched = ("LongYear", 5, None)
            else:
                matched = ("UnderDay", 2, None)
        elif c == "_" and rest.startswith("__2"):
            matched = ("UnderYearDay", 3, None)
        elif c in "345":
            kinds = {"3": "Hour12", "4": "Minute", "5": "Second"}
            matched = (kinds[c], 1, None)
        elif c == "P" and rest.startswith("PM"):
            matched = ("PM", 2, None)
        elif c == "p" and rest.startswith("pm"):
            matched = ("pm", 2, None)
        elif c in "-Z":
            for text, colons, secs in (
                ("070000", False, True),
                ("07:00:00", True, True),
                ("0700", False, False),
                ("07:00", True, False),
                ("07", False, False),
            ):
                if rest[1:].startswith(text):
                    matched = ("ISO" if c == "Z" else "Num", 1 + len(text), (colons, secs, text))
                    break
        elif c in ".," and len(rest) > 1 and rest[1] in "09":
            digit = rest[1]
            j = 1
            while j < len(rest) and rest[j] == digit:
                j += 1
            if not (j < len(rest) and rest[j].isdigit()):
                matched = ("Frac", j, (c, digit, j - 1))
        if matched is None:
            literal.append(c)
            i += 1
            continue
        kind, width, arg = matched
        if kind == "LongYear" and width == 5:
            width = 5
        emit(kind, arg)
        i += width
    if literal:
        out.append(("lit", "".join(literal)))
    return out


def _offset(dt: datetime, arg: tuple[bool, bool, str], iso: bool) -> str:
    colons, with_seconds, text = arg
    delta = dt.utcoffset() or timedelta(0)
    total = int(delta.total_seconds())
    if iso and total == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    total = abs(total)
    hh, rem = divmod(total, 3600)
    mm, ss = divmod(rem, 60)
    out = f"{sign}{hh:02d}"
    if text != "07":
        out += (":" if colons else "") + f"{mm:02d}"
    if with_seconds:
        out += (":" if colons else "") + f"{ss:02d}"
    return out


def go_format(dt: datetime, layout: str) -> str:
    """``dt`` formatted with a Go reference-time layout (``2006-01-02T15:04:05Z07:00``)."""
    parts: list[str] = []
    for kind, arg in _chunks(layout):
        if kind == "lit":
            parts.append(arg)
        elif kind == "LongMonth":
            parts.append(_MONTHS[dt.month - 1])
        elif kind == "Month":
            parts.append(_MONTHS[dt.month - 1][:3])
        elif kind == "NumMonth":
            parts.append(str(dt.month))
        elif kind == "ZeroMonth":
            parts.append(f"{dt.month:02d}")
        elif kind == "LongWeekDay":
            parts.append(_DAYS[dt.weekday()])
        elif kind == "WeekDay":
            parts.append(_DAYS[dt.weekday()][:3])
        elif kind == "Day":
            parts.append(str(dt.day))
        elif kind == "UnderDay":
            parts.append(f"{dt.day:2d}")
        elif kind == "ZeroDay":
            parts.append(f"{dt.day:02d}")
        elif kind == "UnderYearDay":
            parts.append(f"{dt.timetuple().tm_yday:3d}")
        elif kind == "ZeroYearDay":
            parts.append(f"{dt.timetuple().tm_yday:03d}")
        elif kind == "Hour":
            parts.append(f"{dt.hour:02d}")
        elif kind == "Hour12":
            parts.append(str(dt.hour % 12 or 12))
        elif kind == "ZeroHour12":
            parts.append(f"{dt.hour % 12 or 12:02d}")
        elif kind == "Minute":
            parts.append(str(dt.minute))
        elif kind == "ZeroMinute":
            parts.append(f"{dt.minute:02d}")
        elif kind == "Second":
            parts.append(str(dt.second))
        elif kind == "ZeroSecond":
            parts.append(f"{dt.second:02d}")
        elif kind == "LongYear":
            parts.append(f"{dt.year:04d}")
        elif kind == "Year":
            parts.append(f"{dt.year % 100:02d}")
        elif kind == "PM":
            parts.append("PM" if dt.hour >= 12 else "AM")
        elif kind == "pm":
            parts.append("pm" if dt.hour >= 12 else "am")
        elif kind == "TZ":
            name = dt.tzname() or ""
            parts.append(name if name else _offset(dt, (False, False, "0700"), False))
        elif kind in ("ISO", "Num"):
            parts.append(_offset(dt, arg, kind == "ISO"))
        elif kind == "Frac":
            sep, digit, width = arg
            nanos = f"{dt.microsecond * 1000:09d}"[:width]
            if digit == "9":
                nanos = nanos.rstrip("0")
                if nanos:
                    parts.append(sep + nanos)
            else:
                parts.append(sep + nanos)
    return "".join(parts)


# -- the data model ---------------------------------------------------------------

_T = TypeVar("_T")


class SafeHTML(str):
    """Text that is already safe inside HTML: an escaped label value, or ``safeHtml``'s result."""

    __slots__ = ()


def _escape_html(value: str) -> SafeHTML:
    return value if isinstance(value, SafeHTML) else SafeHTML(htmllib.escape(value, quote=True))


class Pair:
    """One ``Name``/``Value`` pair of :meth:`KV.SortedPairs`."""

    __slots__ = ("Name", "Value")

    def __init__(self, name: str, value: str) -> None:
        self.Name = name
        self.Value = value

    def __repr__(self) -> str:
        return f"Pair({self.Name!r}, {self.Value!r})"

    def __str__(self) -> str:
        return "{" + f"{self.Name} {self.Value}" + "}"


class _List(Sequence[_T]):
    """An immutable list with Go methods (not a ``list``: templates call methods on it)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[_T] = ()) -> None:
        self._items: list[_T] = list(items)

    @overload
    def __getitem__(self, index: int) -> _T: ...
    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...
    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[_T]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _List):
            return self._items == other._items
        return self._items == other

    def __hash__(self) -> int:
        return hash(tuple(self._items))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Pairs(_List[Pair]):
    """A list of pairs, with Go's ``Names`` and ``Values``."""

    def Names(self) -> list[str]:  # noqa: N802 - Go's method names
        return [p.Name for p in self]

    def Values(self) -> list[str]:  # noqa: N802
        return [p.Value for p in self]


class KV(dict[str, str]):
    """A label or annotation set (Alertmanager's ``template.KV``).

    ``SortedPairs`` puts ``alertname`` first and sorts the rest by name. A
    missing key reads as ``""`` (Alertmanager executes with ``missingkey=zero``).
    """

    def __missing__(self, key: str) -> str:
        return ""

    def SortedPairs(self) -> Pairs:  # noqa: N802 - Go's method names
        names = sorted(k for k in self if k != "alertname")
        if "alertname" in self:
            names.insert(0, "alertname")
        return Pairs(Pair(n, dict.__getitem__(self, n)) for n in names)

    def Names(self) -> list[str]:  # noqa: N802
        return self.SortedPairs().Names()

    def Values(self) -> list[str]:  # noqa: N802
        return self.SortedPairs().Values()

    def Remove(self, keys: Iterable[str]) -> KV:  # noqa: N802
        drop = set(keys)
        return KV((k, v) for k, v in self.items() if k not in drop)


class Alert:
    """One alert as templates see it (Alertmanager's ``template.Alert``)."""

    __slots__ = (
        "Annotations",
        "EndsAt",
        "Fingerprint",
        "GeneratorURL",
        "Labels",
        "StartsAt",
        "Status",
    )

    def __init__(
        self,
        *,
        status: str,
        labels: KV,
        annotations: KV,
        starts_at: GoTime,
        ends_at: GoTime,
        generator_url: str,
        fingerprint: str,
    ) -> None:
        self.Status = status
        self.Labels = labels
        self.Annotations = annotations
        self.StartsAt = starts_at
        self.EndsAt = ends_at
        self.GeneratorURL = generator_url
        self.Fingerprint = fingerprint

    def to_json(self) -> dict[str, Any]:
        """The alert's JSON object in Alertmanager's webhook payload (Go's field and key order)."""
        return {
            "status": self.Status,
            "labels": dict(sorted(self.Labels.items())),
            "annotations": dict(sorted(self.Annotations.items())),
            "startsAt": rfc3339nano(self.StartsAt),
            "endsAt": rfc3339nano(self.EndsAt),
            "generatorURL": self.GeneratorURL,
            "fingerprint": self.Fingerprint,
        }


class Alerts(_List[Alert]):
    """The alerts of a notification, with Go's ``Firing`` and ``Resolved``."""

    def Firing(self) -> Alerts:  # noqa: N802 - Go's method names
        return Alerts(a for a in self if a.Status == "firing")

    def Resolved(self) -> Alerts:  # noqa: N802
        return Alerts(a for a in self if a.Status == "resolved")


class Data:
    """What a notification template executes on (Alertmanager's ``template.Data``)."""

    __slots__ = (
        "Alerts",
        "CommonAnnotations",
        "CommonLabels",
        "ExternalURL",
        "GroupLabels",
        "Receiver",
        "Status",
    )

    def __init__(
        self,
        *,
        receiver: str,
        status: str,
        alerts: Alerts,
        group_labels: KV,
        common_labels: KV,
        common_annotations: KV,
        external_url: str,
    ) -> None:
        self.Receiver = receiver
        self.Status = status
        self.Alerts = alerts
        self.GroupLabels = group_labels
        self.CommonLabels = common_labels
        self.CommonAnnotations = common_annotations
        self.ExternalURL = external_url

    @classmethod
    def build(
        cls,
        *,
        receiver: str,
        group_labels: Labels | Mapping[str, str],
        alerts: Sequence[ModelAlert],
        now: float,
        external_url: str = "",
        html: bool = False,
    ) -> Data:
        """The data of one notification about ``alerts`` at time ``now`` (Unix seconds).

        An alert is resolved when its ``ends_at`` is at or before ``now``; a firing
        alert's ``EndsAt`` is the zero time, as Alertmanager sends it. With
        ``html=True`` every string that comes from alerts or config is HTML-escaped.
        """
        esc: Callable[[str], str] = _escape_html if html else str

        def kv(pairs: Iterable[tuple[str, str]]) -> KV:
            return KV((esc(k), esc(v)) for k, v in pairs)

        def url(value: str) -> str:
            if html and not _safe_url(value):
                return SafeHTML("#ZgotmplZ")
            return esc(value)

        items: list[Alert] = []
        for a in alerts:
            resolved = a.resolved(now)
            items.append(
                Alert(
                    status="resolved" if resolved else "firing",
                    labels=kv(a.labels.pairs),
                    annotations=kv(a.annotations.items()),
                    starts_at=GoTime.from_unix(a.starts_at),
                    ends_at=GoTime.from_unix(a.ends_at) if resolved else GoTime.zero(),
                    generator_url=url(a.generator_url),
                    fingerprint=f"{a.fingerprint:016x}",
                )
            )
        out = Alerts(items)
        common_labels = KV()
        common_annotations = KV()
        if alerts:
            common_labels = KV(out[0].Labels)
            common_annotations = KV(out[0].Annotations)
            for al in out[1:]:
                if not common_labels and not common_annotations:
                    break
                for k in [k for k, v in common_labels.items() if al.Labels.get(k) != v]:
                    del common_labels[k]
                for k in [k for k, v in common_annotations.items() if al.Annotations.get(k) != v]:
                    del common_annotations[k]
        pairs = group_labels.pairs if isinstance(group_labels, Labels) else group_labels.items()
        return cls(
            receiver=esc(receiver),
            status="firing" if any(a.Status == "firing" for a in out) else "resolved",
            alerts=out,
            group_labels=kv(pairs),
            common_labels=common_labels,
            common_annotations=common_annotations,
            external_url=url(external_url),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``template.Data`` part of Alertmanager's webhook payload, fields in Go's order."""
        return {
            "receiver": self.Receiver,
            "status": self.Status,
            "alerts": [a.to_json() for a in self.Alerts],
            "groupLabels": dict(sorted(self.GroupLabels.items())),
            "commonLabels": dict(sorted(self.CommonLabels.items())),
            "commonAnnotations": dict(sorted(self.CommonAnnotations.items())),
            "externalURL": self.ExternalURL,
        }


def _safe_url(value: str) -> bool:
    """Go html/template's URL filter: relative URLs and http(s)/mailto only."""
    scheme, sep, _ = value.partition(":")
    if not sep or "/" in scheme:
        return True
    return scheme.strip().lower() in ("http", "https", "mailto")


# -- functions --------------------------------------------------------------------


def _to_float(value: Any) -> float:
    if isinstance(value, GoDuration):
        return value.Seconds()
    if isinstance(value, bool):
        raise TypeError(f"can't convert {value!r} to float")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    raise TypeError(f"can't convert {value!r} to float")


def humanize_duration(value: Any) -> str:
    """Prometheus's ``humanizeDuration``: ``90061`` -> ``1d 1h 1m 1s``, ``0.0012`` -> ``1.2ms``."""
    v = _to_float(value)
    if math.isnan(v) or math.isinf(v):
        return _go_g4(v)
    if v == 0:
        return "0s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        total = int(v)
        seconds = total % 60
        minutes = (total // 60) % 60
        hours = (total // 3600) % 24
        days = total // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_go_g4(v)}{prefix}s"


def _go_g4(v: float) -> str:
    """Go's ``%.4g``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def _title(text: str) -> str:
    """Go's ``strings.Title``: upper-case the first letter of every word."""

    def separator(c: str) -> bool:
        if c.isascii():
            return not (c.isalnum() or c == "_")
        if c.isalpha() or c.isdigit():
            return False
        return c.isspace()

    out: list[str] = []
    prev = " "
    for c in text:
        out.append(c.upper() if separator(prev) else c)
        prev = c
    return "".join(out)


def _url_unescape(text: str) -> str:
    """Go's ``url.QueryUnescape``: ``+`` is a space, a bad ``%`` escape is an error."""
    i = text.find("%")
    while i != -1:
        escape = text[i : i + 3]
        if len(escape) < 3 or any(c not in "0123456789abcdefABCDEF" for c in escape[1:]):
            raise ValueError(f'invalid URL escape "{escape}"')
        i = text.find("%", i + 3)
    return urllib.parse.unquote_plus(text)


def _go_expand(template: str, match: Any, group_names: Mapping[str, int]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    rest = template
    while rest:
        before, dollar, after = rest.partition("$")
        out.append(before)
        if not dollar:
            break
        rest = after
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        brace = rest.startswith("{")
        body = rest[1:] if brace else rest
        n = 0
        while n < len(body) and (body[n].isalnum() or body[n] == "_"):
            n += 1
        name = body[:n]
        if not name or (brace and body[n : n + 1] != "}"):
            out.append("$")
            continue
        rest = body[n + 1 :] if brace else body[n:]
        index = int(name) if name.isdigit() and len(name) < 9 else group_names.get(name, -1)
        if 0 <= index <= match.re.groups:
            value = match.group(index)
            if value is not None:
                out.append(value)
    return "".join(out)


class _Regexes:
    """A bounded cache of compiled RE2 patterns, owned by one template set."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, pattern: str) -> Any:
        compiled = self._cache.get(pattern)
        if compiled is None:
            try:
                compiled = re2.compile(pattern)
            except re2.error as exc:
                raise ValueError(f"error parsing regexp {pattern!r}: {exc}") from None
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[pattern] = compiled
        return compiled

    def match(self, pattern: str, text: str) -> bool:
        return self.get(pattern).search(str(text)) is not None

    def replace_all(self, pattern: str, repl: str, text: str) -> str:
        """Go's ``ReplaceAllString`` (no empty match right after a previous match)."""
        rx = self.get(pattern)
        text = str(text)
        names = dict(rx.groupindex)
        out: list[str] = []
        last_end = 0
        pos = 0
        while pos <= len(text):
            m = rx.search(text, pos)
            if m is None:
                break
            start, end = m.span()
            out.append(text[last_end:start])
            if end > last_end or start == 0:
                out.append(_go_expand(str(repl), m, names))
            last_end = end
            pos = pos + 1 if pos + 1 > end else end
        out.append(text[last_end:])
        return "".join(out)


def template_funcs(clock: Callable[[], float] = time.time) -> dict[str, Callable[..., Any]]:
    """Alertmanager's template functions; ``since`` measures against ``clock``."""
    regexes = _Regexes()

    def join(sep: str, items: Iterable[Any]) -> str:
        return str(sep).join(str(i) for i in items)

    def date(layout: str, t: GoTime) -> str:
        return t.Format(layout)

    def tz(name: str, t: GoTime) -> GoTime:
        try:
            zone: tzinfo = UTC if name in ("", "UTC") else zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name}") from None
        return t.In(zone)

    def since(t: GoTime) -> GoDuration:
        return GoDuration.from_seconds(clock() - t.unix_seconds())

    def html(*args: Any) -> str:
        text = "".join(str(a) for a in args)
        if len(args) == 1 and isinstance(args[0], SafeHTML):
            return text
        return htmllib.escape(text, quote=True).replace("&#x27;", "&#39;")

    return {
        "toUpper": lambda s: str(s).upper(),
        "toLower": lambda s: str(s).lower(),
        "title": lambda s: _title(str(s)),
        "trimSpace": lambda s: str(s).strip(),
        "join": join,
        "match": regexes.match,
        "reReplaceAll": regexes.replace_all,
        "safeHtml": lambda s: SafeHTML(s),
        "safeUrl": lambda s: str(s),
        "urlUnescape": _url_unescape,
        "stringSlice": lambda *s: [str(x) for x in s],
        "date": date,
        "tz": tz,
        "since": since,
        "humanizeDuration": humanize_duration,
        "html": html,
    }


# -- default templates ------------------------------------------------------------

_HTML_CELL = "padding:12px 20px;border-top:1px solid #d8dee4;vertical-align:top;"

DEFAULT_TEMPLATES = (
    r"""
{{- /*
  Vigil's default notification templates. Every name Alertmanager's default.tmpl
  defines for webhook, Slack, PagerDuty and e-mail exists here and renders the
  same text, so configs that reference them (or override them) work unchanged.
*/ -}}

{{ define "__alertmanager" }}Alertmanager{{ end }}

{{ define "__alertmanagerURL" -}}
{{ .ExternalURL }}/#/alerts?receiver={{ urlquery .Receiver }}
{{- end }}

{{- /* "[FIRING:2] HighLatency (api critical)": the status, the group's label values, and
       in parentheses the values of the other labels all alerts share. */}}
{{ define "__subject" -}}
[{{ toUpper .Status }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}]
{{- " " }}{{ join " " .GroupLabels.Values }}{{ " " }}
{{- if gt (len .CommonLabels) (len .GroupLabels) -}}
  ({{ join " " (.CommonLabels.Remove .GroupLabels.Names).Values }})
{{- end }}
{{- end }}

{{ define "__description" }}{{ end }}

{{- /* One block per alert: its labels, its annotations, where it comes from. */}}
{{ define "__text_alert_list" -}}
{{ range . -}}
Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end -}}
Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end -}}
Source: {{ .GeneratorURL }}
{{ end -}}
{{ end }}

{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "slack.default.fallback" -}}
{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}
{{- end }}
{{ define "slack.default.callbackid" }}{{ end }}
{{ define "slack.default.pretext" }}{{ end }}
{{ define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "slack.default.iconemoji" }}{{ end }}
{{ define "slack.default.iconurl" }}{{ end }}
{{ define "slack.default.text" }}{{ end }}
{{ define "slack.default.footer" }}{{ end }}

{{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}

{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}

{{- /* The e-mail body. It is rendered over data whose every string is already
       HTML-escaped (TemplateSet.data(..., html=True)): values print as they are. */}}
{{ define "email.default.html" -}}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ template "__subject" . }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;line-height:1.5;color:#1f2328;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border:1px solid #d8dee4;border-radius:6px;">
<tr><td style="padding:16px 20px;border-radius:6px 6px 0 0;color:#ffffff;font-size:16px;font-weight:600;background:{{ if eq .Status "firing" }}#cf222e{{ else }}#1a7f37{{ end }};">
{{ len .Alerts }} alert{{ if gt (len .Alerts) 1 }}s{{ end }} for {{ range $i, $p := .GroupLabels.SortedPairs }}{{ if $i }}, {{ end }}{{ $p.Name }}={{ $p.Value }}{{ end }}
</td></tr>
<tr><td style="padding:16px 20px;">
<a href="{{ template "__alertmanagerURL" . }}" style="display:inline-block;padding:8px 16px;border-radius:4px;background:#0969da;color:#ffffff;text-decoration:none;font-weight:600;">View in {{ template "__alertmanager" . }}</a>
</td></tr>
{{- if .Alerts.Firing }}
<tr><td style="padding:12px 20px 0;"><strong>[{{ len .Alerts.Firing }}] Firing</strong></td></tr>
{{- template "__email_html_alerts" .Alerts.Firing }}
{{- end }}
{{- if .Alerts.Resolved }}
<tr><td style="padding:12px 20px 0;"><strong>[{{ len .Alerts.Resolved }}] Resolved</strong></td></tr>
{{- template "__email_html_alerts" .Alerts.Resolved }}
{{- end }}
<tr><td style="padding:16px 20px;border-top:1px solid #d8dee4;color:#656d76;font-size:12px;text-align:center;">
<a href="{{ .ExternalURL }}" style="color:#656d76;">Sent by {{ template "__alertmanager" . }}</a>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
{{ end }}

{{ define "__email_html_alerts" -}}
{{ range . }}
<tr><td style="CELL">
<strong>Labels</strong><br>
{{- range .Labels.SortedPairs }}
{{ .Name }} = {{ .Value }}<br>
{{- end }}
{{- if .Annotations }}
<strong>Annotations</strong><br>
{{- range .Annotations.SortedPairs }}
{{ .Name }} = {{ .Value }}<br>
{{- end }}
{{- end }}
{{- if .GeneratorURL }}
<a href="{{ .GeneratorURL }}" style="color:#0969da;">Source</a>
{{- end }}
</td></tr>
{{- end }}
{{- end }}
"""
).replace("CELL", _HTML_CELL)
"""The default templates, parsed before the user's files (which may redefine any of them)."""


# -- the template set -------------------------------------------------------------


class TemplateRenderError(VigilError):
    """A notification text failed to render: a template error, with the text's field."""


_ROOT = "__vigil_templates"
_SNIPPET = "__vigil_text"
_MAX_SNIPPETS = 512


class TemplateSet:
    """The default templates plus the user's template files, ready to render notifications.

    Build it with :meth:`load` (from the ``templates:`` globs of
    ``alertmanager.yml``) or :meth:`default`; then :meth:`data` makes the data
    of one notification and :meth:`expand` renders a config field's template
    text over it, as Alertmanager's ``ExecuteTextString`` does.
    """

    def __init__(
        self, base: gotmpl.Template, *, files: Sequence[str] = (), clock: Callable[[], float]
    ) -> None:
        self._base = base
        self._clock = clock
        self.files: tuple[str, ...] = tuple(files)
        self._snippets: dict[str, gotmpl.Template] = {}

    @classmethod
    def default(cls, *, clock: Callable[[], float] = time.time) -> TemplateSet:
        return cls.load((), clock=clock)

    @classmethod
    def load(
        cls,
        patterns: Iterable[str] = (),
        *,
        base_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> TemplateSet:
        """Parse the defaults, then every file matching ``patterns`` (globs, sorted per pattern).

        Relative patterns are taken from ``base_dir`` (the config file's
        directory). A pattern that matches nothing is not an error (as in
        Alertmanager); a file that cannot be read or parsed is a
        :class:`ConfigError` naming the file and the line:col of the problem.
        """
        base = gotmpl.Template(_ROOT, funcs=template_funcs(clock), missingkey="zero")
        base.parse(DEFAULT_TEMPLATES, source="<vigil default templates>")
        problems: list[ConfigProblem] = []
        files: list[str] = []
        for pattern in patterns:
            full = pattern
            if base_dir is not None and not Path(pattern).is_absolute():
                full = str(Path(base_dir) / pattern)
            for name in sorted(globlib.glob(full)):
                path = Path(name)
                if path.is_dir():
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    problems.append(ConfigProblem(f"cannot read template: {exc}", source=name))
                    continue
                try:
                    base.parse(text, source=name)
                except gotmpl.TemplateError as exc:
                    problems.append(ConfigProblem(exc.message, position=exc.position, source=name))
                    continue
                files.append(name)
        if problems:
            raise ConfigError(problems)
        return cls(base, files=files, clock=clock)

    def names(self) -> list[str]:
        """The names of every defined template."""
        return sorted(n for n in self._base.names() if n != _ROOT)

    def data(
        self,
        *,
        receiver: str,
        group_labels: Labels | Mapping[str, str],
        alerts: Sequence[ModelAlert],
        now: float,
        external_url: str = "",
        html: bool = False,
    ) -> Data:
        """:meth:`Data.build`; ``html=True`` for texts rendered into HTML (escaped data)."""
        return Data.build(
            receiver=receiver,
            group_labels=group_labels,
            alerts=alerts,
            now=now,
            external_url=external_url,
            html=html,
        )

    def execute(self, name: str, data: Any) -> str:
        """Run the defined template ``name`` over ``data``."""
        try:
            return self._base.execute(data, name=name)
        except (gotmpl.TemplateError, gotmpl.TemplateExecError) as exc:
            raise TemplateRenderError(f"template {name!r}: {exc}") from exc

    def expand(self, text: str, data: Any, *, field: str = "") -> str:
        """Render ``text`` (a config field's template, e.g. ``{{ template "x" . }}``) over ``data``.

        Empty text renders as empty. Errors raise :class:`TemplateRenderError`
        naming ``field``.
        """
        if not text:
            return ""
        if "{{" not in text:
            return text
        try:
            compiled = self._snippets.get(text)
            if compiled is None:
                compiled = self._base.clone()
                compiled.parse(text, source=field or None)
                if len(self._snippets) >= _MAX_SNIPPETS:
                    self._snippets.clear()
                self._snippets[text] = compiled
            return compiled.execute(data)
        except (gotmpl.TemplateError, gotmpl.TemplateExecError) as exc:
            where = f"{field}: " if field else ""
            raise TemplateRenderError(f"{where}{exc}") from exc
