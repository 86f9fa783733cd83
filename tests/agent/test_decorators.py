from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from vigil.agent.decorators import MetricClashError, db_operation, timed
from vigil.agent.metrics import MetricDefinitionError, MetricTypeError
from vigil.agent.testing import sample_value


class FakeClock:
    """A clock the test moves by hand, so durations are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_named_sync_function(registry: CollectorRegistry, clock: FakeClock) -> None:
    @timed("checkout", registry=registry, clock=clock)
    def checkout(amount: int) -> int:
        clock.advance(0.25)
        return amount * 2

    assert checkout(21) == 42
    assert checkout.__name__ == "checkout"
    assert sample_value(registry, "checkout_duration_seconds_count") == 1
    assert sample_value(registry, "checkout_duration_seconds_sum") == 0.25
    assert sample_value(registry, "checkout_duration_seconds_bucket", {"le": "0.1"}) == 0
    assert sample_value(registry, "checkout_duration_seconds_bucket", {"le": "0.25"}) == 1


def test_exceptions_are_counted_by_type_and_reraised(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    @timed("pay", registry=registry, clock=clock)
    def pay(kind: str) -> None:
        clock.advance(1.0)
        if kind == "value":
            raise ValueError("bad amount")
        if kind == "key":
            raise KeyError("card")

    with pytest.raises(ValueError, match="bad amount"):
        pay("value")
    with pytest.raises(ValueError, match="bad amount"):
        pay("value")
    with pytest.raises(KeyError):
        pay("key")
    pay("ok")
    assert sample_value(registry, "pay_exceptions_total", {"exception": "ValueError"}) == 2
    assert sample_value(registry, "pay_exceptions_total", {"exception": "KeyError"}) == 1
    assert sample_value(registry, "pay_duration_seconds_count") == 4  # failures are timed too
    assert sample_value(registry, "pay_duration_seconds_sum") == 4.0


def test_suffix_is_not_doubled(registry: CollectorRegistry) -> None:
    @timed("render_duration_seconds", registry=registry)
    def render() -> None:
        pass

    render()
    assert sample_value(registry, "render_duration_seconds_count") == 1
    assert sample_value(registry, "render_duration_seconds_duration_seconds_count") is None


@pytest.mark.anyio
async def test_async_function(registry: CollectorRegistry, clock: FakeClock) -> None:
    @timed("fetch", registry=registry, clock=clock)
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        clock.advance(0.5)
        return x + 1

    @timed("fetch", registry=registry, clock=clock)
    async def failing() -> None:
        await asyncio.sleep(0)
        raise TimeoutError

    assert asyncio.iscoroutinefunction(fetch)
    assert await fetch(1) == 2
    with pytest.raises(TimeoutError):
        await failing()
    assert sample_value(registry, "fetch_duration_seconds_count") == 2
    assert sample_value(registry, "fetch_duration_seconds_sum") == 0.5
    assert sample_value(registry, "fetch_exceptions_total", {"exception": "TimeoutError"}) == 1


@pytest.mark.anyio
async def test_cancellation_is_timed_but_not_counted(registry: CollectorRegistry) -> None:
    started = asyncio.Event()

    @timed("waiter", registry=registry)
    async def waiter() -> None:
        started.set()
        await asyncio.sleep(60)

    task = asyncio.ensure_future(waiter())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sample_value(registry, "waiter_duration_seconds_count") == 1
    assert (
        sample_value(registry, "waiter_exceptions_total", {"exception": "CancelledError"}) is None
    )


def test_unnamed_functions_share_one_family(registry: CollectorRegistry) -> None:
    @timed(registry=registry)
    def first() -> None:
        pass

    @timed(registry=registry)
    def second() -> None:
        raise RuntimeError

    first()
    first()
    with pytest.raises(RuntimeError):
        second()
    prefix = f"{__name__}.test_unnamed_functions_share_one_family.<locals>"
    assert (
        sample_value(
            registry, "vigil_function_duration_seconds_count", {"function": f"{prefix}.first"}
        )
        == 2
    )
    assert (
        sample_value(
            registry, "vigil_function_duration_seconds_count", {"function": f"{prefix}.second"}
        )
        == 1
    )
    assert (
        sample_value(
            registry,
            "vigil_function_exceptions_total",
            {"function": f"{prefix}.second", "exception": "RuntimeError"},
        )
        == 1
    )


def test_bare_decorator_uses_the_default_registry() -> None:
    @timed
    def bare() -> str:
        return "ok"

    from prometheus_client import REGISTRY

    label = {"function": f"{__name__}.test_bare_decorator_uses_the_default_registry.<locals>.bare"}
    before = REGISTRY.get_sample_value("vigil_function_duration_seconds_count", label) or 0
    assert bare() == "ok"
    assert REGISTRY.get_sample_value("vigil_function_duration_seconds_count", label) == before + 1


def test_constant_labels(registry: CollectorRegistry) -> None:
    @timed("charge", registry=registry, labels={"provider": "stripe"})
    def stripe() -> None:
        raise ConnectionError

    @timed("charge", registry=registry, labels={"provider": "adyen"})
    def adyen() -> None:
        pass

    with pytest.raises(ConnectionError):
        stripe()
    adyen()
    assert sample_value(registry, "charge_duration_seconds_count", {"provider": "stripe"}) == 1
    assert sample_value(registry, "charge_duration_seconds_count", {"provider": "adyen"}) == 1
    assert (
        sample_value(
            registry,
            "charge_exceptions_total",
            {"provider": "stripe", "exception": "ConnectionError"},
        )
        == 1
    )


def test_same_name_with_other_labels_is_a_clear_error(registry: CollectorRegistry) -> None:
    timed("job", registry=registry, labels={"queue": "a"})
    with pytest.raises(
        MetricClashError,
        match=r"'job_duration_seconds' is already defined as a histogram with labels \['queue'\]",
    ):
        timed("job", registry=registry, labels={"kind": "b"})


def test_clash_error_is_a_metric_type_error() -> None:
    assert issubclass(MetricClashError, MetricTypeError)


def test_same_name_with_other_buckets_is_a_clear_error(registry: CollectorRegistry) -> None:
    timed("job", registry=registry)
    with pytest.raises(MetricClashError, match="buckets"):
        timed("job", registry=registry, buckets=[1, 2, 3])


def test_name_taken_by_foreign_metric(registry: CollectorRegistry) -> None:
    Counter("job_exceptions", "someone else's", registry=registry)
    with pytest.raises(MetricClashError, match="already registered in this registry by other code"):
        timed("job", registry=registry)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "bad name"}, MetricDefinitionError, "character ' ' at position 4"),
        ({"name": "ok", "labels": {"bad-label": "x"}}, MetricDefinitionError, "bad-label"),
        (
            {"name": "ok", "labels": {"exception": "x"}},
            ValueError,
            "label 'exception' is set by vigil",
        ),
        (
            {"name": None, "labels": {"function": "x"}},
            ValueError,
            "label 'function' is set by vigil",
        ),
        (
            {"name": "ok", "labels": {"n": 1}},
            TypeError,
            "label 'n' must be a string value, got int",
        ),
    ],
)
def test_bad_definitions(
    registry: CollectorRegistry, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    def define() -> None:
        timed(registry=registry, **kwargs)(lambda: None)  # type: ignore[call-overload]

    with pytest.raises(error, match=message):
        define()


def test_generators_are_refused(registry: CollectorRegistry) -> None:
    def gen() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"can't time generator function .*gen"):
        timed("gen", registry=registry)(gen)


def test_context_manager(registry: CollectorRegistry, clock: FakeClock) -> None:
    with timed("block", registry=registry, clock=clock):
        clock.advance(2.0)

    def failing_block() -> None:
        with timed("block", registry=registry, clock=clock):
            clock.advance(1.0)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing_block()
    assert sample_value(registry, "block_duration_seconds_count") == 2
    assert sample_value(registry, "block_duration_seconds_sum") == 3.0
    assert sample_value(registry, "block_exceptions_total", {"exception": "ZeroDivisionError"}) == 1


def test_unnamed_context_manager_is_refused(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError, match="needs a name"), timed(registry=registry):
        pass


def test_one_timer_entered_from_many_threads(registry: CollectorRegistry) -> None:
    timer = timed("shared", registry=registry)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with timer:
                barrier.wait(timeout=5)
                with timer:  # nested re-entry of the same instance
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sample_value(registry, "shared_duration_seconds_count") == 16


@pytest.mark.anyio
async def test_one_timer_entered_from_interleaved_tasks(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    timer = timed("interleaved", registry=registry, clock=clock)

    async def work(delay: float) -> None:
        async with timer:
            await asyncio.sleep(delay)

    # Task A enters at t=100, B at t=100, clock moves, B leaves first, then A.
    a = asyncio.ensure_future(work(0.02))
    b = asyncio.ensure_future(work(0.0))
    await asyncio.sleep(0)
    clock.advance(1.0)
    await b
    clock.advance(1.0)
    await a
    assert sample_value(registry, "interleaved_duration_seconds_count") == 2
    assert sample_value(registry, "interleaved_duration_seconds_sum") == 3.0  # 1 + 2


def test_db_operation_decorator_and_context_manager(
    registry: CollectorRegistry, clock: FakeClock
) -> None:
    @db_operation("load_user", database="users", registry=registry, clock=clock)
    def load_user() -> None:
        clock.advance(0.003)

    load_user()
    with db_operation("bulk_insert", registry=registry, clock=clock):
        clock.advance(0.2)
    with pytest.raises(LookupError), db_operation("bulk_insert", registry=registry, clock=clock):
        raise LookupError
    labels = {"database": "users", "operation": "load_user"}
    assert sample_value(registry, "vigil_db_operation_duration_seconds_count", labels) == 1
    assert (
        sample_value(
            registry, "vigil_db_operation_duration_seconds_bucket", {**labels, "le": "0.0025"}
        )
        == 0
    )
    assert (
        sample_value(
            registry, "vigil_db_operation_duration_seconds_bucket", {**labels, "le": "0.005"}
        )
        == 1
    )
    bulk = {"database": "default", "operation": "bulk_insert"}
    assert sample_value(registry, "vigil_db_operation_duration_seconds_count", bulk) == 2
    assert (
        sample_value(
            registry, "vigil_db_operation_errors_total", {**bulk, "exception": "LookupError"}
        )
        == 1
    )


@pytest.mark.anyio
async def test_db_operation_async(registry: CollectorRegistry) -> None:
    @db_operation("ping", registry=registry)
    async def ping() -> str:
        await asyncio.sleep(0)
        return "pong"

    async with db_operation("ctx", registry=registry):
        await asyncio.sleep(0)
    assert await ping() == "pong"
    for op in ("ping", "ctx"):
        labels = {"database": "default", "operation": op}
        assert sample_value(registry, "vigil_db_operation_duration_seconds_count", labels) == 1


@pytest.mark.parametrize(("operation", "database"), [("", "db"), ("op", "")])
def test_db_operation_refuses_empty_names(
    registry: CollectorRegistry, operation: str, database: str
) -> None:
    with pytest.raises(ValueError, match="must be a non-empty string"):
        db_operation(operation, database=database, registry=registry)


def test_inline_timers_leave_the_context_as_found(registry: CollectorRegistry) -> None:
    def body() -> tuple[int, int]:
        before = len(contextvars.copy_context())
        for _ in range(50):
            with timed("inline", registry=registry):
                pass
        return before, len(contextvars.copy_context())

    before, after = contextvars.Context().run(body)
    assert after == before
    assert sample_value(registry, "inline_duration_seconds_count") == 50
