"""Dashboards in a real browser (Debian's chromium, headless, driven by Playwright).

Import a Grafana dashboard through the page and see every panel draw the series the API
returns for its queries; variables, the JSON editor, the panel form and the shipped
dashboards. Screenshots go to tests/ui/artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from vigil.ui.dashboard_model import Variable, builtin_values, interpolate

from .conftest import Site
from .test_browser import ARTIFACTS, CHROMIUM, Tab, signed_in, wait_js

GRAFANA = Path(__file__).resolve().parent / "grafana"
READY = (
    "window.vigilDashboards && window.vigilDashboards.ready && window.vigilDashboards.renders > 0"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield b
        b.close()


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    t = Tab(context.new_page(), site)
    yield t
    context.close()


def panels(tab: Tab) -> dict[str, dict[str, Any]]:
    got: dict[str, dict[str, Any]] = tab.page.evaluate(
        "() => Object.fromEntries(Object.values(window.vigilDashboards.panels).map(p => [p.title, p]))"
    )
    return got


def api_series(site: Site, info: dict[str, Any]) -> int:
    """How many series the API returns for what the panel asked."""
    c, _ = site.login("viv")
    try:
        total = 0
        for q in info["asked"]:
            if q["instant"]:
                r = c.post("/api/v1/query", data={"query": q["expr"], "time": info["end"]})
            else:
                r = c.post(
                    "/api/v1/query_range",
                    data={
                        "query": q["expr"],
                        "start": info["start"],
                        "end": info["end"],
                        "step": info["step"],
                    },
                )
            assert r.status_code == 200, (q, r.text)
            total += len(r.json()["data"]["result"])
        return total
    finally:
        c.close()


def import_through_the_page(tab: Tab, name: str) -> None:
    page = tab.page
    page.fill("#import-json", (GRAFANA / f"{name}.json").read_text())
    page.click("#import button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboards\?uid="))
    wait_js(page, READY, timeout=20)


def test_an_imported_grafana_dashboard_draws_every_panel_with_data(tab: Tab, site: Site) -> None:
    signed_in(tab, "eddie", "/dashboards")
    page = tab.page
    wait_js(page, "window.vigilDashboards && window.vigilDashboards.ready")
    assert page.locator("#dash-list a").count() >= 4
    import_through_the_page(tab, "modern")
    assert "uid=demo-modern" in page.url
    assert page.locator("#dash-title").inner_text() == "Demo modern"
    notes = page.evaluate("window.vigilDashboards.notes")
    assert any("not supported: heatmap" in n for n in notes)
    got = panels(tab)
    expected = {
        "Hottest room": ("stat", 1),
        "Rooms": ("gauge", 3),
        "Requests by instance": ("bar", 3),
        "Request rate by code": ("timeseries", 2),
        "Temperatures": ("table", 3),
    }
    for title, (ptype, count) in expected.items():
        info = got[title]
        assert info["state"] == "ok", info
        assert info["type"] == ptype
        assert info["series"] == count, (title, info)
        assert api_series(site, info) == count
        assert info["points"] >= count
    # The time series has every point of a range query; the variable became a regex.
    ts = got["Request rate by code"]
    assert ts["points"] > 200
    assert "[1m]" in ts["asked"][0]["expr"]  # $__rate_interval at a 14 s step
    assert (
        got["Hottest room"]["asked"][0]["expr"]
        == 'max(demo_temperature{room=~"(attic|cellar|hall)"})'
    )
    # What is on the screen: the uPlot legend, stat values, gauge arcs, bars and table rows.
    ts_panel = page.locator(".panel[data-type=timeseries]")
    assert ts_panel.locator(".u-legend .u-series").count() == 3
    assert "HTTP 200" in ts_panel.locator(".u-legend").inner_text()
    assert page.locator(".panel[data-type=stat] .value").first.inner_text().endswith("°C")
    assert page.locator(".panel[data-type=gauge] .gauge").count() == 3
    assert page.locator(".panel[data-type=bar] .bar").count() == 3
    assert page.locator(".panel[data-type=table] tbody tr").count() == 3
    # The collapsed row opens on a click: the placeholder says what is not supported.
    page.click(".dash-row.collapsed h2")
    wait_js(page, "window.vigilDashboards.renders > 1")
    heat = page.locator(".panel[data-type=unsupported]")
    assert heat.inner_text().endswith("not supported: heatmap")
    assert "Call <b>ops</b>." in page.locator(".panel[data-type=text]").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-imported.png"), full_page=True)
    assert tab.errors == []


def test_variables_change_the_queries_and_the_url(tab: Tab, site: Site) -> None:
    signed_in(tab, "eddie", "/dashboards")
    page = tab.page
    wait_js(page, "window.vigilDashboards && window.vigilDashboards.ready")
    import_through_the_page(tab, "red_legacy")
    got = panels(tab)
    graph = got["Requests by instance"]
    # "All" with allValue ".*"; [[instance]] became ${instance}; the hidden query is not run.
    assert graph["asked"] == [
        {
            "expr": 'sum by (instance) (rate(demo_requests_total{job=~"api", instance=~".*"}[1m]))',
            "instant": False,
        }
    ]
    assert graph["series"] == 3
    assert got["Request rate"]["series"] == 1
    assert got["Totals by code"]["series"] == 2
    assert got["Codes"]["state"] == "unsupported"
    options = page.locator("select[data-var=instance] option").all_inner_texts()
    assert options == ["All", "h:1", "h:2", "h:3"]
    page.select_option("select[data-var=instance]", ["h:1", "h:3"])
    wait_js(page, "window.vigilDashboards.renders > 1")
    graph = panels(tab)["Requests by instance"]
    assert 'instance=~"(h:1|h:3)"' in graph["asked"][0]["expr"]
    assert graph["series"] == 2
    assert "var-instance=h%3A1&var-instance=h%3A3" in page.url
    # The page's interpolation is the model's.
    variables = [
        Variable("job", "query", query="x"),
        Variable("instance", "query", query="x", multi=True, include_all=True),
    ]
    values = {"job": ["a.b"], "instance": ["h:1", "x.y"]}
    expr = 'f{job="$job", i=~"${instance}", j="[[job]]", k="${instance:csv}"}[$__rate_interval]'
    js = page.evaluate(
        "([e, v, vars, b]) => window.vigilDashboards.interpolate(e, v, vars, b)",
        [
            expr,
            values,
            [{"name": v.name, "multi": v.multi, "includeAll": v.include_all} for v in variables],
            builtin_values(3600, 14),
        ],
    )
    assert js == interpolate(expr, values, variables, builtins=builtin_values(3600, 14))
    page.screenshot(path=str(ARTIFACTS / "dashboard-variables.png"), full_page=True)
    assert tab.errors == []


def test_editing_as_json_shows_errors_and_the_panel_form_adds_and_removes(
    tab: Tab, site: Site
) -> None:
    editor, csrf = site.login("eddie")
    try:
        body = {
            "uid": "browser-edit",
            "title": "Edit me",
            "rows": [
                {
                    "title": "",
                    "panels": [
                        {
                            "id": 1,
                            "type": "timeseries",
                            "title": "Temperatures",
                            "targets": [{"expr": "demo_temperature", "legendFormat": "{{room}}"}],
                            "unit": "celsius",
                        }
                    ],
                }
            ],
        }
        r = editor.post(
            "/api/v1/dashboards", content=json.dumps(body), headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 201, r.text
    finally:
        editor.close()
    signed_in(tab, "eddie", "/dashboards?uid=browser-edit")
    page = tab.page
    wait_js(page, READY)
    assert panels(tab)["Temperatures"]["series"] == 3
    page.click("#edit-json")
    doc = json.loads(page.locator("#json-text").input_value())
    doc["rows"][0]["panels"][0]["unit"] = "kelvins"
    page.fill("#json-text", json.dumps(doc, indent=2))
    page.click("#json-save")
    wait_js(page, "document.querySelector('#json-errors').textContent !== ''")
    error = page.locator("#json-errors").inner_text()
    assert 'rows[0].panels[0].unit: panel "Temperatures": unknown unit "kelvins"' in error
    assert re.match(r"body:\d+:\d+: ", error)
    doc["rows"][0]["panels"][0]["unit"] = "celsius"
    doc["title"] = "Edited"
    page.fill("#json-text", json.dumps(doc))
    page.click("#json-save")
    wait_js(page, "document.querySelector('#dash-title').textContent === 'Edited'")
    assert page.locator("#json-editor").is_hidden()
    # The panel form: add a stat panel in a new row, move it, save; then remove it.
    page.click("#edit-panels")
    form = page.locator("#add-panel")
    form.locator("input[name=title]").fill("Rooms now")
    form.locator("select[name=type]").select_option("stat")
    form.locator("input[name=expr]").fill("demo_temperature")
    form.locator("input[name=legend]").fill("{{room}}")
    form.locator("input[name=unit]").fill("celsius")
    form.locator("select[name=row]").select_option("new")
    form.locator("button[type=submit]").click()
    assert page.locator("#panel-list tbody tr").count() == 2
    page.locator("#panel-list tr[data-panel='2'] [data-act=up]").click()  # into the first row
    page.click("#panels-save")
    wait_js(page, "window.vigilDashboards.dashboard.rows[0].panels.length === 2")
    wait_js(
        page, "window.vigilDashboards.panels[2] && window.vigilDashboards.panels[2].state === 'ok'"
    )
    assert panels(tab)["Rooms now"]["series"] == 3
    assert page.locator(".panel[data-type=stat] .stat").count() == 3
    page.click("#edit-panels")
    page.locator("#panel-list tr[data-panel='1'] [data-act=remove]").click()
    page.click("#panels-save")
    wait_js(page, "window.vigilDashboards.dashboard.rows[0].panels.length === 1")
    saved = json.loads(
        (site.ui.options.data_dir / "ui" / "dashboards" / "browser-edit.json").read_text()  # type: ignore[operator]
    )
    assert [p["title"] for r in saved["rows"] for p in r["panels"]] == ["Rooms now"]
    page.screenshot(path=str(ARTIFACTS / "dashboard-edit.png"), full_page=True)
    # The browser logs the one 400 that the invalid save got; nothing else.
    assert len(tab.errors) == 1
    assert "400 (Bad Request)" in tab.errors[0]


def test_shipped_dashboards_render_read_only_for_a_viewer(tab: Tab) -> None:
    signed_in(tab, "viv", "/dashboards")
    page = tab.page
    wait_js(page, "window.vigilDashboards && window.vigilDashboards.ready")
    assert page.locator("#import").is_hidden()
    assert page.locator("#new").is_hidden()
    for uid in (
        "vigil-service-overview",
        "vigil-system-overview",
        "vigil-postgresql",
        "vigil-redis",
    ):
        page.goto(f"{tab.site.url}/dashboards?uid={uid}")
        wait_js(page, READY, timeout=20)
        states = {p["title"]: p["state"] for p in panels(tab).values()}
        assert set(states.values()) == {"ok"}, states  # no data here, but every query runs
        assert page.locator("#dash-badge").inner_text() == "provisioned (read-only)"
        assert page.locator("#edit-json").is_hidden()
        assert page.locator("#save-copy").is_hidden()  # a viewer cannot save a copy either
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{uid}.png"), full_page=True)
    assert tab.errors == []


def test_an_editor_saves_a_copy_of_a_provisioned_dashboard(tab: Tab, site: Site) -> None:
    signed_in(tab, "eddie", "/dashboards?uid=vigil-redis")
    page = tab.page
    wait_js(page, READY, timeout=20)
    assert page.locator("#edit-json").is_hidden()
    page.click("#save-copy")
    page.wait_for_url(re.compile(r"uid=redis-copy"))
    wait_js(page, READY, timeout=20)
    assert page.locator("#dash-title").inner_text() == "Redis (copy)"
    assert page.locator("#edit-json").is_visible()
    page.click("#delete")
    page.click("#delete")  # the second click confirms
    page.wait_for_url(re.compile(r"/dashboards$"))
    wait_js(page, "window.vigilDashboards && window.vigilDashboards.ready")
    assert "Redis (copy)" not in page.locator("#dash-list").inner_text()
    assert tab.errors == []
