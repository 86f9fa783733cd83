"""Who may do what: the access policy, the login rate limiter and the ASGI middleware.

:class:`AccessControl` wraps the whole server app. For each request it finds the
principal (an API token in ``Authorization: Bearer``, or a session cookie),
asks the :class:`Policy` what the method and path need, and answers 401/403
(or, for a page, a redirect to the login page) when that is not met. Requests
that change state and come with a session cookie must also carry the session's
CSRF token, in the ``X-CSRF-Token`` header or a ``csrf_token`` form field.
Every response gets the security headers (CSP without inline scripts, no framing).
"""

from __future__ import annotations

import enum
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.api.errors import ApiError
from vigil.ui.sessions import Session, SessionStore
from vigil.ui.users import Role, UserStore

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "Access",
    "AccessControl",
    "ForbiddenError",
    "LoginRateLimiter",
    "Policy",
    "Principal",
    "Requirement",
    "Rule",
    "UnauthorizedError",
    "principal_of",
]

SESSION_COOKIE = "vigil_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 1024 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CSP),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
)


class UnauthorizedError(ApiError):
    """No valid session or token, where the endpoint needs one."""

    status = 401
    error_type = "unauthorized"


class ForbiddenError(ApiError):
    """Signed in, but the role is too low, or the CSRF token is missing or wrong."""

    status = 403
    error_type = "forbidden"


class TooManyRequestsError(ApiError):
    status = 429
    error_type = "too_many_requests"


class Access(enum.Enum):
    """What a request needs."""

    PUBLIC = "public"  # anyone
    READ = "read"  # anyone when public_read, else a viewer
    INGEST = "ingest"  # anyone when public_ingest, else an editor (remote write, import)
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


_ROLE_OF = {Access.VIEWER: Role.VIEWER, Access.EDITOR: Role.EDITOR, Access.ADMIN: Role.ADMIN}


@dataclass(frozen=True)
class Requirement:
    access: Access
    page: bool = False  # a browser page: redirect to the login page instead of answering 401
    csrf: bool = True  # for unsafe methods with a session cookie: the CSRF token is needed


@dataclass(frozen=True)
class Rule:
    """*methods* (None: any) on paths matching *pattern* (``*`` is any text) need *access*."""

    methods: frozenset[str] | None
    pattern: str
    access: Access
    page: bool = False
    csrf: bool = True
    _re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = (re.escape(p) for p in self.pattern.split("*"))
        object.__setattr__(self, "_re", re.compile("^" + ".*".join(parts) + "$"))

    def matches(self, method: str, path: str) -> bool:
        return (self.methods is None or method in self.methods) and bool(self._re.match(path))


def _rules(methods: str | None, access: Access, *patterns: str, **kw: Any) -> list[Rule]:
    ms = frozenset(methods.split()) if methods else None
    return [Rule(ms, p, access, **kw) for p in patterns]


READ_ONLY_POSTS = (
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/query_exemplars",
    "/api/v1/format_query",
    "/api/v1/parse_query",
)


def default_rules() -> list[Rule]:
    """The built-in table; first match wins, anything unlisted that changes state needs admin."""
    return [
        *_rules("GET HEAD", Access.PUBLIC, "/static/*", "/favicon.ico", "/-/healthy", "/-/ready"),
        # The login form has its own CSRF token (a double-submit cookie), checked by its handler.
        *_rules("GET HEAD POST", Access.PUBLIC, "/login", csrf=False),
        # Queries are reads even as POST (long expressions): no CSRF token needed.
        *_rules("GET HEAD POST", Access.READ, *READ_ONLY_POSTS, csrf=False),
        *_rules("POST PUT", Access.INGEST, "/api/v1/write", "/api/v1/import/*", "/api/v1/otlp/*"),
        # Alerts sent by a Prometheus (alerting.alertmanagers) are ingest too.
        *_rules("POST", Access.INGEST, "/api/v2/alerts"),
        *_rules(
            None, Access.VIEWER, "/logout", "/api/v1/auth/me", "/api/v1/auth/password", page=True
        ),
        *_rules(None, Access.ADMIN, "/api/v1/auth/*", "/api/v1/admin/*", "/-/*"),
        *_rules(
            "POST PUT PATCH DELETE",
            Access.EDITOR,
            "/api/v1/silences",
            "/api/v1/silences/*",
            "/api/v1/silence/*",
            "/api/v2/silences",
            "/api/v2/silences/*",
            "/api/v2/silence/*",
            "/api/v1/dashboards",
            "/api/v1/dashboards/*",
        ),
        *_rules("GET HEAD", Access.READ, "/metrics", "/federate", "/api/*"),
        *_rules("GET HEAD", Access.VIEWER, "/*", page=True),
        Rule(None, "*", Access.ADMIN),
    ]


@dataclass
class Policy:
    """Decides what each method and path needs; *extra_rules* are consulted first."""

    public_read: bool = False
    public_ingest: bool = False
    extra_rules: Sequence[Rule] = ()
    rules: Sequence[Rule] = field(default_factory=default_rules)

    def requirement(self, method: str, path: str) -> Requirement:
        for rule in (*self.extra_rules, *self.rules):
            if rule.matches(method, path):
                return Requirement(rule.access, rule.page, rule.csrf)
        return Requirement(Access.ADMIN)

    def role_needed(self, req: Requirement) -> Role | None:
        """The least role for *req*; None when no sign-in is needed."""
        if req.access == Access.PUBLIC:
            return None
        if req.access == Access.READ:
            return None if self.public_read else Role.VIEWER
        if req.access == Access.INGEST:
            return None if self.public_ingest else Role.EDITOR
        return _ROLE_OF[req.access]


@dataclass(frozen=True)
class Principal:
    """Who made a request: a user through a session, a token, or nobody."""

    name: str
    role: Role | None
    via: str  # "session", "token" or "anonymous"
    session: Session | None = None

    @property
    def signed_in(self) -> bool:
        return self.role is not None


ANONYMOUS = Principal("", None, "anonymous")
_SCOPE_KEY = "vigil.principal"


def principal_of(conn: HTTPConnection | Scope) -> Principal:
    """The principal :class:`AccessControl` found for this request (anonymous if none)."""
    scope = conn.scope if isinstance(conn, HTTPConnection) else conn
    p = scope.get(_SCOPE_KEY)
    return p if isinstance(p, Principal) else ANONYMOUS


class LoginRateLimiter:
    """At most *limit* failed sign-ins per user name and per client address in *window* seconds."""

    def __init__(
        self, limit: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, user: str, address: str) -> float | None:
        """Seconds until the next attempt may be made, or None when one may be made now."""
        now = self._clock()
        waits = []
        for key in (f"u:{user}", f"a:{address}"):
            q = self._recent(key, now)
            if len(q) >= self.limit:
                waits.append(q[len(q) - self.limit] + self.window - now)
        return max(waits) if waits else None

    def failure(self, user: str, address: str) -> None:
        now = self._clock()
        if len(self._failures) > 10_000:  # forget the quiet keys before growing further
            for key in list(self._failures):
                self._recent(key, now)
        for key in (f"u:{user}", f"a:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def success(self, user: str) -> None:
        self._failures.pop(f"u:{user}", None)


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/-/")) or path in ("/metrics", "/federate")


def _error(err: ApiError, extra: Iterable[tuple[str, str]] = ()) -> Response:
    body = {"status": "error", "errorType": err.error_type, "error": err.message}
    return JSONResponse(body, status_code=err.status, headers={**err.headers, **dict(extra)})


class AccessControl:
    """ASGI middleware enforcing *policy* over the app it wraps (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        policy: Policy,
        *,
        users: UserStore,
        sessions: SessionStore,
        login_path: str = "/login",
        base_path: str = "",
    ) -> None:
        self.app = app
        self.policy = policy
        self.users = users
        self.sessions = sessions
        self.login_path = login_path
        # Paths arrive without the base path (a proxy or BasePath strips it); the browser's
        # redirect to the login page needs it back. ``next`` stays without it.
        self.base_path = base_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET").upper() if scope["type"] == "http" else "GET"
        path: str = scope["path"]
        send = _secure_headers(send)
        headers = Headers(scope=scope)
        principal, bad_token = self.identify(headers)
        req = self.policy.requirement(method, path)
        needed = self.policy.role_needed(req)

        denial: Response | None = None
        if bad_token:
            denial = _error(
                UnauthorizedError("the bearer token is not valid (revoked or mistyped)"),
                [("www-authenticate", 'Bearer realm="vigil", error="invalid_token"')],
            )
        elif needed is not None and principal.role is None:
            if req.page and method in SAFE_METHODS and not _is_api(path):
                target = path + (
                    "?" + scope["query_string"].decode() if scope["query_string"] else ""
                )
                denial = RedirectResponse(
                    f"{self.base_path}{self.login_path}?next={quote(target, safe='/')}",
                    status_code=303,
                )
            else:
                denial = _error(
                    UnauthorizedError(f"{method} {path} needs a signed-in user or an API token"),
                    [("www-authenticate", 'Bearer realm="vigil"')],
                )
        elif needed is not None and principal.role is not None and principal.role < needed:
            denial = _error(
                ForbiddenError(
                    f"{method} {path} needs the {needed} role; {principal.name} is a {principal.role}"
                )
            )
        if denial is None and (
            method not in SAFE_METHODS
            and req.csrf
            and principal.via == "session"
            and principal.session is not None
        ):
            token = headers.get(CSRF_HEADER)
            if token is None and _is_form(headers):
                body = await _read_all(receive, MAX_FORM_BYTES)
                if body is None:
                    denial = _error(ForbiddenError("form body too large to check its CSRF token"))
                else:
                    fields = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
                    token = fields.get(CSRF_FIELD)
                    receive = _replay(body)
            if denial is None and not principal.session.csrf_ok(token):
                denial = _error(
                    ForbiddenError(
                        f"{method} {path}: missing or wrong CSRF token "
                        f"(send the page's token in the X-CSRF-Token header)"
                    )
                )
        if denial is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await denial(scope, receive, send)
            return
        scope[_SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    def identify(self, headers: Headers) -> tuple[Principal, bool]:
        """The request's principal, and whether it presented a bearer token that is not valid."""
        auth = headers.get("authorization", "")
        scheme, _, cred = auth.partition(" ")
        if scheme.lower() == "bearer" and cred.strip():
            token = self.users.check_token(cred.strip())
            if token is None:
                return ANONYMOUS, True
            return Principal(f"token:{token.name}", token.role, "token"), False
        session_id = _cookie(headers, SESSION_COOKIE)
        if session_id:
            session = self.sessions.get(session_id)
            if session is not None:
                user = self.users.get(session.user)
                if user is not None:
                    return Principal(user.name, user.role, "session", session), False
        return ANONYMOUS, False


def _cookie(headers: Headers, name: str) -> str:
    for raw in headers.getlist("cookie"):
        for part in raw.split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
    return ""


def _is_form(headers: Headers) -> bool:
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/x-www-form-urlencoded"


async def _read_all(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _secure_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS:
                if name not in headers:
                    headers[name] = value
            if headers.get("content-type", "").startswith("text/html") and (
                "cache-control" not in headers
            ):
                headers["cache-control"] = "no-store"
        await send(message)

    return wrapped
