"""The Alerts page in a real browser: alerts with labels and annotations, a silence in two
clicks (the alert shows suppressed), expiring it (firing again), the history timeline, the
rules; and the silence API's access rules (editor role, CSRF token)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from .alerting_site import XSS_ANNOTATION, XSS_LABEL, AlertSite, alert_site
from .test_browser import ARTIFACTS, Tab, browser, signed_in, wait_js

__all__ = ["browser"]

SHOP_ROW = 'tr.alert-row[data-alertname="ShopErrors"]'


@pytest.fixture(scope="module")
def asite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertSite]:
    with alert_site(tmp_path_factory.mktemp("alerts")) as s:
        s.wait_firing("ShopErrors")
        yield s


@pytest.fixture
def tab(browser: Browser, asite: AlertSite) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    t = Tab(context.new_page(), asite)  # type: ignore[arg-type]
    yield t
    context.close()


def _v2_state(asite: AlertSite, name: str) -> tuple[str, list[str]]:
    c, _ = asite.login("viv")
    try:
        (a,) = [a for a in c.get("/api/v2/alerts").json() if a["labels"]["alertname"] == name]
        return a["status"]["state"], a["status"]["silencedBy"]
    finally:
        c.close()


def test_alerts_show_labels_annotations_and_since_as_text(tab: Tab) -> None:
    signed_in(tab, "viv", "/alerts")
    page = tab.page
    page.wait_for_selector(SHOP_ROW)
    row = page.locator(SHOP_ROW)
    assert row.locator(".state").inner_text().lower() == "firing"
    labels = row.locator("td.labels").inner_text()
    assert 'job="shop"' in labels
    assert 'severity="critical"' in labels
    assert f"note={XSS_LABEL!r}".replace("'", '"') in labels.replace('\\"', '"')
    assert f"errors on shop {XSS_ANNOTATION}" in row.locator("td.annotations").inner_text()
    assert row.locator("td.since").inner_text().endswith(("ago", "just now"))
    pending = page.locator('tr.alert-row[data-alertname="SlowBurn"] .state')
    assert pending.inner_text().lower() == "pending"
    # A viewer may look but not silence.
    assert row.locator("button.silence").is_disabled()
    assert page.locator("#al-summary").inner_text() == "1 firing, 1 pending, 0 suppressed"
    assert page.evaluate("window.__xss") is None
    assert tab.errors == []


def test_silence_in_two_clicks_then_expire(tab: Tab, asite: AlertSite) -> None:
    signed_in(tab, "eddie", "/alerts")
    page = tab.page
    page.wait_for_selector(SHOP_ROW)
    page.locator(f"{SHOP_ROW} button.silence").click()  # click 1
    dialog = page.locator("#silence-dialog")
    assert dialog.is_visible()
    matchers = dialog.locator("label.matcher").all_inner_texts()
    assert [m.strip() for m in matchers][:2] == ['alertname="ShopErrors"', 'job="shop"']
    assert page.locator("#sf-duration").input_value() == "2h"
    assert page.locator("#sf-creator").input_value() == "eddie"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alerts_silence_form.png"))
    page.locator("#sf-create").click()  # click 2
    wait_js(page, "window.vigilAlerts.created.length === 1")
    page.wait_for_selector(f"{SHOP_ROW}.suppressed")
    assert dialog.is_hidden()
    silence_id = page.evaluate("window.vigilAlerts.created[0]")
    assert _v2_state(asite, "ShopErrors") == ("suppressed", [silence_id])
    assert page.locator(f"{SHOP_ROW} a.silenced-by").get_attribute("data-silence") == silence_id
    # The silence: active, two hours long, by eddie; the matchers are the alert's labels.
    c, _ = asite.login("viv")
    s = c.get(f"/api/v2/silence/{silence_id}").json()
    c.close()
    assert s["createdBy"] == "eddie"
    assert s["status"]["state"] == "active"
    assert {m["name"] for m in s["matchers"]} == {"alertname", "job", "note", "severity"}
    # Expire it from the silences tab: the alert fires again.
    page.locator('.tabs [data-tab="silences"]').click()
    srow = page.locator(f"#silence-{silence_id}")
    assert srow.locator(".state").inner_text().lower() == "active"
    page.screenshot(path=str(ARTIFACTS / "alerts_silences.png"), full_page=True)
    srow.locator("button.expire").click()
    page.wait_for_selector(f"#silence-{silence_id}.expired")
    assert _v2_state(asite, "ShopErrors") == ("active", [])
    page.locator('.tabs [data-tab="alerts"]').click()
    page.wait_for_selector(f"{SHOP_ROW}.firing")
    assert tab.errors == []


def test_the_history_timeline_shows_the_firing_transition(tab: Tab) -> None:
    signed_in(tab, "viv", "/alerts")
    tab.goto("/alerts?range=1h#history")  # the fragment is not kept through the sign-in
    page = tab.page
    lane = page.locator('.tl-row[data-alertname="ShopErrors"]')
    lane.locator(".bar.firing").wait_for()
    assert lane.locator(".bar.firing").count() == 1
    assert lane.locator(".bar.pending").count() == 0  # pending and firing at once: no width
    assert "(still)" in (lane.locator(".bar.firing").get_attribute("title") or "")
    slow = page.locator('.tl-row[data-alertname="SlowBurn"] .bar.pending')
    assert slow.count() == 1
    events = [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in page.locator("#events tr.event.ev-state").all()
    ]
    changes = {(e[1].split()[0], e[2].lower()) for e in events}
    assert ("ShopErrors", "pending → firing") in changes, events
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(ARTIFACTS / "alerts_history.png"), full_page=True)
    assert tab.errors == []


def test_rules_show_state_health_and_last_evaluation(tab: Tab) -> None:
    signed_in(tab, "viv", "/account")
    tab.goto("/alerts#rules")
    page = tab.page
    rule = page.locator('tr.rule[data-rule="ShopErrors"]')
    rule.wait_for()
    cells = rule.locator("td").all_inner_texts()
    assert cells[1].lower() == "firing"
    assert cells[2].lower() == "ok"
    assert cells[3] == ""
    assert cells[4].endswith(("ago", "just now"))
    assert page.locator('tr.rule[data-rule="SlowBurn"] td').nth(1).inner_text().lower() == (
        "pending"
    )
    assert page.locator('tr.rule[data-rule="job:http_requests:rate5m"]').count() == 1
    page.screenshot(path=str(ARTIFACTS / "alerts_rules.png"), full_page=True)
    assert tab.errors == []


def test_creating_a_silence_needs_an_editor_and_the_csrf_token(asite: AlertSite) -> None:
    body = {
        "matchers": [{"name": "alertname", "value": "SlowBurn", "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "x",
        "comment": "test",
    }
    viewer, vtoken = asite.login("viv")
    editor, etoken = asite.login("eddie")
    try:
        r = viewer.post("/api/v2/silences", json=body, headers={"X-CSRF-Token": vtoken})
        assert r.status_code == 403
        assert r.json()["errorType"] == "forbidden"
        r = editor.post("/api/v2/silences", json=body)
        assert r.status_code == 403
        assert "CSRF" in r.json()["error"]
        r = editor.post("/api/v2/silences", json=body, headers={"X-CSRF-Token": etoken})
        assert r.status_code == 200
        sid = r.json()["silenceID"]
        assert viewer.delete(f"/api/v2/silence/{sid}").status_code == 403
        assert editor.delete(f"/api/v2/silence/{sid}").status_code == 403
        r = editor.delete(f"/api/v2/silence/{sid}", headers={"X-CSRF-Token": etoken})
        assert r.status_code == 200
    finally:
        viewer.close()
        editor.close()
