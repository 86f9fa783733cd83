from __future__ import annotations

import asyncio
import base64
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from vigil.config.types import Authorization, BasicAuth, RelabelConfig, ScrapeConfig, Secret
from vigil.config.units import Duration
from vigil.model.matchers import Matcher
from vigil.model.value import is_stale_nan
from vigil.scrape.loop import Health
from vigil.scrape.pool import ScrapeMetrics, ScrapePool
from vigil.scrape.targets import Target, targets_from_group
from vigil.storage import MemoryStorage
from vigil.storage.interface import Series

from ._targets import Route, serving

pytestmark = pytest.mark.anyio


def _config(**kw: object) -> ScrapeConfig:
    base: dict[str, object] = {
        "job_name": "app",
        "scrape_interval": Duration(200),
        "scrape_timeout": Duration(150),
    }
    base.update(kw)
    return ScrapeConfig(**base)  # type: ignore[arg-type]


def _targets(sc: ScrapeConfig, *addresses: str, **labels: str) -> list[Target]:
    targets, dropped = targets_from_group(labels, [{"__address__": a} for a in addresses], sc)
    assert not dropped
    return targets


def _series(store: MemoryStorage, name: str, **labels: str) -> list[Series]:
    ms = [Matcher.equal("__name__", name)] + [Matcher.equal(k, v) for k, v in labels.items()]
    return store.querier(0, 2**62).select(ms)


async def _until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _count(store: MemoryStorage, name: str, **labels: str) -> int:
    found = _series(store, name, **labels)
    return len(found[0]) if found else 0


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_sync_starts_keeps_and_stops_loops_with_end_of_run_staleness() -> None:
    store = MemoryStorage()
    registry = CollectorRegistry()
    sc = _config()
    with serving() as a, serving() as b:
        a.routes["/metrics"] = Route(b"a_metric 1\n")
        b.routes["/metrics"] = Route(b"b_metric 1\n")
        pool = ScrapePool(sc, store, metrics=ScrapeMetrics(registry))
        try:
            await pool.sync(_targets(sc, a.address, b.address))
            assert len(pool) == 2
            assert _metric(registry, "vigil_scrape_pool_targets", scrape_job="app") == 2
            await _until(lambda: _count(store, "b_metric") >= 2 and _count(store, "a_metric") >= 2)
            loops_before = pool.loops()
            health = {h.scrape_url: h for h in pool.active_targets()}
            assert health[a.url()].health is Health.UP
            assert health[a.url()].labels.get("instance") == a.address

            # b goes away; a is unchanged and keeps its very loop.
            await pool.sync(_targets(sc, a.address))
            after = pool.loops()
            assert list(after.values()) == [loops_before[next(iter(after))]]
            n = len(b.requests)
            await asyncio.sleep(0.3)
            assert len(b.requests) == n  # b is no longer scraped
            # End-of-run staleness arrives about two intervals later, for b only.
            await _until(lambda: is_stale_nan(_series(store, "b_metric")[0].values[-1]))
            assert is_stale_nan(_series(store, "up", instance=b.address)[0].values[-1])
            assert not is_stale_nan(_series(store, "a_metric")[0].values[-1])
        finally:
            await pool.stop()
    assert _metric(registry, "vigil_scrapes_total", scrape_job="app") >= 4
    assert _metric(registry, "vigil_scrape_samples_appended_total", scrape_job="app") >= 4


async def test_one_bad_target_does_not_disturb_the_others() -> None:
    store = MemoryStorage()
    registry = CollectorRegistry()
    sc = _config(body_size_limit=10_000)
    with serving() as srv:
        srv.routes["/good"] = Route(b"good 1\n")
        srv.routes["/slow"] = Route(b"slow 1\n", delay_s=1.0)
        srv.routes["/garbage"] = Route(b"\x00\x01 not metrics {{{\n")
        srv.routes["/huge"] = Route(b"huge 1\n" * 10_000)
        srv.routes["/json"] = Route(b"{}", content_type="application/json")
        targets = []
        for path in ["/good", "/slow", "/garbage", "/huge", "/json"]:
            targets += _targets(replace(sc, metrics_path=path), srv.address, path=path)
        pool = ScrapePool(sc, store, metrics=ScrapeMetrics(registry))
        try:
            await pool.sync(targets)
            await _until(lambda: _count(store, "good") >= 6, timeout=10)
        finally:
            await pool.stop()
    ts = _series(store, "good")[0].timestamps.tolist()
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    # On time, despite the slow target (a blocked loop would show gaps of 350 ms and more).
    assert 180 <= statistics.median(gaps) <= 230, gaps
    assert max(gaps) < 450, gaps
    assert _series(store, "up", path="/good")[0].values.tolist()[-1] == 1.0
    for path in ["/slow", "/garbage", "/huge", "/json"]:
        assert set(_series(store, "up", path=path)[0].values.tolist()) == {0.0}, path
    for reason in ("scrape", "parse", "body_size_limit", "content_type"):
        assert _metric(registry, "vigil_scrapes_failed_total", scrape_job="app", reason=reason) > 0


async def test_target_health_reports_each_failure() -> None:
    store = MemoryStorage()
    sc = _config(body_size_limit=10_000)
    with serving() as srv:
        srv.routes["/slow"] = Route(b"slow 1\n", delay_s=1.0)
        srv.routes["/garbage"] = Route(b"ok 1\nnot metrics {{{\n")
        srv.routes["/huge"] = Route(b"huge 1\n" * 10_000)
        srv.routes["/json"] = Route(b"{}", content_type="application/json")
        targets = []
        for path in ["/slow", "/garbage", "/huge", "/json"]:
            targets += _targets(replace(sc, metrics_path=path), srv.address, path=path)
        pool = ScrapePool(sc, store)
        try:
            await pool.sync(targets)
            assert {h.health for h in pool.active_targets()} == {Health.UNKNOWN}
            await _until(lambda: all(h.last_error for h in pool.active_targets()))
            errors = {h.labels.get("path"): h.last_error for h in pool.active_targets()}
            assert all(h.health is Health.DOWN for h in pool.active_targets())
        finally:
            await pool.stop()
    assert errors["/slow"] == "scrape timed out after 0.15s"
    assert errors["/garbage"].startswith("parsing the response failed at 2:")
    assert "body size limit exceeded" in errors["/huge"]
    assert "application/json" in errors["/json"]
    for path in ["/slow", "/garbage", "/huge", "/json"]:
        assert _series(store, "up", path=path)[0].values.tolist()[0] == 0.0


async def test_reload_keeps_the_cache_when_labels_stay_valid() -> None:
    store = MemoryStorage()
    sc = _config()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\nb 1\n")
        pool = ScrapePool(sc, store)
        try:
            await pool.sync(_targets(sc, srv.address))
            await _until(lambda: _count(store, "a") >= 2)
            (old,) = pool.loops().values()
            await pool.reload(replace(sc, sample_limit=100, scrape_timeout=Duration(100)))
            (new,) = pool.loops().values()
            assert new is not old
            assert not old.running
            assert new.cache is old.cache
            assert new.options.sample_limit == 100
            n = _count(store, "a")
            await _until(lambda: _count(store, "a") >= n + 2)
        finally:
            await pool.stop()
    assert not any(is_stale_nan(v) for v in _series(store, "a")[0].values.tolist())


async def test_reload_with_new_metric_relabelling_starts_fresh_and_marks_old_series() -> None:
    store = MemoryStorage()
    sc = _config()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        pool = ScrapePool(sc, store)
        try:
            await pool.sync(_targets(sc, srv.address))
            await _until(lambda: _count(store, "a") >= 1)
            rule = RelabelConfig(target_label="env", replacement="prod")
            await pool.reload(replace(sc, metric_relabel_configs=(rule,)))
            (loop,) = pool.loops().values()
            assert len(loop.cache) <= 1
            await _until(lambda: bool(_series(store, "a", env="prod")))
            # The series without env gets its end-of-run staleness marker.
            await _until(
                lambda: any(
                    is_stale_nan(s.values[-1]) for s in _series(store, "a") if "env" not in s.labels
                )
            )
        finally:
            await pool.stop()


async def test_target_limit_fails_every_target_of_the_pool() -> None:
    store = MemoryStorage()
    sc = _config(target_limit=1)
    with serving() as a, serving() as b:
        a.routes["/metrics"] = b.routes["/metrics"] = Route(b"x 1\n")
        pool = ScrapePool(sc, store)
        try:
            await pool.sync(_targets(sc, a.address, b.address))
            await _until(lambda: all(h.last_error for h in pool.active_targets()))
            errors = {h.last_error for h in pool.active_targets()}
            assert errors == {"target_limit exceeded (number of targets: 2, limit: 1)"}
            assert not a.requests
            assert not b.requests
            assert _series(store, "x") == []
            # Back under the limit: scraping resumes.
            await pool.sync(_targets(sc, a.address))
            await _until(lambda: bool(_series(store, "x")))
        finally:
            await pool.stop()


async def test_auth_params_and_metrics_path_reach_the_target() -> None:
    store = MemoryStorage()
    token = "s3cret"
    sc_bearer = _config(
        authorization=Authorization("Bearer", Secret(token)),
        params={"module": ("http_2xx",)},
        metrics_path="/probe",
    )
    sc_basic = _config(job_name="basic", basic_auth=BasicAuth("user", Secret("pw")))
    expected_basic = "Basic " + base64.b64encode(b"user:pw").decode()
    with serving() as srv:
        srv.routes["/probe"] = Route(
            b"probe 1\n", require_header=("Authorization", f"Bearer {token}")
        )
        srv.routes["/metrics"] = Route(
            b"basic 1\n", require_header=("Authorization", expected_basic)
        )
        p1 = ScrapePool(sc_bearer, store)
        p2 = ScrapePool(sc_basic, store)
        try:
            await p1.sync(_targets(sc_bearer, srv.address))
            await p2.sync(_targets(sc_basic, srv.address))
            await _until(lambda: bool(_series(store, "probe")) and bool(_series(store, "basic")))
        finally:
            await p1.stop()
            await p2.stop()
    assert any(r.path == "/probe?module=http_2xx" for r in srv.requests)


async def test_credentials_files_are_read_at_each_scrape(tmp_path: Path) -> None:
    cred = tmp_path / "token"
    cred.write_text("one\n")
    store = MemoryStorage()
    sc = _config(authorization=Authorization("Bearer", None, str(cred)))
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"x 1\n", require_header=("Authorization", "Bearer two"))
        pool = ScrapePool(sc, store)
        try:
            await pool.sync(_targets(sc, srv.address))
            await _until(lambda: any(h.last_error for h in pool.active_targets()))
            assert "401" in pool.active_targets()[0].last_error
            cred.write_text("two\n")  # rotated: no reload needed
            await _until(lambda: bool(_series(store, "x")))
            cred.unlink()
            await _until(lambda: "reading credentials" in pool.active_targets()[0].last_error)
        finally:
            await pool.stop()


async def test_stop_with_stale_marks_everything_at_once() -> None:
    store = MemoryStorage()
    sc = _config()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        pool = ScrapePool(sc, store)
        await pool.sync(_targets(sc, srv.address))
        await _until(lambda: _count(store, "a") >= 1)
        await pool.stop(stale=True)
    assert is_stale_nan(_series(store, "a")[0].values[-1])
    assert is_stale_nan(_series(store, "up")[0].values[-1])


async def test_stop_without_stale_leaves_series_as_they_are() -> None:
    store = MemoryStorage()
    sc = _config()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        pool = ScrapePool(sc, store)
        await pool.sync(_targets(sc, srv.address))
        await _until(lambda: _count(store, "a") >= 1)
        await pool.sync([])  # schedules end-of-run staleness...
        await pool.stop()  # ...which a shutdown cancels
        await asyncio.sleep(0.6)
    assert not is_stale_nan(_series(store, "a")[0].values[-1])


async def test_duplicate_targets_are_scraped_once() -> None:
    store = MemoryStorage()
    sc = _config()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        pool = ScrapePool(sc, store)
        try:
            await pool.sync(_targets(sc, srv.address, srv.address))
            assert len(pool) == 1
        finally:
            await pool.stop()
