"""Grafana's dashboard JSON both ways: :func:`import_grafana` and :func:`export_grafana`.

:func:`import_grafana` reads Grafana's dashboard model (schema 16 to 39:
``panels`` with ``gridPos`` or legacy ``rows``) into a
:class:`~vigil.ui.dashboard_model.Dashboard`, noting whatever it changed or
could not keep; :func:`export_grafana` writes schema 39 for Grafana's importer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.config.errors import ConfigProblem
from vigil.ui.dashboard_model import (
    _COLOR_RE,
    _DURATION_RE,
    _UNIT_ALIASES,
    DATA_PANELS,
    GRID_COLUMNS,
    MAX_TEXT,
    MAX_VARIABLES,
    NAME_RE,
    UID_RE,
    UNITS,
    VARIABLE_QUERY_RE,
    Dashboard,
    DashboardError,
    Panel,
    _kind,
    parse_dashboard,
    slugify,
)

__all__ = ["ImportResult", "export_grafana", "import_grafana", "is_grafana"]


# -- Grafana import ----------------------------------------------------------------------------


@dataclass
class ImportResult:
    """An imported dashboard, and what the import changed or could not keep (never silent)."""

    dashboard: Dashboard
    notes: list[str] = field(default_factory=list)


_TYPE_MAP = {
    "timeseries": "timeseries",
    "graph": "timeseries",
    "stat": "stat",
    "singlestat": "stat",
    "gauge": "gauge",
    "bargauge": "bar",
    "table": "table",
    "table-old": "table",
    "text": "text",
}
_REDUCER_MAP = {
    "lastNotNull": "last",
    "last": "last",
    "current": "last",
    "firstNotNull": "first",
    "first": "first",
    "mean": "mean",
    "avg": "mean",
    "max": "max",
    "min": "min",
    "sum": "sum",
    "total": "sum",
}
_OLD_VAR_RE = re.compile(r"\[\[(\w+)(?::(\w+))?\]\]")


def is_grafana(doc: Any) -> bool:
    """Whether *doc* looks like Grafana's dashboard model rather than vigil's."""
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("dashboard"), dict):
        return True
    return (
        "schemaVersion" in doc
        or "panels" in doc
        or "templating" in doc
        or (
            isinstance(doc.get("rows"), list)
            and any(isinstance(r, dict) and "height" in r for r in doc["rows"])
        )
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            v = float(value.strip())
        except ValueError:
            return None
        return v if math.isfinite(v) else None
    return None


def _int(value: Any, lo: int, hi: int, default: int) -> int:
    v = _num(value)
    if v is None:
        return default
    return max(lo, min(hi, round(v)))


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


class _Importer:
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.next_id = 1
        self.used_ids: set[int] = set()  # ids in the input
        self.assigned: set[int] = set()  # ids given out

    def note(self, message: str) -> None:
        self.notes.append(message)

    def panel_id(self, raw: Any) -> int:
        """The panel's own id when it is free, else the lowest id no panel of the input uses."""
        pid = _int(raw, 0, 2**31 - 1, 0) if raw is not None else 0
        if pid == 0 or pid in self.assigned:
            while self.next_id in self.used_ids or self.next_id in self.assigned:
                self.next_id += 1
            pid = self.next_id
        self.assigned.add(pid)
        return pid

    def dashboard(self, doc: dict[str, Any]) -> dict[str, Any]:
        title = _text(doc.get("title")).strip() or "Imported dashboard"
        uid = _text(doc.get("uid"))
        if not UID_RE.match(uid):
            if uid:
                self.note(f'uid "{uid[:60]}" is not usable here; made one from the title')
            uid = slugify(title)
        time_from = doc.get("time", {}).get("from") if isinstance(doc.get("time"), dict) else None
        time = "1h"
        if isinstance(time_from, str):
            m = re.fullmatch(r"now-(\d+[smhdwy])(?:/\w)?", time_from.strip())
            if m:
                time = m.group(1)
            else:
                self.note(f'time range "{time_from}" is not relative to now: using the last hour')
        refresh = doc.get("refresh")
        refresh = refresh if isinstance(refresh, str) and _DURATION_RE.match(refresh) else ""
        templating = doc.get("templating")
        raw_vars = templating.get("list") if isinstance(templating, dict) else None
        variables = [
            v
            for v in (
                self.variable(raw) for raw in (raw_vars if isinstance(raw_vars, list) else [])
            )
            if v is not None
        ]
        if isinstance(doc.get("panels"), list):
            rows = self.grid_rows(doc["panels"])
        elif isinstance(doc.get("rows"), list):
            rows = self.legacy_rows(doc["rows"])
        else:
            rows = []
        tags = (
            [t for t in doc.get("tags", []) if isinstance(t, str)]
            if isinstance(doc.get("tags"), list)
            else []
        )
        return {
            "uid": uid,
            "title": title,
            "description": _text(doc.get("description")),
            "tags": tags,
            "time": time,
            "refresh": refresh,
            "variables": variables[:MAX_VARIABLES],
            "rows": rows,
        }

    # -- variables --

    def variable(self, raw: Any) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            return None
        name = _text(raw.get("name"))
        vtype = _text(raw.get("type")) or "query"
        if not NAME_RE.match(name) or name.startswith("__"):
            self.note(f'variable "{name[:60]}": not a usable name; left out')
            return None
        if vtype in ("datasource", "adhoc"):
            self.note(f'variable "{name}": {vtype} variables do not apply here; left out')
            return None
        current = raw.get("current") if isinstance(raw.get("current"), dict) else {}
        cur = current.get("value") if isinstance(current, dict) else None
        default = [cur] if isinstance(cur, str) else [c for c in cur or [] if isinstance(c, str)]
        default = ["$__all" if c == "$__all" else c for c in default]
        out: dict[str, Any] = {
            "name": name,
            "label": _text(raw.get("label")),
            "multi": raw.get("multi") is True,
            "includeAll": raw.get("includeAll") is True,
            "hide": raw.get("hide") in (1, 2),
        }
        if isinstance(raw.get("allValue"), str) and raw["allValue"]:
            out["allValue"] = raw["allValue"]
        if default:
            out["default"] = default
        regex = _text(raw.get("regex"))
        if vtype == "query":
            query = raw.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if not isinstance(query, str) or not query.strip():
                query = _text(raw.get("definition"))
            if VARIABLE_QUERY_RE.match(query or ""):
                out.update(type="query", query=query.strip())
                if regex:
                    out["regex"] = regex
                return out
            opts = self.static_options(raw)
            self.note(
                f'variable "{name}": query {query!r} is not a label_values(...) query'
                + ("; kept its options" if opts else "; left as a single empty option")
            )
            out.update(type="custom", options=opts or [""])
            return out
        if vtype in ("custom", "interval", "constant", "textbox"):
            opts = self.static_options(raw)
            if not opts:
                q = _text(raw.get("query"))
                opts = [o.strip() for o in re.split(r"(?<!\\),", q)] if q else [""]
            if vtype == "constant":
                out["hide"] = True
            if vtype == "interval" and raw.get("auto") is True:
                self.note(f'variable "{name}": the "auto" interval option is not supported')
            out.update(type="custom", options=[o for o in opts if o is not None])
            return out
        self.note(f'variable "{name}": type "{vtype}" is not supported; left out')
        return None

    @staticmethod
    def static_options(raw: Mapping[str, Any]) -> list[str]:
        opts = raw.get("options")
        out = []
        for o in opts if isinstance(opts, list) else []:
            value = o.get("value") if isinstance(o, dict) else None
            if isinstance(value, str) and value != "$__all":
                out.append(value)
        return out

    # -- layout --

    def grid_rows(self, panels: list[Any]) -> list[dict[str, Any]]:
        def key(p: Any) -> tuple[float, float]:
            gp = p.get("gridPos") if isinstance(p, dict) else None
            if not isinstance(gp, dict):
                return (math.inf, math.inf)
            return (_num(gp.get("y")) or 0.0, _num(gp.get("x")) or 0.0)

        items = [p for p in panels if isinstance(p, dict)]
        self.reserve(items)
        rows: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for p in sorted(items, key=key):
            if p.get("type") == "row":
                current = {
                    "title": _text(p.get("title")),
                    "collapsed": p.get("collapsed") is True,
                    "panels": [],
                }
                rows.append(current)
                nested = p.get("panels")
                if isinstance(nested, list) and nested:
                    sub = [q for q in nested if isinstance(q, dict)]
                    self.reserve(sub)
                    current["panels"].extend(self.panel(q) for q in sorted(sub, key=key))
                continue
            if current is None:
                current = {"title": "", "collapsed": False, "panels": []}
                rows.append(current)
            current["panels"].append(self.panel(p))
        return rows

    def reserve(self, panels: Iterable[dict[str, Any]]) -> None:
        for p in panels:
            pid = _int(p.get("id"), 0, 2**31 - 1, 0)
            if pid and p.get("type") != "row":
                self.used_ids.add(pid)

    def legacy_rows(self, rows: list[Any]) -> list[dict[str, Any]]:
        out = []
        all_panels = [
            p
            for r in rows
            if isinstance(r, dict) and isinstance(r.get("panels"), list)
            for p in r["panels"]
            if isinstance(p, dict)
        ]
        self.reserve(all_panels)
        for r in rows:
            if not isinstance(r, dict):
                continue
            height_px = _num(str(r.get("height", "250")).removesuffix("px")) or 250.0
            h = max(3, round(height_px / 30))
            panels = []
            for p in r.get("panels") or []:
                if isinstance(p, dict):
                    span = _num(p.get("span")) or 12.0
                    panels.append(self.panel(p, width=round(span * 2), height=h))
            title = _text(r.get("title")) if r.get("showTitle") is not False else ""
            if title == "New row" or title == "Dashboard Row":
                title = ""
            out.append({"title": title, "collapsed": r.get("collapse") is True, "panels": panels})
        return out

    # -- panels --

    def panel(
        self, p: dict[str, Any], *, width: int | None = None, height: int | None = None
    ) -> dict[str, Any]:
        gp = p.get("gridPos") if isinstance(p.get("gridPos"), dict) else {}
        assert isinstance(gp, dict)
        gtype = _text(p.get("type")) or "graph"
        title = _text(p.get("title"))
        out: dict[str, Any] = {
            "id": self.panel_id(p.get("id")),
            "title": title,
            "width": max(1, min(GRID_COLUMNS, width or _int(gp.get("w"), 1, GRID_COLUMNS, 12))),
            "height": height or _int(gp.get("h"), 1, 60, 8),
        }
        if _text(p.get("description")):
            out["description"] = _text(p.get("description"))
        targets = self.targets(p)
        vtype = _TYPE_MAP.get(gtype)
        what = f'panel "{title}"' if title else f"panel {out['id']}"
        if vtype is None or (vtype in DATA_PANELS and not targets):
            reason = f"not supported: {gtype}" if vtype is None else f"{gtype} with no PromQL query"
            if vtype is not None:
                reason = f"not supported: {reason}"
            self.note(f"{what}: {reason}; kept as a placeholder")
            kept = {k: v for k, v in p.items() if k != "gridPos"}
            out.update(type="unsupported", note=reason, grafana=kept)
            if targets:
                out["targets"] = targets
            return out
        out["type"] = vtype
        if vtype == "text":
            opts = p.get("options") if isinstance(p.get("options"), dict) else {}
            assert isinstance(opts, dict)
            out["content"] = _text(opts.get("content")) or _text(p.get("content"))
            return out
        out["targets"] = targets
        defaults = self.field_defaults(p)
        options = p.get("options") if isinstance(p.get("options"), dict) else {}
        assert isinstance(options, dict)
        unit = _text(defaults.get("unit"))
        if gtype == "graph":
            yaxes = p.get("yaxes")
            axis = (
                yaxes[0] if isinstance(yaxes, list) and yaxes and isinstance(yaxes[0], dict) else {}
            )
            unit = _text(axis.get("format"))
            defaults = {**defaults, "min": axis.get("min"), "max": axis.get("max")}
            if p.get("decimals") is not None:
                defaults["decimals"] = p.get("decimals")
            out["stacked"] = p.get("stack") is True
        elif gtype == "singlestat":
            unit = _text(p.get("format"))
            defaults = {**defaults, "decimals": p.get("decimals")}
            gauge = p.get("gauge") if isinstance(p.get("gauge"), dict) else {}
            assert isinstance(gauge, dict)
            if gauge.get("show") is True:
                out["type"] = vtype = "gauge"
                defaults["min"] = gauge.get("minValue")
                defaults["max"] = gauge.get("maxValue")
            out["reduce"] = _REDUCER_MAP.get(_text(p.get("valueName")), "last")
            spark = p.get("sparkline") if isinstance(p.get("sparkline"), dict) else {}
            assert isinstance(spark, dict)
            if vtype == "stat":
                out["sparkline"] = spark.get("show") is True
            out["thresholds"] = self.singlestat_thresholds(p)
        else:
            custom = defaults.get("custom") if isinstance(defaults.get("custom"), dict) else {}
            assert isinstance(custom, dict)
            stacking = custom.get("stacking")
            if vtype == "timeseries" and isinstance(stacking, dict):
                mode = stacking.get("mode")
                out["stacked"] = mode in ("normal", "percent")
                if mode == "percent":
                    self.note(f"{what}: percent stacking is drawn as normal stacking")
            reduce_opts = options.get("reduceOptions")
            if vtype in ("stat", "gauge", "bar") and isinstance(reduce_opts, dict):
                calcs = reduce_opts.get("calcs")
                calc = calcs[0] if isinstance(calcs, list) and calcs else "lastNotNull"
                out["reduce"] = _REDUCER_MAP.get(str(calc), "last")
                if str(calc) not in _REDUCER_MAP:
                    self.note(f'{what}: reducer "{calc}" is not supported: using last')
            if vtype == "stat":
                out["sparkline"] = options.get("graphMode", "area") == "area"
            out["thresholds"] = self.field_thresholds(defaults, what)
        unit = _UNIT_ALIASES.get(unit, unit)
        if unit and unit not in UNITS:
            self.note(f'{what}: unit "{unit}" is not supported: shown as plain numbers')
            unit = "short"
        out["unit"] = unit or "short"
        decimals = _num(defaults.get("decimals"))
        if decimals is not None:
            out["decimals"] = max(0, min(10, round(decimals)))
        lo, hi = _num(defaults.get("min")), _num(defaults.get("max"))
        if lo is not None and hi is not None and lo >= hi:
            lo = hi = None
        if lo is not None:
            out["min"] = lo
        if hi is not None:
            out["max"] = hi
        if not out.get("thresholds"):
            out.pop("thresholds", None)
        return out

    @staticmethod
    def field_defaults(p: Mapping[str, Any]) -> dict[str, Any]:
        fc = p.get("fieldConfig")
        d = fc.get("defaults") if isinstance(fc, dict) else None
        return dict(d) if isinstance(d, dict) else {}

    def field_thresholds(self, defaults: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
        th = defaults.get("thresholds")
        if not isinstance(th, dict) or not isinstance(th.get("steps"), list):
            return []
        if th.get("mode") == "percentage":
            self.note(f"{what}: percentage thresholds are applied as absolute values")
        return self.steps(
            (s.get("value"), s.get("color")) for s in th["steps"] if isinstance(s, dict)
        )

    def singlestat_thresholds(self, p: Mapping[str, Any]) -> list[dict[str, Any]]:
        colors = p.get("colors")
        if not isinstance(colors, list) or not colors:
            return []
        raw = p.get("thresholds")
        values = [_num(v) for v in raw.split(",")] if isinstance(raw, str) and raw.strip() else []
        pairs: list[tuple[Any, Any]] = [(None, colors[0])]
        pairs += [(v, colors[i + 1]) for i, v in enumerate(values) if i + 1 < len(colors)]
        return self.steps(pairs)

    @staticmethod
    def steps(pairs: Iterable[tuple[Any, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for value, color in pairs:
            v = _num(value)
            c = color.strip() if isinstance(color, str) else ""
            if not _COLOR_RE.match(c):
                c = "gray"
            if not out:
                out.append({"value": None, "color": c})
            elif v is not None and (out[-1]["value"] is None or v > out[-1]["value"]):
                out.append({"value": v, "color": c})
        return out

    def targets(self, p: Mapping[str, Any]) -> list[dict[str, Any]]:
        raw = p.get("targets")
        out = []
        refs = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for t in raw if isinstance(raw, list) else []:
            if not isinstance(t, dict):
                continue
            expr = t.get("expr")
            ref = _text(t.get("refId")) or next(refs, "Z")
            if not isinstance(expr, str) or not expr.strip():
                continue
            legend = _text(t.get("legendFormat"))
            if legend == "__auto":
                legend = ""
            item: dict[str, Any] = {
                "expr": _OLD_VAR_RE.sub(
                    lambda m: "${" + m.group(1) + (":" + m.group(2) if m.group(2) else "") + "}",
                    expr,
                ),
                "legendFormat": _OLD_VAR_RE.sub(lambda m: "${" + m.group(1) + "}", legend),
                "refId": ref,
            }
            if t.get("hide") is True:
                item["hide"] = True
            if t.get("instant") is True and t.get("range") is not True:
                item["instant"] = True
            out.append(item)
        return out


def import_grafana(doc: Any) -> ImportResult:
    """A vigil dashboard from Grafana's dashboard JSON (also wrapped as ``{"dashboard": ...}``).

    Unsupported panels become ``unsupported`` placeholders that keep the Grafana
    panel; everything changed or left out is in :attr:`ImportResult.notes`.
    """
    if isinstance(doc, dict) and isinstance(doc.get("dashboard"), dict):
        doc = doc["dashboard"]
    if not isinstance(doc, dict):
        raise DashboardError(
            [ConfigProblem(f"expected a Grafana dashboard object, got {_kind(doc)}")]
        )
    if not isinstance(doc.get("panels"), list) and not isinstance(doc.get("rows"), list):
        raise DashboardError(
            [ConfigProblem('not a Grafana dashboard: it has neither "panels" nor "rows"', "panels")]
        )
    imp = _Importer()
    native = imp.dashboard(doc)
    return ImportResult(parse_dashboard(native, source="grafana import"), imp.notes)


# -- Grafana export ------------------------------------------------------------------------------

_DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
_REDUCER_OUT = {
    "last": "lastNotNull",
    "first": "firstNotNull",
    "mean": "mean",
    "max": "max",
    "min": "min",
    "sum": "sum",
}
_GRAFANA_TYPE = {
    "timeseries": "timeseries",
    "stat": "stat",
    "gauge": "gauge",
    "bar": "bargauge",
    "table": "table",
    "text": "text",
}


def _export_panel(p: Panel, x: int, y: int) -> dict[str, Any]:
    grid = {"h": p.height, "w": p.width, "x": x, "y": y}
    if p.type == "unsupported" and p.grafana is not None:
        return {**p.grafana, "id": p.id, "gridPos": grid}
    if p.type in ("text", "unsupported"):
        content = p.content if p.type == "text" else p.note
        return {
            "id": p.id,
            "type": "text",
            "title": p.title,
            "gridPos": grid,
            "options": {"mode": "markdown", "content": content},
        }
    defaults: dict[str, Any] = {
        "unit": p.unit,
        "color": {"mode": "thresholds" if p.type != "timeseries" else "palette-classic"},
    }
    if p.thresholds:
        steps = [{"color": t.color, "value": t.value} for t in p.thresholds]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    for name in ("decimals", "min", "max"):
        if getattr(p, name) is not None:
            defaults[name] = getattr(p, name)
    options: dict[str, Any] = {}
    if p.type == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if p.stacked else 0,
            "stacking": {"mode": "normal" if p.stacked else "none", "group": "A"},
        }
        options = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi"},
        }
    elif p.type in ("stat", "gauge", "bar"):
        options = {
            "reduceOptions": {"calcs": [_REDUCER_OUT[p.reduce]], "fields": "", "values": False},
            "orientation": "horizontal" if p.type == "bar" else "auto",
        }
        if p.type == "stat":
            options["graphMode"] = "area" if p.sparkline else "none"
            options["colorMode"] = "value"
        if p.type == "bar":
            options["displayMode"] = "gradient"
    elif p.type == "table":
        options = {"showHeader": True}
    targets = [
        {
            "datasource": dict(_DS),
            "expr": t.expr,
            "legendFormat": t.legend,
            "refId": t.ref_id,
            "range": not (
                t.instant
                or p.type in ("table", "gauge", "bar")
                or (p.type == "stat" and not p.sparkline and p.reduce == "last")
            ),
            "instant": t.instant or p.type == "table",
            **({"format": "table"} if p.type == "table" else {}),
            **({"hide": True} if t.hide else {}),
        }
        for t in p.targets
    ]
    out: dict[str, Any] = {
        "id": p.id,
        "type": _GRAFANA_TYPE[p.type],
        "title": p.title,
        "datasource": dict(_DS),
        "gridPos": grid,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }
    if p.description:
        out["description"] = p.description
    return out


def export_grafana(d: Dashboard) -> dict[str, Any]:
    """*d* as Grafana dashboard JSON (schema 39) with a ``${DS_PROMETHEUS}`` datasource input."""
    next_id = max((p.id for p in d.panels), default=0) + 1
    panels: list[dict[str, Any]] = []
    y = 0
    for i, row in enumerate(d.rows):
        row_panel: dict[str, Any] | None = None
        if row.title or row.collapsed or i > 0:
            row_panel = {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": row.collapsed,
                "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y},
                "panels": [],
            }
            next_id += 1
            panels.append(row_panel)
            y += 1
        x, line_h = 0, 0
        for p in row.panels:
            if x + p.width > GRID_COLUMNS:
                x, y, line_h = 0, y + line_h, 0
            exported = _export_panel(p, x, y)
            if row.collapsed and row_panel is not None:
                row_panel["panels"].append(exported)
            else:
                panels.append(exported)
            x += p.width
            line_h = max(line_h, p.height)
        y += line_h
    templating = []
    for v in d.variables:
        current_vals = list(v.default) or (["$__all"] if v.include_all else [])
        current: dict[str, Any] = (
            {
                "text": current_vals if v.multi else current_vals[0],
                "value": current_vals if v.multi else current_vals[0],
            }
            if current_vals
            else {}
        )
        item: dict[str, Any] = {
            "name": v.name,
            "label": v.label or None,
            "multi": v.multi,
            "includeAll": v.include_all,
            "hide": 2 if v.hide else 0,
            "current": current,
        }
        if v.all_value is not None:
            item["allValue"] = v.all_value
        if v.type == "query":
            item.update(
                type="query",
                datasource=dict(_DS),
                definition=v.query,
                query={"query": v.query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                refresh=2,
                regex=v.regex,
                sort=1,
                options=[],
            )
        else:
            item.update(
                type="custom",
                query=",".join(o.replace(",", "\\,") for o in v.options),
                options=[{"text": o, "value": o, "selected": o in v.default} for o in v.options],
            )
        templating.append(item)
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
        ],
        "annotations": {"list": []},
        "editable": True,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": panels,
        "refresh": d.refresh,
        "schemaVersion": 39,
        "tags": list(d.tags),
        "templating": {"list": templating},
        "time": {"from": f"now-{d.time}", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": d.title,
        "description": d.description,
        "uid": d.uid,
        "version": 1,
    }
