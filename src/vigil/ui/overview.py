"""The Overview page (``/``): services, alerts, health checks, targets and host at a glance.

The skeleton below holds no data; ``static/js/overview.js`` fills it from the
query API (``/api/v1/query``, ``/api/v1/query_range``), ``/api/v1/targets`` and
the alert APIs, and refreshes it every 15 seconds. Every tile links to the
Explore query or the page behind it.
"""

from __future__ import annotations

from vigil.ui.templates import Page

__all__ = ["OVERVIEW_PAGE"]

_BODY = """<section class="overview">
<div class="toolbar"><h1>Overview</h1><span class="grow"></span>
<span id="ov-updated" class="muted" role="status"></span></div>
<p id="ov-error" class="error" role="alert"></p>
<div class="ov-summary">
<div class="card ov-tile" id="ov-alerts"><h3><a href="/alerts">Firing alerts</a></h3>
<a class="ov-count" id="ov-alerts-count" href="/alerts">&#8211;</a><ul class="ov-list" id="ov-alerts-list"></ul></div>
<div class="card ov-tile" id="ov-checks"><h3><a href="/health">Failing health checks</a></h3>
<a class="ov-count" id="ov-checks-count" href="/health">&#8211;</a><ul class="ov-list" id="ov-checks-list"></ul></div>
<div class="card ov-tile" id="ov-down"><h3><a href="/targets?state=down">Targets down</a></h3>
<a class="ov-count" id="ov-down-count" href="/targets?state=down">&#8211;</a><ul class="ov-list" id="ov-down-list"></ul></div>
</div>
<h2>Services</h2>
<table class="grid ov-services" id="ov-services"><thead><tr><th>Service</th><th>Targets</th>
<th>Request rate</th><th>Error rate</th><th>p95 latency</th></tr></thead><tbody></tbody></table>
<h2 id="ov-host-title">Host</h2>
<div class="ov-summary" id="ov-host"></div>
</section>"""

OVERVIEW_PAGE = Page("/", "Overview", "overview", _BODY)
