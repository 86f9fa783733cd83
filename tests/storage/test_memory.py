from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from vigil.model import Labels
from vigil.storage import BulkImportable, MemoryStorage, Series

from .contract import Store, all_contract_checks


@pytest.mark.parametrize("check", all_contract_checks(), ids=lambda f: f.__name__)
def test_memory_storage_meets_the_contract(check: Callable[[Store], None]) -> None:
    check(MemoryStorage())


def test_import_series_merges_with_stored_samples_and_the_import_wins() -> None:
    store = MemoryStorage()
    assert isinstance(store, BulkImportable)
    a = Labels.from_dict({"__name__": "a"})
    app = store.appender()
    app.append(0, a, 2000, 1.0)
    app.append(0, a, 3000, 1.0)
    app.commit()
    b = Labels.from_dict({"__name__": "b"})
    stats = store.import_series(
        [
            Series(a, np.array([1000, 2000], dtype=np.int64), np.array([5.0, 6.0])),
            Series(b, np.array([10], dtype=np.int64), np.array([7.0])),
        ]
    )
    assert (stats.series, stats.samples) == (2, 3)
    got = {s.labels: s for s in store.querier(0, 10_000).select([])}
    assert got[a].timestamps.tolist() == [1000, 2000, 3000]
    assert got[a].values.tolist() == [5.0, 6.0, 1.0]
    assert got[b].values.tolist() == [7.0]
    with pytest.raises(ValueError, match="increase"):
        store.import_series([Series(b, np.array([2, 1], dtype=np.int64), np.zeros(2))])
