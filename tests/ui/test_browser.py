"""The UI in a real browser: Debian's chromium, headless, driven by Playwright.

Screenshots of every page go to tests/ui/artifacts/ (ignored by git).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from .conftest import PASSWORDS, XSS_IMG, XSS_SCRIPT, Site

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PAGES = ["/", "/explore", "/dashboards", "/alerts", "/health", "/targets", "/status", "/account"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield b
        b.close()


class Tab:
    """A page with its console errors collected."""

    def __init__(self, page: Page, site: Site) -> None:
        self.page = page
        self.site = site
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.set_default_timeout(10_000)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text}")

    def goto(self, path: str) -> None:
        self.page.goto(self.site.url + path)

    def sign_in(self, user: str, password: str | None = None) -> None:
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", password or PASSWORDS[user])
        self.page.click("button[type=submit]")


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    t = Tab(context.new_page(), site)
    yield t
    context.close()


def wait_js(page: Page, expr: str, timeout: float = 10.0) -> None:
    """Poll *expr* until it is truthy (``wait_for_function`` evaluates strings, which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expr})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expr}")
        page.wait_for_timeout(50)


def signed_in(tab: Tab, user: str, path: str) -> None:
    tab.goto(path)
    tab.page.wait_for_url(re.compile(r"/login\?next="))
    tab.sign_in(user)
    tab.page.wait_for_url(re.compile(re.escape(path.split("?")[0])))


def test_sign_in_refuses_a_wrong_password_then_lands_on_the_page_asked_for(tab: Tab) -> None:
    tab.goto("/targets")
    tab.page.wait_for_url(re.compile(r"/login\?next=/targets$"))
    tab.sign_in("admin", "not-the-password")
    assert tab.page.locator(".error").inner_text() == "Wrong user name or password."
    tab.sign_in("admin")
    tab.page.wait_for_url(tab.site.url + "/targets")
    assert tab.page.locator("header .who").inner_text().startswith("admin")
    assert tab.errors == [] or all("401" in e for e in tab.errors)


def test_a_query_draws_one_line_per_series_with_every_point(tab: Tab, site: Site) -> None:
    signed_in(tab, "viv", "/explore?expr=demo_requests_total&range=1h")
    page = tab.page
    wait_js(page, "window.vigilExplore && window.vigilExplore.plot !== null")
    got = page.evaluate(
        """() => {
            const e = window.vigilExplore, d = e.plot.data;
            return {last: e.last, series: d.length - 1, xs: d[0].length,
                    nonNull: d.slice(1).map(ys => ys.filter(v => v !== null).length),
                    labels: e.plot.series.slice(1).map(s => s.label)};
        }"""
    )
    last = got["last"]
    assert last["end"] - last["start"] == 3600
    assert last["step"] == 14
    viewer, _ = site.login("viv")
    api = viewer.post(
        "/api/v1/query_range",
        data={
            "query": "demo_requests_total",
            "start": last["start"],
            "end": last["end"],
            "step": 14,
        },
    ).json()["data"]["result"]
    viewer.close()
    assert got["series"] == len(api) == 6
    assert got["xs"] == 3600 // 14 + 1
    assert got["nonNull"] == [len(s["values"]) for s in api]
    assert all(n > 200 for n in got["nonNull"])
    assert got["labels"][0].startswith('demo_requests_total{code="200", instance="h:1"')
    # The legend shows each series, and toggling one hides it.
    legend = page.locator(".u-legend .u-series")
    assert legend.count() == 7  # the time column and six series
    legend.nth(1).click()
    assert page.evaluate("window.vigilExplore.plot.series[1].show") is False
    # Stacked mode: the last series' line is the sum of all.
    page.check("#stacked")
    wait_js(page, "new URLSearchParams(location.search).get('stacked') === '1'")
    wait_js(page, "window.vigilExplore.plot && window.vigilExplore.plot.series[1].fill")
    assert tab.errors == []


def test_dragging_over_the_graph_zooms_and_the_url_keeps_the_range(tab: Tab) -> None:
    signed_in(tab, "viv", "/explore?expr=demo_temperature&range=3h")
    page = tab.page
    wait_js(page, "window.vigilExplore && window.vigilExplore.plot !== null")
    before = page.evaluate("window.vigilExplore.last")
    box = page.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
    page.mouse.up()
    page.wait_for_url(re.compile(r"from=\d+&to=\d+"))
    q = parse_qs(urlparse(page.url).query)
    start, end = int(q["from"][0]), int(q["to"][0])
    assert before["start"] < start < end < before["end"]
    assert 0.15 * 10800 < end - start < 0.35 * 10800
    wait_js(page, f"window.vigilExplore.last.start === {start}")
    assert page.locator("#range").input_value() == "abs"
    # Back returns to the relative range.
    page.go_back()
    wait_js(page, "new URLSearchParams(location.search).get('range') === '3h'")
    assert tab.errors == []


def test_the_editor_completes_names_and_marks_errors_where_they_are(tab: Tab) -> None:
    signed_in(tab, "viv", "/explore")
    page = tab.page
    editor = page.locator("#expr")
    editor.click()
    editor.press_sequentially("demo_req", delay=20)
    page.wait_for_selector("#complete li")
    assert page.locator("#complete li .c-text").first.inner_text() == "demo_requests_total"
    editor.press("Tab")
    assert editor.input_value() == "demo_requests_total"
    editor.press_sequentially('{code="', delay=20)
    page.wait_for_selector("#complete li")
    values = page.locator("#complete li .c-text").all_inner_texts()
    assert values == ["200", "500"]
    editor.press("ArrowDown")
    editor.press("Enter")
    assert editor.input_value() == 'demo_requests_total{code="500"'
    # Unclosed brace: the editor marks the error at its position.
    page.wait_for_selector(".hl .err")
    assert "1:" in page.locator("#error").inner_text()
    editor.press_sequentially("}", delay=20)
    wait_js(page, "document.querySelector('#error').textContent === ''")
    editor.press("Enter")  # runs
    wait_js(page, "window.vigilExplore.plot && window.vigilExplore.plot.data.length === 4")
    # A query error marks its position too: `foo bar` fails at 1:5.
    editor.fill("sum(rate(demo_requests_total[5m])) by (code) bar")
    page.click("#run")
    wait_js(page, "document.querySelector('#error').textContent.includes('parse error')")
    mark = page.locator(".hl .err")
    assert mark.first.inner_text() == "bar"
    assert "t-function" in (page.locator(".hl .t-function").first.get_attribute("class") or "")
    # The browser logs each 400 that the checks of the broken expressions got; nothing else.
    assert [e for e in tab.errors if "400 (Bad Request)" not in e] == []


def test_a_viewer_is_refused_an_admin_action(tab: Tab) -> None:
    signed_in(tab, "viv", "/account")
    page = tab.page
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('meta[name=csrf-token]').content;
            const r = await fetch('/-/reload', {method: 'POST', headers: {'X-CSRF-Token': token}});
            const users = await fetch('/api/v1/auth/users');
            return [r.status, (await r.json()).errorType, users.status];
        }"""
    )
    assert status == [403, "forbidden", 403]
    assert page.locator("#admin").is_hidden()
    assert [e for e in tab.errors if "403" not in e] == []


def test_labels_with_html_are_shown_as_text_never_run(tab: Tab) -> None:
    signed_in(tab, "admin", "/explore?expr=xss_metric&tab=table")
    page = tab.page
    page.wait_for_selector("td.series")
    assert XSS_SCRIPT in page.locator("td.series").inner_text()
    page.goto(tab.site.url + "/explore?expr=xss_metric")
    wait_js(page, "window.vigilExplore && window.vigilExplore.plot !== null")
    assert XSS_SCRIPT in page.locator(".u-legend").inner_text()
    page.goto(tab.site.url + "/targets")
    page.wait_for_selector("td.error")
    assert XSS_SCRIPT in page.locator("td.error").nth(1).inner_text()
    assert XSS_IMG in page.locator("td.labels").first.inner_text()
    page.goto(tab.site.url + "/status")
    page.wait_for_selector("#tsdb .card")
    assert page.evaluate("window.__xss") is None
    assert page.locator("script").count() == 1  # only the page's module


def test_every_page_renders_without_console_errors(tab: Tab) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    signed_in(tab, "admin", "/")
    page = tab.page
    for path in PAGES:
        target = path if path != "/explore" else "/explore?expr=rate(demo_requests_total[5m])"
        tab.goto(target)
        page.wait_for_load_state("networkidle")
        assert page.locator("main#main").count() == 1, path
        assert page.title().endswith("· Vigil")
        name = "overview" if path == "/" else path.strip("/")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.wait_for_selector("#users tr")
    assert tab.errors == []
    # Sign out, then the login page itself.
    page.click("form.logout button")
    page.wait_for_url(re.compile(r"/login$"))
    page.screenshot(path=str(ARTIFACTS / "login.png"))
    assert tab.errors == []
