"""The e-mail integration against a real SMTP server (aiosmtpd) with STARTTLS and AUTH."""

from __future__ import annotations

import email
import email.policy
import ssl
from email.message import EmailMessage

import pytest

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.notify.receivers import DeliveryError, EmailIntegration
from vigil.notify.receivers.config import EmailConfig, TLSConfig
from vigil.notify.templates import TemplateSet

from ._servers import free_port, smtp_server
from .conftest import T0, context, firing, resolved

pytestmark = pytest.mark.anyio

TEXT = '{{ template "__text_alert_list" .Alerts }}'


def _config(port: int, ca_file: str = "", **kw: object) -> EmailConfig:
    values: dict[str, object] = {
        "to": "ops@example.com, Oncall <oncall@example.com>",
        "from_": "Vigil <vigil@example.com>",
        "smarthost_host": "127.0.0.1",
        "smarthost_port": port,
        "auth_username": "alice",
        "auth_password": "wonderland",
        "tls_config": TLSConfig(ca_file=ca_file),
        "text": TEXT,
    }
    values.update(kw)
    return EmailConfig(**values)  # type: ignore[arg-type]


def _parse(content: bytes) -> EmailMessage:
    msg = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _parts(msg: EmailMessage) -> dict[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    out: dict[str, str] = {}
    for part in msg.iter_parts():
        assert isinstance(part, EmailMessage)
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        out[part.get_content_type()] = part.get_content().replace("\r\n", "\n")  # CRLF on the wire
    return out


async def test_starttls_auth_and_message(
    templates: TemplateSet, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    with smtp_server(tls=server_tls, users={"alice": "wonderland"}) as srv:
        mail = EmailIntegration(_config(srv.port, ca_file), templates)
        await mail.notify(context(), [firing(), resolved()])
    (got,) = srv.inbox
    assert got.tls is True
    assert got.login == "alice"
    assert srv.auth_attempts == [("LOGIN", "alice")]  # the first mechanism the server lists
    assert got.mail_from == "vigil@example.com"
    assert got.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    msg = _parse(got.content)
    assert msg["Subject"] == "[FIRING:1] HighLatency (api critical)"
    assert msg["To"] == "ops@example.com, Oncall <oncall@example.com>"
    assert msg["From"] == "Vigil <vigil@example.com>"
    assert msg["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert msg["MIME-Version"] == "1.0"
    parts = _parts(msg)
    assert list(parts) == ["text/plain", "text/html"]  # HTML, the preferred one, last
    assert parts["text/plain"] == (
        "Labels:\n - alertname = HighLatency\n - instance = 10.0.0.1:9090\n"
        " - service = api\n - severity = critical\nAnnotations:\n - summary = p99 > 1s\n"
        "Source: http://prom:9090/graph?g0.expr=x\n"
        "Labels:\n - alertname = HighLatency\n - instance = 10.0.0.2:9090\n"
        " - service = api\n - severity = critical\nAnnotations:\n"
        " - runbook = https://runbooks/latency\n - summary = p99 > 1s\nSource: \n"
    )
    html = parts["text/html"]
    assert "<title>[FIRING:1] HighLatency (api critical)</title>" in html
    assert "[1] Firing" in html
    assert "[1] Resolved" in html
    assert 'href="http://am.example:9093/#/alerts?receiver=team-api"' in html
    assert 'href="http://prom:9090/graph?g0.expr=x"' in html


async def test_auth_plain_with_identity(
    templates: TemplateSet, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    with smtp_server(tls=server_tls, users={"alice": "wonderland"}, exclude_auth=["LOGIN"]) as srv:
        config = _config(srv.port, ca_file, auth_identity="")
        await EmailIntegration(config, templates).notify(context(), [firing()])
    assert srv.auth_attempts == [("PLAIN", "alice")]
    assert len(srv.inbox) == 1


async def test_label_markup_is_escaped_in_html(
    templates: TemplateSet, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    evil = Alert(
        Labels(alertname="Injected", payload='<script>alert("x")</script>'),
        {"description": "<a href='javascript:alert(1)'>click</a>"},
        starts_at=T0 - 5,
        generator_url="javascript:alert(1)",
    )
    with smtp_server(tls=server_tls, users={"alice": "wonderland"}) as srv:
        config = _config(
            srv.port,
            ca_file,
            # a user HTML template that prints values without escaping them itself
            html='{{ template "email.default.html" . }}<p>{{ .CommonAnnotations.description }}</p>',
        )
        await EmailIntegration(config, templates).notify(
            context(group_labels=Labels(alertname="Injected")), [evil]
        )
    parts = _parts(_parse(srv.inbox[0].content))
    html = parts["text/html"]
    assert "<script>" not in html
    assert "<a href='javascript" not in html
    assert "javascript:alert(1)" not in html.replace("&#x27;javascript:alert(1)&#x27;", "")
    assert "payload = &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>" in html
    assert "<p>&lt;a href=&#x27;javascript:alert(1)&#x27;&gt;click&lt;/a&gt;</p>" in html
    # the text part is plain text: no escaping there
    assert 'payload = <script>alert("x")</script>' in parts["text/plain"]


async def test_headers_are_templated_and_single_line(templates: TemplateSet) -> None:
    alert = Alert(
        Labels(alertname="Überlast", note="a\r\nBcc: victim@example.com"), starts_at=T0 - 5
    )
    with smtp_server() as srv:
        config = _config(
            srv.port,
            require_tls=False,
            auth_username="",
            headers=(
                ("Subject", "{{ .CommonLabels.alertname }} {{ .CommonLabels.note }}"),
                ("X-Vigil-Receiver", "{{ .Receiver }}"),
            ),
        )
        await EmailIntegration(config, templates).notify(
            context(group_labels=Labels(alertname="Überlast")), [alert]
        )
    (got,) = srv.inbox
    assert got.tls is False
    assert got.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    msg = _parse(got.content)
    assert msg["Subject"] == "Überlast a Bcc: victim@example.com"
    assert msg["Bcc"] is None
    assert msg["X-Vigil-Receiver"] == "team-api"
    assert b"=?utf-8?" in got.content.split(b"\r\n\r\n", 1)[0]  # RFC 2047 encoded


async def test_require_tls_without_starttls_fails(templates: TemplateSet) -> None:
    with smtp_server() as srv:
        mail = EmailIntegration(_config(srv.port), templates)
        with pytest.raises(DeliveryError, match="does not advertise the STARTTLS") as info:
            await mail.notify(context(), [firing()])
    assert info.value.retry is True
    assert srv.inbox == []


async def test_wrong_password_fails(
    templates: TemplateSet, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    with smtp_server(tls=server_tls, users={"alice": "other"}) as srv:
        mail = EmailIntegration(_config(srv.port, ca_file), templates)
        with pytest.raises(DeliveryError, match="535") as info:
            await mail.notify(context(), [firing()])
    assert info.value.retry is True
    assert srv.inbox == []


async def test_untrusted_certificate_fails(
    templates: TemplateSet, server_tls: ssl.SSLContext
) -> None:
    with smtp_server(tls=server_tls, users={"alice": "wonderland"}) as srv:
        mail = EmailIntegration(_config(srv.port), templates)  # system CAs only
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            await mail.notify(context(), [firing()])
        insecure = _config(srv.port, tls_config=TLSConfig(insecure_skip_verify=True))
        await EmailIntegration(insecure, templates).notify(context(), [firing()])
    assert len(srv.inbox) == 1


async def test_bad_addresses_and_unreachable_server(templates: TemplateSet) -> None:
    mail = EmailIntegration(_config(free_port(), from_="a@x, b@y"), templates)
    with pytest.raises(DeliveryError, match="exactly one address") as info:
        await mail.notify(context(), [firing()])
    assert info.value.retry is False
    mail = EmailIntegration(_config(free_port()), templates)
    with pytest.raises(DeliveryError, match=r"connecting to 127\.0\.0\.1") as info:
        await mail.notify(context(), [firing()])
    assert info.value.retry is True
