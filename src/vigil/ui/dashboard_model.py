"""Dashboards as data: the model, its validation, variables, and Grafana JSON both ways.

A dashboard is a JSON document (the editor shows exactly this)::

    {"uid": "svc", "title": "Service", "tags": ["red"], "time": "1h", "refresh": "30s",
     "variables": [{"name": "job", "type": "query", "query": "label_values(up, job)",
                    "multi": true, "includeAll": true}],
     "rows": [{"title": "Traffic", "panels": [
         {"id": 1, "type": "timeseries", "title": "Requests", "width": 12, "height": 8,
          "targets": [{"expr": "sum by (route) (rate(http_requests_total{job=~\\"$job\\"}[$__rate_interval]))",
                       "legendFormat": "{{route}}"}],
          "unit": "reqps", "thresholds": [{"value": null, "color": "green"}]}]}]}

:func:`parse_dashboard` checks one and returns a :class:`Dashboard`, or raises
:class:`DashboardError` listing every problem with its field path, the panel's
title and, when the JSON text is known, its line and column. :func:`import_grafana`
reads Grafana's dashboard model (schema 16 to 39: ``panels`` with ``gridPos`` or
legacy ``rows``) and :func:`export_grafana` writes schema 39 for Grafana's importer.
Expressions keep their variables (``$job``, ``${job}``, ``$__rate_interval``); the
browser substitutes them per query, the way :func:`interpolate` does.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.model import Position, position_at
from vigil.promql.parser import ParseError, parse_expr

__all__ = [
    "GRID_COLUMNS",
    "PANEL_TYPES",
    "REDUCERS",
    "UNITS",
    "Dashboard",
    "DashboardError",
    "ImportResult",
    "Panel",
    "Row",
    "Target",
    "Threshold",
    "Variable",
    "builtin_values",
    "export_grafana",
    "import_grafana",
    "interpolate",
    "is_grafana",
    "parse_dashboard",
    "parse_dashboard_text",
    "slugify",
]

GRID_COLUMNS = 24
PANEL_TYPES = ("timeseries", "stat", "gauge", "bar", "table", "text", "unsupported")
DATA_PANELS = frozenset({"timeseries", "stat", "gauge", "bar", "table"})
REDUCERS = ("last", "first", "mean", "max", "min", "sum")
UNITS = (
    "none", "short", "percent", "percentunit", "s", "ms", "µs", "ns", "m", "h", "d",
    "bytes", "decbytes", "kbytes", "mbytes", "gbytes", "bits", "bps", "Bps", "binBps",
    "reqps", "rps", "ops", "opm", "rpm", "wps", "iops", "hertz", "celsius", "watt", "volt",
    "amp", "locale",
)  # fmt: skip
_UNIT_ALIASES = {
    "us": "µs",
    "decbps": "bps",
    "decBps": "Bps",
    "dtdurations": "s",
    "dtdurationms": "ms",
}
VARIABLE_TYPES = ("query", "custom")
VARIABLE_QUERY_RE = re.compile(
    r"^\s*(?:label_values\s*\(.*\)|label_names\s*\(\s*\)|metrics\s*\(.*\)|query_result\s*\(.*\))\s*$",
    re.DOTALL,
)
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION_RE = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")
_COLOR_RE = re.compile(
    r"^(?:#[0-9a-fA-F]{3,8}|(?:rgb|rgba|hsl|hsla)\(\s*[0-9.,%\s]+\)|[a-z][a-z-]{0,30})$"
)
MAX_PANELS = 500
MAX_VARIABLES = 50
MAX_TEXT = 64 * 1024

_DASHBOARD_KEYS = ("uid", "title", "description", "tags", "time", "refresh", "variables", "rows")
_ROW_KEYS = ("title", "collapsed", "panels")
_PANEL_KEYS = (
    "id", "type", "title", "description", "width", "height", "targets", "unit", "decimals",
    "min", "max", "thresholds", "stacked", "reduce", "sparkline", "content", "note", "grafana",
)  # fmt: skip
_TARGET_KEYS = ("expr", "legendFormat", "refId", "hide", "instant")
_VARIABLE_KEYS = (
    "name", "label", "type", "query", "options", "multi", "includeAll", "allValue",
    "default", "regex", "hide",
)  # fmt: skip


class DashboardError(ConfigError):
    """A dashboard that cannot be used: every problem with its field path (and position)."""


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel; ``legend`` is Grafana's ``legendFormat`` (``{{label}}``)."""

    expr: str
    legend: str = ""
    ref_id: str = "A"
    hide: bool = False
    instant: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"expr": self.expr, "legendFormat": self.legend, "refId": self.ref_id}
        if self.hide:
            out["hide"] = True
        if self.instant:
            out["instant"] = True
        return out


@dataclass(frozen=True)
class Threshold:
    """A colour step: from *value* upwards (None: the base colour, below every other step)."""

    value: float | None
    color: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "color": self.color}


@dataclass(frozen=True)
class Panel:
    id: int
    type: str
    title: str = ""
    description: str = ""
    width: int = 12
    height: int = 8
    targets: tuple[Target, ...] = ()
    unit: str = "short"
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: tuple[Threshold, ...] = ()
    stacked: bool = False  # timeseries
    reduce: str = "last"  # stat, gauge, bar: how a series becomes one number
    sparkline: bool = False  # stat
    content: str = ""  # text
    note: str = ""  # unsupported: "not supported: heatmap"
    grafana: dict[str, Any] | None = None  # unsupported: the Grafana panel as imported

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "width": self.width,
            "height": self.height,
        }
        if self.description:
            out["description"] = self.description
        if self.type in DATA_PANELS or self.targets:
            out["targets"] = [t.to_json() for t in self.targets]
        if self.type in DATA_PANELS:
            out["unit"] = self.unit
            for name in ("decimals", "min", "max"):
                value = getattr(self, name)
                if value is not None:
                    out[name] = value
            if self.thresholds:
                out["thresholds"] = [t.to_json() for t in self.thresholds]
        if self.type == "timeseries":
            out["stacked"] = self.stacked
        if self.type in ("stat", "gauge", "bar"):
            out["reduce"] = self.reduce
        if self.type == "stat":
            out["sparkline"] = self.sparkline
        if self.content or self.type == "text":
            out["content"] = self.content
        if self.note:
            out["note"] = self.note
        if self.grafana is not None:
            out["grafana"] = self.grafana
        return out


@dataclass(frozen=True)
class Row:
    title: str = ""
    collapsed: bool = False
    panels: tuple[Panel, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "collapsed": self.collapsed,
            "panels": [p.to_json() for p in self.panels],
        }


@dataclass(frozen=True)
class Variable:
    """A template variable: ``$name`` in expressions.

    ``query`` variables take their options from the server (``label_values(metric, label)``,
    ``label_values(label)``, ``label_names()``, ``metrics(regex)``, ``query_result(expr)``);
    ``custom`` ones from ``options``. ``regex`` filters the options (and a capture group
    extracts the value), as in Grafana.
    """

    name: str
    type: str = "custom"
    label: str = ""
    query: str = ""
    options: tuple[str, ...] = ()
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    default: tuple[str, ...] = ()
    regex: str = ""
    hide: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.label:
            out["label"] = self.label
        if self.type == "query":
            out["query"] = self.query
        else:
            out["options"] = list(self.options)
        out["multi"] = self.multi
        out["includeAll"] = self.include_all
        if self.all_value is not None:
            out["allValue"] = self.all_value
        if self.default:
            out["default"] = list(self.default)
        if self.regex:
            out["regex"] = self.regex
        if self.hide:
            out["hide"] = True
        return out


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    time: str = "1h"  # the default range: the last hour
    refresh: str = ""  # "" (off) or a duration such as "30s"
    variables: tuple[Variable, ...] = ()
    rows: tuple[Row, ...] = ()

    @property
    def panels(self) -> list[Panel]:
        return [p for r in self.rows for p in r.panels]

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "time": self.time,
            "refresh": self.refresh,
            "variables": [v.to_json() for v in self.variables],
            "rows": [r.to_json() for r in self.rows],
        }


# -- validation --------------------------------------------------------------------------------


class _Checker:
    """Reads a parsed JSON document into the model, collecting problems with their paths."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []  # (path, message)

    def error(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def obj(self, value: Any, path: str, keys: Sequence[str], what: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"{what}expected an object, got {_kind(value)}")
            return None
        for key in value:
            if key not in keys:
                hint = difflib.get_close_matches(str(key), keys, n=1)
                more = f' (did you mean "{hint[0]}"?)' if hint else ""
                self.error(_join(path, str(key)), f"{what}unknown field{more}")
        return value

    def string(
        self, doc: Mapping[str, Any], key: str, path: str, what: str, default: str = ""
    ) -> str:
        value = doc.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(_join(path, key), f"{what}expected a string, got {_kind(value)}")
            return default
        if len(value) > MAX_TEXT:
            self.error(_join(path, key), f"{what}longer than {MAX_TEXT} characters")
            return default
        return value

    def boolean(self, doc: Mapping[str, Any], key: str, path: str, what: str) -> bool:
        value = doc.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.error(_join(path, key), f"{what}expected true or false, got {_kind(value)}")
            return False
        return value

    def integer(
        self, doc: Mapping[str, Any], key: str, path: str, what: str, lo: int, hi: int
    ) -> int | None:
        value = doc.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(_join(path, key), f"{what}expected a whole number, got {_kind(value)}")
            return None
        if not lo <= value <= hi:
            self.error(_join(path, key), f"{what}{value} is out of range {lo}..{hi}")
            return None
        return value

    def number(self, doc: Mapping[str, Any], key: str, path: str, what: str) -> float | None:
        value = doc.get(key)
        if value is None:
            return None
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            self.error(_join(path, key), f"{what}expected a number, got {_kind(value)}")
            return None
        return float(value)

    def array(self, doc: Mapping[str, Any], key: str, path: str, what: str) -> list[Any]:
        value = doc.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(_join(path, key), f"{what}expected a list, got {_kind(value)}")
            return []
        return value

    def duration(
        self, doc: Mapping[str, Any], key: str, path: str, default: str, *, empty: bool
    ) -> str:
        value = self.string(doc, key, path, "", default)
        if value == "" and empty:
            return ""
        if not _DURATION_RE.match(value):
            self.error(
                _join(path, key), f'"{value}" is not a duration such as "30s", "5m", "1h" or "7d"'
            )
            return default
        return value

    # -- the parts ----------------------------------------------------------------------------

    def dashboard(self, value: Any) -> Dashboard:
        doc = self.obj(value, "", _DASHBOARD_KEYS, "")
        if doc is None:
            return Dashboard("invalid", "invalid")
        uid = self.string(doc, "uid", "", "")
        if not UID_RE.match(uid):
            self.error(
                "uid",
                f'"{uid}" is not a uid: 1 to 40 letters, digits, "-" or "_"'
                if uid
                else "missing: 1 to 40 letters, digits, - or _",
            )
        title = self.string(doc, "title", "", "").strip()
        if not title:
            self.error("title", "missing: every dashboard needs a title")
        tags = []
        for i, tag in enumerate(self.array(doc, "tags", "", "")):
            if isinstance(tag, str):
                tags.append(tag)
            else:
                self.error(f"tags[{i}]", f"expected a string, got {_kind(tag)}")
        variables = []
        names: set[str] = set()
        raw_vars = self.array(doc, "variables", "", "")
        if len(raw_vars) > MAX_VARIABLES:
            self.error("variables", f"more than {MAX_VARIABLES} variables")
        for i, raw in enumerate(raw_vars[:MAX_VARIABLES]):
            var = self.variable(raw, f"variables[{i}]")
            if var is None:
                continue
            if var.name in names:
                self.error(f"variables[{i}].name", f'"{var.name}" is defined twice')
            names.add(var.name)
            variables.append(var)
        rows = []
        ids: dict[int, str] = {}
        count = 0
        for i, raw in enumerate(self.array(doc, "rows", "", "")):
            row = self.row(raw, f"rows[{i}]")
            if row is None:
                continue
            count += len(row.panels)
            for j, p in enumerate(row.panels):
                where = f"rows[{i}].panels[{j}]"
                if p.id in ids:
                    named = f'panel "{p.title}": ' if p.title else ""
                    self.error(f"{where}.id", f"{named}panel id {p.id} is also used by {ids[p.id]}")
                ids.setdefault(p.id, where)
            rows.append(row)
        if count > MAX_PANELS:
            self.error("rows", f"{count} panels: at most {MAX_PANELS}")
        return Dashboard(
            uid=uid,
            title=title,
            description=self.string(doc, "description", "", ""),
            tags=tuple(tags),
            time=self.duration(doc, "time", "", "1h", empty=False),
            refresh=self.duration(doc, "refresh", "", "", empty=True),
            variables=tuple(variables),
            rows=tuple(rows),
        )

    def variable(self, value: Any, path: str) -> Variable | None:
        doc = self.obj(value, path, _VARIABLE_KEYS, "")
        if doc is None:
            return None
        name = self.string(doc, "name", path, "")
        if not NAME_RE.match(name) or name.startswith("__"):
            self.error(
                _join(path, "name"),
                f'"{name}" is not a variable name (letters, digits, _; not starting with __)'
                if name
                else "missing",
            )
        what = f'variable "{name}": ' if name else ""
        vtype = self.string(doc, "type", path, what, "custom")
        if vtype not in VARIABLE_TYPES:
            self.error(
                _join(path, "type"), f'{what}"{vtype}" is not one of {", ".join(VARIABLE_TYPES)}'
            )
        query = self.string(doc, "query", path, what)
        if vtype == "query" and not VARIABLE_QUERY_RE.match(query):
            self.error(
                _join(path, "query"),
                f"{what}expected label_values(metric, label), label_values(label), "
                f"label_names(), metrics(regex) or query_result(expr), got {query!r}",
            )
        options = self.strings(doc, "options", path, what)
        if vtype == "custom" and not options:
            self.error(_join(path, "options"), f"{what}a custom variable needs at least one option")
        default_raw = doc.get("default")
        default = (
            (default_raw,)
            if isinstance(default_raw, str)
            else tuple(self.strings(doc, "default", path, what))
        )
        regex = self.string(doc, "regex", path, what)
        all_value = doc.get("allValue")
        if all_value is not None and not isinstance(all_value, str):
            self.error(_join(path, "allValue"), f"{what}expected a string, got {_kind(all_value)}")
            all_value = None
        return Variable(
            name=name,
            type=vtype,
            label=self.string(doc, "label", path, what),
            query=query,
            options=tuple(options),
            multi=self.boolean(doc, "multi", path, what),
            include_all=self.boolean(doc, "includeAll", path, what),
            all_value=all_value,
            default=default,
            regex=regex,
            hide=self.boolean(doc, "hide", path, what),
        )

    def strings(self, doc: Mapping[str, Any], key: str, path: str, what: str) -> list[str]:
        out = []
        for i, item in enumerate(self.array(doc, key, path, what)):
            if isinstance(item, str):
                out.append(item)
            else:
                self.error(
                    f"{_join(path, key)}[{i}]", f"{what}expected a string, got {_kind(item)}"
                )
        return out

    def row(self, value: Any, path: str) -> Row | None:
        doc = self.obj(value, path, _ROW_KEYS, "")
        if doc is None:
            return None
        panels = []
        for j, raw in enumerate(self.array(doc, "panels", path, "")):
            p = self.panel(raw, f"{path}.panels[{j}]")
            if p is not None:
                panels.append(p)
        return Row(
            title=self.string(doc, "title", path, ""),
            collapsed=self.boolean(doc, "collapsed", path, ""),
            panels=tuple(panels),
        )

    def panel(self, value: Any, path: str) -> Panel | None:
        title = value.get("title") if isinstance(value, dict) else None
        what = f'panel "{title}": ' if isinstance(title, str) and title else "panel: "
        doc = self.obj(value, path, _PANEL_KEYS, what)
        if doc is None:
            return None
        pid = self.integer(doc, "id", path, what, 1, 2**31 - 1)
        if pid is None and "id" not in doc:
            self.error(_join(path, "id"), f"{what}missing: every panel needs a whole-number id")
        ptype = self.string(doc, "type", path, what, "")
        if ptype not in PANEL_TYPES:
            hint = difflib.get_close_matches(ptype, PANEL_TYPES, n=1)
            more = f' (did you mean "{hint[0]}"?)' if hint else ""
            self.error(
                _join(path, "type"),
                f'{what}"{ptype}" is not a panel type ({", ".join(PANEL_TYPES)}){more}',
            )
        targets = []
        for k, raw in enumerate(self.array(doc, "targets", path, what)):
            t = self.target(raw, f"{path}.targets[{k}]", what)
            if t is not None:
                targets.append(t)
        if ptype in DATA_PANELS and not targets:
            self.error(_join(path, "targets"), f"{what}a {ptype} panel needs at least one query")
        unit = self.string(doc, "unit", path, what, "short") or "short"
        if unit not in UNITS:
            hint = difflib.get_close_matches(unit, UNITS, n=1)
            more = f' (did you mean "{hint[0]}"?)' if hint else ""
            self.error(_join(path, "unit"), f'{what}unknown unit "{unit}"{more}')
            unit = "short"
        lo = self.number(doc, "min", path, what)
        hi = self.number(doc, "max", path, what)
        if lo is not None and hi is not None and lo >= hi:
            self.error(_join(path, "max"), f"{what}max ({hi:g}) must be above min ({lo:g})")
        reduce = self.string(doc, "reduce", path, what, "last") or "last"
        if reduce not in REDUCERS:
            self.error(
                _join(path, "reduce"), f'{what}"{reduce}" is not one of {", ".join(REDUCERS)}'
            )
            reduce = "last"
        grafana = doc.get("grafana")
        if grafana is not None and not isinstance(grafana, dict):
            self.error(_join(path, "grafana"), f"{what}expected an object, got {_kind(grafana)}")
            grafana = None
        return Panel(
            id=pid or 0,
            type=ptype,
            title=self.string(doc, "title", path, what),
            description=self.string(doc, "description", path, what),
            width=self.integer(doc, "width", path, what, 1, GRID_COLUMNS) or 12,
            height=self.integer(doc, "height", path, what, 1, 60) or 8,
            targets=tuple(targets),
            unit=unit,
            decimals=self.integer(doc, "decimals", path, what, 0, 10),
            min=lo,
            max=hi,
            thresholds=self.thresholds(doc, path, what),
            stacked=self.boolean(doc, "stacked", path, what),
            reduce=reduce,
            sparkline=self.boolean(doc, "sparkline", path, what),
            content=self.string(doc, "content", path, what),
            note=self.string(doc, "note", path, what),
            grafana=grafana,
        )

    def thresholds(self, doc: Mapping[str, Any], path: str, what: str) -> tuple[Threshold, ...]:
        out: list[Threshold] = []
        for i, raw in enumerate(self.array(doc, "thresholds", path, what)):
            where = f"{path}.thresholds[{i}]"
            step = self.obj(raw, where, ("value", "color"), what)
            if step is None:
                continue
            value = self.number(step, "value", where, what)
            if value is None and i > 0 and step.get("value") is None:
                self.error(_join(where, "value"), f"{what}only the first step may have no value")
            color = self.string(step, "color", where, what)
            if not _COLOR_RE.match(color):
                self.error(
                    _join(where, "color"),
                    f'{what}"{color}" is not a colour (a name such as "red", #rgb, or rgb(...))',
                )
            prev = out[-1].value if out else None
            if value is not None and prev is not None and value <= prev:
                self.error(
                    _join(where, "value"),
                    f"{what}steps must increase: {value:g} is not above {prev:g}",
                )
            out.append(Threshold(value, color))
        return tuple(out)

    def target(self, value: Any, path: str, what: str) -> Target | None:
        doc = self.obj(value, path, _TARGET_KEYS, what)
        if doc is None:
            return None
        expr = self.string(doc, "expr", path, what)
        if not expr.strip():
            self.error(_join(path, "expr"), f"{what}missing: the PromQL expression to draw")
        else:
            concrete = interpolate(expr, {}, builtins=builtin_values(3600, 15))
            if not _VAR_RE.search(concrete):  # with user variables, only the browser can tell
                try:
                    parse_expr(concrete)
                except ParseError as err:
                    self.error(_join(path, "expr"), f"{what}{err}")
        return Target(
            expr=expr,
            legend=self.string(doc, "legendFormat", path, what),
            ref_id=self.string(doc, "refId", path, what, "A") or "A",
            hide=self.boolean(doc, "hide", path, what),
            instant=self.boolean(doc, "instant", path, what),
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_dashboard(doc: Any, *, text: str | None = None, source: str | None = None) -> Dashboard:
    """*doc* (parsed JSON) as a :class:`Dashboard`, or :class:`DashboardError` with every problem.

    *text* is the JSON *doc* was read from: with it, problems carry line and column.
    """
    checker = _Checker()
    dash = checker.dashboard(doc)
    if checker.problems:
        positions = _json_positions(text) if text is not None else {}
        raise DashboardError(
            [
                ConfigProblem(message, path, _position_of(positions, path), source)
                for path, message in checker.problems
            ]
        )
    return dash


def parse_dashboard_text(text: str, source: str | None = None) -> Dashboard:
    """A dashboard from its JSON text (a syntax error is a :class:`DashboardError` too)."""
    return parse_dashboard(_load_json(text, source), text=text, source=source)


def _load_json(text: str, source: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        pos = position_at(text, err.pos)
        raise DashboardError([ConfigProblem(f"invalid JSON: {err.msg}", "", pos, source)]) from None
    except RecursionError:
        raise DashboardError([ConfigProblem("JSON nested too deeply", "", None, source)]) from None


def _position_of(positions: Mapping[str, Position], path: str) -> Position | None:
    while path:
        if path in positions:
            return positions[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[: max(cut, 0)]
    return None


def _json_positions(text: str) -> dict[str, Position]:
    """Where each value of a JSON text starts, by field path (JSON is YAML's flow style)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return {}
    out: dict[str, Position] = {}

    def walk(node: yaml.Node, path: str, depth: int) -> None:
        if depth > 64:
            return
        out[path] = position_at(text, node.start_mark.index)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    walk(value, _join(path, str(key.value)), depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]", depth + 1)

    if root is not None:
        walk(root, "", 0)
    out.pop("", None)
    return out


def slugify(title: str) -> str:
    """A uid from a title: ``"Service overview (RED)"`` -> ``service-overview-red``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return slug or "dashboard"


# -- variables -----------------------------------------------------------------------------------

_VAR_RE = re.compile(
    r"\$(?P<plain>\w+)|\$\{(?P<braced>\w+)(?::(?P<fmt>\w+))?\}|\[\[(?P<old>\w+)(?::(?P<oldfmt>\w+))?\]\]"
)
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def _seconds(s: float) -> str:
    s = max(1, round(s))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def builtin_values(range_s: float, step_s: float, scrape_interval_s: float = 15) -> dict[str, str]:
    """Grafana's built-in variables for a query over *range_s* seconds at *step_s*.

    ``$__rate_interval`` is ``max($__interval + scrape interval, 4 * scrape interval)``.
    """
    rate = max(step_s + scrape_interval_s, 4 * scrape_interval_s)
    return {
        "__interval": _seconds(step_s),
        "__interval_ms": str(round(step_s * 1000)),
        "__rate_interval": _seconds(rate),
        "__range": _seconds(range_s),
        "__range_s": str(round(range_s)),
        "__range_ms": str(round(range_s * 1000)),
    }


def _regex_escape(value: str) -> str:
    # Inside a PromQL string: a regex escape needs its backslash escaped (as Grafana does).
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def interpolate(
    expr: str,
    values: Mapping[str, Sequence[str]],
    variables: Iterable[Variable] = (),
    *,
    builtins: Mapping[str, str] | None = None,
    all_selected: Iterable[str] = (),
) -> str:
    """*expr* with ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` replaced, as Grafana does.

    A multi-value or "All"-capable variable becomes a regex alternation of escaped
    values (``(a|b)``), meant for ``=~``; a plain one its value as is. A variable
    in *all_selected* with an ``allValue`` becomes that value. Formats ``raw``,
    ``regex``, ``pipe``, ``csv`` and ``json`` are understood; unknown names stay.
    """
    by_name = {v.name: v for v in variables}
    alls = set(all_selected)
    bi = builtins or {}

    def sub(m: re.Match[str]) -> str:
        name = m.group("plain") or m.group("braced") or m.group("old")
        fmt = m.group("fmt") or m.group("oldfmt") or ""
        if name in bi:
            return bi[name]
        if name not in values:
            return m.group(0)
        var = by_name.get(name)
        if var is not None and name in alls and var.all_value is not None:
            return var.all_value
        vals = list(values[name])
        if not vals:
            return ""
        if fmt == "raw":
            return ",".join(vals)
        if fmt == "csv":
            return ",".join(vals)
        if fmt == "pipe":
            return "|".join(vals)
        if fmt == "json":
            return json.dumps(vals)
        regex = fmt == "regex" or (
            (var is not None and (var.multi or var.include_all)) or len(vals) > 1
        )
        if not regex:
            return vals[0]
        escaped = [_regex_escape(v) for v in vals]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    return _VAR_RE.sub(sub, expr)


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


def with_uid(d: Dashboard, uid: str, title: str | None = None) -> Dashboard:
    """*d* under another uid (and title): how "save as copy" starts."""
    return replace(d, uid=uid, title=title if title is not None else d.title)
