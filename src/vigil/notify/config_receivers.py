"""The ``receivers`` section of ``alertmanager.yml``: every integration type, validated like Alertmanager.

Each integration (``slack_configs[0]``, ...) is read into a plain settings
dict (scalars as written, typed keys converted), global defaults flow in
(``slack_api_url``, ``smtp_*``, ``opsgenie_api_key``, ...) and the checks of
upstream ``config/config.go`` and ``config/notifiers.go`` run with their error
texts. Webhook, Slack, email and PagerDuty settings become the dataclasses of
:mod:`vigil.notify.receivers.config`; the other kinds are validated and named
in ``ReceiverConfig.unsupported``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from vigil.config.nodes import NodeReader
from vigil.notify.receivers.config import (
    BasicAuth,
    EmailConfig,
    HTTPClientConfig,
    PagerdutyConfig,
    PagerdutyImage,
    PagerdutyLink,
    ReceiverConfig,
    SlackConfig,
    SlackField,
    TLSConfig,
    WebhookConfig,
)


def _q(text: object) -> str:
    """Go's %q: a double-quoted string."""
    return json.dumps(str(text), ensure_ascii=False)


__all__ = ["KINDS", "SUPPORTED_KINDS", "Integration", "parse_http_config", "parse_receiver"]

Settings = dict[str, Any]

SLACK_APP_URL = "https://slack.com/api/chat.postMessage"

# -- HTTP client config (prometheus/common) -------------------------------------------------

_TLS_KEYS = (
    "ca", "ca_file", "ca_ref", "cert", "cert_file", "cert_ref", "key", "key_file", "key_ref",
    "server_name", "insecure_skip_verify", "min_version", "max_version",
)  # fmt: skip
_HTTP_KEYS = (
    "basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config",
    "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "follow_redirects", "enable_http2", "http_headers",
)  # fmt: skip
_OAUTH2_KEYS = (
    "client_id", "client_secret", "client_secret_file", "client_secret_ref", "scopes",
    "token_url", "endpoint_params", "tls_config", "proxy_url", "no_proxy",
    "proxy_from_environment", "proxy_connect_header",
)  # fmt: skip
_HTTP_BOOLS = ("follow_redirects", "enable_http2", "proxy_from_environment", "insecure_skip_verify")

# Keys whose values are secrets wherever they appear (http_config, sigv4, ...).
NESTED_SECRETS = frozenset(
    {"password", "credentials", "client_secret", "bearer_token", "secret_key", "key"}
)


def _plain(r: NodeReader, node: yaml.Node | None, path: str) -> Any:
    """A node as plain data: scalars as written (strings), null as None."""
    if r.is_null(node):
        return None
    assert node is not None
    if isinstance(node, yaml.MappingNode):
        fields = r.mapping(node, path) or {}
        return {k: _plain(r, f.value, f.path) for k, f in fields.items()}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(r, item, f"{path}[{i}]") for i, item in enumerate(node.value)]
    return str(node.value)


def check_url(r: NodeReader, node: yaml.Node | None, path: str, text: str) -> bool:
    """Alertmanager's URL type: http or https with a host."""
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        r.error(node, path, f"invalid URL: {exc}")
        return False
    if parts.scheme not in ("http", "https"):
        r.error(node, path, f"unsupported scheme {_q(parts.scheme)} for URL")
        return False
    if not parts.netloc:
        r.error(node, path, "missing host for URL")
        return False
    return True


def parse_http_config(r: NodeReader, node: yaml.Node | None, path: str) -> Settings:
    """An ``http_config`` block as settings, validated like prometheus/common; defaults filled."""
    fields = r.mapping(node, path) or {}
    r.check_keys(fields, _HTTP_KEYS)
    out: Settings = {"follow_redirects": True, "enable_http2": True}
    for name, f in fields.items():
        if name in _HTTP_BOOLS:
            b = r.boolean(f.value, f.path)
            if b is not None:
                out[name] = b
            continue
        if name == "tls_config":
            out[name] = parse_tls_config(r, f.value, f.path)
            continue
        if name == "basic_auth":
            sub = r.mapping(f.value, f.path) or {}
            r.check_keys(sub, ("username", "username_file", "username_ref", "password",
                               "password_file", "password_ref"))  # fmt: skip
            ba = _plain(r, f.value, f.path) or {}
            if ba.get("password") and ba.get("password_file"):
                r.error(
                    f.key,
                    f.path,
                    "at most one of basic_auth password & password_file must be configured",
                )
            if ba.get("username") and ba.get("username_file"):
                r.error(
                    f.key,
                    f.path,
                    "at most one of basic_auth username & username_file must be configured",
                )
            out[name] = ba
            continue
        if name == "authorization":
            sub = r.mapping(f.value, f.path) or {}
            r.check_keys(sub, ("type", "credentials", "credentials_file", "credentials_ref"))
            auth = _plain(r, f.value, f.path) or {}
            if auth.get("credentials") and auth.get("credentials_file"):
                r.error(
                    f.key,
                    f.path,
                    "at most one of authorization credentials & credentials_file must be configured",
                )
            if str(auth.get("type", "")).lower() == "basic":
                r.error(
                    f.key,
                    f.path,
                    'authorization type cannot be set to "basic", use "basic_auth" instead',
                )
            auth.setdefault("type", "Bearer")
            out[name] = auth
            continue
        if name == "oauth2":
            sub = r.mapping(f.value, f.path) or {}
            r.check_keys(sub, _OAUTH2_KEYS)
            out[name] = _plain(r, f.value, f.path)
            continue
        out[name] = _plain(r, f.value, f.path)
    if out.get("bearer_token") and out.get("bearer_token_file"):
        r.error(node, path, "at most one of bearer_token & bearer_token_file must be configured")
    has_bearer = bool(out.get("bearer_token") or out.get("bearer_token_file"))
    if "basic_auth" in out and has_bearer:
        r.error(
            node,
            path,
            "at most one of basic_auth, bearer_token & bearer_token_file must be configured",
        )
    if "authorization" in out and has_bearer:
        r.error(node, path, "authorization is not compatible with bearer_token & bearer_token_file")
    if sum(k in out for k in ("basic_auth", "oauth2", "authorization")) > 1:
        r.error(node, path, "at most one of basic_auth, oauth2 & authorization must be configured")
    return out


def parse_tls_config(r: NodeReader, node: yaml.Node | None, path: str) -> Settings:
    fields = r.mapping(node, path) or {}
    r.check_keys(fields, _TLS_KEYS)
    out: Settings = {}
    for name, f in fields.items():
        if name == "insecure_skip_verify":
            b = r.boolean(f.value, f.path)
            if b is not None:
                out[name] = b
        else:
            v = _plain(r, f.value, f.path)
            if v is not None:
                out[name] = v
    for inline, file in (("ca", "ca_file"), ("cert", "cert_file"), ("key", "key_file")):
        if out.get(inline) and out.get(file):
            r.error(node, path, f"at most one of {inline} and {file} must be configured")
    return out


def http_client(settings: Settings) -> HTTPClientConfig:
    ba = settings.get("basic_auth")
    auth = settings.get("authorization") or {}
    auth_type = str(auth.get("type", "")) if auth else ""
    creds = str(auth.get("credentials", "") or "")
    creds_file = str(auth.get("credentials_file", "") or "")
    if settings.get("bearer_token") or settings.get("bearer_token_file"):
        auth_type = "Bearer"
        creds = str(settings.get("bearer_token") or "")
        creds_file = str(settings.get("bearer_token_file") or "")
    tls = settings.get("tls_config") or {}
    return HTTPClientConfig(
        basic_auth=BasicAuth(
            str(ba.get("username") or ""),
            str(ba.get("password") or ""),
            str(ba.get("password_file") or ""),
        )
        if ba
        else None,
        authorization_type=auth_type,
        authorization_credentials=creds,
        authorization_credentials_file=creds_file,
        tls_config=tls_from(tls),
        proxy_url=str(settings.get("proxy_url") or ""),
        follow_redirects=bool(settings.get("follow_redirects", True)),
    )


def tls_from(tls: Settings) -> TLSConfig:
    return TLSConfig(
        ca_file=str(tls.get("ca_file") or ""),
        cert_file=str(tls.get("cert_file") or ""),
        key_file=str(tls.get("key_file") or ""),
        server_name=str(tls.get("server_name") or ""),
        insecure_skip_verify=bool(tls.get("insecure_skip_verify", False)),
        min_version=str(tls.get("min_version") or ""),
    )


# -- integration kinds -------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One ``*_configs`` type: its keys, which are secret, typed and URLs, and its checks."""

    name: str
    keys: tuple[str, ...]
    secrets: frozenset[str] = frozenset()
    bools: tuple[str, ...] = ()
    ints: tuple[str, ...] = ()
    durations: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()  # validated as http(s) URLs (templates allowed where noted)
    send_resolved: bool = True


def _k(name: str, keys: str, **kw: Any) -> Kind:
    return Kind(name, ("send_resolved", "http_config", *keys.split()), **kw)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _k(
            "webhook_configs",
            "url url_file max_alerts timeout",
            secrets=frozenset({"url"}),
            urls=("url",),
            ints=("max_alerts",),
            durations=("timeout",),
        ),
        _k(
            "email_configs",
            "to from hello smarthost auth_username auth_password auth_password_file "
            "auth_secret auth_secret_file auth_identity headers html text require_tls tls_config "
            "force_implicit_tls threading",
            secrets=frozenset({"auth_password", "auth_secret"}),
            bools=("require_tls", "force_implicit_tls"),
            send_resolved=False,
        ),
        _k(
            "pagerduty_configs",
            "service_key service_key_file routing_key routing_key_file url client "
            "client_url description details images links source severity class component group timeout",
            secrets=frozenset({"service_key", "routing_key"}),
            urls=("url",),
            durations=("timeout",),
        ),
        _k(
            "slack_configs",
            "api_url api_url_file app_token app_token_file app_url channel username color "
            "title title_link pretext text fields short_fields footer fallback callback_id icon_emoji "
            "icon_url image_url thumb_url link_names mrkdwn_in actions update_message timeout",
            secrets=frozenset({"api_url", "app_token"}),
            urls=("api_url", "app_url"),
            bools=("short_fields", "link_names", "update_message"),
            durations=("timeout",),
            send_resolved=False,
        ),
        _k(
            "opsgenie_configs",
            "api_key api_key_file api_url message description source details entity "
            "responders actions tags note priority update_alerts",
            secrets=frozenset({"api_key"}),
            urls=("api_url",),
            bools=("update_alerts",),
        ),
        _k(
            "wechat_configs",
            "api_secret api_secret_file corp_id message api_url to_user to_party to_tag "
            "agent_id message_type",
            secrets=frozenset({"api_secret"}),
            urls=("api_url",),
            send_resolved=False,
        ),
        _k(
            "pushover_configs",
            "user_key user_key_file token token_file title message url url_title "
            "device sound priority retry expire ttl html monospace",
            secrets=frozenset({"user_key", "token"}),
            bools=("html", "monospace"),
            durations=("retry", "expire", "ttl"),
        ),
        _k(
            "victorops_configs",
            "api_key api_key_file api_url routing_key message_type state_message "
            "entity_display_name monitoring_tool custom_fields",
            secrets=frozenset({"api_key"}),
            urls=("api_url",),
        ),
        _k(
            "sns_configs",
            "api_url sigv4 topic_arn phone_number target_arn subject message attributes",
        ),
        _k(
            "telegram_configs",
            "api_url bot_token bot_token_file chat_id message_thread_id message "
            "disable_notifications parse_mode",
            secrets=frozenset({"bot_token"}),
            urls=("api_url",),
            ints=("chat_id", "message_thread_id"),
            bools=("disable_notifications",),
        ),
        _k("webex_configs", "api_url message room_id", urls=("api_url",)),
        _k(
            "discord_configs",
            "webhook_url webhook_url_file content title message username avatar_url",
            secrets=frozenset({"webhook_url"}),
            urls=("webhook_url",),
        ),
        _k(
            "msteams_configs",
            "webhook_url webhook_url_file title summary text",
            secrets=frozenset({"webhook_url"}),
            urls=("webhook_url",),
        ),
        _k(
            "msteamsv2_configs",
            "webhook_url webhook_url_file title text",
            secrets=frozenset({"webhook_url"}),
            urls=("webhook_url",),
        ),
        _k(
            "jira_configs",
            "api_url project summary description labels priority issue_type "
            "reopen_transition resolve_transition wont_fix_resolution reopen_duration fields",
            urls=("api_url",),
            durations=("reopen_duration",),
        ),
        _k(
            "rocketchat_configs",
            "api_url token_id token_id_file token token_file channel color title "
            "title_link text fields short_fields emoji icon_url image_url thumb_url link_names actions",
            secrets=frozenset({"token", "token_id"}),
            urls=("api_url",),
            bools=("short_fields", "link_names"),
            send_resolved=False,
        ),
        _k(
            "mattermost_configs",
            "webhook_url webhook_url_file channel username text icon_url icon_emoji "
            "attachments props priority",
            secrets=frozenset({"webhook_url"}),
            urls=("webhook_url",),
        ),
        _k(
            "incidentio_configs",
            "url url_file alert_source_token alert_source_token_file max_alerts timeout",
            secrets=frozenset({"url", "alert_source_token"}),
            urls=("url",),
            ints=("max_alerts",),
            durations=("timeout",),
        ),
    )
}
# email has no http_config (it speaks SMTP; TLS is tls_config)
KINDS["email_configs"] = dataclasses.replace(
    KINDS["email_configs"], keys=tuple(k for k in KINDS["email_configs"].keys if k != "http_config")
)
SUPPORTED_KINDS = ("webhook_configs", "slack_configs", "email_configs", "pagerduty_configs")


@dataclass
class Integration:
    """One integration of a receiver after defaults: ``kind`` (``slack_configs``) and its settings."""

    kind: str
    settings: Settings
    node: yaml.Node | None = field(default=None, repr=False)


# -- reading ------------------------------------------------------------------------------------


def _read(r: NodeReader, kind: Kind, node: yaml.Node, path: str) -> Settings | None:
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, kind.keys)
    out: Settings = {"send_resolved": kind.send_resolved}
    for name, f in fields.items():
        if name not in kind.keys:
            continue
        if name == "http_config":
            out[name] = parse_http_config(r, f.value, f.path)
            continue
        if name == "tls_config":
            out[name] = parse_tls_config(r, f.value, f.path)
            continue
        if name == "send_resolved" or name in kind.bools:
            b = r.boolean(f.value, f.path)
            if b is not None:
                out[name] = b
            continue
        if name in kind.ints:
            text = r.string(f.value, f.path)
            if text is not None:
                try:
                    out[name] = int(text)
                except ValueError:
                    r.error(f.value, f.path, f"expected a whole number, got {_q(text)}")
            continue
        if name in kind.durations:
            d = r.duration(f.value, f.path)
            if d is not None:
                out[name] = d.seconds
            continue
        value = _plain(r, f.value, f.path)
        if value is None or value == "":
            continue
        plain_url = isinstance(value, str) and "{{" not in value and value != "<secret>"
        if name in kind.urls and plain_url:
            check_url(r, f.value, f.path, value)
        out[name] = value
    return out


def _err(r: NodeReader, node: yaml.Node | None, path: str) -> Callable[[str], None]:
    return lambda message: r.error(node, path, message)


def _inherit(
    s: Settings, g: Settings, local: str, local_file: str, glob: str, glob_file: str
) -> bool:
    """Take the global value and file when neither is set locally; whether anything is set."""
    if not s.get(local) and not s.get(local_file):
        if g.get(glob):
            s[local] = g[glob]
        if g.get(glob_file):
            s[local_file] = g[glob_file]
    return bool(s.get(local) or s.get(local_file))


def _both(s: Settings, a: str, b: str, error: Callable[[str], None]) -> None:
    if s.get(a) and s.get(b):
        error(f"at most one of {a} & {b} must be configured")


def _finish(kind: str, s: Settings, g: Settings, error: Callable[[str], None]) -> None:
    """The per-kind checks and global defaults (notifiers.go and config.go, in that order)."""
    if "http_config" not in s and kind != "email_configs":
        s["http_config"] = dict(g["http_config"])
        s["_http_inherited"] = True
    if kind == "webhook_configs":
        if not s.get("url") and not s.get("url_file"):
            error("one of url or url_file must be configured")
        _both(s, "url", "url_file", error)
    elif kind == "email_configs":
        _email(s, g, error)
    elif kind == "pagerduty_configs":
        if not any(
            s.get(k) for k in ("routing_key", "service_key", "routing_key_file", "service_key_file")
        ):
            error("missing service or routing key in PagerDuty config")
        _both(s, "routing_key", "routing_key_file", error)
        _both(s, "service_key", "service_key_file", error)
        s.setdefault("url", g["pagerduty_url"])
    elif kind == "slack_configs":
        _slack(s, g, error)
    elif kind == "opsgenie_configs":
        _both(s, "api_key", "api_key_file", error)
        for i, resp in enumerate(s.get("responders") or []):
            if not isinstance(resp, dict) or not any(
                resp.get(k) for k in ("id", "name", "username")
            ):
                error(
                    f"opsGenieConfig responder {i} has to have at least one of id, username or name specified"
                )
                continue
            rtype = str(resp.get("type") or "")
            if "{{" not in rtype and rtype.lower() not in (
                "team",
                "teams",
                "user",
                "escalation",
                "schedule",
            ):
                error(f"opsGenieConfig responder {i} type does not match valid options "
                      "^(team|teams|user|escalation|schedule)$")  # fmt: skip
        s.setdefault("api_url", g["opsgenie_api_url"])
        if not _inherit(
            s, g, "api_key", "api_key_file", "opsgenie_api_key", "opsgenie_api_key_file"
        ):
            error("no global OpsGenie API Key set either inline or in a file")
    elif kind == "wechat_configs":
        mtype = s.setdefault("message_type", "text")
        if mtype not in ("text", "markdown"):
            error(f"weChat message type {_q(mtype)} does not match valid options ^(text|markdown)$")
        _both(s, "api_secret", "api_secret_file", error)
        s.setdefault("api_url", g["wechat_api_url"])
        if not _inherit(
            s, g, "api_secret", "api_secret_file", "wechat_api_secret", "wechat_api_secret_file"
        ):
            error("no global Wechat Api Secret set either inline or in a file")
        if not s.get("corp_id"):
            if not g.get("wechat_api_corp_id"):
                error("no global Wechat CorpID set")
            else:
                s["corp_id"] = g["wechat_api_corp_id"]
    elif kind == "pushover_configs":
        if not s.get("user_key") and not s.get("user_key_file"):
            error("one of user_key or user_key_file must be configured")
        _both(s, "user_key", "user_key_file", error)
        if not s.get("token") and not s.get("token_file"):
            error("one of token or token_file must be configured")
        _both(s, "token", "token_file", error)
        if s.get("html") and s.get("monospace"):
            error("at most one of monospace & html must be configured")
    elif kind == "victorops_configs":
        if not s.get("routing_key"):
            error("missing Routing key in VictorOps config")
        _both(s, "api_key", "api_key_file", error)
        reserved = ("routing_key", "message_type", "state_message", "entity_display_name",
                    "monitoring_tool", "entity_id", "entity_state")  # fmt: skip
        for name in reserved:
            if name in (s.get("custom_fields") or {}):
                error(f"victorOps config contains custom field {name} which cannot be used as it "
                      "conflicts with the fixed/static fields")  # fmt: skip
        s.setdefault("api_url", g["victorops_api_url"])
        if not _inherit(
            s, g, "api_key", "api_key_file", "victorops_api_key", "victorops_api_key_file"
        ):
            error("no global VictorOps API Key set")
    elif kind == "sns_configs":
        a, b, c = (not s.get(k) for k in ("target_arn", "topic_arn", "phone_number"))
        if (a != b) != c:
            error("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config")
    elif kind == "telegram_configs":
        _both(s, "bot_token", "bot_token_file", error)
        if not s.get("chat_id"):
            error("missing chat_id on telegram_config")
        mode = s.get("parse_mode", "HTML")
        if mode not in ("", "Markdown", "MarkdownV2", "HTML"):
            error(
                "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string"
            )
        s.setdefault("api_url", g["telegram_api_url"])
        if not _inherit(
            s, g, "bot_token", "bot_token_file", "telegram_bot_token", "telegram_bot_token_file"
        ):
            error("missing bot_token or bot_token_file on telegram_config")
    elif kind == "webex_configs":
        if not s.get("room_id"):
            error("missing room_id on webex_config")
        if s.get("_http_inherited") or "authorization" not in s["http_config"]:
            error("missing webex_configs.http_config.authorization")
        s.setdefault("api_url", g["webex_api_url"])
    elif kind in ("discord_configs", "msteams_configs", "msteamsv2_configs"):
        if not s.get("webhook_url") and not s.get("webhook_url_file"):
            error("one of webhook_url or webhook_url_file must be configured")
        _both(s, "webhook_url", "webhook_url_file", error)
    elif kind == "jira_configs":
        if not s.get("project"):
            error("missing project in jira_config")
        if not s.get("issue_type"):
            error("missing issue_type in jira_config")
        if not s.get("api_url"):
            if not g.get("jira_api_url"):
                error("no global Jira Cloud URL set")
            else:
                s["api_url"] = g["jira_api_url"]
    elif kind == "rocketchat_configs":
        _both(s, "token", "token_file", error)
        _both(s, "token_id", "token_id_file", error)
        s.setdefault("api_url", g["rocketchat_api_url"])
        if not _inherit(
            s, g, "token_id", "token_id_file", "rocketchat_token_id", "rocketchat_token_id_file"
        ):
            error("no global Rocketchat TokenID set either inline or in a file")
        if not _inherit(s, g, "token", "token_file", "rocketchat_token", "rocketchat_token_file"):
            error("no global Rocketchat Token set either inline or in a file")
    elif kind == "mattermost_configs":
        _both(s, "webhook_url", "webhook_url_file", error)
        if not _inherit(
            s,
            g,
            "webhook_url",
            "webhook_url_file",
            "mattermost_webhook_url",
            "mattermost_webhook_url_file",
        ):
            error("missing webhook_url or webhook_url_file on mattermost_config")
    elif kind == "incidentio_configs":
        if not s.get("url") and not s.get("url_file"):
            error("one of url or url_file must be configured")
        _both(s, "url", "url_file", error)
    s.pop("_http_inherited", None)


def _canonical_header(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _email(s: Settings, g: Settings, error: Callable[[str], None]) -> None:
    if not s.get("to"):
        error("missing to address in email config")
    headers = s.get("headers") or {}
    normalized: dict[str, str] = {}
    if isinstance(headers, dict):
        for h, v in headers.items():
            key = _canonical_header(str(h))
            if key in normalized:
                error(f"duplicate header {_q(key)} in email config")
            normalized[key] = "" if v is None else str(v)
    s["headers"] = normalized
    _both(s, "auth_password", "auth_password_file", error)
    _both(s, "auth_secret", "auth_secret_file", error)
    if "tls_config" not in s:
        s["tls_config"] = dict(g.get("smtp_tls_config") or {})
    if not s.get("smarthost"):
        if not g.get("smtp_smarthost"):
            error("no global SMTP smarthost set")
        else:
            s["smarthost"] = g["smtp_smarthost"]
    if s.get("smarthost"):
        _host, sep, port = str(s["smarthost"]).rpartition(":")
        if not sep:
            error(f"address {s['smarthost']}: missing port in address")
        elif not port:
            error(f"address {_q(s['smarthost'])}: port cannot be empty")
    if not s.get("from"):
        if not g.get("smtp_from"):
            error("no global SMTP from set")
        else:
            s["from"] = g["smtp_from"]
    for local, glob in (("hello", "smtp_hello"), ("auth_username", "smtp_auth_username"),
                        ("auth_identity", "smtp_auth_identity")):  # fmt: skip
        if not s.get(local) and g.get(glob):
            s[local] = g[glob]
    _inherit(
        s, g, "auth_password", "auth_password_file", "smtp_auth_password", "smtp_auth_password_file"
    )
    _inherit(s, g, "auth_secret", "auth_secret_file", "smtp_auth_secret", "smtp_auth_secret_file")
    s.setdefault("require_tls", g["smtp_require_tls"])
    if "force_implicit_tls" not in s and g.get("smtp_force_implicit_tls") is not None:
        s["force_implicit_tls"] = g["smtp_force_implicit_tls"]
    s.setdefault("html", '{{ template "email.default.html" . }}')


def _slack(s: Settings, g: Settings, error: Callable[[str], None]) -> None:
    _both(s, "api_url", "api_url_file", error)
    _both(s, "app_token", "app_token_file", error)
    if s.get("update_message") and s.get("api_url") and s["api_url"] != SLACK_APP_URL:
        error(
            f"update_message can only be used with bot tokens. api_url must be set to {SLACK_APP_URL}"
        )
    for i, fld in enumerate(s.get("fields") or []):
        if not isinstance(fld, dict) or not fld.get("title"):
            error(f"missing title in Slack field configuration (fields[{i}])")
        elif not fld.get("value"):
            error(f"missing value in Slack field configuration (fields[{i}])")
    for i, act in enumerate(s.get("actions") or []):
        if not isinstance(act, dict) or not act.get("type"):
            error(f"missing type in Slack action configuration (actions[{i}])")
        elif not act.get("text"):
            error(f"missing text in Slack action configuration (actions[{i}])")
        elif not act.get("url") and not act.get("name"):
            error(f"missing name or url in Slack action configuration (actions[{i}])")
    s.setdefault("app_url", g["slack_app_url"])
    own_auth = not s.get("_http_inherited") and "authorization" in s["http_config"]
    if (
        not s.get("app_token")
        and not s.get("app_token_file")
        and not own_auth
        and not s.get("api_url")
    ):
        if g.get("slack_app_token"):
            s["app_token"] = g["slack_app_token"]
        if g.get("slack_app_token_file"):
            s["app_token_file"] = g["slack_app_token_file"]
    if not s.get("api_url") and not s.get("api_url_file"):
        if g.get("slack_api_url"):
            s["api_url"] = g["slack_api_url"]
        if g.get("slack_api_url_file"):
            s["api_url_file"] = g["slack_api_url_file"]
    has_url = s.get("api_url") or s.get("api_url_file")
    has_token = s.get("app_token") or s.get("app_token_file")
    if not has_url and not has_token:
        error("no Slack API URL nor App token set either inline or in a file")
        return
    if has_token:
        http = dict(s["http_config"])
        if "authorization" in http and not s.get("_http_inherited"):
            error("http authorization can't be set when using Slack App tokens")
        http["authorization"] = {"type": "Bearer"}
        if s.get("app_token"):
            http["authorization"]["credentials"] = s["app_token"]
        if s.get("app_token_file"):
            http["authorization"]["credentials_file"] = s["app_token_file"]
        s["http_config"] = http
        s["api_url"] = s["app_url"]
        s.pop("api_url_file", None)


# -- receivers ------------------------------------------------------------------------------------


def parse_receiver(
    r: NodeReader, node: yaml.Node, path: str, g: Settings
) -> tuple[ReceiverConfig, list[Integration]] | None:
    """One entry of ``receivers``; ``None`` when it has no usable name (already reported)."""
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, ("name", *KINDS))
    nf = fields.get("name")
    name = r.string(nf.value, nf.path) if nf is not None else None
    if not name:
        r.error(node, path, "missing name in receiver")
        return None
    integrations: list[Integration] = []
    built: dict[str, list[Any]] = {k: [] for k in SUPPORTED_KINDS}
    unsupported: list[str] = []
    for kind_name, kind in KINDS.items():
        f = fields.get(kind_name)
        if f is None:
            continue
        for i, item in enumerate(r.sequence(f.value, f.path) or ()):
            ipath = f"{f.path}[{i}]"
            if r.is_null(item) and kind_name not in ("slack_configs", "opsgenie_configs",
                                                    "wechat_configs", "rocketchat_configs"):  # fmt: skip
                r.error(item, ipath, f"missing {kind_name.removesuffix('_configs')} config")
                continue
            before = len(r.problems)
            settings = (
                _read(r, kind, item, ipath)
                if not r.is_null(item)
                else {"send_resolved": kind.send_resolved}
            )
            if settings is None:
                continue
            _finish(kind_name, settings, g, _err(r, item, ipath))
            integrations.append(Integration(kind_name, settings, item))
            if len(r.problems) > before:
                continue
            if kind_name in SUPPORTED_KINDS:
                built[kind_name].append(_build(kind_name, settings))
            elif kind_name.removesuffix("_configs") not in unsupported:
                unsupported.append(kind_name.removesuffix("_configs"))
    receiver = ReceiverConfig(
        name=name,
        webhook_configs=tuple(built["webhook_configs"]),
        slack_configs=tuple(built["slack_configs"]),
        email_configs=tuple(built["email_configs"]),
        pagerduty_configs=tuple(built["pagerduty_configs"]),
        unsupported=tuple(unsupported),
    )
    return receiver, integrations


def _str(s: Settings, key: str, default: str = "") -> str:
    v = s.get(key)
    return default if v is None else str(v)


def _build(kind: str, s: Settings) -> Any:
    http = http_client(s.get("http_config") or {})
    if kind == "webhook_configs":
        return WebhookConfig(
            url=_str(s, "url"),
            url_file=_str(s, "url_file"),
            send_resolved=bool(s["send_resolved"]),
            max_alerts=int(s.get("max_alerts", 0)),
            timeout=float(s.get("timeout", 0.0)),
            http_config=http,
        )
    if kind == "slack_configs":
        d = SlackConfig()
        kw: dict[str, Any] = {}
        for key in ("channel", "username", "color", "title", "title_link", "pretext", "text", "footer",
                    "fallback", "callback_id", "icon_emoji", "icon_url", "image_url", "thumb_url"):  # fmt: skip
            kw[key] = _str(s, key, getattr(d, key))
        fields = tuple(
            SlackField(str(f["title"]), str(f["value"]), _bool_or_none(f.get("short")))
            for f in s.get("fields") or []
        )
        mrkdwn = s.get("mrkdwn_in")
        return SlackConfig(
            api_url=_str(s, "api_url"),
            api_url_file=_str(s, "api_url_file"),
            send_resolved=bool(s["send_resolved"]),
            link_names=bool(s.get("link_names", False)),
            short_fields=bool(s.get("short_fields", False)),
            mrkdwn_in=tuple(str(m) for m in mrkdwn) if isinstance(mrkdwn, list) else d.mrkdwn_in,
            fields=fields,
            http_config=http,
            **kw,
        )
    if kind == "email_configs":
        host, _, port = _str(s, "smarthost").rpartition(":")
        headers = dict(s.get("headers") or {})
        headers.setdefault("Subject", '{{ template "email.default.subject" . }}')
        headers.setdefault("To", _str(s, "to"))
        headers.setdefault("From", _str(s, "from"))
        return EmailConfig(
            to=_str(s, "to"),
            from_=_str(s, "from"),
            smarthost_host=host.strip("[]"),
            smarthost_port=int(port) if port.isdigit() else 0,
            hello=_str(s, "hello", "localhost"),
            auth_username=_str(s, "auth_username"),
            auth_password=_str(s, "auth_password"),
            auth_password_file=_str(s, "auth_password_file"),
            auth_secret=_str(s, "auth_secret"),
            auth_identity=_str(s, "auth_identity"),
            require_tls=bool(s.get("require_tls", True)),
            tls_config=tls_from(s.get("tls_config") or {}),
            headers=tuple(sorted(headers.items())),
            html=_str(s, "html"),
            text=_str(s, "text"),
            send_resolved=bool(s["send_resolved"]),
        )
    d2 = PagerdutyConfig()
    details = dict(d2.details)
    details.update(
        {str(k): "" if v is None else str(v) for k, v in (s.get("details") or {}).items()}
    )
    client = _str(s, "client", d2.client)
    return PagerdutyConfig(
        routing_key=_str(s, "routing_key"),
        routing_key_file=_str(s, "routing_key_file"),
        service_key=_str(s, "service_key"),
        service_key_file=_str(s, "service_key_file"),
        url=_str(s, "url", d2.url),
        send_resolved=bool(s["send_resolved"]),
        client=client,
        client_url=_str(s, "client_url", d2.client_url),
        description=_str(s, "description", d2.description),
        severity=_str(s, "severity", d2.severity),
        class_=_str(s, "class"),
        component=_str(s, "component"),
        group=_str(s, "group"),
        source=_str(s, "source", client),
        details=tuple(sorted(details.items())),
        images=tuple(
            PagerdutyImage(_str(i, "src"), _str(i, "alt"), _str(i, "href"))
            for i in s.get("images") or []
            if isinstance(i, dict)
        ),
        links=tuple(
            PagerdutyLink(_str(lk, "href"), _str(lk, "text"))
            for lk in s.get("links") or []
            if isinstance(lk, dict)
        ),
        timeout=float(s.get("timeout", 0.0)),
        http_config=http,
    )


def _bool_or_none(v: Any) -> bool | None:
    if v is None:
        return None
    return str(v).lower() in ("true", "yes", "on", "y")
