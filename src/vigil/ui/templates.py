"""HTML for the page shell and the login page: string templates, every datum escaped.

Pages carry no inline script or style (the CSP forbids them): each page is a
skeleton plus one ES module from ``/static/js`` that fetches the JSON API.
Anything that came from a user or the store goes through :func:`esc`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template

__all__ = ["NAV", "Page", "esc", "render_layout", "render_login", "render_message"]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


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
    page: Page, pages: dict[str, Page], *, user: str, role: str, csrf: str, active: str
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
    return _HEAD.substitute(
        title=esc(page.title), head="\n".join(head) + "\n"
    ) + _LAYOUT.substitute(
        page=esc(page.path),
        nav="".join(links),
        user=esc(user),
        role=esc(role),
        csrf=esc(csrf),
        body=page.body,
    )


def render_login(*, csrf: str, next_path: str, username: str = "", message: str = "") -> str:
    msg = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    return _HEAD.substitute(title="Sign in", head="") + _LOGIN.substitute(
        message=msg, csrf=esc(csrf), next=esc(next_path), username=esc(username)
    )


def render_message(title: str, message: str) -> str:
    """A bare page saying *message* (errors such as an expired sign-in form)."""
    return _HEAD.substitute(title=esc(title), head="") + (
        f'<body class="login-page"><main class="login"><div class="card"><h2>{esc(title)}</h2>'
        f'<p>{esc(message)}</p><p><a href="/login">Sign in</a></p></div></main></body></html>\n'
    )
