"""Protocols for writing and reading samples, after Prometheus's ``storage/interface.go``.

Time is int milliseconds; a series is a :class:`~vigil.model.Labels` including
``__name__``. One scrape, one remote-write request or one rule-group
evaluation is one :class:`Appender` transaction: everything appended becomes
visible and durable at :meth:`Appender.commit`, or nothing does after
:meth:`Appender.rollback`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher

__all__ = [
    "AppendError",
    "Appendable",
    "Appender",
    "DuplicateSampleError",
    "OutOfBoundsError",
    "OutOfOrderError",
    "Querier",
    "Queryable",
    "Series",
    "SeriesRef",
    "StorageError",
]

SeriesRef = int
"""An opaque handle for a series, returned by :meth:`Appender.append`; 0 means unknown."""


class StorageError(Exception):
    """The store could not do what was asked (I/O error, disk full, closed)."""


class AppendError(ValueError):
    """One sample was refused; the rest of the transaction is unaffected.

    Subclasses name the reason with the same words Prometheus uses, so that
    counters of rejected samples by reason match its.
    """

    reason = "invalid"


class OutOfOrderError(AppendError):
    """The sample is older than the newest sample of its series."""

    reason = "out_of_order"


class DuplicateSampleError(AppendError):
    """Same timestamp as the newest sample of the series but a different value."""

    reason = "duplicate"


class OutOfBoundsError(AppendError):
    """The sample is too old for the head (before the appendable window)."""

    reason = "out_of_bounds"


@dataclass(frozen=True, slots=True)
class Series:
    """The samples of one series in a time range, oldest first (staleness markers included)."""

    labels: Labels
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.timestamps)


class Appender(Protocol):
    def append(self, ref: SeriesRef, labels: Labels | None, t: int, v: float) -> SeriesRef:
        """Add one sample; returns the series' ref for the caller to cache.

        *ref* (when non-zero and still known) saves the label look-up; *labels*
        is used when the ref is 0 or unknown, and must then be given.
        Raises an :class:`AppendError` for a refused sample.
        """
        ...

    def commit(self) -> None:
        """Make every appended sample visible and durable; raises StorageError on failure."""
        ...

    def rollback(self) -> None:
        """Drop every sample appended since the last commit."""
        ...


class Appendable(Protocol):
    def appender(self) -> Appender: ...


class Querier(Protocol):
    """A read view of the samples between the querier's ``mint`` and ``maxt`` (inclusive)."""

    def select(self, matchers: Sequence[Matcher]) -> list[Series]:
        """Series matching every matcher, sorted by labels, with their samples in range.

        Series with no sample in the range are left out.
        """
        ...

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted label names of the series (matching *matchers*) with samples in range."""
        ...

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted values of label *name* over the matching series with samples in range."""
        ...

    def close(self) -> None: ...


class Queryable(Protocol):
    def querier(self, mint: int, maxt: int) -> Querier: ...
