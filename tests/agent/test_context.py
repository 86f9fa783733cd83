from __future__ import annotations

import asyncio

import pytest

from vigil.agent import context


@pytest.mark.parametrize(
    "value",
    ["abc", "0f3c-11aa", "req:42/retry=1", "a" * context.MAX_REQUEST_ID_LENGTH],
)
def test_well_formed_ids_are_kept(value: str) -> None:
    assert context.sanitize_request_id(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "has space", "<script>", "a\nb", "é", "a" * (context.MAX_REQUEST_ID_LENGTH + 1)],
)
def test_malformed_ids_are_refused(value: str | None) -> None:
    assert context.sanitize_request_id(value) is None


def test_new_ids_are_unique_and_well_formed() -> None:
    ids = {context.new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(context.sanitize_request_id(i) == i for i in ids)


def test_scope_sets_and_restores() -> None:
    assert context.get_request_id() is None
    with context.request_id_scope("outer"):
        assert context.get_request_id() == "outer"
        with context.request_id_scope("inner"):
            assert context.get_request_id() == "inner"
        assert context.get_request_id() == "outer"
    assert context.get_request_id() is None


def test_ids_do_not_leak_between_tasks() -> None:
    async def handler(rid: str) -> str | None:
        with context.request_id_scope(rid):
            await asyncio.sleep(0.01)
            return context.get_request_id()

    async def main() -> list[str | None]:
        return list(await asyncio.gather(*(handler(f"r{i}") for i in range(20))))

    assert asyncio.run(main()) == [f"r{i}" for i in range(20)]


def test_trace_ids_absent_without_span() -> None:
    assert context.current_trace_ids() == (None, None)
