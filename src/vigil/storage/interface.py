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
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher

__all__ = [
    "AppendError",
    "Appendable",
    "Appender",
    "BulkImportable",
    "DuplicateSampleError",
    "ImportStats",
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


# -- batch append (one scrape = one timestamp) ------------------------------------------

BATCH_ACCEPTED = 0
BATCH_UNKNOWN_REF = 1
BATCH_OUT_OF_ORDER = 2
BATCH_DUPLICATE = 3
BATCH_OUT_OF_BOUNDS = 4
BATCH_REASONS = ("", "unknown_ref", "out_of_order", "duplicate", "out_of_bounds")
"""The reason for each code :meth:`BatchAppender.append_many` returns, indexed by code
(the same words as :attr:`AppendError.reason`)."""


class BatchAppender(Appender, Protocol):
    """An :class:`Appender` that also takes many samples of known series at one timestamp.

    Callers test for it (``getattr(app, "append_many", None)``) and fall back to
    :meth:`Appender.append` per sample, with :func:`append_many_fallback`.
    """

    def append_many(
        self, refs: npt.NDArray[np.int64], t: int, values: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.uint8] | None:
        """Add ``values[i]`` at time *t* to the series ``refs[i]`` (refs returned by an
        earlier :meth:`append`; each ref at most once per call), in one transaction
        with the other appends.

        Per sample the rules of :meth:`append` apply. Returns ``None`` when every
        sample was accepted (exact duplicates are accepted and ignored), else one
        code per sample: :data:`BATCH_ACCEPTED`, :data:`BATCH_UNKNOWN_REF` (the
        store no longer knows the ref: nothing was appended; append that sample
        with its labels), or the refusal :data:`BATCH_OUT_OF_ORDER`,
        :data:`BATCH_DUPLICATE`, :data:`BATCH_OUT_OF_BOUNDS`. Refused samples
        are counted by the store as :meth:`append` counts them.
        """
        ...


def append_many_fallback(
    app: Appender, refs: npt.NDArray[np.int64], t: int, values: npt.NDArray[np.float64]
) -> npt.NDArray[np.uint8] | None:
    """:meth:`BatchAppender.append_many` through :meth:`Appender.append`, one sample at a
    time: what a caller does for an appender without ``append_many``."""
    codes: npt.NDArray[np.uint8] | None = None
    append = app.append
    by_reason = {r: i for i, r in enumerate(BATCH_REASONS) if r}
    for i, (ref, v) in enumerate(zip(refs.tolist(), values.tolist(), strict=True)):
        try:
            if ref <= 0:
                raise StorageError("unknown ref")
            got = append(ref, None, t, v)
        except AppendError as exc:
            code = by_reason.get(exc.reason, BATCH_OUT_OF_BOUNDS)
        except StorageError:
            code = BATCH_UNKNOWN_REF
        else:
            if got == ref:
                continue
            code = BATCH_UNKNOWN_REF  # appended under another ref: the caller must re-learn it
            # (it was appended: the caller's retry with labels is an exact duplicate, ignored)
        if codes is None:
            codes = np.zeros(len(refs), dtype=np.uint8)
        codes[i] = code
    return codes


# -- bulk import (backfill) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportStats:
    """What :meth:`BulkImportable.import_series` stored."""

    series: int
    samples: int
    blocks: int = 0
    """Immutable blocks written (0 for a store without blocks, or when all went to the head)."""
    head_samples: int = 0
    """Samples appended through the live write path (recent ones) rather than to blocks."""


@runtime_checkable
class BulkImportable(Protocol):
    """A store that takes whole series at once (backfill), found with ``isinstance``.

    Importers use it when the store offers it and fall back to an
    :class:`Appender` transaction otherwise.
    """

    def import_series(self, series: Sequence[Series]) -> ImportStats:
        """Store every sample of *series* durably, or nothing (then it raises).

        Each :class:`Series` has strictly increasing timestamps and a label set
        given at most once (``ValueError`` otherwise). Samples may be older than
        anything stored: where a stored sample has the same timestamp, the
        imported value replaces it. A store may refuse samples its live write
        path refuses (the TSDB for samples inside its head's window): it then
        raises the :class:`AppendError` and stores nothing. Returns once the
        samples are queryable and durable; raises :class:`StorageError` when
        the store fails.
        """
        ...
