"""The requests Grafana's Prometheus data source sends, and the shapes it reads back.

Grafana (10.x/11.x, ``public/app/plugins/datasource/prometheus`` and the
``pkg/promlib`` backend) sends: on "Save & test" an instant query ``1+1``
(GET, ``time`` as Unix seconds); ``/api/v1/status/buildinfo`` to detect the
flavour and version; for the query editor's metric browser
``/api/v1/labels`` and ``/api/v1/label/__name__/values`` with ``start``/``end``,
``/api/v1/series?match[]=...`` and ``/api/v1/label/<name>/values?match[]=...``;
``/api/v1/metadata``; and for panels ``query_range`` as a form POST with
``step`` in seconds, plus ``query_exemplars`` when exemplars are on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import serve
from vigil.api import ApiOptions, create_app
from vigil.api.query import QueryOptions
from vigil.api.status import StatusOptions
from vigil.model.labels import Labels
from vigil.storage import MemoryStorage

NOW = 1_700_003_600  # seconds
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GRAFANA = {"User-Agent": "Grafana/11.1.0", "X-Grafana-Org-Id": "1", "Accept": "application/json"}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    store = MemoryStorage()
    app = store.appender()
    for i in range(241):  # one hour at 15 s
        t = (NOW - 3600 + i * 15) * 1000
        for job, inst in (("node", "h1:9100"), ("node", "h2:9100"), ("vigil", "v:9090")):
            app.append(0, Labels(__name__="up", job=job, instance=inst), t, 1.0)
            app.append(
                0,
                Labels(__name__="process_cpu_seconds_total", job=job, instance=inst),
                t,
                i * 0.15,
            )
        for le, frac in (("0.1", 0.5), ("0.5", 0.9), ("+Inf", 1.0)):
            app.append(
                0,
                Labels(__name__="http_request_duration_seconds_bucket", job="vigil", le=le),
                t,
                i * 10 * frac,
            )
    app.commit()
    opts = ApiOptions(
        store,
        clock=lambda: float(NOW),
        query=QueryOptions(store),
        status=StatusOptions(queryable=store),
    )
    with serve(create_app(opts)) as c:
        c.headers.update(GRAFANA)
        yield c


def ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def test_save_and_test(client: httpx.Client) -> None:
    data = ok(client.get("/api/v1/query", params={"query": "1+1", "time": str(NOW)}))
    assert data == {"resultType": "scalar", "result": [NOW, "2"]}
    info = ok(client.get("/api/v1/status/buildinfo"))
    assert isinstance(info["version"], str)
    assert info["version"]


def test_metric_browser(client: httpx.Client) -> None:
    window = {"start": str(NOW - 3600), "end": str(NOW)}
    names = ok(client.get("/api/v1/label/__name__/values", params=window))
    assert names == ["http_request_duration_seconds_bucket", "process_cpu_seconds_total", "up"]
    labels = ok(client.get("/api/v1/labels", params=window))
    assert labels == ["__name__", "instance", "job", "le"]
    # the label filter of the browser: labels of one metric, then values of one label
    labels_of_up = ok(client.get("/api/v1/labels", params={**window, "match[]": "up"}))
    assert labels_of_up == ["__name__", "instance", "job"]
    jobs = ok(client.get("/api/v1/label/job/values", params={**window, "match[]": "up"}))
    assert jobs == ["node", "vigil"]
    series = ok(client.get("/api/v1/series", params={**window, "match[]": 'up{job="node"}'}))
    assert series == [
        {"__name__": "up", "instance": "h1:9100", "job": "node"},
        {"__name__": "up", "instance": "h2:9100", "job": "node"},
    ]
    # newer Grafana sends these as form POSTs
    posted = ok(client.post("/api/v1/labels", data={**window, "match[]": "up"}, headers=FORM))
    assert posted == labels_of_up
    assert isinstance(ok(client.get("/api/v1/metadata")), dict)


def test_variable_query_label_values_with_rfc3339_times(client: httpx.Client) -> None:
    params = {
        "match[]": 'up{job="node"}',
        "start": "2023-11-14T22:13:20Z",
        "end": "2023-11-14T23:13:20.000Z",
    }
    assert ok(client.get("/api/v1/label/instance/values", params=params)) == [
        "h1:9100",
        "h2:9100",
    ]


def test_panel_range_queries(client: httpx.Client) -> None:
    form = {
        "query": "sum by (job) (rate(process_cpu_seconds_total[1m]))",
        "start": str(NOW - 1800),
        "end": str(NOW),
        "step": "30",
    }
    data = ok(client.post("/api/v1/query_range", data=form, headers=FORM))
    assert data["resultType"] == "matrix"
    assert [s["metric"] for s in data["result"]] == [{"job": "node"}, {"job": "vigil"}]
    node = data["result"][0]["values"]
    assert len(node) == 61
    assert node[0][0] == NOW - 1800
    assert all(isinstance(p[0], int) and isinstance(p[1], str) for p in node)
    assert float(node[-1][1]) == pytest.approx(0.02)  # two hosts at 0.01/s
    quantile = ok(
        client.post(
            "/api/v1/query_range",
            data={
                "query": "histogram_quantile(0.9, sum by (le) (rate("
                "http_request_duration_seconds_bucket[5m])))",
                "start": str(NOW - 600),
                "end": str(NOW),
                "step": "60",
            },
            headers=FORM,
        )
    )
    [q] = quantile["result"]
    assert q["metric"] == {}
    assert float(q["values"][-1][1]) == pytest.approx(0.5)


def test_table_panel_instant_query_and_exemplars(client: httpx.Client) -> None:
    data = ok(
        client.post(
            "/api/v1/query",
            data={"query": "topk(2, up)", "time": str(NOW)},
            headers=FORM,
        )
    )
    assert data["resultType"] == "vector"
    assert len(data["result"]) == 2
    assert all(r["value"] == [NOW, "1"] for r in data["result"])
    exemplars = ok(
        client.post(
            "/api/v1/query_exemplars",
            data={"query": "up", "start": str(NOW - 600), "end": str(NOW)},
            headers=FORM,
        )
    )
    assert exemplars == []


def test_grafana_sees_prometheus_error_shape(client: httpx.Client) -> None:
    r = client.post(
        "/api/v1/query_range",
        data={"query": "sum(rate(up[5m])", "start": str(NOW - 60), "end": str(NOW), "step": "15"},
        headers=FORM,
    )
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error"
    assert body["errorType"] == "bad_data"
    assert "parse error" in body["error"]
