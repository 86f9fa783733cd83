"""Printing a loaded Alertmanager config (secrets hidden) and ``amtool check-config``'s report."""

from __future__ import annotations

from typing import Any, TextIO

import yaml

from vigil.config.errors import ConfigError
from vigil.notify.config import GLOBAL_SECRETS, NotifyConfig, load_notify_config
from vigil.notify.config_receivers import KINDS, NESTED_SECRETS
from vigil.notify.route import Route

__all__ = ["check_files", "render"]

SECRET = "<secret>"


def _redact_nested(value: Any) -> Any:
    """HTTP client, TLS and SigV4 settings: Secret-typed keys become ``<secret>``; empty ones are left out."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in NESTED_SECRETS and isinstance(v, str):
                if v:
                    out[k] = SECRET
                continue
            if v is None:
                continue
            out[k] = _redact_nested(v)
        return out
    if isinstance(value, list):
        return [_redact_nested(v) for v in value]
    return value


def _seconds(value: float) -> str:
    from vigil.config.units import format_duration

    return format_duration(round(value * 1000))


def _route(route: Route, parent: Route | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if parent is None or route.receiver != parent.receiver:
        out["receiver"] = route.receiver
    if parent is None or route.group_by != parent.group_by:
        out["group_by"] = ["..."] if route.group_by is None else list(route.group_by)
    if route.matchers:
        out["matchers"] = [str(m) for m in route.matchers]
    if route.mute_time_intervals:
        out["mute_time_intervals"] = list(route.mute_time_intervals)
    if route.active_time_intervals:
        out["active_time_intervals"] = list(route.active_time_intervals)
    out["continue"] = route.continue_
    if route.routes:
        out["routes"] = [_route(child, route) for child in route.routes]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, key)
        if parent is None or value != getattr(parent, key):
            out[key] = _seconds(value)
    return out


def _plain_original(cfg: NotifyConfig, key: str) -> Any:
    try:
        data = yaml.safe_load(cfg.original_text)
    except yaml.YAMLError:
        return None
    return data.get(key) if isinstance(data, dict) else None


def render(cfg: NotifyConfig) -> str:
    g = cfg.global_.settings
    glob: dict[str, Any] = {}
    for key, value in g.items():
        if value is None or value == "":
            continue
        if key in GLOBAL_SECRETS:
            glob[key] = SECRET
        elif isinstance(value, dict):
            glob[key] = _redact_nested(value)
        else:
            glob[key] = value
    receivers: list[dict[str, Any]] = []
    for name, integrations in cfg.integrations.items():
        rec: dict[str, Any] = {"name": name}
        for integ in integrations:
            kind = KINDS[integ.kind]
            item: dict[str, Any] = {}
            for key, value in integ.settings.items():
                if value is None:
                    continue
                if key in kind.secrets:
                    if value != "":
                        item[key] = SECRET
                    continue
                item[key] = _redact_nested(value) if isinstance(value, dict | list) else value
            rec.setdefault(integ.kind, []).append(item)
        receivers.append(rec)
    doc: dict[str, Any] = {
        "global": glob,
        "route": _route(cfg.route, None),
    }
    inhibit = [
        {
            "source_matchers": [str(m) for m in rule.source_matchers],
            "target_matchers": [str(m) for m in rule.target_matchers],
            **({"equal": list(rule.equal)} if rule.equal else {}),
        }
        for rule in cfg.inhibit_rules
    ]
    if inhibit:
        doc["inhibit_rules"] = inhibit
    doc["receivers"] = receivers
    doc["templates"] = list(cfg.templates)
    for key in ("mute_time_intervals", "time_intervals"):
        raw = _plain_original(cfg, key)
        if raw:
            doc[key] = raw
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)


def check_files(paths: list[str], out: TextIO) -> int:
    """Check each file like ``amtool check-config``; 0 when every file loads."""
    failed = 0
    for path in paths:
        out.write(f"Checking '{path}'")
        try:
            cfg = load_notify_config(path)
        except ConfigError as exc:
            failed += 1
            out.write("  FAILED:\n")
            for problem in exc.problems:
                out.write(f"  {problem}\n")
            out.write("\n")
            continue
        out.write("  SUCCESS\n")
        out.write("Found:\n")
        out.write(" - global config\n")
        out.write(" - route\n")
        out.write(f" - {len(cfg.inhibit_rules)} inhibit rules\n")
        out.write(f" - {len(cfg.receivers)} receivers\n")
        out.write(f" - {len(cfg.templates)} templates\n")
        for tmpl in cfg.template_files:
            out.write(f"  SUCCESS  {tmpl}\n")
        unsupported = sorted({u for rc in cfg.receivers.values() for u in rc.unsupported})
        if unsupported:
            out.write(f"Note: validated but not delivered by vigil: {', '.join(unsupported)}\n")
        out.write("\n")
    if failed:
        out.write(f"vigil: error: failed to validate {failed} file(s)\n")
        return 1
    return 0
