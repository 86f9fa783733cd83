"""The seams between ingest, storage and query.

Writers (scrape loops, remote write, rules) see only :class:`Appendable`;
readers (PromQL, the API) see only :class:`Queryable`. The embedded TSDB
(:mod:`vigil.tsdb`) implements both, and so does :class:`MemoryStorage`, the
small reference implementation the tests of the layers above use.
"""

from vigil.storage.interface import (
    Appendable,
    Appender,
    AppendError,
    BulkImportable,
    DuplicateSampleError,
    ImportStats,
    OutOfBoundsError,
    OutOfOrderError,
    Querier,
    Queryable,
    Series,
    SeriesRef,
    StorageError,
)
from vigil.storage.memory import MemoryStorage

__all__ = [
    "AppendError",
    "Appendable",
    "Appender",
    "BulkImportable",
    "DuplicateSampleError",
    "ImportStats",
    "MemoryStorage",
    "OutOfBoundsError",
    "OutOfOrderError",
    "Querier",
    "Queryable",
    "Series",
    "SeriesRef",
    "StorageError",
]
