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
title and, when the JSON text is known, its line and column. The Grafana conversion
(:func:`~vigil.ui.grafana.import_grafana`, :func:`~vigil.ui.grafana.export_grafana`)
is in :mod:`vigil.ui.grafana`; its names stay importable from here.
Expressions keep their variables (``$job``, ``${job}``, ``$__rate_interval``); the
browser substitutes them per query, the way :func:`interpolate` does.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.model import Position, position_at
from vigil.promql.parser import ParseError, parse_expr

if TYPE_CHECKING:
    from vigil.ui.grafana import ImportResult, export_grafana, import_grafana, is_grafana

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


def with_uid(d: Dashboard, uid: str, title: str | None = None) -> Dashboard:
    """*d* under another uid (and title): how "save as copy" starts."""
    return replace(d, uid=uid, title=title if title is not None else d.title)


_GRAFANA_NAMES = frozenset({"ImportResult", "export_grafana", "import_grafana", "is_grafana"})


def __getattr__(name: str) -> Any:
    """The Grafana conversion lives in :mod:`vigil.ui.grafana` (it imports this module)."""
    if name in _GRAFANA_NAMES:
        from vigil.ui import grafana

        return getattr(grafana, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
