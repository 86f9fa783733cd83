from __future__ import annotations

import asyncio
import gzip
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from vigil.model import Labels
from vigil.model.matchers import Matcher
from vigil.model.value import is_stale_nan
from vigil.scrape.http import HttpScraper, ScrapeError, ScrapeResponse, new_client
from vigil.scrape.loop import (
    REPORT_METRICS,
    Health,
    LoopOptions,
    ScrapeLoop,
    ScrapeResult,
)
from vigil.storage import MemoryStorage
from vigil.storage.interface import Series, StorageError

from ._targets import OPENMETRICS, PROM_TEXT, Route, serving

TARGET = Labels(job="app", instance="h:1")
T0 = 1_700_000_000_000


class _NoScraper:
    url = "http://h:1/metrics"

    async def scrape(self) -> ScrapeResponse:
        raise ScrapeError("not used")

    async def aclose(self) -> None:
        pass


def _loop(store: MemoryStorage, **options: object) -> ScrapeLoop:
    opts = LoopOptions(interval_s=15.0, timeout_s=10.0, **options)  # type: ignore[arg-type]
    return ScrapeLoop(
        _NoScraper(),
        store,
        opts,
        target_labels=TARGET,
        scrape_pool="app",
    )


def _series(store: MemoryStorage, name: str, **labels: str) -> list[Series]:
    ms = [Matcher.equal("__name__", name)] + [Matcher.equal(k, v) for k, v in labels.items()]
    return store.querier(0, 2**62).select(ms)


def _one(store: MemoryStorage, name: str, **labels: str) -> Series:
    found = _series(store, name, **labels)
    assert len(found) == 1, found
    return found[0]


def _values(store: MemoryStorage, name: str, **labels: str) -> list[tuple[int, float]]:
    s = _one(store, name, **labels)
    return list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))


def _report(store: MemoryStorage, t: int) -> dict[str, float]:
    out = {}
    for name in REPORT_METRICS:
        for ts, v in _values(store, name):
            if ts == t:
                out[name] = v
    return out


BODY = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",method="get"} 10
http_requests_total{code="500",method="get"} 2
temperature 21.5
"""


def test_a_scrape_appends_samples_with_target_labels_and_report_series() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    r = loop.append_scrape(BODY, PROM_TEXT, T0)
    assert r.error == ""
    s = _one(store, "http_requests_total", code="200")
    assert s.labels == Labels.from_dict(
        {"__name__": "http_requests_total", "code": "200", "method": "get", **TARGET.to_dict()}
    )
    assert _values(store, "temperature") == [(T0, 21.5)]
    rep = _report(store, T0)
    assert rep["up"] == 1.0
    assert rep["scrape_samples_scraped"] == 3
    assert rep["scrape_samples_post_metric_relabeling"] == 3
    assert rep["scrape_series_added"] == 3
    assert 0 <= rep["scrape_duration_seconds"] < 5
    assert _one(store, "up").labels == Labels(__name__="up", job="app", instance="h:1")
    assert loop.health.health is Health.UP
    assert loop.health.last_scrape_ms == T0

    loop.append_scrape(BODY.replace(b"10", b"11"), PROM_TEXT, T0 + 15_000)
    assert _values(store, "http_requests_total", code="200") == [(T0, 10.0), (T0 + 15_000, 11.0)]
    assert _report(store, T0 + 15_000)["scrape_series_added"] == 0


def test_vanished_series_get_a_staleness_marker_at_the_next_scrape() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1\nb 2\n", None, T0)
    r = loop.append_scrape(b"a 1\n", None, T0 + 1000)
    assert r.stale_markers == 1
    (t1, v1), (t2, v2) = _values(store, "b")
    assert (t1, v1) == (T0, 2.0)
    assert t2 == T0 + 1000
    assert is_stale_nan(v2)
    assert [v for _, v in _values(store, "a")] == [1.0, 1.0]
    # Only once: the next scrape does not mark it again.
    assert loop.append_scrape(b"a 1\n", None, T0 + 2000).stale_markers == 0
    # It comes back: a fresh sample after the marker.
    loop.append_scrape(b"a 1\nb 3\n", None, T0 + 3000)
    assert _values(store, "b")[-1] == (T0 + 3000, 3.0)


def test_a_failed_scrape_marks_every_series_stale_and_reports_up_0() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1\nb 2\n", None, T0)
    r = loop.append_scrape(None, None, T0 + 1000, scrape_error=ScrapeError("connection refused"))
    assert r.error == "connection refused"
    assert r.stale_markers == 2
    assert is_stale_nan(_values(store, "a")[-1][1])
    assert is_stale_nan(_values(store, "b")[-1][1])
    rep = _report(store, T0 + 1000)
    assert rep["up"] == 0.0
    assert rep["scrape_samples_scraped"] == 0
    assert loop.health.health is Health.DOWN
    assert loop.health.last_error == "connection refused"
    # Still down: no second marker; up keeps reporting 0.
    assert loop.append_scrape(None, None, T0 + 2000, scrape_error="x").stale_markers == 0
    assert _report(store, T0 + 2000)["up"] == 0.0


def test_a_malformed_body_is_rolled_back_and_the_error_names_the_line() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1\n", None, T0)
    r = loop.append_scrape(b"a 2\nnew_series 5\nbad{ 1\n", None, T0 + 1000)
    assert r.failure_reason == "parse"
    assert "3:" in r.error
    assert "parsing the response failed" in r.error
    assert _series(store, "new_series") == []
    vals = _values(store, "a")
    assert vals[0] == (T0, 1.0)
    assert vals[1][0] == T0 + 1000
    assert is_stale_nan(vals[1][1])
    rep = _report(store, T0 + 1000)
    assert rep["up"] == 0.0
    assert rep["scrape_samples_scraped"] == 2  # as far as it got, as Prometheus reports
    assert loop.health.last_error == r.error
    # The next good scrape brings the series back without a spurious marker.
    r = loop.append_scrape(b"a 3\n", None, T0 + 2000)
    assert r.error == ""
    assert r.stale_markers == 0
    assert _values(store, "a")[-1] == (T0 + 2000, 3.0)


def test_an_unsupported_content_type_fails_the_scrape() -> None:
    store = MemoryStorage()
    r = _loop(store).append_scrape(b'{"a": 1}', "application/json", T0)
    assert r.failure_reason == "content_type"
    assert "application/json" in r.error
    assert _report(store, T0)["up"] == 0.0


def test_openmetrics_bodies_are_read_by_content_type() -> None:
    store = MemoryStorage()
    body = b"# TYPE c counter\nc_total 3 1700000000.5\n# EOF\n"
    r = _loop(store).append_scrape(body, OPENMETRICS, T0)
    assert r.error == ""
    assert _values(store, "c_total") == [(1_700_000_000_500, 3.0)]


def test_honor_labels_false_keeps_clashing_exposed_labels_as_exported() -> None:
    store = MemoryStorage()
    _loop(store).append_scrape(b'm{job="pushed",instance="other"} 1\n', None, T0)
    s = _one(store, "m")
    assert s.labels.to_dict() == {
        "__name__": "m",
        "job": "app",
        "instance": "h:1",
        "exported_job": "pushed",
        "exported_instance": "other",
    }


def test_honor_labels_true_lets_exposed_labels_win() -> None:
    store = MemoryStorage()
    _loop(store, honor_labels=True).append_scrape(b'm{job="pushed"} 1\n', None, T0)
    assert _one(store, "m").labels.to_dict() == {
        "__name__": "m",
        "job": "pushed",
        "instance": "h:1",
    }


def test_exposed_timestamps_are_honoured_and_not_tracked_for_staleness() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1 1600000000000\nb 2\n", None, T0)
    assert _values(store, "a") == [(1_600_000_000_000, 1.0)]
    r = loop.append_scrape(b"", None, T0 + 1000)
    assert r.stale_markers == 1  # b only
    assert len(_values(store, "a")) == 1


def test_exposed_timestamps_far_in_the_future_are_out_of_bounds() -> None:
    store = MemoryStorage()
    future = T0 + 11 * 60 * 1000
    r = _loop(store).append_scrape(f"a 1 {future}\nb 1 {T0 + 60_000}\n".encode(), None, T0)
    assert r.error == ""
    assert r.rejected == {"out_of_bounds": 1}
    assert _series(store, "a") == []
    assert _values(store, "b") == [(T0 + 60_000, 1.0)]


def test_honor_timestamps_false_uses_the_scrape_time() -> None:
    store = MemoryStorage()
    _loop(store, honor_timestamps=False).append_scrape(b"a 1 1600000000000\n", None, T0)
    assert _values(store, "a") == [(T0, 1.0)]


def test_sample_limit_fails_the_whole_scrape() -> None:
    store = MemoryStorage()
    loop = _loop(store, sample_limit=2)
    assert loop.append_scrape(b"a 1\nb 1\n", None, T0).error == ""
    r = loop.append_scrape(b"a 2\nb 2\nc 2\nd 2\n", None, T0 + 1000)
    assert r.failure_reason == "sample_limit"
    assert "sample_limit exceeded" in r.error
    assert "limit 2" in r.error
    assert _series(store, "c") == []
    assert is_stale_nan(_values(store, "a")[-1][1])
    rep = _report(store, T0 + 1000)
    assert rep["up"] == 0.0
    assert rep["scrape_samples_scraped"] == 4


def test_sample_limit_counts_after_metric_relabelling() -> None:
    store = MemoryStorage()

    def drop_b(lset: Labels) -> Labels | None:
        return None if lset.metric_name == "b" else lset

    loop = _loop(store, sample_limit=2, metric_relabel=drop_b)
    r = loop.append_scrape(b"a 1\nb 1\nc 1\n", None, T0)
    assert r.error == ""
    assert (r.scraped, r.post_relabel) == (3, 2)


@pytest.mark.parametrize(
    ("options", "body", "words"),
    [
        ({"label_limit": 3}, b'm{a="1",b="2"} 1\n', "label_limit exceeded"),
        ({"label_name_length_limit": 5}, b'm{longname="1"} 1\n', "label_name_length_limit"),
        ({"label_value_length_limit": 3}, b'm{a="toolong"} 1\n', "label_value_length_limit"),
    ],
)
def test_label_limits_fail_the_scrape(options: dict[str, int], body: bytes, words: str) -> None:
    store = MemoryStorage()
    r = _loop(store, **options).append_scrape(body, None, T0)
    assert r.failure_reason == "label_limit"
    assert words in r.error
    assert "metric: m" in r.error
    assert _series(store, "m") == []


def test_label_limits_pass_at_the_limit() -> None:
    store = MemoryStorage()
    r = _loop(store, label_limit=4).append_scrape(
        b'm{a="1"} 1\n', None, T0
    )  # name, a, job, instance
    assert r.error == ""


def test_metric_relabelling_runs_once_per_new_series() -> None:
    store = MemoryStorage()
    calls: list[Labels] = []

    def relabel(lset: Labels) -> Labels | None:
        calls.append(lset)
        if lset.metric_name.startswith("go_"):
            return None
        return lset.set("env", "prod")

    loop = _loop(store, metric_relabel=relabel)
    body = b"go_goroutines 5\nx 1\ny 2\n"
    for i in range(3):
        r = loop.append_scrape(body, None, T0 + i * 1000)
        assert (r.scraped, r.post_relabel) == (3, 2)
    assert len(calls) == 3  # one per distinct series, ever
    assert _series(store, "go_goroutines") == []
    assert _one(store, "x").labels.get("env") == "prod"
    assert _report(store, T0 + 2000)["scrape_samples_post_metric_relabeling"] == 2


def test_relabelling_away_the_metric_name_fails_the_scrape() -> None:
    store = MemoryStorage()
    r = _loop(store, metric_relabel=lambda lset: lset.without("__name__")).append_scrape(
        b"x 1\n", None, T0
    )
    assert r.error
    assert "no metric name" in r.error


def test_a_series_twice_in_one_body_keeps_the_first_and_counts_a_duplicate() -> None:
    store = MemoryStorage()
    r = _loop(store).append_scrape(b"a 1\na 2\n", None, T0)
    assert r.error == ""
    assert r.rejected == {"duplicate": 1}
    assert _values(store, "a") == [(T0, 1.0)]


def test_out_of_order_samples_are_counted_not_fatal() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1 2000\nb 1\n", None, T0)
    r = loop.append_scrape(b"a 1 1000\nb 2\n", None, T0 + 1000)
    assert r.error == ""
    assert r.rejected == {"out_of_order": 1}
    assert _values(store, "b")[-1] == (T0 + 1000, 2.0)


def test_mark_stale_marks_series_and_report_series() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1\nb 1\n", None, T0)
    assert loop.mark_stale(T0 + 1000) == 2 + len(REPORT_METRICS)
    for name in ["a", "b", *REPORT_METRICS]:
        t, v = _values(store, name)[-1]
        assert (t, is_stale_nan(v)) == (T0 + 1000, True), name


def test_the_cache_forgets_series_that_left() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    loop.append_scrape(b"a 1\nb 1\n", None, T0)
    assert len(loop.cache) == 2
    loop.append_scrape(b"a 1\n", None, T0 + 1000)
    assert len(loop.cache) == 1
    assert "b" not in loop.cache.parser_cache.entries


def test_known_series_keep_one_label_set_with_shared_pairs() -> None:
    """Memory per series: once every line is a known series, the parser's cache of
    parsed labels is dropped, and series of a target share their equal label pairs."""
    store = MemoryStorage()
    loop = _loop(store)
    body = b'a{le="1",code="200"} 1\na{le="2",code="200"} 1\nb{code="200"} 1\n'
    loop.append_scrape(body, None, T0)
    assert len(loop.cache.parser_cache) == 3  # the full path filled it
    r = loop.append_scrape(body, None, T0 + 1000)  # the fast path: every line known
    assert (r.error, r.scraped) == ("", 3)
    assert len(loop.cache.parser_cache) == 0
    entries = list(loop.cache.series.values())
    code_pairs = {id(p) for e in entries for p in e.labels.pairs if p[0] == "code"}
    job_pairs = {id(p) for e in entries for p in e.labels.pairs if p[0] == "job"}
    assert len(code_pairs) == 1
    assert len(job_pairs) == 1
    # A new series on the fast path still parses (one line through the full parser).
    r = loop.append_scrape(body + b'c{code="200"} 5\n', None, T0 + 2000)
    assert (r.error, r.series_added) == ("", 1)
    assert _values(store, "c") == [(T0 + 2000, 5.0)]
    assert loop.cache.series['c{code="200"}'].labels == Labels(
        __name__="c", code="200", **dict(TARGET.pairs)
    )


# -- over real HTTP ------------------------------------------------------------


def _http_loop(
    store: MemoryStorage,
    url: str,
    *,
    timeout_s: float = 2.0,
    body_size_limit: int = 0,
    interval_s: float = 1.0,
) -> tuple[ScrapeLoop, Callable[[], Awaitable[None]]]:
    client = new_client()
    scraper = HttpScraper(
        client, url, timeout_s=timeout_s, body_size_limit=body_size_limit, owns_client=True
    )
    opts = LoopOptions(interval_s=interval_s, timeout_s=timeout_s)
    loop = ScrapeLoop(scraper, store, opts, target_labels=TARGET, scrape_pool="app")
    return loop, client.aclose


@pytest.mark.anyio
async def test_http_scrape_sends_prometheus_headers_and_reads_gzip() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(BODY, gzip=True)
        loop, close = _http_loop(store, srv.url())
        try:
            r = await loop.scrape_once(T0)
        finally:
            await close()
    assert r.error == ""
    assert r.scraped == 3
    headers = srv.requests[0].headers
    assert "openmetrics-text" in headers["accept"]
    assert headers["accept-encoding"] == "gzip"
    assert headers["x-prometheus-scrape-timeout-seconds"] == "2"
    assert headers["user-agent"].startswith("Vigil/")


@pytest.mark.anyio
async def test_a_slow_target_times_out_with_up_0() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(BODY, delay_s=3)
        loop, close = _http_loop(store, srv.url(), timeout_s=0.3)
        started = time.monotonic()
        try:
            r = await loop.scrape_once(T0)
        finally:
            await close()
    assert time.monotonic() - started < 2
    assert r.error == "scrape timed out after 0.3s"
    assert _report(store, T0)["up"] == 0.0


@pytest.mark.anyio
@pytest.mark.parametrize("compressed", [False, True])
async def test_a_huge_body_stops_at_body_size_limit(compressed: bool) -> None:
    store = MemoryStorage()
    big = b"x_total 1\n" * 200_000  # 2 MB, 2 KB gzipped
    with serving() as srv:
        srv.routes["/metrics"] = Route(big, gzip=compressed)
        loop, close = _http_loop(store, srv.url(), body_size_limit=100_000)
        try:
            r = await loop.scrape_once(T0)
        finally:
            await close()
    assert r.failure_reason == "body_size_limit"
    assert "body size limit exceeded" in r.error
    assert "100000 bytes" in r.error
    assert _series(store, "x_total") == []


@pytest.mark.anyio
async def test_an_endless_body_is_cut_at_the_limit() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(stream_forever=True)
        loop, close = _http_loop(store, srv.url(), body_size_limit=1_000_000)
        try:
            r = await loop.scrape_once(T0)
        finally:
            await close()
    assert r.failure_reason == "body_size_limit"


@pytest.mark.anyio
async def test_http_errors_are_scrape_errors() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"oops", status=500)
        loop, close = _http_loop(store, srv.url())
        try:
            r500 = await loop.scrape_once(T0)
            r404 = await _http_loop(store, srv.url("/nope"))[0].scrape_once(T0 + 1)
        finally:
            await close()
        refused_url = srv.url()
    # The server is closed now: connection refused.
    loop, close = _http_loop(store, refused_url)
    try:
        refused = await loop.scrape_once(T0 + 2)
    finally:
        await close()
    assert r500.error == "server returned HTTP status 500 Internal Server Error"
    assert r404.error.startswith("server returned HTTP status 404")
    assert refused.error.startswith("connection failed")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "encoding", "words"),
    [
        (gzip.compress(BODY)[:-20], "gzip", "truncated gzip body"),
        (b"not gzip at all", "gzip", "invalid gzip body"),
        (BODY, "br", "unsupported Content-Encoding 'br'"),
    ],
)
async def test_broken_encodings_are_scrape_errors(body: bytes, encoding: str, words: str) -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(body, content_encoding=encoding)
        loop, close = _http_loop(store, srv.url())
        try:
            r = await loop.scrape_once(T0)
        finally:
            await close()
    assert words in r.error
    assert _report(store, T0)["up"] == 0.0


@pytest.mark.anyio
async def test_run_scrapes_every_interval_until_stopped() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        loop, close = _http_loop(store, srv.url(), interval_s=0.1)
        try:
            loop.start(offset_s=0)
            for _ in range(100):
                await asyncio.sleep(0.05)
                if len(_series(store, "a")) and len(_one(store, "a")) >= 4:
                    break
            await loop.stop()
            assert not loop.running
            n = len(srv.requests)
            await asyncio.sleep(0.3)
            assert len(srv.requests) == n  # really stopped
        finally:
            await close()
    ts = _one(store, "a").timestamps.tolist()
    assert len(ts) >= 4
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert min(gaps) >= 50, gaps
    assert 80 <= statistics.median(gaps) <= 150, gaps  # every interval, not back to back


@pytest.mark.anyio
async def test_stop_waits_for_a_running_transaction() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        loop, close = _http_loop(store, srv.url(), interval_s=10)
        results: list[ScrapeResult] = []
        real = loop.append_scrape

        def slow(*args: object, **kw: object) -> ScrapeResult:
            time.sleep(0.3)
            res = real(*args, **kw)  # type: ignore[arg-type]
            results.append(res)
            return res

        loop.append_scrape = slow  # type: ignore[method-assign]
        try:
            loop.start(offset_s=0)
            for _ in range(100):
                await asyncio.sleep(0.01)
                if srv.requests:
                    break
            await asyncio.sleep(0.05)
            await loop.stop()
            assert len(results) == 1  # stop() returned only after the commit
        finally:
            await close()


class _FlakyStore(MemoryStorage):
    """MemoryStorage whose commits fail while ``failing`` is set (a full disk)."""

    failing = False

    def appender(self) -> Any:
        app = super().appender()
        real_commit = app.commit

        def commit() -> None:
            if self.failing:
                raise StorageError("no space left on device")
            real_commit()

        app.commit = commit  # type: ignore[method-assign]
        return app


def test_a_failed_commit_is_reported_and_forgets_the_new_series() -> None:
    store = _FlakyStore()
    loop = _loop(store)
    loop.append_scrape(b"a 1\n", None, T0)
    store.failing = True
    r = loop.append_scrape(b"a 2\nb 2\n", None, T0 + 1000)
    assert r.error == "commit failed: no space left on device"
    assert r.failure_reason == "storage"
    assert loop.health.health is Health.DOWN
    assert "b" not in loop.cache.series  # its ref was never committed
    assert "a" in loop.cache.series
    store.failing = False
    r = loop.append_scrape(b"a 3\nb 3\n", None, T0 + 2000)
    assert r.error == ""
    assert r.series_added == 1
    assert _values(store, "b") == [(T0 + 2000, 3.0)]
    assert [t for t, _ in _values(store, "a")] == [T0, T0 + 2000]


def test_a_rolled_back_scrape_leaves_no_new_cache_entries() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    r = loop.append_scrape(b"fresh 1\nbad{\n", None, T0)
    assert r.failure_reason == "parse"
    assert len(loop.cache) == 0
    assert len(loop.cache.parser_cache) == 0


def test_failing_scrapes_with_churning_series_do_not_grow_the_cache_forever() -> None:
    store = MemoryStorage()
    loop = _loop(store)
    for i in range(30):
        body = "".join(f"s{i}_{j} 1\n" for j in range(100)) + "x{\n"
        assert loop.append_scrape(body.encode(), None, T0 + i).failure_reason == "parse"
        # Rolled back each time: nothing accumulates.
        assert len(loop.cache) == 0
    # Series dropped by relabelling are cached too; the guard flushes them.
    loop = _loop(store, metric_relabel=lambda lset: None)
    for i in range(30):
        body = "".join(f"s{i}_{j} 1\n" for j in range(100)) + "x{\n"
        loop.append_scrape(body.encode(), None, T0 + i)
    assert len(loop.cache.dropped) <= 1100


def test_health_is_unknown_before_the_first_scrape() -> None:
    h = _loop(MemoryStorage()).health
    assert h.health is Health.UNKNOWN
    assert h.last_scrape_ms is None
    assert h.last_error == ""
    assert h.scrape_pool == "app"
