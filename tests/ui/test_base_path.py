"""The UI under a base path: mounted at ``/vigil`` inside an application (embedded mode).

The HTTP tests check what the server writes (links, form actions, scripts, redirects,
cookie paths) with ``UIOptions.base_path``; the browser test signs in, runs a query, draws
a dashboard and silences an alert through an application that mounts the embedded
server's proxy at ``/vigil``, and checks that no request leaves the prefix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Request
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.test_embedded import AppServer
from tests.test_server import _wait
from vigil.embedded import EmbeddedServer, instrument_with_server
from vigil.ui.pages import safe_next
from vigil.ui.templates import check_base_path, rebase

from .conftest import ADMIN_PASSWORD, Site, running_site
from .test_browser import ARTIFACTS, Tab, browser, wait_js

__all__ = ["browser"]

BASE = "/vigil"
# Server-absolute URLs in attributes of the HTML (links, forms, scripts, styles).
_ABS = re.compile(r'\b(?:href|src|action)="(/(?!/)[^"]*)"')


def _urls(html: str) -> list[str]:
    return _ABS.findall(html)


def _login(c: httpx.Client, prefix: str, password: str = ADMIN_PASSWORD) -> httpx.Response:
    form = c.get(f"{prefix}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return c.post(
        f"{prefix}/login",
        data={"username": "admin", "password": password, "csrf_token": token.group(1)}
        | {"next": "/targets"},
    )


# -- the pieces -------------------------------------------------------------------------------


def test_rebase_prefixes_our_absolute_urls_only() -> None:
    html = (
        '<a href="/explore">x</a><script src="/static/js/a.js"></script>'
        '<form action="/logout"></form><a href="//elsewhere/x">y</a>'
        '<a href="https://h/x">z</a><a href="#tab">t</a><input value="/kept">'
    )
    got = rebase(html, "/vigil")
    assert _urls(got) == ["/vigil/explore", "/vigil/static/js/a.js", "/vigil/logout"]
    assert 'href="//elsewhere/x"' in got
    assert 'value="/kept"' in got
    assert rebase(html, "") == html


@pytest.mark.parametrize("good", ["", "/vigil", "/ops/vigil", "/a-b_c.d~e"])
def test_base_paths_that_are_accepted(good: str) -> None:
    assert check_base_path(good) == good


@pytest.mark.parametrize("bad", ["vigil", "/vigil/", "/", "//x", "/a b", '/a"b', "/a?x"])
def test_base_paths_that_are_refused_say_how_to_write_one(bad: str) -> None:
    with pytest.raises(ValueError, match=r"base path .*: give it as /name"):
        check_base_path(bad)


def test_embedded_server_refuses_a_bad_base_path_naming_the_argument() -> None:
    with pytest.raises(ValueError, match=r"EmbeddedServer\(ui_base_path=\.\.\.\)"):
        EmbeddedServer(ui_base_path="vigil/")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("/explore?expr=up", "/explore?expr=up"),
        ("/vigil/explore?expr=up", "/explore?expr=up"),  # a next with the prefix: kept once
        ("/vigil", "/"),
        ("/vigilant", "/vigilant"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ],
)
def test_next_pages_are_kept_without_the_base_path(text: str, want: str) -> None:
    assert safe_next(text, "/vigil") == want


# -- the server's HTML, redirects and cookies ----------------------------------------------------


@pytest.fixture(scope="module")
def bsite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("ui-base"), base_path=BASE) as s:
        yield s


def test_every_url_of_the_pages_carries_the_base_path(bsite: Site) -> None:
    with bsite.client() as c:
        r = c.get(f"{BASE}/explore?expr=up")
        assert r.status_code == 303
        assert r.headers["location"] == f"{BASE}/login?next=/explore%3Fexpr%3Dup"
        login = c.get(r.headers["location"])
        assert login.status_code == 200
        assert '<meta name="vigil-base" content="/vigil">' in login.text
        assert 'action="/vigil/login"' in login.text
        assert 'name="next" value="/explore?expr=up"' in login.text
        assert "Path=/vigil/login" in login.headers["set-cookie"]
        assert all(u.startswith(BASE + "/") for u in _urls(login.text)), _urls(login.text)

        signed = _login(c, BASE)
        assert signed.status_code == 303
        assert signed.headers["location"] == f"{BASE}/targets"
        cookie = signed.headers.get_list("set-cookie")
        session = next(h for h in cookie if h.startswith("vigil_session="))
        assert "Path=/vigil;" in session or session.endswith("Path=/vigil"), session

        for page in ("/", "/explore", "/dashboards", "/alerts", "/health", "/targets", "/status"):
            html = c.get(BASE + page)
            assert html.status_code == 200, page
            urls = _urls(html.text)
            assert urls, page
            assert all(u.startswith(BASE + "/") for u in urls), (page, urls)
            assert f'<script type="module" src="{BASE}/static/js/' in html.text
        # The scripts and styles are served there, and find each other relatively.
        assert c.get(f"{BASE}/static/js/api.js").status_code == 200
        css = c.get(f"{BASE}/static/app.css")
        assert css.status_code == 200
        assert '@import url("vendor/uplot/uPlot.min.css")' in css.text
        assert c.get(f"{BASE}/static/vendor/uplot/uPlot.min.css").status_code == 200
        # The API under the prefix too (the proxy strips it; here BasePath does).
        q = c.get(f"{BASE}/api/v1/query", params={"query": "vector(1)"})
        assert q.json()["data"]["result"][0]["value"][1] == "1"

        me = c.get(f"{BASE}/api/v1/auth/me").json()["data"]
        out = c.post(f"{BASE}/logout", data={"csrf_token": me["csrfToken"]})
        assert out.status_code == 303
        assert out.headers["location"] == f"{BASE}/login"
        gone = next(h for h in out.headers.get_list("set-cookie") if "vigil_session" in h)
        assert "Path=/vigil" in gone


def test_without_a_base_path_nothing_changes(site: Site) -> None:
    with site.client() as c:
        r = c.get("/explore")
        assert r.headers["location"] == "/login?next=/explore"
        login = c.get("/login")
        assert '<meta name="vigil-base" content="">' in login.text
        assert 'action="/login"' in login.text


# -- the browser, through an application that mounts the embedded server --------------------------


class Mounted:
    """An application serving ``/hello`` with the embedded server's proxy at ``/vigil``."""

    def __init__(self, server: EmbeddedServer, web: AppServer) -> None:
        self.server = server
        self.web = web
        self.url = web.url + BASE


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/hello", hello)])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        server = instrument_with_server(
            app,
            mount_path=BASE,
            data_dir=tmp_path_factory.mktemp("embedded-ui"),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        server.alert(
            "QueueBacklog",
            lambda: 42,
            severity="warning",
            annotations={"summary": "the queue is long"},
        )
        with AppServer(app) as web:
            mp.delenv("VIGIL_ADMIN_PASSWORD")
            m = Mounted(server, web)
            with httpx.Client(timeout=10) as c:
                c.get(web.url + "/hello")  # the app's address, learnt from a request

                def firing() -> bool:
                    alerts = c.get(f"{m.url}/api/v2/alerts").json()
                    return any(a["labels"]["alertname"] == "QueueBacklog" for a in alerts)

                def scraped() -> bool:
                    # Both jobs scraped at least 5 s ago: Explore's last step (up to a step
                    # before now) sees them too.
                    r = c.get(
                        f"{m.url}/api/v1/query",
                        params={"query": "up == 1", "time": time.time() - 5},
                    )
                    jobs = {s["metric"]["job"] for s in r.json()["data"]["result"]}
                    return jobs == {"app", "vigil"}

                _wait("the Python rule to fire", firing)
                _wait("the app to be scraped", scraped)
            yield m


class PrefixTab(Tab):
    """A tab that records every request the page makes."""

    def __init__(self, tab: Tab) -> None:
        super().__init__(tab.page, tab.site)
        self.requests: list[str] = []
        tab.page.on("request", self._request)

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)


def test_the_ui_works_under_the_mount_and_no_request_leaves_it(
    browser: Browser, mounted: Mounted
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    site = Site(mounted.url, None, None, None)  # type: ignore[arg-type]
    tab = PrefixTab(Tab(context.new_page(), site))
    page = tab.page
    try:
        # Sign in at /vigil/login, landing on the query asked for.
        page.goto(f"{mounted.url}/explore?expr=up&range=1h")
        page.wait_for_url(re.compile(r"/vigil/login\?next=/explore"))
        tab.sign_in("admin", ADMIN_PASSWORD)
        page.wait_for_url(re.compile(r"/vigil/explore\?expr=up"))
        wait_js(page, "document.body.dataset.ready === '1'")
        got = page.evaluate(
            "() => ({series: window.vigilExplore.series, plot: !!window.vigilExplore.plot,"
            " last: window.vigilExplore.last})"
        )
        assert got["plot"], got
        last = got["last"]
        want = httpx.post(
            f"{mounted.url}/api/v1/query_range",
            data={"query": "up", "start": last["start"], "end": last["end"], "step": last["step"]},
        ).json()["data"]["result"]
        assert got["series"] == len(want) >= 1, (got, want)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "embedded-explore.png"))

        # A shipped dashboard draws, every panel without error.
        page.click("header nav >> text=Dashboards")
        page.wait_for_url(re.compile(r"/vigil/dashboards$"))
        page.click("#dash-list >> text=Service overview (RED)")
        page.wait_for_url(re.compile(r"/vigil/dashboards\?uid="))
        wait_js(page, "window.vigilDashboards.renders >= 1", timeout=20)
        panels = page.evaluate("window.vigilDashboards.panels")
        assert panels
        assert all(p["state"] in ("ok", "unsupported") for p in panels.values()), panels
        page.screenshot(path=str(ARTIFACTS / "embedded-dashboard.png"), full_page=True)

        # Silence the Python rule's alert in two clicks; it shows suppressed.
        page.click("header nav >> text=Alerts")
        row = 'tr.alert-row[data-alertname="QueueBacklog"]'
        page.wait_for_selector(row)
        page.locator(f"{row} button.silence").click()
        page.locator("#sf-create").click()
        wait_js(page, "window.vigilAlerts.created.length === 1")
        page.wait_for_selector(f"{row}.suppressed")
        page.screenshot(path=str(ARTIFACTS / "embedded-alerts.png"))

        # The other pages draw their data; the links of the nav carry the prefix.
        for name, path in (
            ("Overview", "/"),
            ("Health", "/health"),
            ("Targets", "/targets"),
            ("Status", "/status"),
        ):
            page.click(f"header nav >> text={name}")
            page.wait_for_url(mounted.url + path)
            wait_js(page, "document.body.dataset.ready === '1'", timeout=20)
        page.screenshot(path=str(ARTIFACTS / "embedded-status.png"))

        # Signing out lands on the login page under the prefix.
        page.click("header form.logout button")
        page.wait_for_url(re.compile(r"/vigil/login$"))
    finally:
        context.close()

    assert tab.errors == []
    assert tab.requests
    outside = [u for u in tab.requests if not u.startswith(mounted.url + "/")]
    assert outside == []


def test_the_proxy_keeps_prefixed_redirects_and_cookies_as_the_server_wrote_them(
    mounted: Mounted,
) -> None:
    with httpx.Client(timeout=10) as c:
        r = c.get(f"{mounted.url}/targets")
        assert r.status_code == 303
        assert r.headers["location"] == "/vigil/login?next=/targets"
        login = c.get(f"{mounted.url}/login")
        assert "Path=/vigil/login;" in login.headers["set-cookie"]
        signed = _login(c, mounted.url)
        assert signed.headers["location"] == "/vigil/targets"
        session = next(h for h in signed.headers.get_list("set-cookie") if "vigil_session" in h)
        assert re.search(r"Path=/vigil(;|$)", session), session
        # The application's own routes are untouched.
        assert c.get(f"{mounted.web.url}/hello").text == "hello"


def test_the_server_also_answers_under_the_prefix_on_its_own_port(mounted: Mounted) -> None:
    direct = mounted.server.url
    with httpx.Client(timeout=10) as c:
        r = c.get(f"{direct}/vigil/explore")
        assert r.headers["location"] == "/vigil/login?next=/explore"
        assert c.get(f"{direct}/vigil/static/js/api.js").status_code == 200
        assert c.get(f"{direct}/static/js/api.js").status_code == 200
        page = c.get(f"{direct}/vigil/login")
        assert 'action="/vigil/login"' in page.text


def test_cookie_paths_and_locations_are_prefixed_once() -> None:
    from vigil.embedded import _prefixed_cookie_path, _rewrite_location

    base = "http://127.0.0.1:1"
    assert _rewrite_location("/login?next=/x", base, "/vigil") == "/vigil/login?next=/x"
    assert _rewrite_location("/vigil/login", base, "/vigil") == "/vigil/login"
    assert _rewrite_location(base + "/vigil", base, "/vigil") == "/vigil"
    assert _rewrite_location("/vigilant", base, "/vigil") == "/vigil/vigilant"
    assert _prefixed_cookie_path("/", "/vigil") == "/vigil"
    assert _prefixed_cookie_path("/login", "/vigil") == "/vigil/login"
    assert _prefixed_cookie_path("/vigil/login", "/vigil") == "/vigil/login"
    assert _prefixed_cookie_path("/vigil", "/vigil") == "/vigil"
