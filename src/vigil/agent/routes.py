"""Route templates for the ``route`` label: ``/users/{id}``, never ``/users/42``.

Every framework's template is converted to one syntax, ``{name}`` for a path
parameter, so dashboards and alerts read the same across services:

========== ======================================= =======================
framework  the framework's own template             ``route`` label
========== ======================================= =======================
Starlette  ``/users/{id:int}``                      ``/users/{id}``
FastAPI    ``/api`` + ``/items/{item_id}``          ``/api/items/{item_id}``
Flask      ``/users/<int:id>``                      ``/users/{id}``
Django     ``users/<int:pk>/``                      ``/users/{pk}/``
Django re  ``^articles/(?P<year>[0-9]{4})/$``       ``/articles/{year}/``
========== ======================================= =======================

A request that matches no route gets the single value :data:`UNMATCHED`, so
scanners probing random paths cannot create new series.

Templates are resolved once per route object and cached; the per-request cost
is a dictionary look-up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from functools import lru_cache
from typing import Any

#: The ``route`` label of a request that matched no route.
UNMATCHED = "<unmatched>"

#: WSGI environ key where framework hooks leave the matched route template.
ENVIRON_ROUTE_KEY = "vigil.route"


# --------------------------------------------------------------------------- Flask


_FLASK_PARAM_RE = re.compile(
    r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>"
)


@lru_cache(maxsize=4096)
def flask_template(rule: str) -> str:
    """Convert a Werkzeug rule (``/users/<int:id>``) to ``/users/{id}``."""
    return _FLASK_PARAM_RE.sub(r"{\1}", rule)


# --------------------------------------------------------------------------- Django


_DJANGO_PARAM_RE = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


@lru_cache(maxsize=4096)
def django_template(route: str) -> str:
    """Convert a Django ``ResolverMatch.route`` to a template with a leading slash.

    ``path()`` routes (``users/<int:pk>/``) become ``/users/{pk}/``.  Regular
    expression routes from ``re_path()`` lose their anchors and their named
    groups become ``{name}`` (``^articles/(?P<year>[0-9]{4})/$`` becomes
    ``/articles/{year}/``); unnamed groups are kept as written.
    """
    if "(?P<" in route or route.startswith("^") or route.endswith("$"):
        route = _regex_to_template(route)
    else:
        route = _DJANGO_PARAM_RE.sub(r"{\1}", route)
    return route if route.startswith("/") else "/" + route


def _regex_to_template(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            if pattern[i + 1] in "AZz":  # \A, \Z, \z anchors
                i += 2
                continue
            out.append(pattern[i + 1])  # an escaped literal such as \. or \-
            i += 2
            continue
        if pattern.startswith("(?P<", i):
            end = pattern.find(">", i)
            name = pattern[i + 4 : end]
            out.append("{" + name + "}")
            i = _skip_group(pattern, i)
            continue
        if ch in "^$":
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _skip_group(pattern: str, start: int) -> int:
    """Index just past the group opening at *start*, honouring nesting and escapes."""
    depth = 0
    i, n = start, len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


# ------------------------------------------------------------------ Starlette/FastAPI


class StarletteRoutes:
    """Resolves the route template of a Starlette or FastAPI request after routing.

    Starlette's router records the matched route object in ``scope["route"]``
    (the innermost one, for routes under a ``Mount``) and FastAPI records the
    inclusion context of routers included with a prefix in
    ``scope["fastapi"]["effective_route_context"]``.  The first time a route
    object is seen its full template is computed (the prefixes of the mounts
    above it come from one walk over the application's routes) and cached by
    identity; every later request costs one dictionary look-up.

    The resolver needs the middleware to share the scope dictionary with the
    router, which Starlette and FastAPI do.  A request that no route matched
    resolves to :data:`UNMATCHED`.
    """

    def __init__(self, app: Any = None) -> None:
        self._app = app
        self._templates: dict[int, tuple[object, str]] = {}
        # Filled by _walk: prefix of the mount above a route, of a mounted sub-app.
        self._route_prefix: dict[int, tuple[object, str]] = {}
        self._app_prefix: dict[int, tuple[object, str]] = {}
        self._lock = threading.Lock()

    def bind(self, app: Any) -> None:
        """Use *app*'s routes (the middleware calls this with ``scope["app"]``)."""
        if self._app is None:
            self._app = app

    def resolve(self, scope: Mapping[str, Any]) -> str:
        """The template of the route that handled *scope*, or :data:`UNMATCHED`."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        leaf = route
        fastapi_scope = scope.get("fastapi")
        if fastapi_scope:
            context = fastapi_scope.get("effective_route_context")
            if context is not None:
                leaf = context
        cached = self._templates.get(id(leaf))
        if cached is not None and cached[0] is leaf:
            return cached[1]
        return self._compute(leaf, route, scope.get("app"), scope.get("router"))

    def _compute(self, leaf: object, route: object, app: object, router: object) -> str:
        with self._lock:
            prefix = self._prefix(leaf, route, app, final=False)
            if prefix is None:
                # Not seen in the last walk: routes may have been added after the
                # first request, so walk again (at most once per new route).
                self._rewalk(router)
                prefix = self._prefix(leaf, route, app, final=True) or ""
            tail = getattr(leaf, "path_format", None)
            if not isinstance(tail, str):
                tail = getattr(route, "path_format", None)
            if not isinstance(tail, str):
                return UNMATCHED
            template = prefix + tail
            self._templates[id(leaf)] = (leaf, template)
            return template

    def _prefix(self, leaf: object, route: object, app: object, *, final: bool) -> str | None:
        if leaf is route:
            entry = self._route_prefix.get(id(route))
            if entry is not None and entry[0] is route:
                return entry[1]
            if not final:
                return None
        # A FastAPI inclusion context (its template holds the include prefixes),
        # or a route the walk cannot reach: the application it ran in tells the
        # prefix of the mount above it.
        app_entry = self._app_prefix.get(id(app))
        if app_entry is not None and app_entry[0] is app:
            return app_entry[1]
        return None

    def _rewalk(self, router: object) -> None:
        self._route_prefix.clear()
        self._app_prefix.clear()
        # The top-level application, or the top-level router (Starlette keeps the
        # first router that saw the request in scope["router"]).
        root = self._app if self._app is not None else router
        if root is not None:
            self._app_prefix[id(root)] = (root, "")
            self._walk(getattr(root, "routes", ()), "", set())

    def _walk(self, routes: Iterable[Any], prefix: str, seen: set[int]) -> None:
        from starlette.routing import Host, Mount

        for route in routes:
            if id(route) in seen:
                continue
            seen.add(id(route))
            self._route_prefix[id(route)] = (route, prefix)
            if isinstance(route, Mount):
                mount_prefix = prefix + _mount_prefix(route.path_format)
                sub_app = route.app
                # A mounted Starlette/FastAPI app sets scope["app"] to itself.
                self._app_prefix[id(sub_app)] = (sub_app, mount_prefix)
                self._walk(route.routes, mount_prefix, seen)
            elif isinstance(route, Host):
                self._walk(route.routes, prefix, seen)


def _mount_prefix(path_format: str) -> str:
    # A Mount's path_format is its prefix plus "/{path}".
    suffix = "/{path}"
    return path_format[: -len(suffix)] if path_format.endswith(suffix) else path_format


def set_environ_route(environ: MutableMapping[str, Any], template: str) -> None:
    """Record the matched route *template* for the WSGI middleware."""
    environ[ENVIRON_ROUTE_KEY] = template
