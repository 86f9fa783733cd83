"""The pages (skeletons over the JSON API), and signing in and out.

Each page is a :class:`~vigil.ui.templates.Page`: HTML with no data in it, and
one ES module that fills it from ``/api/v1/...``. The only server-rendered data
is the signed-in user's name and role and the CSRF token, all escaped.

Under a base path (``/vigil``) the routes stay where they are (the proxy in front,
or :class:`vigil.ui.app.BasePath`, strips the prefix), while every link, form
action, redirect and cookie path that goes back to the browser carries the prefix.
A ``next`` page is always kept without it.
"""

from __future__ import annotations

import math
import secrets
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from vigil.ui.alerts_page import ALERTS_PAGE
from vigil.ui.auth import CSRF_FIELD, SESSION_COOKIE, LoginRateLimiter, principal_of
from vigil.ui.dashboards import DASHBOARDS_PAGE
from vigil.ui.health_page import HEALTH_PAGE
from vigil.ui.overview import OVERVIEW_PAGE
from vigil.ui.sessions import SessionStore
from vigil.ui.templates import Page, render_layout, render_login, render_message
from vigil.ui.users import UserStore

__all__ = ["DEFAULT_PAGES", "LOGIN_CSRF_COOKIE", "page_routes", "safe_next"]

LOGIN_CSRF_COOKIE = "vigil_login_csrf"
MAX_LOGIN_FORM_BYTES = 16 * 1024

_RANGES = ("5m", "15m", "30m", "1h", "3h", "6h", "12h", "1d", "2d", "7d")
_REFRESH = (("", "off"), ("5s", "5s"), ("15s", "15s"), ("30s", "30s"), ("1m", "1m"), ("5m", "5m"))


def _options(pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<option value="{v}">{label}</option>' for v, label in pairs)


_EXPLORE = f"""<section class="explore">
<div class="toolbar">
<label>Range <select id="range">{_options(tuple((r, r) for r in _RANGES))}<option value="abs">absolute</option></select></label>
<span class="abs"><label>From <input type="datetime-local" id="from" step="1"></label>
<label>To <input type="datetime-local" id="to" step="1"></label></span>
<label>Refresh <select id="refresh">{_options(_REFRESH)}</select></label>
<span class="grow"></span>
<a id="share" href="" title="A link to this query and range">Link</a>
</div>
<div class="editor" id="editor">
<pre class="hl" aria-hidden="true"><code id="hl"></code></pre>
<textarea id="expr" spellcheck="false" autocomplete="off" autocapitalize="off" rows="2" aria-label="PromQL expression" placeholder="PromQL expression, e.g. rate(http_requests_total[5m]); Enter runs, Shift+Enter adds a line"></textarea>
<ul id="complete" class="complete" role="listbox" hidden></ul>
</div>
<div class="actions"><button id="run" class="primary" type="button">Run</button>
<span id="error" class="error" role="alert"></span><span id="warn" class="warn"></span></div>
<div class="tabs" role="tablist"><button type="button" role="tab" data-tab="graph">Graph</button><button type="button" role="tab" data-tab="table">Table</button>
<label class="stack"><input type="checkbox" id="stacked"> Stacked</label><span id="stats" class="muted"></span></div>
<div id="graph" class="graph"></div>
<div id="table" class="tablewrap" hidden></div>
</section>"""

_TARGETS = """<section>
<h1>Targets</h1>
<div class="toolbar"><label>State <select id="state"><option value="">all</option><option value="up">up</option><option value="down">down</option><option value="unknown">unknown</option></select></label>
<label>Filter <input id="filter" type="search" placeholder="endpoint or label"></label><span id="summary" class="muted"></span></div>
<div id="pools"></div>
</section>"""

_STATUS = """<section class="status">
<h1>Status</h1>
<h2>Build information</h2><table id="build" class="kv"></table>
<h2>Storage</h2><table id="head" class="kv"></table>
<div class="cards" id="tsdb"></div>
<h2>Flags</h2><table id="flags" class="kv"></table>
<h2>Configuration</h2><pre id="config" class="config"></pre>
</section>"""

_ACCOUNT = """<section class="account">
<h1>Account</h1>
<form id="password" class="card"><h2>Change password</h2>
<label>Current password <input name="current" type="password" autocomplete="current-password" required></label>
<label>New password <input name="new" type="password" autocomplete="new-password" minlength="8" required></label>
<button type="submit">Change password</button><p class="msg" role="status"></p></form>
<div id="admin" hidden>
<h2>Users</h2><table id="users" class="grid"></table>
<form id="adduser" class="inline"><input name="name" placeholder="user name" required>
<input name="password" type="password" placeholder="password" autocomplete="new-password" minlength="8" required>
<select name="role"><option>viewer</option><option>editor</option><option>admin</option></select>
<button type="submit">Add user</button><span class="msg" role="status"></span></form>
<h2>API tokens</h2><table id="tokens" class="grid"></table>
<form id="addtoken" class="inline"><input name="name" placeholder="what the token is for" required>
<select name="role"><option>viewer</option><option>editor</option><option>admin</option></select>
<button type="submit">Create token</button><span class="msg" role="status"></span></form>
<pre id="newtoken" class="config" hidden></pre>
</div>
</section>"""


def _soon(title: str, what: str) -> str:
    return (
        f'<section><h1>{title}</h1><p class="muted">{what}</p>'
        '<p><a href="/explore">Explore</a> · <a href="/targets">Targets</a> · '
        '<a href="/status">Status</a></p></section>'
    )


DEFAULT_PAGES: tuple[Page, ...] = (
    OVERVIEW_PAGE,
    Page("/explore", "Explore", "explore", _EXPLORE),
    DASHBOARDS_PAGE,
    ALERTS_PAGE,
    HEALTH_PAGE,
    Page("/targets", "Targets", "targets", _TARGETS),
    Page("/status", "Status", "status", _STATUS),
    Page("/account", "Account", "account", _ACCOUNT, nav=False),
)


def safe_next(text: str | None, base: str = "") -> str:
    """*text* if it is a path on this server, else ``/`` (no open redirect).

    The answer is without *base*: ``/vigil/explore`` under the base ``/vigil`` is ``/explore``.
    """
    if not text or not text.startswith("/") or text.startswith(("//", "/\\")):
        return "/"
    if any(c in text for c in "\r\n\t") or "\\" in text:
        return "/"
    if base and (text == base or text.startswith((base + "/", base + "?"))):
        return safe_next(text[len(base) :] or "/")
    return text


def _is_secure(request: Request, configured: bool | None) -> bool:
    return configured if configured is not None else request.url.scheme == "https"


def page_routes(
    pages: tuple[Page, ...],
    *,
    users: UserStore,
    sessions: SessionStore,
    limiter: LoginRateLimiter,
    secure_cookies: bool | None,
    base_path: str = "",
) -> list[Route]:
    by_path = {p.path: p for p in pages}
    base = base_path
    session_cookie_path = base or "/"
    login_cookie_path = base + "/login"

    def next_of(text: str | None) -> str:
        return safe_next(text, base)

    def page_handler(page: Page) -> Route:
        async def handler(request: Request) -> Response:
            principal = principal_of(request)
            csrf = principal.session.csrf_token if principal.session is not None else ""
            body = render_layout(
                page,
                by_path,
                user=principal.name or "anonymous",
                role=str(principal.role) if principal.role is not None else "",
                csrf=csrf,
                active=page.path,
                base=base,
            )
            return HTMLResponse(body)

        return Route(page.path, handler, methods=["GET", "HEAD"], name=f"page:{page.path}")

    def login_form(request: Request, *, status: int = 200, **kw: str) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        kw.setdefault("next_path", next_of(request.query_params.get("next")))
        resp = HTMLResponse(render_login(csrf=token, base=base, **kw), status_code=status)
        resp.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=3600,
            path=login_cookie_path,
            httponly=True,
            samesite="strict",
            secure=_is_secure(request, secure_cookies),
        )
        return resp

    async def login(request: Request) -> Response:
        if request.method != "POST":
            if principal_of(request).via == "session":
                return RedirectResponse(base + next_of(request.query_params.get("next")), 303)
            return login_form(request)
        body = await request.body()
        if len(body) > MAX_LOGIN_FORM_BYTES:
            return HTMLResponse(render_message("Sign in", "The form is too large.", base), 413)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        name = form.get("username", "").strip()
        password = form.get("password", "")
        next_path = next_of(form.get("next"))
        cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie_token or not secrets.compare_digest(
            cookie_token.encode(), form.get(CSRF_FIELD, "").encode()
        ):
            return HTMLResponse(
                render_message(
                    "Sign in", "The sign-in form expired or came from another site.", base
                ),
                403,
            )
        address = request.client.host if request.client else ""
        wait = limiter.retry_after(name, address)
        if wait is not None:
            secs = max(1, math.ceil(wait))
            resp = login_form(
                request,
                status=429,
                next_path=next_path,
                username=name,
                message=f"Too many failed sign-ins: try again in {secs} s.",
            )
            resp.headers["Retry-After"] = str(secs)
            return resp
        user = await run_in_threadpool(users.authenticate, name, password)
        if user is None:
            limiter.failure(name, address)
            return login_form(
                request,
                status=401,
                next_path=next_path,
                username=name,
                message="Wrong user name or password.",
            )
        limiter.success(name)
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            sessions.delete(old)
        session_id, _ = sessions.create(user.name)
        resp = RedirectResponse(base + next_path, status_code=303)
        resp.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(sessions.ttl),
            path=session_cookie_path,
            httponly=True,
            samesite="strict",
            secure=_is_secure(request, secure_cookies),
        )
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path=login_cookie_path)
        return resp

    async def logout(request: Request) -> Response:
        if request.method != "POST":
            page = Page(
                "/logout",
                "Sign out",
                None,
                '<section><form method="post" action="/logout" class="card"><h1>Sign out?</h1>'
                f'<input type="hidden" name="{CSRF_FIELD}" value="__CSRF__">'
                '<button type="submit">Sign out</button></form></section>',
                nav=False,
            )
            principal = principal_of(request)
            csrf = principal.session.csrf_token if principal.session is not None else ""
            html = render_layout(
                page,
                by_path,
                user=principal.name,
                role=str(principal.role or ""),
                csrf=csrf,
                active="",
                base=base,
            ).replace("__CSRF__", csrf)
            return HTMLResponse(html)
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            sessions.delete(session_id)
        resp = RedirectResponse(base + "/login", status_code=303)
        resp.delete_cookie(
            SESSION_COOKIE,
            path=session_cookie_path,
            httponly=True,
            samesite="strict",
            secure=_is_secure(request, secure_cookies),
        )
        return resp

    routes = [page_handler(p) for p in pages]
    routes += [
        Route("/login", login, methods=["GET", "HEAD", "POST"], name="login"),
        Route("/logout", logout, methods=["GET", "HEAD", "POST"], name="logout"),
    ]
    return routes
