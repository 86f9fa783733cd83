"""The PromQL HTTP API: paths, parameters, JSON shapes and errors as Prometheus has them."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.conftest import serve
from vigil.api import ApiOptions, create_app
from vigil.api.query import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    QueryOptions,
    format_sample_value,
    format_sample_values,
    format_timestamp,
    parse_duration_param,
    parse_time_param,
)
from vigil.api.status import StatusOptions
from vigil.config import parse_config
from vigil.model.labels import Labels
from vigil.promql.engine import Engine
from vigil.promql.errors import QueryTimeoutError
from vigil.storage import MemoryStorage

T0 = 1_700_000_000  # seconds; samples every 15 s from here
STEP = 15
N = 41  # 10 minutes of samples


def _fill(store: MemoryStorage) -> None:
    app = store.appender()
    for i in range(N):
        t = (T0 + i * STEP) * 1000
        app.append(0, Labels(__name__="up", job="api", instance="a:80"), t, 1.0)
        app.append(0, Labels(__name__="up", job="api", instance="b:80"), t, 0.0 if i > 30 else 1.0)
        app.append(0, Labels(__name__="up", job="db", instance="c:90"), t, 1.0)
        app.append(
            0, Labels(__name__="http_requests_total", job="api", code="200"), t, float(i * 30)
        )
        app.append(0, Labels(__name__="http_requests_total", job="api", code="500"), t, float(i))
    app.commit()


@pytest.fixture
def store() -> MemoryStorage:
    s = MemoryStorage()
    _fill(s)
    return s


@contextlib.contextmanager
def _client(store: MemoryStorage, engine: Any = None, **status: Any) -> Iterator[httpx.Client]:
    config = parse_config(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: api\n"
        "    basic_auth:\n      username: u\n      password: hunter2\n"
        "    static_configs:\n      - targets: ['a:80']\n",
        "<test>",
    )
    opts = ApiOptions(
        store,
        clock=lambda: T0 + 600.0,
        query=QueryOptions(store, engine=engine or Engine()),
        status=StatusOptions(
            queryable=store,
            config=lambda: config,
            flags={"storage.tsdb.path": "data"},
            **status,
        ),
    )
    with serve(create_app(opts)) as c:
        yield c


@pytest.fixture
def client(store: MemoryStorage) -> Iterator[httpx.Client]:
    with _client(store) as c:
        yield c


def ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def err(r: Any, status: int, error_type: str, *fragments: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"status", "errorType", "error"}, body
    assert (body["status"], body["errorType"]) == ("error", error_type), body
    for f in fragments:
        assert f in body["error"], body["error"]
    return str(body["error"])


# -- instant queries -----------------------------------------------------------------------


def test_instant_vector(client: httpx.Client) -> None:
    t = T0 + 600
    data = ok(client.get("/api/v1/query", params={"query": 'up{job="api"}', "time": str(t)}))
    assert data["resultType"] == "vector"
    got = {r["metric"]["instance"]: r for r in data["result"]}
    assert got["a:80"] == {
        "metric": {"__name__": "up", "job": "api", "instance": "a:80"},
        "value": [t, "1"],
    }
    assert got["b:80"]["value"] == [t, "0"]


def test_instant_scalar_string_and_matrix(client: httpx.Client) -> None:
    t = T0 + 600
    assert ok(client.get("/api/v1/query", params={"query": "1 + 1", "time": t})) == {
        "resultType": "scalar",
        "result": [t, "2"],
    }
    assert ok(client.get("/api/v1/query", params={"query": '"hi"', "time": t})) == {
        "resultType": "string",
        "result": [t, "hi"],
    }
    data = ok(client.get("/api/v1/query", params={"query": 'up{instance="c:90"}[1m]', "time": t}))
    assert data["resultType"] == "matrix"
    [series] = data["result"]
    # (t-60s, t]: the samples at t-45, t-30, t-15 and t
    assert [p[0] for p in series["values"]] == [t - 45, t - 30, t - 15, t]
    assert series["values"][0][1] == "1"


def test_instant_query_time_forms_and_default(client: httpx.Client) -> None:
    t = T0 + 300
    by_float = ok(client.get("/api/v1/query", params={"query": "time()", "time": f"{t}.250"}))
    assert by_float["result"] == [t + 0.25, str(t + 0.25)]
    rfc = "2023-11-14T22:18:20Z"  # T0 + 300 s
    assert parse_time_param(rfc) == t * 1000
    by_rfc = ok(client.get("/api/v1/query", params={"query": "time()", "time": rfc}))
    assert by_rfc["result"] == [t, str(t)]
    default = ok(client.get("/api/v1/query", params={"query": "time()"}))
    assert default["result"] == [T0 + 600, str(T0 + 600)]  # the app's clock


def test_post_form_is_the_same_as_get(client: httpx.Client) -> None:
    params = {"query": "sum by (job) (up)", "time": str(T0 + 600)}
    a = ok(client.get("/api/v1/query", params=params))
    b = ok(client.post("/api/v1/query", data=params))
    assert a == b
    assert {r["metric"]["job"]: r["value"][1] for r in a["result"]} == {"api": "1", "db": "1"}


def test_limit_truncates_with_a_warning(client: httpx.Client) -> None:
    r = client.get("/api/v1/query", params={"query": "up", "time": T0 + 600, "limit": "1"})
    assert len(ok(r)["result"]) == 1
    assert r.json()["warnings"] == ["results truncated due to limit"]


# -- range queries -------------------------------------------------------------------------


def test_query_range_matrix_sorted_with_all_points(client: httpx.Client) -> None:
    start, end = T0 + 300, T0 + 600
    data = ok(
        client.get(
            "/api/v1/query_range",
            params={
                "query": "sum by (code) (rate(http_requests_total[1m]))",
                "start": start,
                "end": end,
                "step": "60s",
            },
        )
    )
    assert data["resultType"] == "matrix"
    assert [s["metric"] for s in data["result"]] == [{"code": "200"}, {"code": "500"}]
    assert [p[0] for p in data["result"][0]["values"]] == list(range(start, end + 1, 60))
    for series, per_second in zip(data["result"], (2.0, 1 / 15), strict=True):  # 30 and 1 per 15 s
        assert [float(p[1]) for p in series["values"]] == pytest.approx([per_second] * 6)


def test_query_range_float_step_and_scalar(client: httpx.Client) -> None:
    data = ok(
        client.post(
            "/api/v1/query_range",
            data={"query": "2 * 3", "start": str(T0), "end": str(T0 + 30), "step": "15"},
        )
    )
    assert data == {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[T0, "6"], [T0 + 15, "6"], [T0 + 30, "6"]]}],
    }


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "error_type", "fragments"),
    [
        ({"query": "sum(up"}, 400, "bad_data", ['invalid parameter "query"', "parse error"]),
        ({"query": "no_such_fn(up)"}, 400, "bad_data", ['unknown function with name "no_such_fn"']),
        ({"query": "rate(up)"}, 400, "bad_data", ["expected type range vector", "rate"]),
        ({"query": ""}, 400, "bad_data", ["no expression found in input"]),
        ({"query": "up", "time": "yesterday"}, 400, "bad_data", ['invalid parameter "time"']),
        ({"query": "up", "timeout": "soon"}, 400, "bad_data", ['invalid parameter "timeout"']),
        ({"query": "up", "limit": "-1"}, 400, "bad_data", ['invalid parameter "limit"']),
        (
            {"query": "up + on() http_requests_total"},
            422,
            "execution",
            ["many-to-many matching not allowed"],
        ),
    ],
)
def test_query_errors(
    client: httpx.Client,
    params: dict[str, str],
    status: int,
    error_type: str,
    fragments: list[str],
) -> None:
    params = {"time": str(T0 + 600), **params}
    err(client.get("/api/v1/query", params=params), status, error_type, *fragments)
    # the server keeps serving
    assert ok(client.get("/api/v1/query", params={"query": "1"}))["result"][1] == "1"


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        (
            {"start": "0", "end": "100000", "step": "1"},
            ["exceeded maximum resolution of 11,000 points per timeseries"],
        ),
        ({"start": "100", "end": "0", "step": "1"}, ["end timestamp must not be before start"]),
        ({"start": "0", "end": "10", "step": "0"}, ["zero or negative query resolution step"]),
        ({"start": "0", "end": "10", "step": "-5s"}, ['invalid parameter "step"']),
        ({"start": "0", "end": "10"}, ['invalid parameter "step"']),
        ({"end": "10", "step": "1"}, ['invalid parameter "start"']),
        ({"start": "0", "end": "x", "step": "1"}, ['invalid parameter "end"']),
        (
            {"start": "0", "end": "10", "step": "1", "query": "up[5m]"},
            ['invalid expression type "range vector" for range query'],
        ),
        (
            {"start": "0", "end": "10", "step": "1", "query": '"s"'},
            ['invalid expression type "string" for range query'],
        ),
    ],
)
def test_query_range_errors(
    client: httpx.Client, params: dict[str, str], fragments: list[str]
) -> None:
    params = {"query": "up", **params}
    err(client.get("/api/v1/query_range", params=params), 400, "bad_data", *fragments)


def test_huge_range_with_many_steps_is_refused_but_a_huge_range_at_coarse_step_runs(
    client: httpx.Client,
) -> None:
    ten_years = 10 * 365 * 86400
    err(
        client.get(
            "/api/v1/query_range",
            params={"query": "up", "start": T0 - ten_years, "end": T0, "step": "60"},
        ),
        400,
        "bad_data",
        "11,000 points",
    )
    data = ok(
        client.get(
            "/api/v1/query_range",
            params={"query": "count(up)", "start": T0 - ten_years, "end": T0 + 600, "step": "1d"},
        )
    )
    assert data["resultType"] == "matrix"


def test_too_many_samples_and_timeout(store: MemoryStorage) -> None:
    with _client(store, engine=Engine(max_samples=10)) as c:
        err(
            c.get("/api/v1/query", params={"query": "up[10m]", "time": T0 + 600}),
            422,
            "execution",
            "query processing would load too many samples into memory",
        )

    class SlowEngine:
        def instant(self, *args: Any) -> Any:
            raise QueryTimeoutError()

    with _client(store, engine=SlowEngine()) as c:
        err(c.get("/api/v1/query", params={"query": "up"}), 503, "timeout", "query timed out")


# -- metadata endpoints --------------------------------------------------------------------


def test_series(client: httpx.Client) -> None:
    data = ok(client.get("/api/v1/series", params={"match[]": 'up{job="api"}'}))
    assert data == [
        {"__name__": "up", "instance": "a:80", "job": "api"},
        {"__name__": "up", "instance": "b:80", "job": "api"},
    ]
    both = ok(
        client.post(
            "/api/v1/series",
            data={"match[]": ['up{job="db"}', 'http_requests_total{code="500"}']},
        )
    )
    assert [s["__name__"] for s in both] == ["http_requests_total", "up"]
    # no series outside the time range
    assert ok(client.get("/api/v1/series", params={"match[]": "up", "end": T0 - 1})) == []
    err(client.get("/api/v1/series"), 400, "bad_data", "no match[] parameter provided")
    err(client.get("/api/v1/series", params={"match[]": "up[5m]"}), 400, "bad_data")
    err(client.get("/api/v1/series", params={"match[]": '{job=""}'}), 400, "bad_data")


def test_labels_and_values(client: httpx.Client) -> None:
    assert ok(client.get("/api/v1/labels")) == ["__name__", "code", "instance", "job"]
    assert ok(client.get("/api/v1/labels", params={"match[]": "up"})) == [
        "__name__",
        "instance",
        "job",
    ]
    assert ok(client.get("/api/v1/label/__name__/values")) == ["http_requests_total", "up"]
    assert ok(client.get("/api/v1/label/instance/values", params={"match[]": 'up{job="api"}'})) == [
        "a:80",
        "b:80",
    ]
    assert ok(client.get("/api/v1/label/nope/values")) == []
    assert ok(client.get("/api/v1/labels", params={"start": T0 + 10_000})) == []
    r = client.get("/api/v1/label/job/values", params={"limit": "1"})
    assert ok(r) == ["api"]
    assert r.json()["warnings"] == ["results truncated due to limit"]


def test_metadata_exemplars_and_format_query(client: httpx.Client) -> None:
    assert ok(client.get("/api/v1/metadata")) == {}
    assert ok(client.get("/api/v1/query_exemplars", params={"query": "up"})) == []
    err(client.get("/api/v1/query_exemplars", params={"query": "up("}), 400, "bad_data")
    assert (
        ok(client.get("/api/v1/format_query", params={"query": "sum(rate(x{a='b'}[5m]))by(job)"}))
        == 'sum by (job) (rate(x{a="b"}[5m]))'
    )
    err(client.get("/api/v1/format_query", params={"query": "1 +"}), 400, "bad_data")


def test_status_endpoints(client: httpx.Client) -> None:
    info = ok(client.get("/api/v1/status/buildinfo"))
    assert set(info) >= {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    yaml_text = ok(client.get("/api/v1/status/config"))["yaml"]
    assert "hunter2" not in yaml_text
    assert "<secret>" in yaml_text
    assert "scrape_interval: 15s" in yaml_text
    assert ok(client.get("/api/v1/status/flags")) == {"storage.tsdb.path": "data"}
    tsdb = ok(client.get("/api/v1/status/tsdb"))
    assert tsdb["headStats"]["numSeries"] == 5
    assert tsdb["headStats"]["minTime"] == T0 * 1000
    assert tsdb["seriesCountByMetricName"] == [
        {"name": "up", "value": 3},
        {"name": "http_requests_total", "value": 2},
    ]
    assert {"name": "job=api", "value": 4} in tsdb["seriesCountByLabelValuePair"]
    assert ok(client.get("/api/v1/status/tsdb", params={"limit": "1"}))[
        "seriesCountByMetricName"
    ] == [{"name": "up", "value": 3}]
    err(client.get("/api/v1/status/tsdb", params={"limit": "0"}), 400, "bad_data")


def test_unknown_path_and_method(client: httpx.Client) -> None:
    err(client.get("/api/v1/nope"), 404, "not_found")
    err(client.delete("/api/v1/query"), 405, "bad_data")


# -- parameter and value formatting --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (1e100, "1e+100"),
        (1.5e-7, "1.5e-07"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-6, "0.000001"),
        (123456789.125, "123456789.125"),
        (0.0, "0"),
    ],
)
def test_format_sample_value(value: float, text: str) -> None:
    assert format_sample_value(value) == text


def test_format_sample_values_equals_one_by_one() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            [0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan, 1e-4, 9.99e-5, 1e-6, 1e-7],
            [1e15, 1e16, 9999999999999998.0, 1e20, 1e21, 123456789.125, 0.1 + 0.2],
            rng.normal(size=200) * 10.0 ** rng.integers(-9, 23, 200),
        ]
    )
    assert format_sample_values(values) == [format_sample_value(float(v)) for v in values]


def test_parse_params() -> None:
    assert parse_time_param("1.5") == 1500
    assert parse_time_param("-1.001") == -1001
    assert parse_time_param("2015-07-01T20:10:51.781Z") == 1435781451781
    assert parse_time_param("2015-07-01T22:10:51.781+02:00") == 1435781451781
    assert parse_time_param("-292273086-05-16T16:47:06Z") == MIN_TIME_MS
    assert parse_time_param("292277025-08-18T07:12:54.999999999Z") == MAX_TIME_MS
    with pytest.raises(ValueError, match="cannot parse"):
        parse_time_param("2015-07-01")
    assert parse_duration_param("15") == 15.0
    assert parse_duration_param("0.5") == 0.5
    assert parse_duration_param("1m30s") == 90.0
    assert parse_duration_param("1h") == 3600.0
    with pytest.raises(ValueError, match="cannot parse"):
        parse_duration_param("5 minutes")
    with pytest.raises(ValueError, match="cannot parse"):
        parse_duration_param("")
    assert format_timestamp(1500) == 1.5
    assert format_timestamp(2000) == 2
