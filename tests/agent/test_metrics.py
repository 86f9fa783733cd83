"""Validated metric types and the MetricsCollector facade."""

from __future__ import annotations

import logging
import threading

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry

from vigil.agent import metrics
from vigil.agent.cardinality import OVERFLOW_LABEL_VALUE
from vigil.agent.metrics import (
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    MetricDefinitionError,
    MetricsCollector,
    MetricTypeError,
    Summary,
)

ALL_TYPES = [Counter, Gauge, Histogram, Summary, Info]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["requests", "http_requests", "_private", "job:rate5m", "a1"])
def test_valid_metric_names(name: str) -> None:
    metrics.check_metric_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("http-requests", r"character '-' at position 5 is not allowed"),
        ("1st", r"character '1' at position 1 cannot start a name"),
        ("req total", r"character ' ' at position 4 is not allowed"),
        ("café", r"character 'é' at position 4 is not allowed"),
        ("", r"it is empty"),
    ],
)
def test_invalid_metric_names_say_what_and_where(name: str, message: str) -> None:
    with pytest.raises(MetricDefinitionError, match=message) as info:
        metrics.check_metric_name(name)
    assert repr(name) in str(info.value)
    assert "[a-zA-Z_:][a-zA-Z0-9_:]*" in str(info.value)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("user-id", r"character '-' at position 5 is not allowed"),
        ("9lives", r"character '9' at position 1 cannot start a name"),
        ("job:name", r"character ':' at position 4 is not allowed"),
        ("__name__", r"names starting with '__' are reserved"),
        ("", r"it is empty"),
    ],
)
def test_invalid_label_names_say_what_and_where(label: str, message: str) -> None:
    with pytest.raises(MetricDefinitionError, match=message) as info:
        metrics.check_label_name(label, metric="orders")
    assert "of metric 'orders'" in str(info.value)
    assert "[a-zA-Z_][a-zA-Z0-9_]*" in str(info.value)


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_every_type_rejects_bad_names_at_definition(
    cls: type[prometheus_client.metrics.MetricWrapperBase], registry: CollectorRegistry
) -> None:
    with pytest.raises(MetricDefinitionError, match=r"invalid \w+ name 'bad-name'"):
        cls("bad-name", "doc", registry=registry)
    with pytest.raises(MetricDefinitionError, match=r"invalid label name 'bad label'"):
        cls("good_name", "doc", ["bad label"], registry=registry)
    assert list(registry.collect()) == []  # nothing half-registered


def test_enum_rejects_bad_names(registry: CollectorRegistry) -> None:
    with pytest.raises(MetricDefinitionError, match="invalid enum name 'task-state'"):
        Enum("task-state", "doc", states=["a"], registry=registry)
    with pytest.raises(MetricDefinitionError, match="at least one state"):
        Enum("task_state", "doc", registry=registry)
    with pytest.raises(MetricDefinitionError, match="duplicate states"):
        Enum("task_state", "doc", states=["a", "a"], registry=registry)
    with pytest.raises(MetricDefinitionError, match="metric's own name"):
        Enum("task_state", "doc", ["task_state"], states=["a"], registry=registry)


def test_namespace_subsystem_and_unit_are_checked_with_the_full_name(
    registry: CollectorRegistry,
) -> None:
    with pytest.raises(
        MetricDefinitionError,
        match=r"invalid counter namespace 'my-app' \(full name 'my-app_http_requests'\)",
    ):
        Counter("requests", "doc", namespace="my-app", subsystem="http", registry=registry)
    with pytest.raises(MetricDefinitionError, match=r"invalid histogram unit 'milli-seconds'"):
        Histogram("latency", "doc", unit="milli-seconds", registry=registry)
    # A digit is fine after the first part: the full name is app_2fa_logins.
    Counter("2fa_logins", "doc", namespace="app", registry=registry)


def test_reserved_and_duplicate_labels(registry: CollectorRegistry) -> None:
    with pytest.raises(MetricDefinitionError, match="'le' is reserved"):
        Histogram("latency", "doc", ["le"], registry=registry)
    with pytest.raises(MetricDefinitionError, match="'quantile' is reserved"):
        Summary("latency", "doc", ["quantile"], registry=registry)
    with pytest.raises(MetricDefinitionError, match="appears twice"):
        Counter("hits", "doc", ["a", "a"], registry=registry)
    with pytest.raises(MetricDefinitionError, match=r"did you mean \['path'\]"):
        Counter("hits", "doc", "path", registry=registry)


def test_histogram_buckets_are_checked(registry: CollectorRegistry) -> None:
    with pytest.raises(MetricDefinitionError, match=r"bucket 3 \(0\.2\) is not greater than"):
        Histogram("latency", "doc", buckets=[0.1, 0.5, 0.2], registry=registry)
    with pytest.raises(MetricDefinitionError, match="not all numbers"):
        Histogram("latency", "doc", buckets=[0.1, "fast"], registry=registry)
    with pytest.raises(MetricDefinitionError, match="finite upper bound"):
        Histogram("latency", "doc", buckets=[], registry=registry)


def test_gauge_multiprocess_mode_is_checked(registry: CollectorRegistry) -> None:
    with pytest.raises(MetricDefinitionError, match="invalid multiprocess_mode 'average'"):
        Gauge("temp", "doc", multiprocess_mode="average", registry=registry)  # type: ignore[arg-type]


def test_duplicate_registration_is_a_definition_error(registry: CollectorRegistry) -> None:
    Counter("jobs", "doc", registry=registry)
    with pytest.raises(
        MetricDefinitionError, match=r"cannot define gauge 'jobs_total'.*Duplicated"
    ):
        Gauge("jobs_total", "doc", registry=registry)
    # Still a ValueError, as prometheus_client users expect.
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("jobs", "doc", registry=registry)


def test_types_behave_like_prometheus_client(registry: CollectorRegistry) -> None:
    c = Counter("hits", "Hits", ["path"], registry=registry)
    c.labels("/a").inc()
    c.labels(path="/a").inc(2)
    g = Gauge("temp", "Temperature", registry=registry)
    g.set(21.5)
    h = Histogram("latency_seconds", "Latency", buckets=[0.1, 1], registry=registry)
    h.observe(0.5)
    s = Summary("size_bytes", "Size", registry=registry)
    s.observe(10)
    i = Info("build", "Build", registry=registry)
    i.info({"version": "1.2.3"})
    e = Enum("state", "State", states=["up", "down"], registry=registry)
    e.state("down")
    assert isinstance(c, prometheus_client.Counter)
    assert registry.get_sample_value("hits_total", {"path": "/a"}) == 3
    assert registry.get_sample_value("temp") == 21.5
    assert registry.get_sample_value("latency_seconds_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("size_bytes_sum") == 10
    assert registry.get_sample_value("build_info", {"version": "1.2.3"}) == 1
    assert registry.get_sample_value("state", {"state": "down"}) == 1
    # Children are instances of our classes too, created without revalidation cost.
    assert type(c.labels("/b")) is Counter


def test_info_rejects_bad_keys(registry: CollectorRegistry) -> None:
    i = Info("build", "Build", registry=registry)
    with pytest.raises(MetricDefinitionError, match="invalid label name 'git-sha'"):
        i.info({"git-sha": "abc"})


def test_default_registry_is_used_without_registry_kwarg() -> None:
    c = Counter("vigil_test_default_registry_probe", "probe")
    try:
        assert (
            prometheus_client.REGISTRY.get_sample_value("vigil_test_default_registry_probe_total")
            == 0
        )
    finally:
        prometheus_client.REGISTRY.unregister(c)


# --------------------------------------------------------------------------- facade


def test_collector_creates_on_first_use(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry)
    m.increment_counter("orders_total", labels={"region": "eu"}, documentation="Orders")
    m.increment_counter("orders", 2, labels={"region": "eu"})  # same counter
    m.set_gauge("queue_depth", 7)
    m.set_gauge("queue_depth", 5)
    m.observe("order_value", 30, buckets=[10, 50])
    m.observe("order_value", 70)
    assert registry.get_sample_value("orders_total", {"region": "eu"}) == 3
    assert registry.get_sample_value("queue_depth") == 5
    assert registry.get_sample_value("order_value_bucket", {"le": "50.0"}) == 1
    assert registry.get_sample_value("order_value_count") == 2
    orders = m.get("orders_total")
    assert isinstance(orders, Counter)
    assert m.get("orders") is orders
    assert m.get("missing") is None


def test_collector_namespace(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry, namespace="shop")
    m.increment_counter("orders")
    assert registry.get_sample_value("shop_orders_total") == 1
    with pytest.raises(MetricDefinitionError, match="invalid metric namespace 'my shop'"):
        MetricsCollector(registry, namespace="my shop")


def test_collector_type_clash_names_both_types(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry)
    m.increment_counter("orders")
    with pytest.raises(
        MetricTypeError,
        match=r"metric 'orders' is already a counter.*cannot also be used as a gauge",
    ):
        m.set_gauge("orders", 1)
    with pytest.raises(
        MetricTypeError,
        match=r"histogram 'orders_total' cannot be created: its samples would clash with "
        r"counter 'orders'",
    ):
        m.observe("orders_total", 1)


def test_collector_label_clash(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry)
    m.increment_counter("orders", labels={"region": "eu"})
    with pytest.raises(
        MetricTypeError,
        match=r"counter 'orders' was created with labels \['region'\]; "
        r"this call uses labels \['country', 'region'\]",
    ):
        m.increment_counter("orders", labels={"region": "eu", "country": "fr"})
    with pytest.raises(MetricTypeError, match=r"this call uses labels \[\]"):
        m.increment_counter("orders")


def test_collector_clash_with_metric_defined_elsewhere(registry: CollectorRegistry) -> None:
    Gauge("temperature", "defined by hand", registry=registry)
    m = MetricsCollector(registry)
    with pytest.raises(
        MetricTypeError,
        match="counter 'temperature' cannot be created: the registry already holds a gauge",
    ):
        m.increment_counter("temperature")


def test_collector_bucket_clash(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry)
    m.observe("latency", 0.2, buckets=[0.1, 1])
    m.observe("latency", 0.2, buckets=[0.1, 1.0])  # same buckets
    with pytest.raises(MetricDefinitionError, match="was created with buckets"):
        m.observe("latency", 0.2, buckets=[0.5])


def test_collector_rejects_bad_input(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry)
    with pytest.raises(ValueError, match="non-negative amount, got -1"):
        m.increment_counter("orders", -1)
    with pytest.raises(MetricDefinitionError, match="invalid label name 'order-id'"):
        m.increment_counter("orders", labels={"order-id": "1"})
    with pytest.raises(MetricDefinitionError, match="invalid counter name 'bad name'"):
        m.increment_counter("bad name")
    with pytest.raises(ValueError, match="positive integer"):
        MetricsCollector(registry, max_series_per_metric=0)


def test_collector_cardinality_guard(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    m = MetricsCollector(registry, max_series_per_metric=3)
    with caplog.at_level(logging.WARNING, logger="vigil.agent"):
        for user in range(10):
            m.increment_counter("logins", labels={"user": str(user), "kind": "pw"})
        m.increment_counter("logins", labels={"user": "0", "kind": "pw"})  # admitted before
    series = {
        tuple(sorted(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "logins_total"
    }
    assert series == {
        (("kind", "pw"), ("user", "0")): 2,
        (("kind", "pw"), ("user", "1")): 1,
        (("kind", "pw"), ("user", "2")): 1,
        (("kind", OVERFLOW_LABEL_VALUE), ("user", OVERFLOW_LABEL_VALUE)): 7,
    }
    warnings = [r for r in caplog.records if r.name == "vigil.agent"]
    assert len(warnings) == 1
    assert "logins" in warnings[0].getMessage()
    guard = m.guard("logins")
    assert guard is not None
    assert guard.folded == 7


def test_collector_is_thread_safe(registry: CollectorRegistry) -> None:
    m = MetricsCollector(registry)

    def work() -> None:
        for i in range(500):
            m.increment_counter("events", labels={"shard": str(i % 5)})
            m.observe("sizes", i)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(registry.get_sample_value("events_total", {"shard": str(s)}) or 0 for s in range(5))
    assert total == 4000
    assert registry.get_sample_value("sizes_count") == 4000
