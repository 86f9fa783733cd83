"""The Health page and its API: the checks of a real instrumented app (vigil.agent on
uvicorn) and, for a target whose /health cannot be reached, its scraped samples; "run now"
for admins only; the status page view."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser
from starlette.applications import Starlette

from vigil.api import ApiOptions, create_app
from vigil.api.health import health_routes, parse_health_document
from vigil.storage import MemoryStorage
from vigil.ui.auth import Access, Policy
from vigil.ui.health_page import HEALTH_RUN_RULE

from .alerting_site import XSS_CHECK, AlertSite, Targets, alert_site, free_port, serve
from .test_browser import ARTIFACTS, Tab, browser, signed_in, wait_js

__all__ = ["browser"]


@pytest.fixture(scope="module")
def asite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertSite]:
    with alert_site(tmp_path_factory.mktemp("health")) as s:
        yield s


@pytest.fixture
def tab(browser: Browser, asite: AlertSite) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    t = Tab(context.new_page(), asite)  # type: ignore[arg-type]
    yield t
    context.close()


def _run_path(asite: AlertSite, check: str = "db", job: str = "shop") -> str:
    return f"/api/vigil/v1/health/{job}/{asite.shop.address}/{check}/run"


def test_the_api_combines_each_targets_checks_with_a_fallback_to_scraped_samples(
    asite: AlertSite,
) -> None:
    c, _ = asite.login("viv")
    try:
        data = c.get("/api/vigil/v1/health").json()["data"]
        only = c.get("/api/vigil/v1/health", params={"job": "batch"}).json()["data"]
    finally:
        c.close()
    assert data["runEnabled"] is True
    by_instance = {t["instance"]: t for t in data["targets"]}
    shop = by_instance[asite.shop.address]
    assert (shop["source"], shop["status"], shop["serviceId"]) == ("endpoint", "warn", "shop")
    assert shop["url"] == f"{asite.shop.url}/health"
    checks = {ch["name"]: ch for ch in shop["checks"]}
    assert checks["db"]["status"] == "pass"
    assert checks["db"]["critical"] is True
    assert checks["cache"]["status"] == "fail"
    assert checks["cache"]["critical"] is False
    assert checks["cache"]["output"] == f"cannot connect to cache {XSS_CHECK}"
    assert checks["db"]["durationMs"] >= 0
    assert checks["db"]["time"].endswith("Z")
    # The down instance: its /health is unreachable, its scraped samples stand in.
    down = by_instance[asite.down]
    assert (down["source"], down["status"], down["scrapeHealth"]) == ("metrics", "fail", "down")
    assert down["error"].startswith(f"GET http://{asite.down}/health: cannot connect")
    assert {ch["name"]: ch["status"] for ch in down["checks"]} == {"disk": "fail", "queue": "pass"}
    assert {ch["durationMs"] for ch in down["checks"]} == {2.0}
    # A target with neither: listed, with the reason.
    (batch,) = [t for t in data["targets"] if t["job"] == "batch"]
    assert (batch["source"], batch["status"], batch["checks"]) == ("none", "unknown", [])
    # ?job= narrows the answer.
    assert [t["job"] for t in only["targets"]] == ["batch"]


def test_run_now_is_for_admins_with_the_csrf_token(asite: AlertSite) -> None:
    admin, atoken = asite.login("admin")
    viewer, vtoken = asite.login("viv")
    editor, etoken = asite.login("eddie")
    try:
        before = len(asite.shop.runs)
        r = admin.post(_run_path(asite), headers={"X-CSRF-Token": atoken})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert (data["check"], data["status"]) == ("db", "pass")
        assert len(asite.shop.runs) == before + 1
        # A failing check still runs: its result says fail.
        r = admin.post(_run_path(asite, "cache"), headers={"X-CSRF-Token": atoken})
        assert r.status_code == 200
        assert r.json()["data"]["status"] == "fail"
        for client, token in ((viewer, vtoken), (editor, etoken)):
            r = client.post(_run_path(asite), headers={"X-CSRF-Token": token})
            assert r.status_code == 403
            assert r.json()["errorType"] == "forbidden"
        assert admin.post(_run_path(asite)).status_code == 403  # no CSRF token
        assert len(asite.shop.runs) == before + 1
        # Unknown check, unknown target: nothing is contacted but the known targets.
        r = admin.post(_run_path(asite, "nope"), headers={"X-CSRF-Token": atoken})
        assert r.status_code == 404
        assert "nope" in r.json()["error"]
        r = admin.post(_run_path(asite, job="evil"), headers={"X-CSRF-Token": atoken})
        assert r.status_code == 404
        assert "no active scrape target" in r.json()["error"]
        path = f"/api/vigil/v1/health/shop/{asite.down}/disk/run"
        r = admin.post(path, headers={"X-CSRF-Token": atoken})
        assert r.status_code == 502
        assert "cannot connect" in r.json()["error"]
    finally:
        admin.close()
        viewer.close()
        editor.close()


def test_the_policy_rule_makes_run_admin_only() -> None:
    policy = Policy(extra_rules=(HEALTH_RUN_RULE,))
    path = "/api/vigil/v1/health/shop/h:1/db/run"
    assert policy.requirement("POST", path).access == Access.ADMIN
    assert policy.requirement("GET", "/api/vigil/v1/health").access == Access.READ


def test_without_an_admin_token_running_is_disabled_and_a_wrong_token_is_reported(
    asite: AlertSite,
) -> None:
    targets = Targets(asite.shop.address, f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")

    def app(token: str | None) -> Starlette:
        return create_app(
            ApiOptions(
                MemoryStorage(),
                routes=(lambda wrap: list(health_routes(targets, wrap, admin_token=token)),),
            )
        )

    with serve(app(None)) as url, httpx.Client(base_url=url, timeout=10) as c:
        assert c.get("/api/vigil/v1/health").json()["data"]["runEnabled"] is False
        r = c.post(_run_path(asite))
        assert r.status_code == 403
        assert "health_admin_token" in r.json()["error"]
    with serve(app("wrong-token")) as url, httpx.Client(base_url=url, timeout=10) as c:
        r = c.post(_run_path(asite))
        assert r.status_code == 502
        assert "refused the admin token" in r.json()["error"]


def test_parse_health_document_refuses_what_is_not_one() -> None:
    status, output, service, checks = parse_health_document(
        {"status": "pass", "checks": {"a:b:responseTime": [{"status": "pass"}], "c": {"x": 1}}}
    )
    assert (status, output, service) == ("pass", "", "")
    assert [(ch.name, ch.measurement, ch.status) for ch in checks] == [
        ("a:b", "responseTime", "pass"),
        ("c", "", "unknown"),
    ]
    bad: object
    for bad in ([], {"status": "ok"}, {"status": "pass", "checks": []}):
        with pytest.raises(ValueError, match="not a health document"):
            parse_health_document(bad)


def test_the_health_page_lists_checks_and_runs_one_for_an_admin(tab: Tab, asite: AlertSite) -> None:
    signed_in(tab, "admin", "/health")
    page = tab.page
    wait_js(page, "window.vigilHealth && window.vigilHealth.loads > 0")
    shop = page.locator(f'section.htarget[data-instance="{asite.shop.address}"]')
    db = shop.locator('tr.check[data-check="db"]')
    assert db.locator(".hstate").inner_text().lower() == "pass"
    cache = shop.locator('tr.check[data-check="cache"]')
    assert (
        cache.locator("td.output").inner_text().startswith(f"cannot connect to cache {XSS_CHECK}")
    )
    assert "(non-critical)" in cache.inner_text()
    down = page.locator(f'section.htarget[data-instance="{asite.down}"]')
    assert "From scraped vigil_health_check_* samples" in down.locator(".source").inner_text()
    assert down.locator("button.run").first.is_disabled()
    # The batch job has no checks: hidden until asked for.
    assert page.locator('section.htarget[data-job="batch"]').count() == 0
    page.check("#hp-all")
    assert page.locator('section.htarget[data-job="batch"]').count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "health_checks.png"), full_page=True)
    before = len(asite.shop.runs)
    db.locator("button.run").click()
    wait_js(page, "window.vigilHealth.runs.length === 1")
    assert page.evaluate("window.vigilHealth.runs[0].ok") is True
    assert len(asite.shop.runs) == before + 1
    fresh = shop.locator('tr.check.fresh[data-check="db"]')
    assert fresh.locator(".hstate").inner_text().lower() == "pass"
    assert page.evaluate("window.__xss") is None
    assert tab.errors == []


def test_a_viewer_cannot_run_checks(tab: Tab, asite: AlertSite) -> None:
    signed_in(tab, "viv", "/health")
    page = tab.page
    wait_js(page, "window.vigilHealth && window.vigilHealth.loads > 0")
    button = page.locator('tr.check[data-check="db"] button.run').first
    assert button.is_disabled()
    assert button.get_attribute("title") == "Running checks needs the admin role"
    assert page.locator("#hp-note").inner_text() == "Running checks now needs the admin role."
    status = page.evaluate(
        """async (path) => {
            const token = document.querySelector('meta[name=csrf-token]').content;
            const r = await fetch(path, {method: 'POST', headers: {'X-CSRF-Token': token}});
            return [r.status, (await r.json()).errorType];
        }""",
        _run_path(asite),
    )
    assert status == [403, "forbidden"]
    assert [e for e in tab.errors if "403" not in e] == []


def test_the_status_page_view(tab: Tab, asite: AlertSite) -> None:
    signed_in(tab, "viv", "/health?view=status")
    page = tab.page
    wait_js(page, "window.vigilHealth && window.vigilHealth.loads > 0")
    assert page.title() == "Service status · Vigil"
    assert page.locator("header nav").is_hidden()
    assert page.locator(".banner").inner_text() == "Some systems are down"
    services = page.locator("ul.status-list li")
    assert services.locator(".svc-name").all_inner_texts() == ["batch", "shop"]
    shop = page.locator('li.svc[data-job="shop"]')
    assert shop.locator(".svc-state").inner_text() == "down"
    assert sorted(shop.locator(".svc-check").all_inner_texts()) == ["cache", "db", "disk", "queue"]
    assert shop.locator(".svc-check.fail").all_inner_texts() in (
        ["cache", "disk"],
        ["disk", "cache"],
    )
    assert page.locator('li.svc[data-job="batch"] .svc-state').inner_text() == "unknown"
    page.screenshot(path=str(ARTIFACTS / "health_status.png"), full_page=True)
    assert tab.errors == []
