from __future__ import annotations

import logging

import pytest
from prometheus_client import Counter, Gauge

from vigil.agent import context
from vigil.agent.testing import capture_logs, fresh_registry, sample_value, sample_values


def test_fresh_registries_are_independent() -> None:
    a, b = fresh_registry(), fresh_registry()
    Counter("orders", "orders", registry=a).inc()
    Counter("orders", "orders", registry=b)  # same name: no clash across registries
    assert sample_value(a, "orders_total") == 1
    assert sample_value(b, "orders_total") == 0


def test_sample_value_with_labels_and_missing_sample() -> None:
    registry = fresh_registry()
    gauge = Gauge("queue_depth", "depth", ["queue"], registry=registry)
    gauge.labels("emails").set(7)
    assert sample_value(registry, "queue_depth", {"queue": "emails"}) == 7
    assert sample_value(registry, "queue_depth", {"queue": "sms"}) is None
    assert sample_value(registry, "no_such_metric") is None


def test_sample_values_lists_every_label_set() -> None:
    registry = fresh_registry()
    gauge = Gauge("queue_depth", "depth", ["queue"], registry=registry)
    gauge.labels("emails").set(7)
    gauge.labels("sms").set(2)
    assert sample_values(registry, "queue_depth") == {
        frozenset({("queue", "emails")}): 7,
        frozenset({("queue", "sms")}): 2,
    }


def test_capture_logs_gives_structured_records() -> None:
    log = logging.getLogger("test.capture")
    with capture_logs() as logs, context.request_id_scope("rid-1"):
        log.info("placed order %s", 42, extra={"order_id": 42})
        log.debug("details")
    assert [entry["message"] for entry in logs] == ["placed order 42", "details"]
    assert logs[0]["level"] == "INFO"
    assert logs[0]["logger"] == "test.capture"
    assert logs[0]["order_id"] == 42
    assert logs[0]["request_id"] == "rid-1"


def test_capture_logs_level_and_restore() -> None:
    log = logging.getLogger("test.capture.level")
    log.setLevel(logging.ERROR)
    try:
        with capture_logs("test.capture.level", level="WARNING") as logs:
            log.info("too low")
            log.warning("kept")
        assert [entry["message"] for entry in logs] == ["kept"]
        assert log.level == logging.ERROR
        assert not any(type(h).__name__ == "CapturingHandler" for h in log.handlers)
        log.warning("after the block")
        assert len(logs) == 1
    finally:
        log.setLevel(logging.NOTSET)


def test_capture_logs_of_a_non_propagating_logger() -> None:
    log = logging.getLogger("test.capture.island")
    log.propagate = False
    try:
        with capture_logs() as root_logs, capture_logs(log) as own_logs:
            log.error("isolated")
        assert root_logs == []
        assert own_logs[0]["message"] == "isolated"
    finally:
        log.propagate = True


def test_capture_logs_exceptions() -> None:
    with capture_logs() as logs:
        try:
            raise ValueError("nope")
        except ValueError:
            logging.getLogger("test.capture").exception("failed")
    assert logs[0]["exception"]["type"] == "ValueError"
    assert logs[0]["exception"]["message"] == "nope"


def test_capture_logs_rejects_unknown_level() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"), capture_logs(level="LOUD"):
        pass
