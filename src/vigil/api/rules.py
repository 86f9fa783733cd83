"""Prometheus's ``/api/v1/rules`` and ``/api/v1/alerts`` over vigil's rule manager.

Shapes follow Prometheus's ``web/api/v1/api.go`` (``RuleDiscovery``,
``AlertDiscovery``): groups with their rules, each rule with health, last
error, last evaluation (RFC 3339) and evaluation time; alerting rules with
their active alerts. Filters: ``type`` (``alert`` or ``record``),
``rule_name[]``, ``rule_group[]``, ``file[]`` and ``exclude_alerts``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil.api.errors import BadDataError
from vigil.promql import to_string
from vigil.rules.alerting import ActiveAlert, AlertingRule
from vigil.rules.base import Rule
from vigil.rules.group import Group

__all__ = ["RulesSource", "rules_routes"]

Handler = Callable[[Request], Awaitable[Response]]
ZERO_TIME = "0001-01-01T00:00:00Z"


class RulesSource(Protocol):
    def groups(self) -> list[Group]: ...


def _time(t: float | None) -> str:
    if t is None or t <= 0:
        return ZERO_TIME
    dt = datetime.fromtimestamp(t, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "Z"


def _value(v: float) -> str:
    """Alert values print with Go's ``%e``-free shortest form, as Prometheus's strconv."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    text = repr(float(v))
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    elif text.endswith(".0"):
        text = text[:-2]
    return text


def _alert_json(a: ActiveAlert) -> dict[str, Any]:
    out: dict[str, Any] = {
        "labels": a.labels.to_dict(),
        "annotations": dict(a.annotations),
        "state": str(a.state),
        "activeAt": _time(a.active_at),
        "value": _value(a.value),
    }
    if a.keep_firing_since:
        out["keepFiringSince"] = _time(a.keep_firing_since)
    return out


def _live(rule: AlertingRule) -> list[ActiveAlert]:
    return [a for a in rule.active_alerts() if str(a.state) in ("pending", "firing")]


def _rule_json(rule: Rule, exclude_alerts: bool) -> dict[str, Any]:
    common = {
        "name": rule.name,
        "query": to_string(rule.expr),
        "labels": dict(rule.labels),
        "health": str(rule.health),
        "lastError": rule.last_error or "",
        "evaluationTime": rule.evaluation_duration,
        "lastEvaluation": _time(rule.last_evaluation),
    }
    if isinstance(rule, AlertingRule):
        alerts = _live(rule)
        out: dict[str, Any] = {
            "state": str(rule.state),
            **common,
            "duration": rule.for_s,
            "keepFiringFor": rule.keep_firing_for_s,
            "annotations": dict(rule.annotations),
            "type": "alerting",
        }
        if not exclude_alerts:
            out["alerts"] = [_alert_json(a) for a in alerts]
        return out
    return {**common, "type": "recording"}


def _wanted(values: Sequence[str]) -> set[str] | None:
    return set(values) if values else None


def rules_routes(source: RulesSource, wrap: Callable[[Handler], Handler]) -> list[Route]:
    async def rules(request: Request) -> Response:
        q = request.query_params
        kind = q.get("type", "").lower()
        if kind not in ("", "alert", "record"):
            raise BadDataError(f"invalid rule type {kind!r}: use alert or record")
        exclude = q.get("exclude_alerts", "false").lower()
        if exclude not in ("true", "false"):
            raise BadDataError(f"exclude_alerts: expected true or false, got {exclude!r}")
        names = _wanted(q.getlist("rule_name[]"))
        group_names = _wanted(q.getlist("rule_group[]"))
        files = _wanted(q.getlist("file[]"))
        out: list[dict[str, Any]] = []
        for g in source.groups():
            if group_names is not None and g.name not in group_names:
                continue
            if files is not None and g.file not in files:
                continue
            picked: list[dict[str, Any]] = []
            for rule in g.rules:
                is_alert = isinstance(rule, AlertingRule)
                if (kind == "alert" and not is_alert) or (kind == "record" and is_alert):
                    continue
                if names is not None and rule.name not in names:
                    continue
                picked.append(_rule_json(rule, exclude == "true"))
            if not picked and (kind or names is not None):
                continue
            out.append(
                {
                    "name": g.name,
                    "file": g.file,
                    "rules": picked,
                    "interval": g.interval_s,
                    "limit": g.limit,
                    "evaluationTime": g.evaluation_duration,
                    "lastEvaluation": _time(g.last_evaluation),
                }
            )
        return JSONResponse({"status": "success", "data": {"groups": out}})

    async def alerts(request: Request) -> Response:
        found = [
            _alert_json(a)
            for g in source.groups()
            for rule in g.alerting_rules()
            for a in _live(rule)
        ]
        return JSONResponse({"status": "success", "data": {"alerts": found}})

    return [
        Route("/api/v1/rules", wrap(rules), methods=["GET"]),
        Route("/api/v1/alerts", wrap(alerts), methods=["GET"]),
    ]
