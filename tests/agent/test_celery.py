"""Celery hooks: eager apps in this process, and a real worker (RabbitMQ broker) in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kombu
import kombu.pools
import pytest
from celery import Celery
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import AMQP_URL

from vigil.agent.celery import CeleryInstrumentation, instrument_celery
from vigil.agent.testing import sample_value

WORKER_DIR = Path(__file__).parent / "celery_worker"
PORT_RE = re.compile(r"serving Celery worker metrics on http://127\.0\.0\.1:(\d+)/metrics")


# -- eager apps, in this process --------------------------------------------------------


@pytest.fixture
def eager_app() -> Celery:
    app = Celery(f"eager-{uuid.uuid4().hex[:8]}", set_as_current=False)
    app.conf.update(task_always_eager=True, task_store_eager_result=False)
    return app


@pytest.fixture
def hooks() -> Iterator[list[CeleryInstrumentation]]:
    """Collects handles and disconnects them after the test (Celery signals are process-wide)."""
    handles: list[CeleryInstrumentation] = []
    yield handles
    for handle in handles:
        handle.remove()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def define_tasks(app: Celery, clock: FakeClock | None = None) -> dict[str, Any]:
    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        if clock is not None:
            clock.now += 0.2
        return x + y

    @app.task(name="t.fail")
    def fail() -> None:
        raise KeyError("nope")

    @app.task(bind=True, name="t.flaky", max_retries=2)
    def flaky(self: Any) -> str:
        if self.request.retries < 1:
            raise self.retry(countdown=0)
        return "ok"

    return {"add": add, "fail": fail, "flaky": flaky}


def test_eager_success_failure_and_retry(
    eager_app: Celery, registry: CollectorRegistry, hooks: list[CeleryInstrumentation]
) -> None:
    clock = FakeClock()
    hooks.append(instrument_celery(eager_app, registry=registry, clock=clock))
    tasks = define_tasks(eager_app, clock)
    assert tasks["add"].delay(2, 3).get() == 5
    assert tasks["add"].delay(1, 1).get() == 2
    failed = tasks["fail"].apply()
    assert failed.failed()
    assert isinstance(failed.result, KeyError)
    assert tasks["flaky"].apply().get() == "ok"

    def value(name: str, **labels: str) -> float | None:
        return sample_value(registry, name, labels)

    assert value("vigil_celery_tasks_total", task="t.add", state="SUCCESS") == 2
    assert value("vigil_celery_task_duration_seconds_count", task="t.add", state="SUCCESS") == 2
    assert value(
        "vigil_celery_task_duration_seconds_sum", task="t.add", state="SUCCESS"
    ) == pytest.approx(0.4)
    assert value("vigil_celery_tasks_total", task="t.fail", state="FAILURE") == 1
    assert value("vigil_celery_task_failures_total", task="t.fail", exception="KeyError") == 1
    assert value("vigil_celery_task_retries_total", task="t.flaky") == 1
    assert value("vigil_celery_tasks_total", task="t.flaky", state="RETRY") == 1
    assert value("vigil_celery_tasks_total", task="t.flaky", state="SUCCESS") == 1
    for task in ("t.add", "t.fail", "t.flaky"):
        assert value("vigil_celery_tasks_in_progress", task=task) == 0


def test_eager_propagating_failures_are_still_counted(
    eager_app: Celery, registry: CollectorRegistry, hooks: list[CeleryInstrumentation]
) -> None:
    """With apply(throw=True) Celery sends no task_failure/task_retry and no postrun state."""
    hooks.append(instrument_celery(eager_app, registry=registry))
    tasks = define_tasks(eager_app)
    with pytest.raises(KeyError):
        tasks["fail"].apply(throw=True)
    assert tasks["add"].apply(args=(1, 2), throw=True).get() == 3
    labels = {"task": "t.fail", "state": "FAILURE"}
    assert sample_value(registry, "vigil_celery_tasks_total", labels) == 1
    assert sample_value(registry, "vigil_celery_task_duration_seconds_count", labels) == 1
    assert (
        sample_value(
            registry,
            "vigil_celery_task_failures_total",
            {"task": "t.fail", "exception": "KeyError"},
        )
        == 1
    )
    assert (
        sample_value(registry, "vigil_celery_tasks_total", {"task": "t.add", "state": "SUCCESS"})
        == 1
    )
    assert sample_value(registry, "vigil_celery_tasks_in_progress", {"task": "t.fail"}) == 0


def test_apps_do_not_mix(registry: CollectorRegistry, hooks: list[CeleryInstrumentation]) -> None:
    ours = Celery("ours", set_as_current=False)
    theirs = Celery("theirs", set_as_current=False)
    for app in (ours, theirs):
        app.conf.task_always_eager = True
    hooks.append(instrument_celery(ours, registry=registry))
    define_tasks(theirs)["add"].delay(1, 2).get()
    assert (
        sample_value(registry, "vigil_celery_tasks_total", {"task": "t.add", "state": "SUCCESS"})
        is None
    )
    define_tasks(ours)["add"].delay(1, 2).get()
    assert (
        sample_value(registry, "vigil_celery_tasks_total", {"task": "t.add", "state": "SUCCESS"})
        == 1
    )


def test_instrumenting_twice_and_remove(
    eager_app: Celery, registry: CollectorRegistry, hooks: list[CeleryInstrumentation]
) -> None:
    first = instrument_celery(eager_app, registry=registry)
    hooks.append(first)
    assert instrument_celery(eager_app, registry=registry) is first
    with pytest.raises(ValueError, match="already instrumented by vigil with other options"):
        instrument_celery(eager_app, registry=registry, metrics_port=9999)
    add = define_tasks(eager_app)["add"]
    add.delay(1, 1).get()
    first.remove()
    add.delay(1, 1).get()
    assert (
        sample_value(registry, "vigil_celery_tasks_total", {"task": "t.add", "state": "SUCCESS"})
        == 1
    )
    hooks.append(instrument_celery(eager_app, registry=registry, metrics_port=0))


def test_rejects_bad_arguments(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError, match=r"needs a celery\.Celery app, got str"):
        instrument_celery("app", registry=registry)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"metrics_port must be in 0\.\.65535"):
        instrument_celery(Celery(set_as_current=False), registry=registry, metrics_port=70000)


def test_no_metrics_server_outside_a_worker(
    eager_app: Celery, registry: CollectorRegistry, hooks: list[CeleryInstrumentation]
) -> None:
    handle = instrument_celery(eager_app, registry=registry, metrics_port=0)
    hooks.append(handle)
    define_tasks(eager_app)["add"].delay(1, 1).get()
    assert handle.metrics_address is None  # only worker_ready starts it


# -- a real worker -------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    queue: str
    port: int
    client: Celery

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def wait_for(
        self, predicate: Callable[[dict[tuple[str, frozenset[tuple[str, str]]], float]], bool]
    ) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Scrape until *predicate* holds (task_postrun runs just after the result is sent)."""
        deadline = time.monotonic() + 20
        while True:
            samples = self.scrape()
            if predicate(samples) or time.monotonic() > deadline:
                return samples
            time.sleep(0.1)

    def send(self, name: str, *args: Any) -> Any:
        return self.client.send_task(name, args=args, queue=self.queue)


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def start_worker(tmp_path: Path, pool: str, *extra: str) -> Iterator[Worker]:
    queue = f"vigil-test-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(WORKER_DIR), os.environ.get("PYTHONPATH", "")]),
        "VIGIL_TEST_AMQP": AMQP_URL,
        "VIGIL_TEST_QUEUE": queue,
        "VIGIL_TEST_METRICS_PORT": "0",
    }
    env.pop("VIGIL_MULTIPROCESS", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [
        sys.executable, "-m", "celery", "-A", "vigil_celery_testapp", "worker",
        "--pool", pool, "--concurrency", "2", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"{queue}@%h", *extra,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=WORKER_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    client = Celery("vigil-test-client", broker=AMQP_URL, backend="rpc://", set_as_current=False)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            match = PORT_RE.search(log.read_text(errors="replace"))
            if match:
                port = int(match.group(1))
            elif process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the Celery worker did not start; its log:\n{log.read_text(errors='replace')}"
                )
            else:
                time.sleep(0.1)
        yield Worker(process, log, queue, port, client)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown, as in production
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        close_client(client)
        with kombu.Connection(AMQP_URL) as conn:  # Celery queues are durable: don't leave ours
            conn.default_channel.queue_delete(queue)


def close_client(client: Celery) -> None:
    """Close every broker connection of *client* (Celery.close() leaves them to the GC)."""
    consumer = client.backend.result_consumer
    consumer.stop()
    if consumer._connection is not None:
        consumer._connection.close()
    client.close()
    kombu.pools.reset()  # the producer pools are kombu's process-wide ones: close and forget them


@pytest.fixture(scope="module")
def thread_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """One worker for the module (a warm shutdown takes seconds); tests use distinct tasks."""
    yield from start_worker(tmp_path_factory.mktemp("threads"), "threads")


@pytest.fixture
def prefork_worker(tmp_path: Path) -> Iterator[Worker]:
    yield from start_worker(tmp_path, "prefork", "--max-tasks-per-child", "2")


@pytest.mark.services
def test_real_worker_records_success_failure_and_retry(thread_worker: Worker) -> None:
    worker = thread_worker
    results = [worker.send("vigil_test.add", i, i) for i in range(5)]
    assert [r.get(timeout=20) for r in results] == [0, 2, 4, 6, 8]
    with pytest.raises(Exception, match="failed on purpose"):
        worker.send("vigil_test.fail").get(timeout=20)
    assert worker.send("vigil_test.flaky").get(timeout=20) == "ok after retry"

    expected = {
        key("vigil_celery_tasks_total", task="vigil_test.add", state="SUCCESS"): 5,
        key("vigil_celery_task_duration_seconds_count", task="vigil_test.add", state="SUCCESS"): 5,
        key("vigil_celery_tasks_total", task="vigil_test.fail", state="FAILURE"): 1,
        key("vigil_celery_task_failures_total", task="vigil_test.fail", exception="ValueError"): 1,
        key("vigil_celery_task_retries_total", task="vigil_test.flaky"): 1,
        key("vigil_celery_tasks_total", task="vigil_test.flaky", state="RETRY"): 1,
        key("vigil_celery_tasks_total", task="vigil_test.flaky", state="SUCCESS"): 1,
    }
    samples = worker.wait_for(lambda s: all(s.get(k) == v for k, v in expected.items()))
    assert {k: samples.get(k) for k in expected} == expected
    assert samples[key("vigil_celery_tasks_in_progress", task="vigil_test.add")] == 0


@pytest.mark.services
def test_real_worker_in_progress_gauge(thread_worker: Worker) -> None:
    worker = thread_worker
    in_progress = key("vigil_celery_tasks_in_progress", task="vigil_test.sleep")
    result = worker.send("vigil_test.sleep", 1.5)
    assert worker.wait_for(lambda s: s.get(in_progress) == 1).get(in_progress) == 1
    result.get(timeout=20)
    assert worker.wait_for(lambda s: s.get(in_progress) == 0).get(in_progress) == 0
    duration_sum = worker.scrape()[
        key("vigil_celery_task_duration_seconds_sum", task="vigil_test.sleep", state="SUCCESS")
    ]
    assert 1.4 < duration_sum < 5


@pytest.mark.services
def test_real_prefork_worker_sums_children_across_restarts(prefork_worker: Worker) -> None:
    """Tasks run in child processes, replaced every 2 tasks: the served totals stay exact."""
    worker = prefork_worker
    pids = [worker.send("vigil_test.sleep", 0.05).get(timeout=30) for _ in range(8)]
    assert len(set(pids)) >= 3, pids  # children were replaced
    with pytest.raises(Exception, match="failed on purpose"):
        worker.send("vigil_test.fail").get(timeout=30)
    expected = {
        key("vigil_celery_tasks_total", task="vigil_test.sleep", state="SUCCESS"): 8,
        key(
            "vigil_celery_task_duration_seconds_count", task="vigil_test.sleep", state="SUCCESS"
        ): 8,
        key("vigil_celery_task_failures_total", task="vigil_test.fail", exception="ValueError"): 1,
    }
    samples = worker.wait_for(lambda s: all(s.get(k) == v for k, v in expected.items()))
    assert {k: samples.get(k) for k in expected} == expected
    assert samples.get(key("vigil_celery_tasks_in_progress", task="vigil_test.sleep")) in (0, None)
