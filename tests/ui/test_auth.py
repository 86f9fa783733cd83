"""Access control over real HTTP: sessions, tokens, CSRF, roles, rate limits, security headers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from vigil.ui.auth import READ_ONLY_POSTS, Access, LoginRateLimiter, Policy
from vigil.ui.pages import safe_next
from vigil.ui.users import Role

from .conftest import ADMIN_PASSWORD, XSS_SCRIPT, Site, running_site

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def unsafe_endpoints(site: Site) -> list[tuple[str, str]]:
    """Every (method, path) of the served app that may change state (path parameters filled)."""
    found = []
    for route in [*site.ui.routes, *site.api.routes]:
        if not isinstance(route, Route) or not route.methods:
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        found += [(m, path) for m in sorted(route.methods) if m in UNSAFE]
    return sorted(set(found))


def login_form_token(c: httpx.Client) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert m
    return m.group(1)


def test_the_policy_table() -> None:
    p = Policy()
    cases = {
        ("GET", "/static/app.css"): (Access.PUBLIC, None),
        ("POST", "/login"): (Access.PUBLIC, None),
        ("GET", "/-/healthy"): (Access.PUBLIC, None),
        ("GET", "/explore"): (Access.VIEWER, Role.VIEWER),
        ("GET", "/metrics"): (Access.READ, Role.VIEWER),
        ("POST", "/api/v1/query"): (Access.READ, Role.VIEWER),
        ("GET", "/api/v1/status/config"): (Access.READ, Role.VIEWER),
        ("POST", "/api/v1/write"): (Access.INGEST, Role.EDITOR),
        ("POST", "/api/v2/silences"): (Access.EDITOR, Role.EDITOR),
        ("DELETE", "/api/v2/silence/abc"): (Access.EDITOR, Role.EDITOR),
        ("PUT", "/api/v1/dashboards/x"): (Access.EDITOR, Role.EDITOR),
        ("POST", "/-/reload"): (Access.ADMIN, Role.ADMIN),
        ("GET", "/api/v1/auth/users"): (Access.ADMIN, Role.ADMIN),
        ("POST", "/api/v1/auth/password"): (Access.VIEWER, Role.VIEWER),
        ("POST", "/api/v1/something/new"): (Access.ADMIN, Role.ADMIN),  # unknown: closed
        ("DELETE", "/explore"): (Access.ADMIN, Role.ADMIN),
    }
    for (method, path), (access, role) in cases.items():
        req = p.requirement(method, path)
        assert (req.access, p.role_needed(req)) == (access, role), (method, path)
    open_read = Policy(public_read=True, public_ingest=True)
    assert open_read.role_needed(open_read.requirement("GET", "/metrics")) is None
    assert open_read.role_needed(open_read.requirement("POST", "/api/v1/write")) is None
    assert open_read.role_needed(open_read.requirement("GET", "/explore")) == Role.VIEWER
    assert not p.requirement("POST", "/api/v1/query").csrf
    assert p.requirement("POST", "/-/reload").csrf


def test_the_rate_limiter_counts_failures_per_user_and_per_address() -> None:
    clock = Clock()
    rl = LoginRateLimiter(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert rl.retry_after("ann", "1.1.1.1") is None
        rl.failure("ann", "1.1.1.1")
    assert rl.retry_after("ann", "2.2.2.2") == pytest.approx(60)  # the user is limited
    assert rl.retry_after("bob", "1.1.1.1") == pytest.approx(60)  # and so is the address
    assert rl.retry_after("bob", "2.2.2.2") is None
    clock.now += 30
    assert rl.retry_after("ann", "2.2.2.2") == pytest.approx(30)
    clock.now += 30.5
    assert rl.retry_after("ann", "1.1.1.1") is None


def test_pages_redirect_to_login_and_apis_answer_401(site: Site) -> None:
    with site.client() as c:
        r = c.get("/explore?expr=up")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/explore%3Fexpr%3Dup"
        for path in ("/api/v1/query?query=up", "/metrics", "/api/v1/targets", "/api/v1/auth/me"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.json()["errorType"] == "unauthorized"
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/-/healthy").status_code == 200
        assert c.get("/static/js/explore.js").status_code == 200


def test_every_state_changing_endpoint_needs_a_session_or_token_and_csrf(site: Site) -> None:
    endpoints = unsafe_endpoints(site)
    paths = {p for _, p in endpoints}
    assert {"/-/reload", "/api/v1/write", "/logout", "/api/v1/auth/users"} <= paths
    admin, csrf = site.login("admin")
    with site.client() as anon:
        for method, path in endpoints:
            if path == "/login":
                continue
            r = anon.request(method, path, content=b"{}")
            assert r.status_code == 401, (method, path, r.text)
            r = anon.request(
                method, path, content=b"{}", headers={"Authorization": "Bearer vigil_x_y"}
            )
            assert r.status_code == 401, (method, path, r.text)
    for method, path in endpoints:
        if path in READ_ONLY_POSTS:
            continue  # reads, even as POST: they change nothing
        r = admin.request(method, path, content=b"{}")
        assert r.status_code == 403, (method, path, r.text)
        assert "CSRF" in r.text or "sign-in form expired" in r.text, (method, path)
        r = admin.request(method, path, content=b"{}", headers={"X-CSRF-Token": "forged"})
        assert r.status_code == 403, (method, path)
        r = admin.request(method, path, data={"csrf_token": "forged"})
        assert r.status_code == 403, (method, path)
    # The real token passes the check (the endpoint then does its own thing).
    r = admin.post("/-/reload", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    admin.close()


def test_the_login_form_has_its_own_csrf_token(site: Site) -> None:
    with site.client() as c:
        r = c.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 403
        assert "expired" in r.text
        token = login_form_token(c)
        r = c.post(
            "/login",
            data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token + "x"},
        )
        assert r.status_code == 403


def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_ends_the_session(site: Site) -> None:
    with site.client() as c:
        token = login_form_token(c)
        r = c.post(
            "/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "csrf_token": token,
                "next": "/targets",
            },
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/targets"
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("vigil_session="))
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/" in cookie
        assert "Secure" not in cookie  # plain http and not configured
        page = c.get("/targets")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf
        r = c.post("/logout", data={"csrf_token": csrf.group(1)})
        assert r.status_code == 303
        assert r.headers["location"] == "/login"
        assert c.get("/targets").status_code == 303


def test_wrong_passwords_are_refused_then_rate_limited_with_retry_after(tmp_path: Path) -> None:
    clock = Clock()
    with running_site(tmp_path, limiter_clock=clock) as site, site.client() as c:
        token = login_form_token(c)

        def attempt(user: str, password: str) -> httpx.Response:
            form = {"username": user, "password": password, "csrf_token": token}
            return c.post("/login", data=form)

        for _ in range(5):
            r = attempt("admin", "wrong")
            assert r.status_code == 401
            assert "Wrong user name or password." in r.text
        r = attempt("admin", ADMIN_PASSWORD)  # even the right password waits now
        assert r.status_code == 429
        assert r.headers["retry-after"] == "60"
        assert "try again in 60 s" in r.text
        clock.now += 61
        r = attempt("admin", ADMIN_PASSWORD)
        assert r.status_code == 303
        c.cookies.clear()
        token = login_form_token(c)
        # Per address: five failures over different names block this client for any name.
        for i in range(5):
            assert attempt(f"ghost{i}", "wrong").status_code == 401
        assert attempt("viv", "viewer-secret").status_code == 429


def test_cookies_are_secure_when_configured(tmp_path: Path) -> None:
    with running_site(tmp_path, secure_cookies=True) as site, site.client() as c:
        cookie = c.get("/login").headers["set-cookie"]
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie


def test_api_tokens_work_without_csrf_and_carry_their_role(site: Site) -> None:
    admin, csrf = site.login("admin")
    r = admin.post(
        "/api/v1/auth/tokens",
        json={"name": "grafana", "role": "viewer"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201
    viewer_token = r.json()["data"]["token"]
    r = admin.post(
        "/api/v1/auth/tokens", json={"name": "ops", "role": "admin"}, headers={"X-CSRF-Token": csrf}
    )
    admin_token = r.json()["data"]["token"]
    listed = admin.get("/api/v1/auth/tokens").json()["data"]
    assert {t["name"] for t in listed} >= {"grafana", "ops"}
    assert all("token" not in t and "hash" not in t for t in listed)
    with site.client(headers={"Authorization": f"Bearer {viewer_token}"}) as c:
        assert c.get("/api/v1/query", params={"query": "demo_temperature"}).status_code == 200
        assert c.post("/api/v1/query", data={"query": "1"}).status_code == 200
        r = c.post("/-/reload")
        assert r.status_code == 403
        assert r.json()["errorType"] == "forbidden"
        assert "needs the admin role" in r.json()["error"]
    with site.client(headers={"Authorization": f"Bearer {admin_token}"}) as c:
        assert c.post("/-/reload").status_code == 200  # no CSRF for tokens
    token_id = next(t["id"] for t in listed if t["name"] == "ops")
    r = admin.delete(f"/api/v1/auth/tokens/{token_id}", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    with site.client(headers={"Authorization": f"Bearer {admin_token}"}) as c:
        assert c.post("/-/reload").status_code == 401
    admin.close()


def test_roles_viewer_editor_admin(site: Site) -> None:
    viewer, vcsrf = site.login("viv")
    editor, ecsrf = site.login("eddie")
    assert viewer.get("/api/v1/status/config").status_code == 200
    assert viewer.get("/api/v1/auth/users").status_code == 403
    for c, token in ((viewer, vcsrf), (editor, ecsrf)):
        r = c.post("/-/reload", headers={"X-CSRF-Token": token})
        assert r.status_code == 403
    # A viewer may not silence (403 from the policy); an editor passes it (400: an empty silence).
    r = viewer.post("/api/v2/silences", json={}, headers={"X-CSRF-Token": vcsrf})
    assert r.status_code == 403
    r = editor.post("/api/v2/silences", json={}, headers={"X-CSRF-Token": ecsrf})
    assert r.status_code == 400
    assert r.json() == "startsAt and endsAt are required"
    # Remote write needs an editor (or public_ingest).
    r = viewer.post("/api/v1/write", content=b"", headers={"X-CSRF-Token": vcsrf})
    assert r.status_code == 403
    viewer.close()
    editor.close()


def test_users_can_change_their_password_and_admins_manage_users(site: Site) -> None:
    admin, csrf = site.login("admin")
    h = {"X-CSRF-Token": csrf}
    r = admin.post(
        "/api/v1/auth/users",
        json={"name": "temp", "password": "temp-pass-1", "role": "viewer"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = admin.post(
        "/api/v1/auth/users", json={"name": "temp", "password": "x", "role": "viewer"}, headers=h
    )
    assert r.status_code == 400
    assert "at least 8" in r.json()["error"]
    temp, tcsrf = site.login("temp", "temp-pass-1")
    r = temp.post(
        "/api/v1/auth/password",
        json={"current": "nope", "new": "temp-pass-2"},
        headers={"X-CSRF-Token": tcsrf},
    )
    assert r.status_code == 400
    assert "current password is wrong" in r.json()["error"]
    r = temp.post(
        "/api/v1/auth/password",
        json={"current": "temp-pass-1", "new": "temp-pass-2"},
        headers={"X-CSRF-Token": tcsrf},
    )
    assert r.status_code == 200
    assert temp.get("/api/v1/auth/me").json()["data"]["name"] == "temp"  # new cookie works
    r = admin.delete("/api/v1/auth/users/temp", headers=h)
    assert r.status_code == 200
    assert temp.get("/api/v1/auth/me").status_code == 401  # removed: signed out
    assert admin.delete("/api/v1/auth/users/temp", headers=h).status_code == 404
    admin.close()
    temp.close()


def test_security_headers_on_every_response(site: Site) -> None:
    admin, _ = site.login("admin")
    with site.client() as anon:
        responses = [
            admin.get("/"),
            admin.get("/explore"),
            admin.get("/api/v1/query", params={"query": "1"}),
            admin.get("/static/app.css"),
            admin.get("/nope"),
            anon.get("/login"),
            anon.get("/explore"),
            anon.get("/api/v1/labels"),
        ]
        for r in responses:
            csp = r.headers["content-security-policy"]
            assert "script-src 'self';" in csp
            assert "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"]
        for r in responses[:2]:
            assert r.headers["cache-control"] == "no-store"
            assert "<script>" not in r.text
            assert " style=" not in r.text
    admin.close()


def test_public_read_opens_reads_but_not_writes_or_pages(tmp_path: Path) -> None:
    with running_site(tmp_path, public_read=True) as site, site.client() as c:
        assert c.get("/metrics").status_code == 200
        assert c.get("/api/v1/query", params={"query": "demo_temperature"}).status_code == 200
        assert (
            c.post(
                "/api/v1/query_range", data={"query": "1", "start": 0, "end": 60, "step": 15}
            ).status_code
            == 200
        )
        assert c.post("/-/reload").status_code == 401
        assert c.post("/api/v1/write", content=b"").status_code == 401
        assert c.get("/status").status_code == 303


def test_html_in_labels_is_data_in_the_api(site: Site) -> None:
    viewer, _ = site.login("viv")
    r = viewer.get("/api/v1/series", params={"match[]": "xss_metric"})
    assert r.json()["data"][0]["evil"] == XSS_SCRIPT
    assert r.headers["content-type"].startswith("application/json")
    viewer.close()


def test_next_is_only_ever_a_local_path() -> None:
    assert safe_next("/explore?expr=up") == "/explore?expr=up"
    for bad in (
        "//evil.example",
        "https://evil.example",
        "/\\evil",
        "",
        None,
        "explore",
        "/a\r\nb",
    ):
        assert safe_next(bad) == "/"
