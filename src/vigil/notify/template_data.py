"""What notification templates see: Alertmanager's ``template.Data`` and its parts.

:class:`Data` has ``.Receiver``, ``.Status``, ``.Alerts`` (with
``.Firing``/``.Resolved``), ``.GroupLabels``, ``.CommonLabels``,
``.CommonAnnotations``, ``.ExternalURL``. Label sets are :class:`KV` maps with
``SortedPairs``/``Names``/``Values``/``Remove``; alert times are
:class:`~vigil.gotmpl.gotime.GoTime` values with Go's methods.

Label and annotation values are data, never markup: :meth:`Data.build` with
``html=True`` escapes every value at the source (:class:`SafeHTML`).
"""

from __future__ import annotations

import html as htmllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

from vigil.gotmpl.gotime import GoTime, rfc3339nano
from vigil.model import Labels
from vigil.model.alert import Alert as ModelAlert

__all__ = ["KV", "Alert", "Alerts", "Data", "Pair", "Pairs", "SafeHTML"]

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
