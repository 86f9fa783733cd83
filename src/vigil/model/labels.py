"""Label sets and the name rules of the (legacy) Prometheus charset.

A :class:`Labels` is an immutable, hashable set of ``name="value"`` pairs kept
sorted by name, like Prometheus's ``labels.Labels``. The metric name, when a
label set carries it, is the label ``__name__``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "METRIC_NAME",
    "Labels",
    "is_valid_label_name",
    "is_valid_metric_name",
    "validate_label_name",
    "validate_metric_name",
]

METRIC_NAME = "__name__"
"""The label that holds a series' metric name."""


def is_valid_metric_name(name: str) -> bool:
    """``[a-zA-Z_:][a-zA-Z0-9_:]*``: the legacy Prometheus metric-name charset."""
    # An ASCII identifier is exactly [a-zA-Z_][a-zA-Z0-9_]*; colons are allowed
    # anywhere in metric names, so map them to an identifier character first.
    if ":" in name:
        name = name.replace(":", "_")
    return name.isascii() and name.isidentifier()


def is_valid_label_name(name: str) -> bool:
    """``[a-zA-Z_][a-zA-Z0-9_]*``: the legacy Prometheus label-name charset."""
    return name.isascii() and name.isidentifier()


def validate_metric_name(name: str) -> str:
    """Return ``name``, or raise ``ValueError`` saying why it is not a metric name."""
    if not is_valid_metric_name(name):
        raise ValueError(f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def validate_label_name(name: str) -> str:
    """Return ``name``, or raise ``ValueError`` saying why it is not a label name."""
    if not is_valid_label_name(name):
        raise ValueError(f"invalid label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
    return name


def _escape(value: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    if "\n" in value:
        value = value.replace("\n", "\\n")
    return value


class Labels:
    """An immutable, sorted set of label pairs; hashable, comparable, cheap to copy.

    Build one with :meth:`from_dict`, :meth:`from_pairs` or ``Labels(a="b")``;
    these validate names and reject duplicates. Pairs with an empty value are
    kept (a parser reports what it read); :meth:`without_empty` drops them as
    Prometheus does before storing a series.
    """

    __slots__ = ("_hash", "_pairs")

    _pairs: tuple[tuple[str, str], ...]
    _hash: int | None

    def __init__(self, **labels: str) -> None:
        self._pairs = _checked(labels.items())
        self._hash = None

    # -- construction -------------------------------------------------------

    @classmethod
    def from_dict(cls, labels: Mapping[str, str]) -> Labels:
        return cls._trusted(_checked(labels.items()))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Labels:
        """From ``(name, value)`` pairs in any order; duplicates raise ``ValueError``."""
        return cls._trusted(_checked(pairs))

    @classmethod
    def _trusted(cls, pairs: tuple[tuple[str, str], ...]) -> Labels:
        """Wrap pairs that are already valid, sorted by name and free of duplicates."""
        self = object.__new__(cls)
        self._pairs = pairs
        self._hash = None
        return self

    # -- reading ------------------------------------------------------------

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    @property
    def metric_name(self) -> str:
        """The value of ``__name__``, or ``""``."""
        return self.get(METRIC_NAME, "")

    def get(self, name: str, default: str = "") -> str:
        for n, v in self._pairs:
            if n == name:
                return v
        return default

    def __getitem__(self, name: str) -> str:
        for n, v in self._pairs:
            if n == name:
                return v
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(n == name for n, _ in self._pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self._pairs)

    def to_dict(self) -> dict[str, str]:
        return dict(self._pairs)

    # -- derived sets -------------------------------------------------------

    def with_name(self, metric_name: str) -> Labels:
        """The same labels with ``__name__`` set to ``metric_name``."""
        return self.set(METRIC_NAME, metric_name)

    def without_name(self) -> Labels:
        return self.without(METRIC_NAME)

    def set(self, name: str, value: str) -> Labels:
        """A copy with ``name`` set to ``value`` (added or replaced)."""
        if name != METRIC_NAME:
            validate_label_name(name)
        out = [p for p in self._pairs if p[0] != name]
        out.append((name, value))
        out.sort()
        return Labels._trusted(tuple(out))

    def without(self, *names: str) -> Labels:
        """A copy without the given label names (absent names are ignored)."""
        if not any(n in names for n, _ in self._pairs):
            return self
        return Labels._trusted(tuple(p for p in self._pairs if p[0] not in names))

    def without_empty(self) -> Labels:
        """A copy without pairs whose value is empty."""
        if all(v for _, v in self._pairs):
            return self
        return Labels._trusted(tuple(p for p in self._pairs if p[1]))

    # -- identity -----------------------------------------------------------

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash(self._pairs)
        return h

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, Labels):
            return self._pairs == other._pairs
        return NotImplemented

    def __lt__(self, other: Labels) -> bool:
        """Prometheus's ``labels.Compare`` order: pairwise by name, then value, then length."""
        return self._pairs < other._pairs

    def __repr__(self) -> str:
        return f"Labels({self})"

    def __str__(self) -> str:
        """``name{a="b", c="d"}`` when ``__name__`` is set, else ``{a="b", c="d"}``."""
        name = ""
        body = []
        for n, v in self._pairs:
            if n == METRIC_NAME:
                name = v
            else:
                body.append(f'{n}="{_escape(v)}"')
        return name + "{" + ", ".join(body) + "}"


def _checked(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    out = sorted(pairs)
    previous = None
    for name, value in out:
        if name == previous:
            raise ValueError(f"duplicate label name {name!r}")
        previous = name
        if not isinstance(value, str):
            raise TypeError(f"label {name!r}: value must be str, not {type(value).__name__}")
        if name == METRIC_NAME:
            validate_metric_name(value)
        else:
            validate_label_name(name)
    return tuple(out)
