"""The Overview page in a real browser: services with rates and sparklines, firing alerts,
failing health checks, targets down and the host, every tile linking to its query or page."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser

from .alerting_site import AlertSite, alert_site
from .test_browser import ARTIFACTS, Tab, browser, signed_in, wait_js

__all__ = ["browser"]


@pytest.fixture(scope="module")
def asite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertSite]:
    with alert_site(tmp_path_factory.mktemp("overview")) as s:
        s.wait_firing("ShopErrors")
        yield s


@pytest.fixture
def tab(browser: Browser, asite: AlertSite) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    t = Tab(context.new_page(), asite)  # type: ignore[arg-type]
    yield t
    context.close()


def _explore_expr(href: str | None) -> str:
    assert href is not None
    assert href.startswith("/explore?"), href
    return parse_qs(urlparse(href).query)["expr"][0]


def test_the_overview_shows_services_alerts_checks_targets_and_host(
    tab: Tab, asite: AlertSite
) -> None:
    signed_in(tab, "viv", "/")
    page = tab.page
    wait_js(page, "window.vigilOverview && window.vigilOverview.loads > 0")
    # The shop job: 4.2 req/s, 0.2 of them 5xx (4.8%), p95 99.75 ms; one target of two up.
    row = page.locator('#ov-services tr[data-job="shop"]')
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "1/2 up"
    assert cells[2:] == ["4.20/s", "4.8%", "99.8 ms"]
    assert row.locator(".dot.bad").count() == 1  # a target down and a critical alert
    assert row.locator("svg.spark polyline").count() == 3
    rate_link = row.locator("td.metric a").first.get_attribute("href")
    assert _explore_expr(rate_link) == 'sum(rate(http_requests_total{job="shop"}[5m]))'
    # A job without HTTP metrics says so.
    batch = page.locator('#ov-services tr[data-job="batch"]')
    assert "no HTTP metrics" in batch.inner_text()
    assert batch.locator(".dot.ok").count() == 1
    # Firing alerts: ShopErrors, linking to the Alerts page; the pending SlowBurn is not counted.
    assert page.locator("#ov-alerts-count").inner_text() == "1"
    alert = page.locator("#ov-alerts-list a").first
    assert alert.inner_text() == "ShopErrors (shop)"
    assert alert.get_attribute("href") == "/alerts?q=ShopErrors"
    # Failing checks (from vigil_health_check_status) and targets down (up == 0).
    assert page.locator("#ov-checks-count").inner_text() == "1"
    assert page.locator("#ov-checks-list a").inner_text() == f"disk on {asite.down} (fail)"
    assert page.locator("#ov-down-count").inner_text() == "1"
    down = page.locator("#ov-down-list a")
    assert down.inner_text() == f"{asite.down} (shop)"
    assert (down.get_attribute("href") or "").startswith("/targets?state=down")
    # Host: no node exporter here, so vigil's own process metrics, each linking to its query.
    host = page.locator("#ov-host .ov-tile")
    assert host.locator("h3").all_inner_texts() == [
        "CPU (processes)",
        "Memory (processes, resident)",
        "Disk (vigil's storage)",
    ]
    assert host.nth(0).locator(".ov-count").inner_text() == "0.25 cores"
    assert host.nth(1).locator(".ov-count").inner_text() == "96.0 MiB"
    assert host.nth(2).locator(".ov-count").inner_text() == "no data"
    cpu = _explore_expr(host.nth(0).locator("h3 a").get_attribute("href"))
    assert cpu == "sum(rate(process_cpu_seconds_total[5m]))"
    # The alert's label with HTML stays data.
    assert page.evaluate("window.__xss") is None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview_live.png"), full_page=True)
    # Following a tile opens the query behind it.
    row.locator("td.metric a").first.click()
    page.wait_for_url("**/explore?**")
    wait_js(page, "window.vigilExplore && window.vigilExplore.plot !== null")
    assert page.evaluate("window.vigilExplore.plot.data.length") == 2
    assert tab.errors == []


def test_the_overview_refreshes_itself(tab: Tab, asite: AlertSite) -> None:
    page = tab.page
    page.clock.install()  # the page polls every 15 s: its clock is run ahead, not waited for
    signed_in(tab, "viv", "/")
    wait_js(page, "window.vigilOverview && window.vigilOverview.loads > 0")
    assert page.evaluate("window.vigilOverview.loads") == 1
    page.clock.run_for(16_000)
    wait_js(page, "window.vigilOverview.loads > 1", timeout=15)
    assert tab.errors == []
