"""The dashboards API on a real server (uvicorn on a loopback port), and the store's provisioning."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vigil.ui.dashboard_model import export_grafana, import_grafana
from vigil.ui.dashboards import SHIPPED_DIR, DashboardStore

from .conftest import Site

GRAFANA = Path(__file__).resolve().parent / "grafana"
Login = Callable[[Site, str], tuple[httpx.Client, str]]


@pytest.fixture
def closer() -> Iterator[list[httpx.Client]]:
    clients: list[httpx.Client] = []
    yield clients
    for c in clients:
        c.close()


@pytest.fixture
def login(closer: list[httpx.Client]) -> Login:
    def sign_in(site: Site, user: str) -> tuple[httpx.Client, str]:
        c, csrf = site.login(user)
        closer.append(c)
        return c, csrf

    return sign_in


def doc(uid: str, **panel: Any) -> dict[str, Any]:
    p = {"id": 1, "type": "stat", "title": "Up", "targets": [{"expr": "up"}], "unit": "none"}
    p.update(panel)
    return {"uid": uid, "title": f"Dash {uid}", "rows": [{"title": "", "panels": [p]}]}


def test_viewers_list_and_read_the_shipped_dashboards(site: Site, login: Login) -> None:
    c, _ = login(site, "viv")
    r = c.get("/api/v1/dashboards")
    assert r.status_code == 200
    got = {d["uid"]: d for d in r.json()["data"]}
    for uid in (
        "vigil-service-overview",
        "vigil-system-overview",
        "vigil-postgresql",
        "vigil-redis",
    ):
        assert got[uid]["provisioned"] is True
        assert got[uid]["panels"] >= 8
    one = c.get("/api/v1/dashboards/vigil-service-overview").json()["data"]
    assert one["provisioned"] is True
    assert one["dashboard"]["title"] == "Service overview (RED)"
    assert c.get("/api/v1/dashboards/nope").status_code == 404


def test_a_viewer_cannot_save_and_state_changes_need_a_session_and_csrf(
    site: Site, login: Login, closer: list[httpx.Client]
) -> None:
    viewer, csrf = login(site, "viv")
    body = json.dumps(doc("by-viewer"))
    r = viewer.post("/api/v1/dashboards", content=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    assert r.json()["errorType"] == "forbidden"
    assert "needs the editor role" in r.json()["error"]
    r = viewer.post(
        "/api/v1/dashboards/import",
        content=(GRAFANA / "modern.json").read_text(),
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 403
    editor, _ = login(site, "eddie")
    assert editor.post("/api/v1/dashboards", content=body).status_code == 403  # no CSRF token
    anon = site.client()
    closer.append(anon)
    assert anon.post("/api/v1/dashboards", content=body).status_code == 401
    assert anon.get("/api/v1/dashboards").status_code == 401


def test_an_editor_creates_changes_and_deletes_a_dashboard_saved_to_disk(
    site: Site, login: Login
) -> None:
    c, csrf = login(site, "eddie")
    h = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    r = c.post("/api/v1/dashboards", content=json.dumps(doc("mine")), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["provisioned"] is False
    path = site.ui.options.data_dir / "ui" / "dashboards" / "mine.json"  # type: ignore[operator]
    assert json.loads(path.read_text())["uid"] == "mine"
    # The same uid again is a conflict; PUT replaces.
    r = c.post("/api/v1/dashboards", content=json.dumps(doc("mine")), headers=h)
    assert r.status_code == 409
    changed = doc("mine", title="Up now", unit="percent")
    r = c.put("/api/v1/dashboards/mine", content=json.dumps(changed), headers=h)
    assert r.status_code == 200, r.text
    assert json.loads(path.read_text())["rows"][0]["panels"][0]["unit"] == "percent"
    # A title without a uid gets one made from the title.
    r = c.post("/api/v1/dashboards", content=json.dumps({"title": "Team: API"}), headers=h)
    assert r.json()["data"]["dashboard"]["uid"] == "team-api"
    # The uid in the path must match the body.
    r = c.put("/api/v1/dashboards/other", content=json.dumps(changed), headers=h)
    assert r.status_code == 400
    assert "the path says 'other'" in r.json()["error"]
    assert c.delete("/api/v1/dashboards/mine", headers=h).status_code == 200
    assert not path.exists()
    assert c.get("/api/v1/dashboards/mine").status_code == 404
    assert c.delete("/api/v1/dashboards/team-api", headers=h).status_code == 200


def test_validation_errors_are_400_and_name_the_panel_field_and_position(
    site: Site, login: Login
) -> None:
    c, csrf = login(site, "eddie")
    bad = doc("bad", title="Errors", unit="reqs", width=99)
    text = json.dumps(bad, indent=1)
    r = c.post(
        "/api/v1/dashboards",
        content=text,
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["errorType"] == "bad_data"
    lines = body["error"].splitlines()
    line, col = next(
        (n + 1, row.index('"reqs"') + 1)
        for n, row in enumerate(text.splitlines())
        if '"unit": "reqs"' in row
    )
    unit = f'body:{line}:{col}: rows[0].panels[0].unit: panel "Errors": unknown unit "reqs"'
    assert any(unit in x for x in lines), lines
    assert any(
        'rows[0].panels[0].width: panel "Errors": 99 is out of range 1..24' in x for x in lines
    )
    r = c.post("/api/v1/dashboards", content='{"uid": "x",', headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400
    assert r.json()["error"].startswith("body:1:13: invalid JSON")
    r = c.post(
        "/api/v1/dashboards",
        content=(GRAFANA / "modern.json").read_text(),
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 400
    assert "/api/v1/dashboards/import" in r.json()["error"]


def test_provisioned_dashboards_are_read_only(site: Site, login: Login) -> None:
    c, csrf = login(site, "admin")
    h = {"X-CSRF-Token": csrf}
    entry = c.get("/api/v1/dashboards/vigil-redis").json()["data"]
    body = json.dumps(entry["dashboard"])
    for r in (
        c.put("/api/v1/dashboards/vigil-redis", content=body, headers=h),
        c.delete("/api/v1/dashboards/vigil-redis", headers=h),
        c.post("/api/v1/dashboards", content=body, headers=h),
    ):
        assert r.status_code == 403, r.text
        assert "provisioned from" in r.json()["error"]
        assert "save it as a copy" in r.json()["error"]
    # Save as copy: the same dashboard without its uid, under another title.
    copy = {**entry["dashboard"], "title": "Redis (copy)"}
    del copy["uid"]
    r = c.post("/api/v1/dashboards", content=json.dumps(copy), headers=h)
    assert r.status_code == 201
    assert r.json()["data"]["dashboard"]["uid"] == "redis-copy"
    assert c.delete("/api/v1/dashboards/redis-copy", headers=h).status_code == 200


def test_grafana_import_and_export_through_the_api(site: Site, login: Login) -> None:
    c, csrf = login(site, "eddie")
    h = {"X-CSRF-Token": csrf}
    text = (GRAFANA / "red_legacy.json").read_text()
    r = c.post("/api/v1/dashboards/import", content=text, headers=h)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["dashboard"]["uid"] == "demo-red-legacy"
    assert any("grafana-piechart-panel" in n for n in data["notes"])
    # Importing again makes a second one rather than overwriting, unless asked.
    again = c.post("/api/v1/dashboards/import", content=text, headers=h).json()["data"]
    assert again["dashboard"]["uid"] == "demo-red-legacy-2"
    assert any("imported as 'demo-red-legacy-2'" in n for n in again["notes"])
    r = c.post("/api/v1/dashboards/import?overwrite=true", content=text, headers=h)
    assert r.json()["data"]["dashboard"]["uid"] == "demo-red-legacy"
    # Export: Grafana JSON that imports back to the same dashboard.
    r = c.get("/api/v1/dashboards/demo-red-legacy/export?download=1")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    out = r.json()
    assert out["schemaVersion"] == 39
    saved = c.get("/api/v1/dashboards/demo-red-legacy").json()["data"]["dashboard"]
    assert import_grafana(out).dashboard.to_json() == saved
    # A provisioned one exports too.
    red = c.get("/api/v1/dashboards/vigil-service-overview/export").json()
    assert len([p for p in red["panels"] if p["type"] != "row"]) >= 8
    r = c.post("/api/v1/dashboards/import", content='{"title": "x"}', headers=h)
    assert r.status_code == 400
    assert "neither" in r.json()["error"]
    for uid in ("demo-red-legacy", "demo-red-legacy-2"):
        c.delete(f"/api/v1/dashboards/{uid}", headers=h)


# -- the store: provisioning from a folder ---------------------------------------------------------


def test_the_store_provisions_vigil_and_grafana_files_and_reports_broken_ones(
    tmp_path: Path,
) -> None:
    prov = tmp_path / "dash"
    prov.mkdir()
    (prov / "mine.json").write_text(json.dumps(doc("prov-mine")))
    (prov / "grafana.json").write_text((GRAFANA / "modern.json").read_text())
    (prov / "broken.json").write_text(json.dumps(doc("broken", unit="furlongs"), indent=2))
    (prov / "dupe.json").write_text(json.dumps(doc("vigil-redis")))
    store = DashboardStore([SHIPPED_DIR, prov], tmp_path / "saved")
    uids = {e.dashboard.uid: e for e in store.entries()}
    assert {"prov-mine", "demo-modern", "vigil-redis"} <= set(uids)
    assert uids["demo-modern"].provisioned
    assert uids["vigil-redis"].source.endswith("redis.json")
    assert "broken" not in uids
    problems = "\n".join(store.problems)
    assert "broken.json:" in problems
    assert 'unknown unit "furlongs"' in problems
    assert "dupe.json: uid 'vigil-redis' is already provisioned" in problems
    # A changed file is read again; a fixed one appears.
    (prov / "broken.json").write_text(json.dumps(doc("broken")))
    st = (prov / "broken.json").stat()
    os.utime(prov / "broken.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "broken" in {e.dashboard.uid for e in store.entries()}
    assert not any("broken.json" in p for p in store.problems)


def test_saved_dashboards_survive_a_restart(tmp_path: Path) -> None:
    store = DashboardStore([], tmp_path)
    d = import_grafana(json.loads((GRAFANA / "modern.json").read_text())).dashboard
    store.create(d)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["demo-modern.json"]  # no temporary file left behind
    again = DashboardStore([], tmp_path)
    assert again.get("demo-modern").dashboard == d
    assert export_grafana(again.get("demo-modern").dashboard) == export_grafana(d)
    with pytest.raises(Exception, match="exists already"):
        again.create(d)
