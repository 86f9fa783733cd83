"""The Celery app a real worker runs in tests/agent/test_celery.py (in a subprocess).

Configured by environment: VIGIL_TEST_AMQP (broker), VIGIL_TEST_QUEUE (a queue
of its own, so parallel test runs never take each other's tasks) and
VIGIL_TEST_METRICS_PORT (0: any free port, logged by the hooks).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

from vigil.agent.celery import instrument_celery

app = Celery("vigil_celery_testapp", broker=os.environ["VIGIL_TEST_AMQP"], backend="rpc://")
app.conf.update(
    task_default_queue=os.environ["VIGIL_TEST_QUEUE"],
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
)
instrument_celery(app, metrics_port=int(os.environ.get("VIGIL_TEST_METRICS_PORT", "0")))


@app.task(name="vigil_test.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="vigil_test.fail")
def fail() -> None:
    raise ValueError("failed on purpose")


@app.task(bind=True, name="vigil_test.flaky", max_retries=3)
def flaky(self: Any) -> str:
    if self.request.retries < 1:
        raise self.retry(countdown=0)
    return "ok after retry"


@app.task(name="vigil_test.sleep")
def sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
