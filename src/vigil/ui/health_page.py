"""The Health page (``/health``): every health check of every target, run now, a status page.

``static/js/health.js`` fills it from ``/api/vigil/v1/health`` (see
:mod:`vigil.api.health`). ``/health?view=status`` is the same data as a plain
status page, fit to show to users. Running a check
(``POST /api/vigil/v1/health/{job}/{instance}/{check}/run``) needs the admin
role: :data:`HEALTH_RUN_RULE` says so to the access policy.
"""

from __future__ import annotations

from vigil.ui.auth import Access, Rule
from vigil.ui.templates import Page

__all__ = ["HEALTH_PAGE", "HEALTH_RUN_RULE"]

#: Running a health check on demand is for admins (a viewer gets 403).
HEALTH_RUN_RULE = Rule(frozenset({"POST"}), "/api/vigil/v1/health/*/run", Access.ADMIN)

_BODY = """<section class="health-page">
<div class="toolbar"><h1 id="hp-title">Health</h1><span class="grow"></span>
<a id="hp-view" href="/health?view=status">Status page</a>
<label class="hp-admin-only"><input type="checkbox" id="hp-all"> targets without checks</label>
<span id="hp-updated" class="muted" role="status"></span></div>
<p id="hp-error" class="error" role="alert"></p>
<p id="hp-note" class="muted"></p>
<div id="hp-summary" class="hp-summary"></div>
<div id="hp-targets"></div>
</section>"""

HEALTH_PAGE = Page("/health", "Health", "health", _BODY)
