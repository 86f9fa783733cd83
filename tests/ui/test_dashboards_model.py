"""The dashboard model: validation with paths and positions, variables, Grafana both ways."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from vigil.promql.parser import parse_expr
from vigil.ui.dashboard_model import (
    Dashboard,
    DashboardError,
    Variable,
    builtin_values,
    export_grafana,
    import_grafana,
    interpolate,
    is_grafana,
    parse_dashboard,
    parse_dashboard_text,
)
from vigil.ui.dashboards import SHIPPED_DIR

GRAFANA = Path(__file__).resolve().parent / "grafana"


def grafana(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GRAFANA / f"{name}.json").read_text())
    return doc


def minimal(**panel: Any) -> dict[str, Any]:
    p = {
        "id": 1,
        "type": "timeseries",
        "title": "Requests",
        "targets": [{"expr": "rate(http_requests_total[5m])", "legendFormat": "{{route}}"}],
    }
    p.update(panel)
    return {"uid": "d1", "title": "D", "rows": [{"title": "", "panels": [p]}]}


def problems(doc: Any, text: str | None = None) -> list[str]:
    with pytest.raises(DashboardError) as exc:
        parse_dashboard(doc, text=text, source="d.json")
    return [str(p) for p in exc.value.problems]


# -- validation ------------------------------------------------------------------------------------


def test_a_valid_dashboard_reads_with_defaults_and_round_trips_through_json() -> None:
    d = parse_dashboard(minimal(unit="reqps", stacked=True))
    assert isinstance(d, Dashboard)
    assert d.time == "1h"
    assert d.refresh == ""
    (p,) = d.panels
    assert (p.type, p.unit, p.stacked, p.width, p.height) == ("timeseries", "reqps", True, 12, 8)
    assert p.targets[0].legend == "{{route}}"
    assert parse_dashboard(json.loads(json.dumps(d.to_json()))) == d


def test_errors_name_the_panel_and_field_and_carry_the_json_position() -> None:
    doc = minimal(unit="reqs", thresholds=[{"value": None, "color": "green"}, {"value": "x"}])
    doc["rows"][0]["panels"][0]["targets"][0]["expr"] = "sum(rate(x[5m])"
    text = json.dumps(doc, indent=2)
    got = problems(doc, text)
    by_field = {p.split(": ")[1]: p for p in got}
    unit = by_field["rows[0].panels[0].unit"]
    assert 'panel "Requests": unknown unit "reqs" (did you mean "reqps"?)' in unit
    line = text.splitlines().index('          "unit": "reqs",') + 1
    assert unit.startswith(f"d.json:{line}:19: ")
    assert (
        'rows[0].panels[0].thresholds[1].value: panel "Requests": expected a number'
        in "\n".join(got)
    )
    expr = by_field["rows[0].panels[0].targets[0].expr"]
    assert "parse error" in expr
    assert "1:" in expr


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"type": "graph"}, "type", '"graph" is not a panel type'),
        ({"width": 30}, "width", "30 is out of range 1..24"),
        ({"targets": []}, "targets", "needs at least one query"),
        ({"reduce": "median"}, "reduce", '"median" is not one of'),
        ({"min": 10, "max": 5}, "max", "must be above min"),
        ({"thresholds": [{"value": None, "color": "url(x)"}]}, "thresholds[0].color", "colour"),
        (
            {
                "thresholds": [
                    {"value": None, "color": "red"},
                    {"value": 5, "color": "a"},
                    {"value": 2, "color": "b"},
                ]
            },
            "thresholds[2].value",
            "steps must increase",
        ),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"id": "one"}, "id", "expected a whole number"),
    ],
)
def test_each_panel_field_is_checked(change: dict[str, Any], field: str, message: str) -> None:
    got = problems(minimal(**change))
    hit = [p for p in got if f"rows[0].panels[0].{field}: " in p]
    assert hit, got
    assert message in hit[0], got


def test_dashboard_level_and_variable_errors() -> None:
    doc = {
        "uid": "bad uid!",
        "title": "",
        "time": "an hour",
        "variables": [
            {"name": "job", "type": "query", "query": "up"},
            {"name": "job", "type": "custom", "options": ["a"]},
            {"name": "x", "type": "custom"},
        ],
        "rows": [
            {"panels": [{"id": 1, "type": "text"}, {"id": 1, "type": "text", "title": "again"}]}
        ],
    }
    got = "\n".join(problems(doc))
    assert 'uid: "bad uid!" is not a uid' in got
    assert "title: missing" in got
    assert 'time: "an hour" is not a duration' in got
    assert 'variables[0].query: variable "job": expected label_values(metric, label)' in got
    assert 'variables[1].name: "job" is defined twice' in got
    assert 'variables[2].options: variable "x": a custom variable needs at least one option' in got
    assert (
        'rows[0].panels[1].id: panel "again": panel id 1 is also used by rows[0].panels[0]' in got
    )


def test_json_syntax_errors_have_a_position() -> None:
    with pytest.raises(DashboardError) as exc:
        parse_dashboard_text('{"uid": "a",\n  "title": }', "x.json")
    assert str(exc.value.problems[0]).startswith("x.json:2:12: invalid JSON")


# -- variables ---------------------------------------------------------------------------------------


def test_variables_substitute_as_grafana_does() -> None:
    job = Variable("job", "query", query="label_values(up, job)")
    inst = Variable(
        "instance", "query", query="label_values(up, instance)", multi=True, include_all=True
    )
    anyv = Variable("any", "custom", options=("a",), include_all=True, all_value=".*")
    vs = [job, inst, anyv]
    values = {"job": ["api"], "instance": ["h:1", "h.2"], "any": ["a"]}
    expr = (
        'up{job="$job", instance=~"${instance}", x=~"[[any]]"} [$__rate_interval] $__range $unknown'
    )
    got = interpolate(expr, values, vs, builtins=builtin_values(3600, 30), all_selected=["any"])
    assert got == 'up{job="api", instance=~"(h:1|h\\\\.2)", x=~".*"} [1m] 1h $unknown'
    assert (
        interpolate("${instance:csv} ${instance:pipe} ${job:raw}", values, vs)
        == "h:1,h.2 h:1|h.2 api"
    )
    # One value of a multi variable is still regex-escaped, without the parentheses.
    assert interpolate('i=~"$instance"', {"instance": ["a.b"]}, vs) == 'i=~"a\\\\.b"'
    # $__rate_interval is max(step + scrape interval, 4 * scrape interval).
    assert builtin_values(86400, 345)["__rate_interval"] == "6m"
    assert builtin_values(3600, 14)["__interval"] == "14s"
    assert builtin_values(600, 2)["__interval_ms"] == "2000"


def test_every_shipped_dashboard_is_valid_and_its_queries_parse() -> None:
    files = sorted(SHIPPED_DIR.glob("*.json"))
    assert [f.stem for f in files] == ["postgresql", "redis", "service-overview", "system-overview"]
    for f in files:
        d = parse_dashboard_text(f.read_text(), str(f))
        assert d.uid.startswith("vigil-")
        assert len(d.panels) >= 8
        values = {v.name: ["x", "y"] for v in d.variables}
        for p in d.panels:
            assert p.targets, (f, p.title)
            for t in p.targets:
                parse_expr(
                    interpolate(t.expr, values, d.variables, builtins=builtin_values(3600, 15))
                )
    red = parse_dashboard_text((SHIPPED_DIR / "service-overview.json").read_text())
    exprs = " ".join(t.expr for p in red.panels for t in p.targets)
    for needle in ("http_requests_total", "http_request_duration_seconds_bucket", 'status=~"5.."'):
        assert needle in exprs
    assert {p.type for p in red.panels} == {"stat", "timeseries", "bar", "table"}


# -- Grafana import --------------------------------------------------------------------------------------


def test_a_legacy_red_dashboard_with_rows_singlestat_and_templating_imports() -> None:
    doc = grafana("red_legacy")
    assert is_grafana(doc)
    r = import_grafana(doc)
    d = r.dashboard
    assert (d.uid, d.title, d.time, d.refresh, d.tags) == (
        "demo-red-legacy", "Demo RED (legacy)", "3h", "30s", ("red", "demo"),
    )  # fmt: skip
    assert [row.title for row in d.rows] == ["", "Traffic"]
    kinds = [(p.id, p.type, p.title, p.width, p.height) for p in d.panels]
    assert kinds == [
        (1, "stat", "Request rate", 8, 5),
        (2, "gauge", "Error ratio", 8, 5),
        (3, "table", "Totals by code", 8, 5),
        (4, "timeseries", "Requests by instance", 16, 8),
        (5, "unsupported", "Codes", 8, 8),
    ]
    stat, gauge, _, graph, pie = d.panels
    assert (stat.unit, stat.sparkline, stat.reduce) == ("reqps", True, "last")
    assert [(t.value, t.color) for t in stat.thresholds] == [
        (None, "#299c46"), (10, "rgba(237, 129, 40, 0.89)"), (50, "#d44a3a"),
    ]  # fmt: skip
    assert (gauge.unit, gauge.min, gauge.max, gauge.decimals, gauge.reduce) == (
        "percentunit", 0, 1, 2, "mean",
    )  # fmt: skip
    assert graph.stacked
    assert graph.unit == "reqps"
    assert graph.min == 0
    assert graph.targets[0].expr.endswith('instance=~"${instance}"}[$__rate_interval]))')
    assert graph.targets[0].legend == "{{instance}}"
    assert graph.targets[1].hide
    assert pie.note == "not supported: grafana-piechart-panel"
    assert pie.grafana is not None
    assert pie.grafana["type"] == "grafana-piechart-panel"
    assert [(v.name, v.type, v.multi, v.include_all, v.default) for v in d.variables] == [
        ("job", "query", False, False, ("api",)),
        ("instance", "query", True, True, ("$__all",)),
        ("window", "custom", False, False, ("5m",)),
    ]
    assert d.variables[1].all_value == ".*"
    assert any("datasource" in n for n in r.notes)
    assert any('"Codes": not supported: grafana-piechart-panel' in n for n in r.notes)


def test_a_modern_dashboard_maps_every_panel_type_and_collapsed_rows() -> None:
    r = import_grafana({"dashboard": grafana("modern")})  # the API's wrapper is accepted
    d = r.dashboard
    assert [(row.title, row.collapsed) for row in d.rows] == [
        ("Overview", False),
        ("Details", True),
    ]
    types = {p.title: p.type for p in d.panels}
    assert types == {
        "Hottest room": "stat",
        "Rooms": "gauge",
        "Requests by instance": "bar",
        "Request rate by code": "timeseries",
        "Temperatures": "table",
        "Latency heatmap": "unsupported",
        "Notes": "text",
    }
    by = {p.title: p for p in d.panels}
    assert by["Hottest room"].reduce == "mean"
    assert by["Hottest room"].sparkline
    assert by["Hottest room"].targets[0].legend == ""  # "__auto"
    assert by["Requests by instance"].reduce == "max"
    assert by["Request rate by code"].stacked
    assert by["Request rate by code"].unit == "reqps"
    assert by["Rooms"].targets[0].instant
    assert [t.color for t in by["Rooms"].thresholds] == ["blue", "semi-dark-orange", "dark-red"]
    assert by["Notes"].content.startswith("# Runbook")
    assert by["Latency heatmap"].note == "not supported: heatmap"
    assert by["Latency heatmap"].targets[0].expr.startswith("sum by (le)")
    (room,) = d.variables
    assert room.query == "label_values(demo_temperature,room)"
    assert room.default == ("$__all",)


@pytest.mark.parametrize("name", ["red_legacy", "modern"])
def test_export_then_import_keeps_panels_queries_and_variables(name: str) -> None:
    d = import_grafana(grafana(name)).dashboard
    out = export_grafana(d)
    assert out["schemaVersion"] == 39
    assert out["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert out["__inputs"][0]["pluginId"] == "prometheus"
    for p in out["panels"]:
        assert set(p["gridPos"]) == {"x", "y", "w", "h"}
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for t in p.get("targets", []):
            if p["type"] in ("timeseries", "stat", "gauge", "bargauge", "table"):
                assert t["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    again = import_grafana(json.loads(json.dumps(out)))
    assert again.dashboard == d


def test_exported_layout_flows_rows_and_nests_collapsed_panels() -> None:
    out = export_grafana(import_grafana(grafana("modern")).dashboard)
    top = [(p["type"], p["gridPos"]["x"], p["gridPos"]["y"]) for p in out["panels"]]
    assert top == [
        ("row", 0, 0),
        ("stat", 0, 1),
        ("gauge", 6, 1),
        ("bargauge", 12, 1),
        ("timeseries", 0, 6),
        ("table", 12, 6),
        ("row", 0, 14),
    ]
    collapsed = out["panels"][-1]
    assert collapsed["collapsed"] is True
    assert [p["type"] for p in collapsed["panels"]] == ["heatmap", "text"]


def test_import_refuses_what_is_not_a_dashboard_and_never_drops_a_panel() -> None:
    with pytest.raises(DashboardError, match="neither"):
        import_grafana({"title": "x"})
    with pytest.raises(DashboardError, match="expected a Grafana dashboard object"):
        import_grafana([1, 2])
    doc = grafana("modern")
    weird = copy.deepcopy(doc)
    weird["panels"].append(
        {"type": "graph", "title": "No queries", "gridPos": {"x": 0, "y": 99, "w": 6, "h": 4}}
    )
    weird["panels"].append(
        {"type": "stat", "title": "Loki", "targets": [{"refId": "A", "expr": ""}]}
    )
    weird["panels"].append(
        {
            "type": "timeseries",
            "title": "Odd unit",
            "fieldConfig": {"defaults": {"unit": "lengthm"}},
            "targets": [{"expr": "up"}],
        }
    )
    r = import_grafana(weird)
    titles = {p.title: p for p in r.dashboard.panels}
    assert titles["No queries"].type == "unsupported"
    assert titles["Loki"].note == "not supported: stat with no PromQL query"
    assert titles["Odd unit"].unit == "short"
    assert any('"Odd unit": unit "lengthm" is not supported' in n for n in r.notes)
    assert len(r.dashboard.panels) == 7 + 3
