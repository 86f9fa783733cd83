"""HTML for the page shell and the login page: string templates, every datum escaped.

Pages carry no inline script or style (the CSP forbids them): each page is a
skeleton plus one ES module from ``/static/js`` that fetches the JSON API.
Anything that came from a user or the store goes through :func:`esc`.

Under a base path (``UIOptions.base_path``, e.g. ``/vigil`` when the server is
mounted inside an application), every server-absolute URL of the rendered HTML
(``href``, ``src``, ``action``) carries it: :func:`rebase` rewrites our trusted
markup, and the base is in ``<meta name="vigil-base">`` for the scripts
(``static/js/api.js`` builds every URL from it).
"""

from __future__ import annotations

import functools
import html
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

__all__ = [
    "NAV",
    "Page",
    "check_base_path",
    "esc",
    "module_deps",
    "rebase",
    "render_layout",
    "render_login",
    "render_message",
]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


_BASE_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
# A server-absolute URL in an attribute of our markup (not "//host", a scheme-relative one).
_URL_ATTR = re.compile(r'\b(href|src|action)="/(?!/)')


_JS_DIR = Path(__file__).resolve().parent / "static" / "js"
_IMPORT = re.compile(r'^\s*import\s[^"\']*?from\s*["\'](\.{1,2}/[^"\']+)["\']', re.MULTILINE)


@functools.cache
def module_deps(script: str) -> tuple[str, ...]:
    """Every module *script* (``explore``) imports, directly or not, as paths under /static/.

    The page preloads them (``<link rel="modulepreload">``) so the browser fetches the
    whole graph at once instead of one import level after another.
    """
    seen: dict[str, None] = {}
    todo = [f"js/{script}.js"]
    while todo:
        current = todo.pop()
        try:
            text = (_JS_DIR.parent / current).read_text(encoding="utf-8")
        except OSError:
            continue
        for rel in _IMPORT.findall(text):
            dep = posixpath.normpath(posixpath.join(posixpath.dirname(current), rel))
            if dep not in seen and not dep.startswith(".."):
                seen[dep] = None
                todo.append(dep)
    return tuple(sorted(seen))


def check_base_path(base: str) -> str:
    """*base* if it is "" or like ``/vigil`` or ``/ops/vigil``; ValueError saying why otherwise."""
    if not _BASE_RE.match(base):
        raise ValueError(
            f"base path {base!r}: give it as /name (segments of letters, digits, . _ ~ -), "
            "starting with / and not ending with one, or empty for none"
        )
    return base


def rebase(markup: str, base: str) -> str:
    """*markup* with *base* before every ``href``, ``src`` and ``action`` that starts with ``/``.

    Only for HTML we wrote: data is escaped by :func:`esc` (quotes become ``&quot;``), so a
    label value can never form an ``href="/`` of its own.
    """
    if not base:
        return markup
    return _URL_ATTR.sub(lambda m: f'{m.group(1)}="{base}/', markup)


@dataclass(frozen=True)
class Page:
    """A page of the UI: its path, title, the ES module that drives it and its skeleton HTML."""

    path: str
    title: str
    script: str | None  # module under /static/js/, without .js
    body: str  # trusted skeleton HTML (ours, never data)
    nav: bool = True


NAV = ("/", "/explore", "/dashboards", "/alerts", "/health", "/targets", "/status")

_HEAD = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="vigil-base" content="$base">
<title>$title · Vigil</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
$head</head>
""")

_LAYOUT = Template("""<body data-page="$page">
<header class="top">
<a class="brand" href="/">Vigil</a>
<nav>$nav</nav>
<div class="who"><a href="/account" title="Account">$user</a> <span class="role">$role</span>
<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf_token" value="$csrf"><button type="submit">Sign out</button></form>
</div>
</header>
<main id="main">
$body
</main>
</body>
</html>
""")

_LOGIN = Template("""<body class="login-page">
<main class="login">
<h1>Vigil</h1>
<form method="post" action="/login" class="card">
<h2>Sign in</h2>
$message
<input type="hidden" name="csrf_token" value="$csrf">
<input type="hidden" name="next" value="$next">
<label>User name <input name="username" autocomplete="username" value="$username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
""")


def render_layout(
    page: Page,
    pages: dict[str, Page],
    *,
    user: str,
    role: str,
    csrf: str,
    active: str,
    base: str = "",
) -> str:
    links = []
    for path in NAV:
        p = pages.get(path)
        if p is None or not p.nav:
            continue
        cur = ' aria-current="page"' if path == active else ""
        label = "Overview" if path == "/" else p.title
        links.append(f'<a href="{esc(path)}"{cur}>{esc(label)}</a>')
    head = [f'<meta name="csrf-token" content="{esc(csrf)}">']
    if page.script:
        head.append(f'<script type="module" src="/static/js/{esc(page.script)}.js"></script>')
        head += [
            f'<link rel="modulepreload" href="/static/{esc(d)}">' for d in module_deps(page.script)
        ]
    doc = _HEAD.substitute(
        title=esc(page.title), head="\n".join(head) + "\n", base=esc(base)
    ) + _LAYOUT.substitute(
        page=esc(page.path),
        nav="".join(links),
        user=esc(user),
        role=esc(role),
        csrf=esc(csrf),
        body=page.body,
    )
    return rebase(doc, base)


def render_login(
    *, csrf: str, next_path: str, username: str = "", message: str = "", base: str = ""
) -> str:
    """The sign-in form; *next_path* is the page to go to after it, without the base path."""
    msg = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    doc = _HEAD.substitute(title="Sign in", head="", base=esc(base)) + _LOGIN.substitute(
        message=msg, csrf=esc(csrf), next=esc(next_path), username=esc(username)
    )
    return rebase(doc, base)


def render_message(title: str, message: str, base: str = "") -> str:
    """A bare page saying *message* (errors such as an expired sign-in form)."""
    doc = _HEAD.substitute(title=esc(title), head="", base=esc(base)) + (
        f'<body class="login-page"><main class="login"><div class="card"><h2>{esc(title)}</h2>'
        f'<p>{esc(message)}</p><p><a href="/login">Sign in</a></p></div></main></body></html>\n'
    )
    return rebase(doc, base)
