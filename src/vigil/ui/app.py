"""The web UI as one value: its routes, its access control, and how to wrap a server app.

::

    ui = create_ui(UIOptions(data_dir=Path("data")))
    app = ui.wrap(vigil.api.create_app(api_options))   # pages first, then the API

With ``base_path="/vigil"`` (the server mounted under a prefix of another app, see
``docs/embedded.md``) every URL the pages, scripts, redirects and cookies give the
browser starts with ``/vigil``; the routes themselves stay where they are, and
:class:`BasePath` strips the prefix from requests that arrive with it.

:func:`create_ui` opens (or creates) the users and sessions files, creates the
first admin when there are no users, and builds the routes; it starts nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.routing import BaseRoute, Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.ui.account import account_routes
from vigil.ui.auth import AccessControl, LoginRateLimiter, Policy, Rule
from vigil.ui.dashboards import dashboard_routes
from vigil.ui.pages import DEFAULT_PAGES, page_routes
from vigil.ui.sessions import DEFAULT_SESSION_TTL, SessionStore
from vigil.ui.templates import Page, check_base_path
from vigil.ui.users import PasswordHasher, UserStore, ensure_admin

__all__ = ["STATIC_DIR", "UI", "BasePath", "UIOptions", "create_ui"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _print(message: str) -> None:
    sys.stdout.write(f"vigil: {message}\n")
    sys.stdout.flush()


@dataclass
class UIOptions:
    """How the UI is set up; every field has a usable default."""

    data_dir: Path | None = None  # users.json and sessions.json go in data_dir/ui; None: memory
    public_read: bool = False  # /metrics, the query API and other GETs open to anyone
    public_ingest: bool = False  # remote write and import open to anyone (else an editor token)
    secure_cookies: bool | None = None  # None: Secure cookies when the request came over https
    session_ttl: float = DEFAULT_SESSION_TTL
    login_limit: int = 5  # failed sign-ins per user name and per client address...
    login_window: float = 60.0  # ...in this many seconds; then 429 with Retry-After
    clock: Callable[[], float] = time.time  # sessions' and users' times
    limiter_clock: Callable[[], float] = time.monotonic
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    announce: Callable[[str], None] = _print  # where the first-run admin password is told
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    extra_rules: Sequence[Rule] = ()  # consulted before the built-in policy table
    pages: Sequence[Page] = DEFAULT_PAGES
    dashboards_dir: Path | None = None  # extra provisioned dashboards (vigil or Grafana JSON)
    base_path: str = ""  # "" or "/vigil": the prefix the browser sees the UI under


class BasePath:
    """ASGI middleware: a request for ``{base}/x`` is handled as ``/x``; others pass unchanged.

    So the server answers both behind a proxy that strips the prefix (``VigilProxy``) and
    one that does not, or when opened directly on its own port at ``/vigil/``.
    """

    def __init__(self, app: ASGIApp, base: str) -> None:
        self.app = app
        self.base = base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.base and scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path == self.base or path.startswith(self.base + "/"):
                scope = dict(scope)
                scope["path"] = path[len(self.base) :] or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes) and raw.startswith(self.base.encode()):
                    scope["raw_path"] = raw[len(self.base) :] or b"/"
        await self.app(scope, receive, send)


@dataclass
class UI:
    """The UI's parts; :meth:`wrap` is what a server needs."""

    options: UIOptions
    users: UserStore
    sessions: SessionStore
    limiter: LoginRateLimiter
    policy: Policy
    routes: list[BaseRoute]

    def access_control(self, app: ASGIApp) -> AccessControl:
        """*app* behind the policy (for an app that already serves :attr:`routes`)."""
        return AccessControl(
            app,
            self.policy,
            users=self.users,
            sessions=self.sessions,
            base_path=self.options.base_path,
        )

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The UI's routes, falling through to *app* for every other path, behind the policy.

        Under a base path, requests that still carry it are stripped first (:class:`BasePath`).
        """
        router = Router(routes=self.routes, redirect_slashes=False, default=app)
        guarded = self.access_control(router)
        if not self.options.base_path:
            return guarded
        return BasePath(guarded, self.options.base_path)


def create_ui(opts: UIOptions) -> UI:
    check_base_path(opts.base_path)
    ui_dir = opts.data_dir / "ui" if opts.data_dir is not None else None
    users = UserStore(
        ui_dir / "users.json" if ui_dir else None, hasher=opts.hasher, clock=opts.clock
    )
    ensure_admin(users, opts.environ, opts.announce)
    sessions = SessionStore(
        ui_dir / "sessions.json" if ui_dir else None, ttl=opts.session_ttl, clock=opts.clock
    )
    limiter = LoginRateLimiter(opts.login_limit, opts.login_window, opts.limiter_clock)
    policy = Policy(
        public_read=opts.public_read,
        public_ingest=opts.public_ingest,
        extra_rules=tuple(opts.extra_rules),
    )
    routes: list[BaseRoute] = [
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
        *page_routes(
            tuple(opts.pages),
            users=users,
            sessions=sessions,
            limiter=limiter,
            secure_cookies=opts.secure_cookies,
            base_path=opts.base_path,
        ),
        *account_routes(
            users, sessions, secure_cookies=opts.secure_cookies, base_path=opts.base_path
        ),
        *dashboard_routes(ui_dir, opts.dashboards_dir),
    ]
    return UI(opts, users, sessions, limiter, policy, routes)
