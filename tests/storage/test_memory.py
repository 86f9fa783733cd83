from __future__ import annotations

from collections.abc import Callable

import pytest

from vigil.storage import MemoryStorage

from .contract import Store, all_contract_checks


@pytest.mark.parametrize("check", all_contract_checks(), ids=lambda f: f.__name__)
def test_memory_storage_meets_the_contract(check: Callable[[Store], None]) -> None:
    check(MemoryStorage())
