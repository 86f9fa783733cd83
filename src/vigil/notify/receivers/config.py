"""Receiver settings as Alertmanager's configuration spells them, after global defaults are applied.

The config loader (``vigil.notify.config``) fills these from ``alertmanager.yml``;
the notifiers in this package read them. Template fields hold template text,
expanded per notification. Secrets are plain strings here; printing a config
shows them as ``<secret>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BasicAuth",
    "EmailConfig",
    "HTTPClientConfig",
    "LogConfig",
    "PagerdutyConfig",
    "PagerdutyImage",
    "PagerdutyLink",
    "ReceiverConfig",
    "SlackConfig",
    "SlackField",
    "TLSConfig",
    "WebhookConfig",
]


@dataclass(frozen=True, slots=True)
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str = ""
    password: str = ""
    password_file: str = ""


@dataclass(frozen=True, slots=True)
class HTTPClientConfig:
    basic_auth: BasicAuth | None = None
    authorization_type: str = ""  # "Bearer" when credentials are set without a type
    authorization_credentials: str = ""
    authorization_credentials_file: str = ""
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    proxy_url: str = ""
    follow_redirects: bool = True


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str = ""
    url_file: str = ""
    send_resolved: bool = True
    max_alerts: int = 0
    timeout: float = 0.0  # seconds; 0 means the notifier's default
    http_config: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(frozen=True, slots=True)
class SlackField:
    title: str
    value: str
    short: bool | None = None


@dataclass(frozen=True, slots=True)
class SlackConfig:
    api_url: str = ""
    api_url_file: str = ""
    send_resolved: bool = False
    channel: str = ""
    username: str = '{{ template "slack.default.username" . }}'
    color: str = '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'
    title: str = '{{ template "slack.default.title" . }}'
    title_link: str = '{{ template "slack.default.titlelink" . }}'
    pretext: str = '{{ template "slack.default.pretext" . }}'
    text: str = '{{ template "slack.default.text" . }}'
    footer: str = '{{ template "slack.default.footer" . }}'
    fallback: str = '{{ template "slack.default.fallback" . }}'
    callback_id: str = '{{ template "slack.default.callbackid" . }}'
    icon_emoji: str = '{{ template "slack.default.iconemoji" . }}'
    icon_url: str = '{{ template "slack.default.iconurl" . }}'
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    update_message: bool = False
    short_fields: bool = False
    mrkdwn_in: tuple[str, ...] = ("fallback", "pretext", "text")
    fields: tuple[SlackField, ...] = ()
    http_config: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(frozen=True, slots=True)
class EmailConfig:
    to: str = ""
    from_: str = ""
    smarthost_host: str = ""
    smarthost_port: int = 0
    hello: str = "localhost"
    auth_username: str = ""
    auth_password: str = ""
    auth_password_file: str = ""
    auth_secret: str = ""
    auth_identity: str = ""
    require_tls: bool = True
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    headers: tuple[tuple[str, str], ...] = ()  # Subject/To/From defaults are added by the loader
    html: str = '{{ template "email.default.html" . }}'
    text: str = ""
    send_resolved: bool = False


@dataclass(frozen=True, slots=True)
class PagerdutyImage:
    src: str = ""
    alt: str = ""
    href: str = ""


@dataclass(frozen=True, slots=True)
class PagerdutyLink:
    href: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class PagerdutyConfig:
    routing_key: str = ""  # Events API v2
    routing_key_file: str = ""
    service_key: str = ""  # Events API v1 (accepted, sent as v2 is not)
    service_key_file: str = ""
    url: str = "https://events.pagerduty.com/v2/enqueue"
    send_resolved: bool = True
    client: str = '{{ template "pagerduty.default.client" . }}'
    client_url: str = '{{ template "pagerduty.default.clientURL" . }}'
    description: str = '{{ template "pagerduty.default.description" .}}'
    severity: str = "error"
    class_: str = ""
    component: str = ""
    group: str = ""
    source: str = ""  # defaults to client when empty
    details: tuple[tuple[str, str], ...] = (
        ("firing", '{{ template "pagerduty.default.instances" .Alerts.Firing }}'),
        ("resolved", '{{ template "pagerduty.default.instances" .Alerts.Resolved }}'),
        ("num_firing", "{{ .Alerts.Firing | len }}"),
        ("num_resolved", "{{ .Alerts.Resolved | len }}"),
    )
    images: tuple[PagerdutyImage, ...] = ()
    links: tuple[PagerdutyLink, ...] = ()
    timeout: float = 0.0  # seconds; 0 means the notifier's default
    http_config: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(frozen=True, slots=True)
class LogConfig:
    """vigil's ``log_configs``: one structured log line per notification (logger ``vigil.notify``)."""

    send_resolved: bool = True
    level: str = "info"  # debug, info, warning, error


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """One named receiver. ``unsupported`` names integrations that load but vigil cannot send to
    (opsgenie, victorops, ...): the loader validates them, the notifier logs that it skips them."""

    name: str
    webhook_configs: tuple[WebhookConfig, ...] = ()
    slack_configs: tuple[SlackConfig, ...] = ()
    email_configs: tuple[EmailConfig, ...] = ()
    pagerduty_configs: tuple[PagerdutyConfig, ...] = ()
    log_configs: tuple[LogConfig, ...] = ()
    unsupported: tuple[str, ...] = ()
