"""The cardinality guard and the guarded metric wrapper."""

from __future__ import annotations

import logging
import threading

import pytest
from prometheus_client import CollectorRegistry

from vigil.agent.cardinality import (
    OVERFLOW_LABEL_VALUE,
    CardinalityGuard,
    GuardedMetric,
    overflow_labelvalues,
)
from vigil.agent.metrics import Counter


def test_admits_up_to_the_limit_then_folds(caplog: pytest.LogCaptureFixture) -> None:
    guard = CardinalityGuard("http_requests_total", max_series=2)
    with caplog.at_level(logging.WARNING, logger="vigil.agent"):
        assert guard.admit(("GET", "/a")) == ("GET", "/a")
        assert guard.admit(("GET", "/b")) == ("GET", "/b")
        assert guard.admit(("GET", "/c")) == (OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE)
        assert guard.admit(("GET", "/d")) == (OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE)
        # Known combinations keep working after the limit.
        assert guard.admit(("GET", "/a")) == ("GET", "/a")
    assert guard.series_count == 2
    assert guard.overflowed
    assert guard.folded == 2
    records = [r for r in caplog.records if r.name == "vigil.agent"]
    assert len(records) == 1, "one warning per metric, not one per folded call"
    message = records[0].getMessage()
    assert "http_requests_total" in message
    assert "limit of 2" in message
    assert OVERFLOW_LABEL_VALUE in message
    assert records[0].levelno == logging.WARNING


def test_one_warning_per_metric(caplog: pytest.LogCaptureFixture) -> None:
    guards = [CardinalityGuard(name, 1) for name in ("a", "b")]
    with caplog.at_level(logging.WARNING, logger="vigil.agent"):
        for guard in guards:
            for value in "xyz":
                guard.admit((value,))
    assert sorted(r.getMessage().split()[1] for r in caplog.records) == ["a", "b"]


def test_custom_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.cardinality")
    guard = CardinalityGuard("m", 1, logger=logger)
    with caplog.at_level(logging.WARNING, logger="tests.cardinality"):
        guard.admit(("a",))
        guard.admit(("b",))
    assert [r.name for r in caplog.records] == ["tests.cardinality"]


def test_no_limit() -> None:
    guard = CardinalityGuard("m", None)
    for i in range(5000):
        assert guard.admit((str(i),)) == (str(i),)
    assert guard.series_count == 5000
    assert not guard.overflowed


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_invalid_limit(bad: object) -> None:
    with pytest.raises(ValueError, match="cardinality limit for metric 'm' must be a positive"):
        CardinalityGuard("m", bad)  # type: ignore[arg-type]


def test_overflow_helpers() -> None:
    guard = CardinalityGuard("m", 1)
    assert overflow_labelvalues(3) == (OVERFLOW_LABEL_VALUE,) * 3
    assert guard.is_overflow(overflow_labelvalues(2))
    assert not guard.is_overflow(("GET", OVERFLOW_LABEL_VALUE))
    assert not guard.is_overflow(())


def test_limit_holds_under_threads() -> None:
    guard = CardinalityGuard("m", 100)
    results: list[tuple[str, ...]] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        local = [guard.admit((str(offset * 1000 + i),)) for i in range(200)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = {r for r in results if r != (OVERFLOW_LABEL_VALUE,)}
    assert len(admitted) == 100 == guard.series_count
    assert guard.folded == 8 * 200 - 100


def test_guarded_metric(registry: CollectorRegistry, caplog: pytest.LogCaptureFixture) -> None:
    counter = Counter("requests", "Requests", ["method", "route"], registry=registry)
    guarded = GuardedMetric(counter, 2)
    with caplog.at_level(logging.WARNING, logger="vigil.agent"):
        for route in ["/a", "/b", "/c", "/d", "/a"]:
            guarded.labels("GET", route).inc()
    assert guarded.labels("GET", "/a") is counter.labels("GET", "/a")  # cached child
    assert registry.get_sample_value("requests_total", {"method": "GET", "route": "/a"}) == 2
    assert registry.get_sample_value("requests_total", {"method": "GET", "route": "/c"}) is None
    overflow = {"method": OVERFLOW_LABEL_VALUE, "route": OVERFLOW_LABEL_VALUE}
    assert registry.get_sample_value("requests_total", overflow) == 2
    assert guarded.guard.metric_name == "requests"
    assert len(caplog.records) == 1
