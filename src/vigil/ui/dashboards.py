"""The Dashboards page, the dashboard store, and the dashboards JSON API.

Dashboards come from three places, first match by uid wins:

1. the shipped folder (``vigil/ui/dashboards/*.json``: service overview, system,
   PostgreSQL, Redis) and
2. the configured ``dashboards_dir`` (vigil or Grafana JSON files): both are
   *provisioned*, read-only in the UI (save a copy to change one);
3. ``<data dir>/ui/dashboards/<uid>.json``: made or edited in the UI, written atomically.

API (the envelope of :mod:`vigil.api.errors`; editors may write, see :mod:`vigil.ui.auth`)::

    GET    /api/v1/dashboards               summaries (warnings: provisioned files that failed)
    POST   /api/v1/dashboards               create (vigil JSON; uid made from the title if absent)
    GET    /api/v1/dashboards/{uid}         {"dashboard": ..., "provisioned": bool, "source": ...}
    PUT    /api/v1/dashboards/{uid}         replace
    DELETE /api/v1/dashboards/{uid}
    POST   /api/v1/dashboards/import        Grafana JSON in (?overwrite=true replaces a saved one)
    GET    /api/v1/dashboards/{uid}/export  Grafana JSON out (schema 39)

A dashboard that does not validate is a 400 whose message lists every problem as
``line:col: rows[0].panels[1].unit: panel "Errors": unknown unit "reqs" (did you mean "reqps"?)``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil.api.errors import ApiError, BadDataError, InternalError, NotFoundError, error_response
from vigil.ui.auth import ForbiddenError
from vigil.ui.dashboard_model import (
    UID_RE,
    Dashboard,
    DashboardError,
    export_grafana,
    import_grafana,
    is_grafana,
    parse_dashboard,
    parse_dashboard_text,
    slugify,
    with_uid,
)
from vigil.ui.templates import Page
from vigil.ui.users import atomic_write

__all__ = [
    "DASHBOARDS_PAGE",
    "SHIPPED_DIR",
    "ConflictError",
    "DashboardStore",
    "Entry",
    "dashboard_routes",
]

logger = logging.getLogger("vigil.ui")

SHIPPED_DIR = Path(__file__).resolve().parent / "dashboards"
MAX_BODY = 4 * 1024 * 1024
MAX_FILE = 8 * 1024 * 1024


def _options(pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'<option value="{v}">{label}</option>' for v, label in pairs)


_RANGES = ("5m", "15m", "30m", "1h", "3h", "6h", "12h", "1d", "2d", "7d")
_REFRESH = (("", "off"), ("5s", "5s"), ("15s", "15s"), ("30s", "30s"), ("1m", "1m"), ("5m", "5m"))

_BODY = f"""<link rel="stylesheet" href="/static/dashboards.css">
<section class="dashboards" id="list-view" hidden>
<div class="toolbar"><h1>Dashboards</h1><span class="grow"></span>
<label>Filter <input id="filter" type="search" placeholder="title or tag"></label>
<button type="button" id="new" class="editor-only">New dashboard</button></div>
<table class="grid" id="dash-list"><thead><tr><th>Title</th><th>Tags</th><th>Source</th></tr></thead><tbody></tbody></table>
<form id="import" class="card import editor-only"><h2>Import a Grafana dashboard</h2>
<p class="muted">Paste Grafana's dashboard JSON (Share, Export) or choose a file. PromQL panels (time series, graph, stat, singlestat, gauge, bar gauge, table) are kept; other panels become placeholders.</p>
<input type="file" id="import-file" accept=".json,application/json">
<textarea id="import-json" rows="8" spellcheck="false" placeholder='{{"title": "...", "panels": [...]}}'></textarea>
<label class="check"><input type="checkbox" id="import-overwrite"> Replace a saved dashboard with the same uid</label>
<div><button type="submit" class="primary">Import</button> <span id="import-msg" class="msg" role="status"></span></div>
<ul id="import-notes" class="notes"></ul></form>
</section>
<section class="dashboard" id="dash-view" hidden>
<div class="toolbar"><h1 id="dash-title"></h1><span id="dash-badge" class="chip"></span><span class="grow"></span>
<label>Range <select id="range">{_options(tuple((r, r) for r in _RANGES))}<option value="abs">absolute</option></select></label>
<label>Refresh <select id="refresh">{_options(_REFRESH)}</select></label>
<button type="button" id="reload" title="Query again">↻</button>
<a id="back" href="/dashboards">All dashboards</a></div>
<div class="toolbar vars" id="vars"></div>
<div class="toolbar actions-bar"><button type="button" id="edit-json" class="editor-only">Edit JSON</button>
<button type="button" id="edit-panels" class="editor-only">Panels</button>
<button type="button" id="save-copy" class="editor-only">Save as copy</button>
<button type="button" id="export">Export to Grafana</button>
<button type="button" id="delete" class="editor-only danger">Delete</button>
<span id="dash-msg" class="msg" role="status"></span></div>
<div id="json-editor" class="card" hidden><h2>Dashboard JSON</h2>
<textarea id="json-text" rows="24" spellcheck="false" aria-label="Dashboard JSON"></textarea>
<div><button type="button" id="json-save" class="primary">Save</button> <button type="button" id="json-cancel">Cancel</button></div>
<pre id="json-errors" class="error" role="alert"></pre></div>
<div id="panel-editor" class="card" hidden><h2>Panels</h2>
<table class="grid" id="panel-list"><thead><tr><th>Row</th><th>Panel</th><th>Type</th><th></th></tr></thead><tbody></tbody></table>
<form id="add-panel" class="panel-form"><h3>Add a panel</h3>
<label>Title <input name="title" required></label>
<label>Type <select name="type"><option>timeseries</option><option>stat</option><option>gauge</option><option value="bar">bar gauge</option><option>table</option></select></label>
<label class="wide">PromQL <input name="expr" required placeholder="sum by (job) (rate(http_requests_total[$__rate_interval]))"></label>
<label>Legend <input name="legend" placeholder="{{{{job}}}}"></label>
<label>Unit <input name="unit" value="short" list="units"></label>
<label>Width <input name="width" type="number" min="1" max="24" value="12"></label>
<label>Row <select name="row"></select></label>
<button type="submit">Add panel</button></form>
<div><button type="button" id="panels-save" class="primary">Save</button> <button type="button" id="panels-cancel">Cancel</button></div>
<pre id="panel-errors" class="error" role="alert"></pre></div>
<datalist id="units"></datalist>
<div id="grid"></div>
</section>"""

DASHBOARDS_PAGE = Page("/dashboards", "Dashboards", "dashboards", _BODY)


class ConflictError(ApiError):
    """The uid is taken."""

    status = 409
    error_type = "conflict"


@dataclass(frozen=True)
class Entry:
    """A dashboard and where it came from."""

    dashboard: Dashboard
    provisioned: bool
    source: str  # the file it was read from ("" for a dashboard only in memory)

    def summary(self) -> dict[str, Any]:
        d = self.dashboard
        return {
            "uid": d.uid,
            "title": d.title,
            "tags": list(d.tags),
            "panels": len(d.panels),
            "provisioned": self.provisioned,
            "source": self.source,
        }


class DashboardStore:
    """Provisioned dashboards from folders (read-only) and saved ones in *saved_dir*.

    With *saved_dir* None saved dashboards live in memory. Provisioned folders are
    re-read when a file in them changes (checked on every read, by size and mtime).
    """

    def __init__(self, provisioned: Sequence[Path], saved_dir: Path | None) -> None:
        self.provisioned_dirs = [Path(p) for p in provisioned]
        self.saved_dir = saved_dir
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[int, int, Entry | None, str]] = {}
        self._provisioned: dict[str, Entry] = {}
        self.problems: list[str] = []  # provisioned files that could not be read
        self._saved: dict[str, Entry] = {}
        self._scan_key: tuple[tuple[str, int, int], ...] | None = None
        if saved_dir is not None:
            self._load_saved(saved_dir)

    # -- reading --

    def _load_saved(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                dash = parse_dashboard_text(path.read_text("utf-8"), str(path))
            except (OSError, UnicodeDecodeError, DashboardError) as err:
                logger.warning("dashboard %s is not usable: %s", path, err)
                continue
            self._saved[dash.uid] = Entry(dash, False, str(path))

    def _listing(self) -> list[Path]:
        out = []
        for folder in self.provisioned_dirs:
            if folder.is_dir():
                out += sorted(p for p in folder.glob("*.json") if p.is_file())
        return out

    def refresh(self) -> None:
        """Re-read the provisioned folders if any file in them changed."""
        paths = self._listing()
        stats = []
        for p in paths:
            try:
                st = p.stat()
            except OSError:
                continue
            stats.append((str(p), st.st_size, st.st_mtime_ns))
        key = tuple(stats)
        with self._lock:
            if key == self._scan_key:
                return
            problems: list[str] = []
            entries: dict[str, Entry] = {}
            for name, size, mtime in stats:
                path = Path(name)
                cached = self._files.get(path)
                if cached is not None and cached[:2] == (size, mtime):
                    entry, problem = cached[2], cached[3]
                else:
                    entry, problem = _read_provisioned(path, size)
                    self._files[path] = (size, mtime, entry, problem)
                if problem:
                    problems.append(problem)
                if entry is None:
                    continue
                uid = entry.dashboard.uid
                if uid in entries:
                    problems.append(
                        f"{name}: uid {uid!r} is already provisioned by {entries[uid].source}; "
                        "this file is ignored"
                    )
                    continue
                entries[uid] = entry
            self._provisioned = entries
            self.problems = problems
            self._scan_key = key

    def entries(self) -> list[Entry]:
        self.refresh()
        with self._lock:
            merged = dict(self._saved)
            merged.update(self._provisioned)
        return sorted(merged.values(), key=lambda e: (e.dashboard.title.lower(), e.dashboard.uid))

    def get(self, uid: str) -> Entry:
        self.refresh()
        with self._lock:
            entry = self._provisioned.get(uid) or self._saved.get(uid)
        if entry is None:
            raise NotFoundError(f"no dashboard with uid {uid!r}")
        return entry

    # -- writing --

    def _writable(self, uid: str) -> None:
        entry = self._provisioned.get(uid)
        if entry is not None:
            raise ForbiddenError(
                f"dashboard {uid!r} is provisioned from {entry.source} and read-only; "
                "save it as a copy to change it"
            )

    def _write(self, dash: Dashboard) -> Entry:
        path = self.saved_dir / f"{dash.uid}.json" if self.saved_dir is not None else None
        if path is not None:
            data = json.dumps(dash.to_json(), indent=2, ensure_ascii=False) + "\n"
            atomic_write(path, data.encode("utf-8"), mode=0o644)
        entry = Entry(dash, False, str(path) if path is not None else "")
        self._saved[dash.uid] = entry
        return entry

    def create(self, dash: Dashboard, *, overwrite: bool = False) -> Entry:
        self.refresh()
        with self._lock:
            self._writable(dash.uid)
            if dash.uid in self._saved and not overwrite:
                raise ConflictError(
                    f"a dashboard with uid {dash.uid!r} exists already "
                    "(PUT /api/v1/dashboards/{uid} replaces it)"
                )
            return self._write(dash)

    def put(self, uid: str, dash: Dashboard) -> Entry:
        if dash.uid != uid:
            raise BadDataError(f"uid: the body says {dash.uid!r} but the path says {uid!r}")
        self.refresh()
        with self._lock:
            self._writable(uid)
            return self._write(dash)

    def delete(self, uid: str) -> None:
        self.refresh()
        with self._lock:
            self._writable(uid)
            entry = self._saved.pop(uid, None)
            if entry is None:
                raise NotFoundError(f"no dashboard with uid {uid!r}")
            if entry.source:
                Path(entry.source).unlink(missing_ok=True)

    def free_uid(self, base: str) -> str:
        """*base*, or *base*-2, -3... whichever no dashboard uses."""
        self.refresh()
        with self._lock:
            taken = set(self._saved) | set(self._provisioned)
        base = base[:36].strip("-") or "dashboard"
        uid, n = base, 2
        while uid in taken:
            uid, n = f"{base}-{n}", n + 1
        return uid


def _read_provisioned(path: Path, size: int) -> tuple[Entry | None, str]:
    """A provisioned file as an entry, or the problem that stops it (vigil or Grafana JSON)."""
    if size > MAX_FILE:
        return None, f"{path}: over {MAX_FILE} bytes; ignored"
    try:
        text = path.read_text("utf-8")
        doc = json.loads(text)
    except (OSError, UnicodeDecodeError) as err:
        return None, f"{path}: {err}"
    except json.JSONDecodeError:
        try:
            parse_dashboard_text(text, str(path))
        except DashboardError as derr:
            return None, derr.format()
        return None, f"{path}: invalid JSON"
    try:
        if is_grafana(doc):
            result = import_grafana(doc)
            for note in result.notes:
                logger.info("dashboard %s: %s", path, note)
            return Entry(result.dashboard, True, str(path)), ""
        return Entry(parse_dashboard(doc, text=text, source=str(path)), True, str(path)), ""
    except DashboardError as err:
        return None, err.format()


# -- the API -------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def _ok(data: Any, status: int = 200, warnings: Sequence[str] = ()) -> JSONResponse:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = list(warnings)
    return JSONResponse(body, status_code=status)


def _wrap(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err)
        except DashboardError as err:
            return error_response(BadDataError(err.format()))
        except Exception as exc:  # pragma: no cover - a bug; rendered in the envelope
            logger.exception("dashboards API")
            return error_response(InternalError(f"{type(exc).__name__}: {exc}"))

    wrapped.__name__ = handler.__name__
    return wrapped


async def _body(request: Request) -> tuple[Any, str]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadDataError(f"body is over the limit of {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadDataError("body is not UTF-8") from None
    try:
        return json.loads(text or "null"), text
    except json.JSONDecodeError:
        parse_dashboard_text(text, "body")  # raises with the position
        raise BadDataError("body is not JSON") from None
    except RecursionError:
        raise BadDataError("body is nested too deeply") from None


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "dashboard": entry.dashboard.to_json(),
        "provisioned": entry.provisioned,
        "source": entry.source,
    }


def dashboard_routes(
    ui_dir: Path | None,
    dashboards_dir: Path | None = None,
    *,
    shipped_dir: Path | None = SHIPPED_DIR,
    store: DashboardStore | None = None,
) -> list[Route]:
    """The dashboards API over a :class:`DashboardStore`.

    Saved dashboards go to *ui_dir*/dashboards (``<data dir>/ui``; None: in memory);
    *dashboards_dir* is provisioned beside the shipped folder. Pass *store* to share one.
    """
    if store is None:
        dirs = [d for d in (shipped_dir, dashboards_dir) if d is not None]
        store = DashboardStore(dirs, ui_dir / "dashboards" if ui_dir is not None else None)
    st = store

    async def list_all(request: Request) -> Response:
        return _ok([e.summary() for e in st.entries()], warnings=st.problems)

    def parse_body(doc: Any, text: str) -> Dashboard:
        if isinstance(doc, dict) and (
            "schemaVersion" in doc or isinstance(doc.get("dashboard"), dict)
        ):
            raise BadDataError(
                "this looks like Grafana JSON: POST it to /api/v1/dashboards/import instead"
            )
        return parse_dashboard(doc, text=text, source="body")

    async def create(request: Request) -> Response:
        doc, text = await _body(request)
        if isinstance(doc, dict) and not doc.get("uid") and isinstance(doc.get("title"), str):
            doc = {**doc, "uid": st.free_uid(slugify(doc["title"]))}
            text = json.dumps(doc)
        entry = st.create(parse_body(doc, text))
        return _ok(_entry_json(entry), 201)

    async def get_one(request: Request) -> Response:
        return _ok(_entry_json(st.get(request.path_params["uid"])))

    async def put(request: Request) -> Response:
        uid = request.path_params["uid"]
        if not UID_RE.match(uid):
            raise BadDataError(f"uid {uid!r}: 1 to 40 letters, digits, - or _")
        doc, text = await _body(request)
        return _ok(_entry_json(st.put(uid, parse_body(doc, text))))

    async def delete(request: Request) -> Response:
        uid = request.path_params["uid"]
        st.delete(uid)
        return _ok({"deleted": uid})

    async def import_(request: Request) -> Response:
        doc, _ = await _body(request)
        overwrite = request.query_params.get("overwrite", "") in ("1", "true")
        result = import_grafana(doc)
        dash = result.dashboard
        notes = list(result.notes)
        taken = {e.dashboard.uid: e for e in st.entries()}
        clash = taken.get(dash.uid)
        if clash is not None and (clash.provisioned or not overwrite):
            uid = st.free_uid(dash.uid)
            notes.append(f"uid {dash.uid!r} is taken: imported as {uid!r}")
            dash = with_uid(dash, uid)
        entry = st.create(dash, overwrite=overwrite)
        return _ok({**_entry_json(entry), "notes": notes}, 201)

    async def export(request: Request) -> Response:
        entry = st.get(request.path_params["uid"])
        doc = export_grafana(entry.dashboard)
        resp = JSONResponse(doc)
        if request.query_params.get("download"):
            resp.headers["content-disposition"] = (
                f'attachment; filename="{entry.dashboard.uid}.grafana.json"'
            )
        return resp

    return [
        Route("/api/v1/dashboards", _wrap(list_all), methods=["GET", "HEAD"]),
        Route("/api/v1/dashboards", _wrap(create), methods=["POST"]),
        Route("/api/v1/dashboards/import", _wrap(import_), methods=["POST"]),
        Route("/api/v1/dashboards/{uid}/export", _wrap(export), methods=["GET", "HEAD"]),
        Route("/api/v1/dashboards/{uid}", _wrap(get_one), methods=["GET", "HEAD"]),
        Route("/api/v1/dashboards/{uid}", _wrap(put), methods=["PUT"]),
        Route("/api/v1/dashboards/{uid}", _wrap(delete), methods=["DELETE"]),
    ]
