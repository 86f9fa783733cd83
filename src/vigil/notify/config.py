"""Loading ``alertmanager.yml``: strict like Alertmanager's ``config.LoadFile``, with positions.

Unknown keys are errors (with a suggestion), defaults are applied, ``global``
values flow into receivers that do not set their own, and every check of
upstream ``config/config.go`` runs with its error text. Unlike upstream, all
problems are collected, each as ``file:line:col: field.path: reason``.

The result, :class:`NotifyConfig`, holds the routing tree (a
:class:`~vigil.notify.route.Route` with options inherited), the receivers,
inhibition rules, time intervals and template paths.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.config.nodes import Field, NodeReader, compose
from vigil.model import is_valid_label_name
from vigil.model.matchers import Matcher, MatchType, RegexError
from vigil.notify.config_receivers import (
    Integration,
    check_url,
    parse_http_config,
    parse_receiver,
    parse_tls_config,
)
from vigil.notify.matchers import MatcherError, parse_matchers
from vigil.notify.receivers.config import ReceiverConfig
from vigil.notify.route import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Route,
)
from vigil.notify.timeinterval import TimeInterval, parse_time_intervals_section


def _q(text: object) -> str:
    """Go's %q: a double-quoted string."""
    return json.dumps(str(text), ensure_ascii=False)


__all__ = [
    "GlobalConfig",
    "InhibitRule",
    "NotifyConfig",
    "check_config",
    "load_notify_config",
    "parse_notify_config",
    "render_config",
]

_TOP_KEYS = (
    "global", "route", "inhibit_rules", "receivers", "templates", "mute_time_intervals",
    "time_intervals", "tracing",
)  # fmt: skip
_ROUTE_KEYS = (
    "receiver", "group_by", "match", "match_re", "matchers", "mute_time_intervals",
    "active_time_intervals", "continue", "routes", "group_wait", "group_interval",
    "repeat_interval", "labels",
)  # fmt: skip
_INHIBIT_KEYS = (
    "name", "source_match", "source_match_re", "source_matchers", "target_match",
    "target_match_re", "target_matchers", "equal",
)  # fmt: skip
_TRACING_KEYS = (
    "client_type", "endpoint", "sampling_fraction", "insecure", "headers", "compression",
    "timeout", "tls_config",
)  # fmt: skip

# global key -> default (None: unset). Order is the order upstream prints them.
GLOBAL_DEFAULTS: dict[str, Any] = {
    "resolve_timeout": "5m",
    "http_config": None,  # filled with the HTTP client defaults
    "jira_api_url": None,
    "smtp_from": None,
    "smtp_hello": "localhost",
    "smtp_smarthost": None,
    "smtp_auth_username": None,
    "smtp_auth_password": None,
    "smtp_auth_password_file": None,
    "smtp_auth_secret": None,
    "smtp_auth_secret_file": None,
    "smtp_auth_identity": None,
    "smtp_require_tls": True,
    "smtp_tls_config": None,
    "smtp_force_implicit_tls": None,
    "slack_api_url": None,
    "slack_api_url_file": None,
    "slack_app_token": None,
    "slack_app_token_file": None,
    "slack_app_url": "https://slack.com/api/chat.postMessage",
    "pagerduty_url": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie_api_url": "https://api.opsgenie.com/",
    "opsgenie_api_key": None,
    "opsgenie_api_key_file": None,
    "wechat_api_url": "https://qyapi.weixin.qq.com/cgi-bin/",
    "wechat_api_secret": None,
    "wechat_api_secret_file": None,
    "wechat_api_corp_id": None,
    "victorops_api_url": "https://alert.victorops.com/integrations/generic/20131114/alert/",
    "victorops_api_key": None,
    "victorops_api_key_file": None,
    "telegram_api_url": "https://api.telegram.org",
    "telegram_bot_token": None,
    "telegram_bot_token_file": None,
    "webex_api_url": "https://webexapis.com/v1/messages",
    "rocketchat_api_url": "https://open.rocket.chat/",
    "rocketchat_token": None,
    "rocketchat_token_file": None,
    "rocketchat_token_id": None,
    "rocketchat_token_id_file": None,
    "mattermost_webhook_url": None,
    "mattermost_webhook_url_file": None,
}
# Alertmanager's Secret and SecretURL fields of the global section.
GLOBAL_SECRETS = frozenset(
    {
        "smtp_auth_password", "smtp_auth_secret", "slack_api_url", "slack_app_token",
        "opsgenie_api_key", "wechat_api_secret", "victorops_api_key", "telegram_bot_token",
        "rocketchat_token", "rocketchat_token_id", "mattermost_webhook_url",
    }
)  # fmt: skip
_GLOBAL_URLS = frozenset(
    k for k in GLOBAL_DEFAULTS if k.endswith("_url") and k not in ("slack_app_url",)
) | {"slack_app_url"}
_GLOBAL_PAIRS = (
    ("slack_app_token", "slack_app_token_file"),
    ("slack_api_url", "slack_api_url_file"),
    ("opsgenie_api_key", "opsgenie_api_key_file"),
    ("victorops_api_key", "victorops_api_key_file"),
    ("telegram_bot_token", "telegram_bot_token_file"),
    ("smtp_auth_password", "smtp_auth_password_file"),
    ("rocketchat_token", "rocketchat_token_file"),
    ("rocketchat_token_id", "rocketchat_token_id_file"),
    ("smtp_auth_secret", "smtp_auth_secret_file"),
    ("wechat_api_secret", "wechat_api_secret_file"),
    ("mattermost_webhook_url", "mattermost_webhook_url_file"),
)


@dataclass(frozen=True)
class GlobalConfig:
    """The ``global`` section after defaults. ``settings`` has every key (unset ones are ``None``)."""

    resolve_timeout_s: float = 300.0
    smtp_from: str = ""
    smtp_hello: str = "localhost"
    smtp_smarthost: str = ""
    smtp_auth_username: str = ""
    smtp_auth_password: str = ""
    smtp_auth_password_file: str = ""
    smtp_auth_secret: str = ""
    smtp_auth_identity: str = ""
    smtp_require_tls: bool = True
    slack_api_url: str = ""
    slack_api_url_file: str = ""
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    settings: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def get(self, key: str) -> Any:
        return self.settings.get(key)


@dataclass(frozen=True)
class InhibitRule:
    """Mute alerts matching ``target_matchers`` while an alert matching ``source_matchers``
    fires with the same values of the ``equal`` labels."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass
class NotifyConfig:
    global_: GlobalConfig
    route: Route
    receivers: dict[str, ReceiverConfig]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: dict[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    templates: tuple[str, ...] = ()  # glob patterns, resolved against the config's folder
    template_files: tuple[str, ...] = ()  # the files those patterns match now
    original_text: str = ""
    source: str | None = None
    integrations: dict[str, tuple[Integration, ...]] = field(default_factory=dict, repr=False)


# -- global ---------------------------------------------------------------------------------


def _parse_global(r: NodeReader, node: yaml.Node | None) -> dict[str, Any]:
    g: dict[str, Any] = dict(GLOBAL_DEFAULTS)
    fields = r.mapping(node, "global") or {}
    r.check_keys(fields, GLOBAL_DEFAULTS)
    g["http_config"] = parse_http_config(r, None, "global.http_config")
    for name, f in fields.items():
        if name not in GLOBAL_DEFAULTS:
            continue
        if name == "http_config":
            g[name] = parse_http_config(r, f.value, f.path)
        elif name == "smtp_tls_config":
            g[name] = parse_tls_config(r, f.value, f.path)
        elif name in ("smtp_require_tls", "smtp_force_implicit_tls"):
            b = r.boolean(f.value, f.path)
            if b is not None:
                g[name] = b
        elif name == "resolve_timeout":
            d = r.duration(f.value, f.path)
            if d is not None:
                g[name] = str(d)
        else:
            text = r.string(f.value, f.path)
            if text is None:
                continue
            if name in _GLOBAL_URLS:
                if text != "<secret>" and not check_url(r, f.value, f.path, text):
                    continue
            elif text == "":
                continue  # an empty string is "not set"
            if name == "smtp_smarthost":
                _check_hostport(r, f, text)
            g[name] = text
    for inline, file in _GLOBAL_PAIRS:
        if g.get(inline) and g.get(file):
            where = fields.get(file) or fields.get(inline)
            r.error(
                where.key if where else node,
                "global",
                f"at most one of {inline} & {file} must be configured",
            )
    has_token = g.get("slack_app_token") or g.get("slack_app_token_file")
    has_url = g.get("slack_api_url") or g.get("slack_api_url_file")
    if has_token and has_url and g.get("slack_api_url") != g.get("slack_app_url"):
        r.error(
            node,
            "global",
            "at most one of slack_app_token/slack_app_token_file & "
            "slack_api_url/slack_api_url_file must be configured",
        )
    return g


def _check_hostport(r: NodeReader, f: Field, text: str) -> None:
    _host, sep, port = text.rpartition(":")
    if not sep:
        r.error(f.value, f.path, f"address {text}: missing port in address")
    elif not port:
        r.error(f.value, f.path, f"address {_q(text)}: port cannot be empty")


def _global_config(g: dict[str, Any]) -> GlobalConfig:
    from vigil.config.units import parse_duration

    def s(key: str) -> str:
        v = g.get(key)
        return "" if v is None else str(v)

    return GlobalConfig(
        resolve_timeout_s=parse_duration(s("resolve_timeout")) / 1000.0,
        smtp_from=s("smtp_from"),
        smtp_hello=s("smtp_hello"),
        smtp_smarthost=s("smtp_smarthost"),
        smtp_auth_username=s("smtp_auth_username"),
        smtp_auth_password=s("smtp_auth_password"),
        smtp_auth_password_file=s("smtp_auth_password_file"),
        smtp_auth_secret=s("smtp_auth_secret"),
        smtp_auth_identity=s("smtp_auth_identity"),
        smtp_require_tls=bool(g["smtp_require_tls"]),
        slack_api_url=s("slack_api_url"),
        slack_api_url_file=s("slack_api_url_file"),
        pagerduty_url=s("pagerduty_url"),
        settings=g,
    )


# -- matchers -------------------------------------------------------------------------------


def _match_map(
    r: NodeReader, f: Field | None, regex: bool, *, legacy_nil_regex: bool = True
) -> list[Matcher]:
    """``match`` / ``match_re`` (and the inhibit twins) as matchers."""
    if f is None:
        return []
    fields = r.mapping(f.value, f.path) or {}
    out: list[Matcher] = []
    for name, entry in fields.items():
        if not is_valid_label_name(name):
            r.error(entry.key, entry.path, f"invalid label name {_q(name)}")
            continue
        text = r.string(entry.value, entry.path)
        if text is None:
            if regex and legacy_nil_regex:
                r.error(entry.key, entry.path, f"invalid regexp value for {_q(name)}")
                continue
            text = ""
        try:
            out.append(Matcher(MatchType.REGEX if regex else MatchType.EQUAL, name, text))
        except RegexError as exc:
            r.error(entry.value, entry.path, str(exc))
    return out


def _matcher_list(r: NodeReader, f: Field | None) -> list[Matcher]:
    """A ``matchers`` list of strings in Alertmanager's matcher syntax."""
    if f is None:
        return []
    out: list[Matcher] = []
    for text, item in r.string_list(f.value, f.path):
        try:
            out += parse_matchers(text)
        except MatcherError as exc:
            pos = r.position(item)
            # point into the string: past the opening quote when the scalar is quoted
            style = getattr(item, "style", None)
            shift = exc.offset + (1 if style in ('"', "'") else 0)
            problem_pos = (
                pos if pos is None else type(pos)(pos.line, pos.col + shift, pos.offset + shift)
            )
            r.problems.append(ConfigProblem(exc.message, f.path, problem_pos, r.source))
    return sorted(out, key=lambda m: (m.name, m.type.value, m.value))


# -- route ------------------------------------------------------------------------------------


@dataclass
class _RouteRefs:
    receivers: list[tuple[str, yaml.Node, str]] = field(default_factory=list)
    intervals: list[tuple[str, yaml.Node, str]] = field(default_factory=list)


def _parse_route(
    r: NodeReader,
    node: yaml.Node | None,
    path: str,
    parent: Route | None,
    refs: _RouteRefs,
    depth: int = 0,
) -> Route | None:
    if depth > 64:
        r.error(node, path, "routes nested too deeply")
        return None
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _ROUTE_KEYS)
    root = parent is None

    def f(key: str) -> Field | None:
        return fields.get(key)

    receiver = ""
    if (rf := f("receiver")) is not None:
        receiver = r.string(rf.value, rf.path) or ""
        if receiver:
            refs.receivers.append((receiver, rf.value, rf.path))

    group_by: tuple[str, ...] | None = parent.group_by if parent is not None else ()
    if (gf := f("group_by")) is not None:
        names = r.string_list(gf.value, gf.path)
        labels: list[str] = []
        seen: set[str] = set()
        all_labels = False
        for name, item in names:
            if name == "...":
                all_labels = True
                continue
            if not is_valid_label_name(name):
                r.error(item, gf.path, f"invalid label name {_q(name)} in group_by list")
                continue
            if name in seen:
                r.error(item, gf.path, f"duplicated label {_q(name)} in group_by")
                continue
            seen.add(name)
            labels.append(name)
        if all_labels and labels:
            r.error(
                gf.value,
                gf.path,
                "cannot have wildcard group_by (`...`) and other labels at the same time",
            )
        if all_labels:
            group_by = None
        elif labels:  # an empty list inherits, as Alertmanager 0.25 does
            group_by = tuple(labels)

    matchers = _match_map(r, f("match"), False) + _match_map(r, f("match_re"), True)
    matchers += _matcher_list(r, f("matchers"))
    matchers.sort(key=lambda m: (m.name, m.type.value, m.value))

    def interval(key: str, inherited: float, zero_ok: bool) -> float:
        fld = f(key)
        if fld is None:
            return inherited
        d = r.duration(fld.value, fld.path)
        if d is None:
            return inherited
        if not d and not zero_ok:
            r.error(fld.value, fld.path, f"{key} cannot be zero")
        return d.seconds

    group_wait = interval("group_wait", parent.group_wait if parent else DEFAULT_GROUP_WAIT, True)
    group_interval = interval(
        "group_interval", parent.group_interval if parent else DEFAULT_GROUP_INTERVAL, False
    )
    repeat_interval = interval(
        "repeat_interval", parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL, False
    )

    cont = False
    if (cf := f("continue")) is not None:
        cont = bool(r.boolean(cf.value, cf.path))
        if root and cont:
            r.error(cf.key, cf.path, "cannot have continue in root route")

    times: dict[str, tuple[str, ...]] = {}
    for key in ("mute_time_intervals", "active_time_intervals"):
        tf = f(key)
        names = r.string_list(tf.value, tf.path) if tf is not None else []
        for name, item in names:
            refs.intervals.append((name, item, tf.path if tf else key))
        times[key] = tuple(n for n, _ in names)
        if root and names:
            kind = "mute" if key.startswith("mute") else "active"
            assert tf is not None
            r.error(tf.key, tf.path, f"root route must not have any {kind} time intervals")

    if (lf := f("labels")) is not None:
        r.label_map(
            lf.value, lf.path
        )  # templated route labels (newer Alertmanager): validated only

    if root:
        if not receiver:
            r.error(node, path, "root route must specify a default receiver")
        legacy = [fld for k in ("match", "match_re") if (fld := f(k)) is not None]
        if matchers or any(not r.is_null(fld.value) for fld in legacy):
            where = f("matchers") or f("match") or f("match_re")
            r.error(where.key if where else node, path, "root route must not have any matchers")

    route = Route(
        receiver=receiver or (parent.receiver if parent else ""),
        group_by=group_by,
        matchers=tuple(matchers),
        continue_=cont,
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
        mute_time_intervals=times["mute_time_intervals"],
        active_time_intervals=times["active_time_intervals"],
    )
    if parent is not None:
        parent.add_child(route)
    if (sf := f("routes")) is not None:
        for i, child in enumerate(r.sequence(sf.value, sf.path) or ()):
            _parse_route(r, child, f"{sf.path}[{i}]", route, refs, depth + 1)
    return route


# -- inhibit rules ------------------------------------------------------------------------


def _parse_inhibit(r: NodeReader, node: yaml.Node, path: str) -> InhibitRule | None:
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _INHIBIT_KEYS)
    source = _match_map(r, fields.get("source_match"), False)
    source += _match_map(r, fields.get("source_match_re"), True)
    source += _matcher_list(r, fields.get("source_matchers"))
    target = _match_map(r, fields.get("target_match"), False)
    target += _match_map(r, fields.get("target_match_re"), True)
    target += _matcher_list(r, fields.get("target_matchers"))
    equal: list[str] = []
    if (ef := fields.get("equal")) is not None:
        for name, item in r.string_list(ef.value, ef.path):
            if not is_valid_label_name(name):
                r.error(item, ef.path, f"invalid label name {_q(name)} in equal list")
            else:
                equal.append(name)
    return InhibitRule(tuple(source), tuple(target), tuple(equal))


# -- the whole file ----------------------------------------------------------------------


def parse_notify_config(
    text: str, source: str | None = None, base_dir: str | None = None
) -> NotifyConfig:
    """Parse ``alertmanager.yml`` text; ``ConfigError`` lists every problem with its position."""
    root = compose(text, source)
    r = NodeReader(text, source, base_dir)
    if root is not None and not isinstance(root, yaml.MappingNode):
        r.error(root, "", "the config must be a YAML mapping (global, route, receivers, ...)")
        raise ConfigError(r.problems)
    fields = r.mapping(root, "") or {}
    r.check_keys(fields, _TOP_KEYS)

    g = _parse_global(r, fields["global"].value if "global" in fields else None)

    receivers: dict[str, ReceiverConfig] = {}
    integrations: dict[str, tuple[Integration, ...]] = {}
    if (rf := fields.get("receivers")) is not None:
        first: dict[str, int] = {}
        for i, item in enumerate(r.sequence(rf.value, rf.path) or ()):
            parsed = parse_receiver(r, item, f"{rf.path}[{i}]", g)
            if parsed is None:
                continue
            rc, ints = parsed
            if rc.name in receivers:
                line = first[rc.name]
                r.error(item, f"{rf.path}[{i}].name", f"notification config name {_q(rc.name)} is not unique "
                        f"(first defined on line {line})")  # fmt: skip
                continue
            first[rc.name] = item.start_mark.line + 1
            receivers[rc.name] = rc
            integrations[rc.name] = tuple(ints)

    refs = _RouteRefs()
    route: Route | None = None
    if "route" not in fields or r.is_null(fields["route"].value):
        r.error(root, "route", "no route provided in config")
    else:
        route = _parse_route(r, fields["route"].value, "route", None, refs)
    for name, node, path in refs.receivers:
        if name not in receivers:
            r.error(node, path, f"undefined receiver {_q(name)} used in route")

    seen: dict[str, yaml.Node] = {}
    intervals: dict[str, tuple[TimeInterval, ...]] = {}
    for key in ("mute_time_intervals", "time_intervals"):
        if (tf := fields.get(key)) is not None:
            intervals.update(parse_time_intervals_section(r, tf.value, key, seen))
    for name, node, path in refs.intervals:
        if name not in seen:
            r.error(node, path, f"undefined time interval {_q(name)} used in route")

    inhibit: list[InhibitRule] = []
    if (inf := fields.get("inhibit_rules")) is not None:
        for i, item in enumerate(r.sequence(inf.value, inf.path) or ()):
            rule = _parse_inhibit(r, item, f"{inf.path}[{i}]")
            if rule is not None:
                inhibit.append(rule)

    templates: list[str] = []
    files: list[str] = []
    if (tf := fields.get("templates")) is not None:
        for pattern, _item in r.string_list(tf.value, tf.path):
            resolved = r.file_path(pattern)
            templates.append(resolved)
            files += sorted(glob.glob(resolved))

    if (trf := fields.get("tracing")) is not None:
        tr = r.mapping(trf.value, trf.path) or {}
        r.check_keys(tr, _TRACING_KEYS)

    if r.problems or route is None:
        if not r.problems:
            r.error(root, "route", "no route provided in config")
        raise ConfigError(r.problems)
    return NotifyConfig(
        global_=_global_config(g),
        route=route,
        receivers=receivers,
        inhibit_rules=tuple(inhibit),
        time_intervals=intervals,
        templates=tuple(templates),
        template_files=tuple(files),
        original_text=text,
        source=source,
        integrations=integrations,
    )


def load_notify_config(path: str | os.PathLike[str]) -> NotifyConfig:
    """Read and parse the file at ``path``; relative paths in it resolve against its folder."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(f"cannot read config file: {exc.strerror}", "", None, name)]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [ConfigProblem("config file is not valid UTF-8", "", None, name)]
        ) from None
    return parse_notify_config(text, name, os.path.dirname(os.path.abspath(name)))


def render_config(cfg: NotifyConfig) -> str:
    """The loaded config as YAML, defaults filled in and every secret shown as ``<secret>``."""
    from vigil.notify.config_render import render

    return render(cfg)


def check_config(paths: Sequence[str] | Iterable[str], out: TextIO) -> int:
    """``amtool check-config``: check each file, print a summary; 0 when all are valid, else 1."""
    from vigil.notify.config_render import check_files

    return check_files(list(paths), out)
