from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from vigil.agent.health.registry import (
    CheckResult,
    HealthRegistry,
    Status,
    UnknownCheckError,
)

pytestmark = pytest.mark.anyio


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def health(registry: CollectorRegistry) -> Iterator[HealthRegistry]:
    reg = HealthRegistry(registry)
    yield reg
    reg.close()


def _passing() -> bool:
    return True


# -- results and registration ------------------------------------------------------


def test_check_result_accepts_status_strings_and_rejects_others() -> None:
    assert CheckResult("warn").status is Status.WARN  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"status 'ok' is not one of 'pass', 'warn', 'fail'"):
        CheckResult("ok")  # type: ignore[arg-type]


def test_status_metric_values() -> None:
    assert [s.metric_value for s in Status] == [1.0, 0.5, 0.0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name '' is invalid"),
        ("has space", "name 'has space' is invalid"),
        ("a:b", "name 'a:b' is invalid"),
        ("a/b", "name 'a/b' is invalid"),
        ("x" * 65, "is invalid"),
        ("live", "reserved for the /health/live endpoint"),
        ("ready", "reserved for the /health/ready endpoint"),
    ],
)
def test_add_rejects_bad_names(health: HealthRegistry, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        health.add(name, _passing)


def test_add_rejects_duplicates_and_bad_options(health: HealthRegistry) -> None:
    health.add("db", _passing)
    with pytest.raises(ValueError, match="'db' is already registered"):
        health.add("db", _passing)
    with pytest.raises(TypeError, match="check must be callable, got int"):
        health.add("x", 3)  # type: ignore[arg-type]
    for bad in (0, -1, float("inf"), float("nan"), True, "5"):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            health.add("x", _passing, timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval must be None or a positive number"):
        health.add("x", _passing, interval=0)
    assert health.names == ["db"]


def test_unknown_check_message_lists_known_checks(health: HealthRegistry) -> None:
    health.add("db", _passing)
    health.add("cache", _passing)
    with pytest.raises(
        UnknownCheckError, match=r"no health check named 'dbb' \(known checks: cache, db\)"
    ):
        health.spec("dbb")
    assert isinstance(UnknownCheckError("a", []), LookupError)


# -- what a check may return ----------------------------------------------------------


class AsyncCallable:
    async def __call__(self) -> CheckResult:
        await asyncio.sleep(0)
        return CheckResult.warned("slow disk")


async def _async_pass() -> bool:
    await asyncio.sleep(0)
    return True


async def test_return_values_are_coerced(health: HealthRegistry) -> None:
    health.add("true", lambda: True)
    health.add("none", lambda: None)
    health.add("false", lambda: False)
    health.add("status", lambda: Status.WARN)
    health.add("result", lambda: CheckResult.failed("boom", details={"a": 1}))
    health.add("weird", lambda: "yes")  # type: ignore[arg-type,return-value]
    health.add("async_obj", AsyncCallable())
    health.add("lambda_coro", lambda: _async_pass())
    health.add("partial", functools.partial(_async_pass))

    results = await health.run_all()

    assert list(results) == health.names
    statuses = {name: r.status for name, r in results.items()}
    assert statuses == {
        "true": Status.PASS,
        "none": Status.PASS,
        "false": Status.FAIL,
        "status": Status.WARN,
        "result": Status.FAIL,
        "weird": Status.FAIL,
        "async_obj": Status.WARN,
        "lambda_coro": Status.PASS,
        "partial": Status.PASS,
    }
    assert results["false"].output == "check returned False"
    assert results["weird"].output.startswith("check returned an unsupported value of type str")
    assert results["result"].details == {"a": 1}
    assert health.spec("async_obj").is_async
    assert health.spec("partial").is_async
    assert not health.spec("lambda_coro").is_async


async def test_registry_fills_in_name_timing_and_response_time(registry: CollectorRegistry) -> None:
    clock = FakeClock()

    def check() -> CheckResult:
        clock.now += 0.25
        return CheckResult.passed()

    health = HealthRegistry(registry, clock=clock, wall_clock=lambda: 1_700_000_000.5)
    health.add("db", check, critical=False)
    result = await health.run("db")
    assert result.name == "db"
    assert result.critical is False
    assert result.duration_seconds == pytest.approx(0.25)
    assert result.checked_at == 1_700_000_000.5
    assert (result.measurement, result.observed_value, result.observed_unit) == (
        "responseTime",
        250.0,
        "ms",
    )
    assert health.last_result("db") == result


async def test_own_measurement_is_kept(health: HealthRegistry) -> None:
    health.add(
        "disk",
        lambda: CheckResult.passed(
            measurement="utilization", observed_value=12, observed_unit="percent"
        ),
    )
    result = await health.run("disk")
    assert (result.measurement, result.observed_value) == ("utilization", 12)


# -- failures: raising, hanging ------------------------------------------------------


async def test_raising_checks_fail_and_others_still_report(health: HealthRegistry) -> None:
    def sync_boom() -> bool:
        raise ZeroDivisionError("division by zero")

    async def async_boom() -> bool:
        await asyncio.sleep(0)
        raise ConnectionError("db gone")

    def boom_at_call() -> bool:
        raise RuntimeError

    health.add("sync_boom", sync_boom)
    health.add("async_boom", async_boom)
    health.add("bare", boom_at_call)
    health.add("ok", _async_pass)

    results = await health.run_all()

    assert results["sync_boom"].status is Status.FAIL
    assert results["sync_boom"].output == "check raised ZeroDivisionError: division by zero"
    assert results["async_boom"].output == "check raised ConnectionError: db gone"
    assert results["bare"].output == "check raised RuntimeError"
    assert results["ok"].status is Status.PASS


async def test_hanging_async_check_times_out_and_is_cancelled(health: HealthRegistry) -> None:
    cancelled = asyncio.Event()

    async def hang() -> bool:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return True

    health.add("hang", hang, timeout=0.3)
    health.add("ok", _passing)
    start = time.perf_counter()
    results = await health.run_all()
    elapsed = time.perf_counter() - start

    assert 0.3 <= elapsed < 1.0
    assert results["hang"].status is Status.FAIL
    assert results["hang"].output == "check did not finish within its timeout of 0.3 s"
    assert results["hang"].duration_seconds == pytest.approx(0.3, abs=0.2)
    assert results["ok"].status is Status.PASS
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_hanging_sync_check_times_out_and_is_not_started_twice(
    health: HealthRegistry,
) -> None:
    release = threading.Event()
    calls = 0

    def hang() -> bool:
        nonlocal calls
        calls += 1
        release.wait(10)
        return True

    health.add("hang", hang, timeout=0.3)
    try:
        start = time.perf_counter()
        first = await health.run("hang")
        assert time.perf_counter() - start < 1.0
        assert first.output == "check did not finish within its timeout of 0.3 s"

        # The thread is still stuck: fail at once, start no second thread.
        start = time.perf_counter()
        second = await health.run("hang")
        assert time.perf_counter() - start < 0.2
        assert second.status is Status.FAIL
        assert "previous run is still in progress" in second.output
        assert "exceeded its 0.3 s timeout" in second.output
        assert calls == 1
    finally:
        release.set()

    for _ in range(100):  # wait for the stuck thread to finish
        if "hang" not in health._busy:
            break
        await asyncio.sleep(0.01)
    third = await health.run("hang")
    assert third.status is Status.PASS
    assert calls == 2


async def test_async_check_that_ignores_cancellation_still_times_out(
    health: HealthRegistry,
) -> None:
    stop = asyncio.Event()

    async def stubborn() -> bool:
        while not stop.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # swallows cancellation
        return True

    health.add("stubborn", stubborn, timeout=0.2)
    start = time.perf_counter()
    result = await health.run("stubborn")
    assert time.perf_counter() - start < 0.6
    assert result.output == "check did not finish within its timeout of 0.2 s"
    again = await health.run("stubborn")
    assert "previous run is still in progress" in again.output
    stop.set()
    await asyncio.sleep(0.1)


# -- concurrency ---------------------------------------------------------------------


async def test_async_checks_run_concurrently(health: HealthRegistry) -> None:
    async def slow() -> bool:
        await asyncio.sleep(0.3)
        return True

    for i in range(5):
        health.add(f"slow{i}", slow)
    start = time.perf_counter()
    results = await health.run_all()
    elapsed = time.perf_counter() - start
    assert all(r.status is Status.PASS for r in results.values())
    # Sequentially this would take 1.5 s.
    assert 0.3 <= elapsed < 1.0  # 1.5 s if sequential


async def test_sync_checks_run_concurrently_in_threads(health: HealthRegistry) -> None:
    def slow() -> bool:
        time.sleep(0.3)
        return True

    for i in range(5):
        health.add(f"slow{i}", slow)
    start = time.perf_counter()
    results = await health.run_all()
    elapsed = time.perf_counter() - start
    assert all(r.status is Status.PASS for r in results.values())
    assert 0.3 <= elapsed < 1.0  # 1.5 s if sequential


async def test_concurrent_callers_share_one_run(health: HealthRegistry) -> None:
    calls = 0

    async def slow() -> bool:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return True

    health.add("slow", slow)
    first, second, third = await asyncio.gather(
        health.run_all(), health.run_all(), health.run("slow")
    )
    assert calls == 1
    assert first["slow"] is second["slow"] is third
    await health.run("slow")
    assert calls == 2


async def test_cancelled_caller_does_not_cancel_the_shared_run(health: HealthRegistry) -> None:
    async def slow() -> bool:
        await asyncio.sleep(0.2)
        return True

    health.add("slow", slow)
    impatient = asyncio.create_task(health.run("slow"))
    await asyncio.sleep(0.05)
    patient = asyncio.create_task(health.run("slow"))
    await asyncio.sleep(0.01)
    impatient.cancel()
    result = await patient
    assert result.status is Status.PASS
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_critical_only(health: HealthRegistry) -> None:
    health.add("db", _passing)
    health.add("cache", lambda: False, critical=False)
    assert list(await health.run_all(critical_only=True)) == ["db"]
    assert list(await health.run_all()) == ["db", "cache"]


# -- intervals and background runs ------------------------------------------------------


async def test_interval_results_are_served_while_fresh(registry: CollectorRegistry) -> None:
    clock = FakeClock()
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        return True

    health = HealthRegistry(registry, clock=clock)
    health.add("db", check, interval=10, timeout=2)
    await health.run_all()
    assert calls == 1
    clock.now += 11.9  # within interval + timeout
    await health.run_all()
    await health.run("db", force=False)
    assert calls == 1
    await health.run("db")  # forced by default
    assert calls == 2
    clock.now += 12.1  # stale: the background loop is not running
    await health.run_all()
    assert calls == 3
    await health.run_all(force=True)
    assert calls == 4


async def test_background_runs_start_and_stop(health: HealthRegistry) -> None:
    counts = {"a": 0, "b": 0, "plain": 0}

    def counter(name: str) -> bool:
        counts[name] += 1
        return True

    health.add("a", functools.partial(counter, "a"), interval=0.05)
    health.add("plain", functools.partial(counter, "plain"))
    await health.start()
    await health.start()  # idempotent
    assert health.running
    health.add("b", functools.partial(counter, "b"), interval=0.05)  # joins the running loop
    await asyncio.sleep(0.35)
    await health.stop()
    assert not health.running
    assert counts["a"] >= 4
    assert counts["b"] >= 3
    assert counts["plain"] == 0  # no interval: runs only on request
    frozen = dict(counts)
    await asyncio.sleep(0.15)
    assert counts == frozen
    # Served from the background results, without running again.
    await health.run_all()
    assert counts["a"] == frozen["a"]
    assert counts["plain"] == frozen["plain"] + 1


async def test_remove_stops_background_and_drops_metrics(
    health: HealthRegistry, registry: CollectorRegistry
) -> None:
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        return True

    health.add("db", check, interval=0.05)
    await health.start()
    await asyncio.sleep(0.12)
    assert registry.get_sample_value("vigil_health_check_status", {"check": "db"}) == 1.0
    health.remove("db")
    await asyncio.sleep(0.02)
    seen = calls
    await asyncio.sleep(0.15)
    assert calls == seen
    assert registry.get_sample_value("vigil_health_check_status", {"check": "db"}) is None
    assert "db" not in health
    with pytest.raises(UnknownCheckError):
        health.remove("db")
    await health.stop()


# -- metrics and logs ----------------------------------------------------------------


async def test_every_run_updates_the_metrics(
    health: HealthRegistry, registry: CollectorRegistry
) -> None:
    health.add("up", _passing)
    health.add("meh", lambda: Status.WARN)
    health.add("down", lambda: False)
    await health.run_all()
    await health.run_all()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("vigil_health_check_status", check="up") == 1.0
    assert sample("vigil_health_check_status", check="meh") == 0.5
    assert sample("vigil_health_check_status", check="down") == 0.0
    assert sample("vigil_health_check_duration_seconds_count", check="down") == 2.0
    assert sample("vigil_health_check_runs_total", check="down", status="fail") == 2.0
    assert sample("vigil_health_check_runs_total", check="up", status="pass") == 2.0
    assert sample("vigil_health_check_runs_total", check="up", status="fail") is None


async def test_two_health_registries_share_one_metrics_registry(
    registry: CollectorRegistry,
) -> None:
    one, two = HealthRegistry(registry), HealthRegistry(registry)
    one.add("a", _passing)
    two.add("b", lambda: False)
    await one.run_all()
    await two.run_all()
    assert registry.get_sample_value("vigil_health_check_status", {"check": "a"}) == 1.0
    assert registry.get_sample_value("vigil_health_check_status", {"check": "b"}) == 0.0


async def test_metrics_can_be_disabled() -> None:
    health = HealthRegistry(None)
    health.add("a", _passing)
    assert (await health.run("a")).status is Status.PASS


async def test_only_status_changes_are_logged(
    health: HealthRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    state = {"up": False}
    health.add("db", lambda: state["up"])
    with caplog.at_level(logging.INFO, logger="vigil.agent.health"):
        for _ in range(3):
            await health.run("db")
        state["up"] = True
        await health.run("db")
        await health.run("db")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "health check db is fail: check returned False",
        "health check db recovered: pass",
    ]
    assert caplog.records[0].levelno == logging.WARNING
    assert caplog.records[0].check == "db"  # type: ignore[attr-defined]


# -- sync twins (WSGI) -----------------------------------------------------------------


def test_sync_twins_run_on_a_private_loop(health: HealthRegistry) -> None:
    async def slow_async() -> bool:
        await asyncio.sleep(0.2)
        return True

    def slow_sync() -> bool:
        time.sleep(0.2)
        return True

    health.add("a", slow_async)
    health.add("s", slow_sync)
    health.add("down", lambda: False, critical=False)
    start = time.perf_counter()
    results = health.run_all_sync()
    assert time.perf_counter() - start < 0.5
    assert [r.status for r in results.values()] == [Status.PASS, Status.PASS, Status.FAIL]
    assert health.run_sync("a").status is Status.PASS
    with pytest.raises(UnknownCheckError):
        health.run_sync("nope")
    assert list(health.run_all_sync(critical_only=True)) == ["a", "s"]


def test_sync_background_runs(health: HealthRegistry) -> None:
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        return True

    health.add("db", check, interval=0.05)
    health.start_sync()
    assert health.running
    time.sleep(0.3)
    health.stop_sync()
    assert not health.running
    seen = calls
    assert seen >= 4
    time.sleep(0.15)
    assert calls == seen
    health.close()
    health.close()  # idempotent


def test_call_sync_from_its_own_loop_is_refused(health: HealthRegistry) -> None:
    async def nested() -> object:
        return health.run_all_sync()

    with pytest.raises(RuntimeError, match="called from inside its own event-loop thread"):
        health.call_sync(nested)


async def test_start_twice_on_different_loops_is_refused(health: HealthRegistry) -> None:
    health.start_sync()
    try:
        with pytest.raises(RuntimeError, match="already started on another event loop"):
            await health.start()
    finally:
        health.stop_sync()


def test_sync_twins_work_in_a_forked_child(health: HealthRegistry) -> None:
    """gunicorn forks workers: the parent's loop thread does not exist in the child."""
    health.add("db", _passing, interval=60)
    health.start_sync()  # the parent's private loop thread is running
    assert health.run_all_sync()["db"].status is Status.PASS
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        code = 1
        try:
            signal.alarm(10)  # a hang would otherwise block the test forever
            assert not health.running
            health.start_sync()
            ok = health.run_all_sync(force=True)["db"].status is Status.PASS and health.running
            os.write(write_fd, b"ok" if ok else b"bad")
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        _, status = os.waitpid(pid, 0)
        answer = os.read(read_fd, 16)
    finally:
        os.close(read_fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == b"ok"
    assert health.running  # the parent is unaffected
    health.stop_sync()


@pytest.mark.anyio
async def test_check_decorator_registers_and_returns_the_function() -> None:
    health = HealthRegistry(registry=None)

    @health.check("queue", timeout=1.0, critical=False)
    async def queue_ok() -> bool:
        return False

    assert health.names == ["queue"]
    assert await queue_ok() is False  # the function itself is unchanged
    result = await health.run("queue")
    assert result.status == Status.FAIL
    assert result.critical is False
