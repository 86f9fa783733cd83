"""The Alerts page (``/alerts``): alerts, silences, the history timeline and the rules.

``static/js/alerts.js`` fills it from ``/api/v1/alerts`` and ``/api/v1/rules``
(Prometheus's), ``/api/v2/alerts`` and ``/api/v2/silences`` (Alertmanager's)
and ``/api/vigil/v1/alerts/history``. Silencing posts to ``/api/v2/silences``
with the page's CSRF token; the policy lets editors and admins do it.
"""

from __future__ import annotations

from vigil.ui.templates import Page

__all__ = ["ALERTS_PAGE"]

_HISTORY_RANGES = ("1h", "3h", "6h", "12h", "1d", "2d", "7d")

_BODY = f"""<section class="alerts-page">
<h1>Alerts</h1>
<div class="tabs" role="tablist">
<button type="button" role="tab" data-tab="alerts">Alerts <span class="badge" id="n-alerts"></span></button>
<button type="button" role="tab" data-tab="silences">Silences <span class="badge" id="n-silences"></span></button>
<button type="button" role="tab" data-tab="history">History</button>
<button type="button" role="tab" data-tab="rules">Rules</button>
<span id="al-updated" class="muted"></span></div>
<p id="al-error" class="error" role="alert"></p>
<div id="tab-alerts" class="tabpane">
<div class="toolbar">
<label><input type="checkbox" id="show-firing" checked> firing</label>
<label><input type="checkbox" id="show-pending" checked> pending</label>
<label><input type="checkbox" id="show-suppressed" checked> suppressed</label>
<label>Filter <input id="al-filter" type="search" placeholder="name, label or annotation"></label>
<span id="al-summary" class="muted"></span></div>
<div id="alerts"></div>
</div>
<div id="tab-silences" class="tabpane" hidden>
<div class="toolbar"><label>State <select id="sil-state"><option value="">all</option>
<option value="active">active</option><option value="pending">pending</option>
<option value="expired">expired</option></select></label><span id="sil-summary" class="muted"></span></div>
<div id="silences"></div>
</div>
<div id="tab-history" class="tabpane" hidden>
<div class="toolbar"><label>Range <select id="hist-range">{"".join(f'<option value="{r}">{r}</option>' for r in _HISTORY_RANGES)}</select></label>
<span class="legend"><span class="lane-firing"></span> firing <span class="lane-pending"></span> pending <span class="ev-note"></span> notification</span>
<span id="hist-summary" class="muted"></span></div>
<div id="timeline" class="timeline"></div>
<h2>Events</h2>
<div id="events"></div>
</div>
<div id="tab-rules" class="tabpane" hidden>
<div class="toolbar"><label>Filter <input id="rule-filter" type="search" placeholder="rule or group"></label>
<span id="rule-summary" class="muted"></span></div>
<div id="rules"></div>
</div>
<dialog id="silence-dialog">
<form id="silence-form" class="card">
<h2>New silence</h2>
<fieldset><legend>Matchers (alerts with all of these labels are silenced)</legend><div id="sf-matchers"></div></fieldset>
<label>Duration <input name="duration" id="sf-duration" value="2h" required placeholder="e.g. 30m, 2h, 1d"></label>
<label>Comment <input name="comment" id="sf-comment" required></label>
<label>Created by <input name="createdBy" id="sf-creator" required></label>
<p class="muted" id="sf-ends"></p>
<p class="error" id="sf-error" role="alert"></p>
<div class="actions"><button type="submit" class="primary" id="sf-create">Create</button>
<button type="button" id="sf-cancel">Cancel</button></div>
</form>
</dialog>
</section>"""

ALERTS_PAGE = Page("/alerts", "Alerts", "alerts", _BODY)
