"""The embedded time-series store: head, WAL, chunks, index, blocks, retention (see FORMAT.md).

Open one with :meth:`TSDB.open`; it implements the storage seams
(:class:`~vigil.storage.Appendable`, :class:`~vigil.storage.Queryable`).
"""

from vigil.tsdb.db import TSDB, TSDBStats

__all__ = ["TSDB", "TSDBStats"]
