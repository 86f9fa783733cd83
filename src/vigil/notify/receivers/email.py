"""The e-mail integration: SMTP (STARTTLS, AUTH), a multipart text + HTML message.

Sending uses the standard library's :mod:`smtplib` in a worker thread. The
session follows Alertmanager's: implicit TLS on port 465; otherwise
``require_tls`` (the default) insists on STARTTLS; AUTH when the server offers
it and ``auth_username`` is set, with the first mechanism the server lists
among CRAM-MD5, PLAIN and LOGIN. Like Go's ``smtp.PlainAuth``, credentials
are only sent over TLS or to a loopback server.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, getaddresses

from vigil.model.alert import Alert
from vigil.notify.receivers._common import Renderer
from vigil.notify.receivers._http import DEFAULT_TIMEOUT, read_secret, tls_context
from vigil.notify.receivers.base import DeliveryError, NotificationContext
from vigil.notify.receivers.config import EmailConfig
from vigil.notify.templates import TemplateSet

__all__ = ["EmailIntegration", "EmailMessageParts"]

DEFAULT_SUBJECT = '{{ template "email.default.subject" . }}'
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class EmailMessageParts:
    """A rendered message: envelope sender, recipients, and the bytes sent after DATA."""

    __slots__ = ("body", "recipients", "sender")

    def __init__(self, sender: str, recipients: list[str], body: bytes) -> None:
        self.sender = sender
        self.recipients = recipients
        self.body = body


def _one_line(value: str) -> str:
    """Header values are single lines: a CR or LF in a label must not start a new header."""
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


class EmailIntegration:
    """One ``email_configs`` entry."""

    name = "email"

    def __init__(
        self,
        config: EmailConfig,
        templates: TemplateSet,
        *,
        index: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.config = config
        self.templates = templates
        self._index = index
        self._timeout = timeout
        self._what = f"email[{index}]"
        self._tls: ssl.SSLContext | None = None  # built at the first send, then reused

    @property
    def index(self) -> int:
        return self._index

    @property
    def send_resolved(self) -> bool:
        return self.config.send_resolved

    # -- the message ------------------------------------------------------------

    def headers(self) -> list[tuple[str, str]]:
        """The configured headers, with Subject, To and From defaulted as Alertmanager does."""
        c = self.config
        headers = list(c.headers)
        present = {name.lower() for name, _ in headers}
        for name, default in (("Subject", DEFAULT_SUBJECT), ("To", c.to), ("From", c.from_)):
            if name.lower() not in present:
                headers.append((name, default))
        return headers

    def message(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> EmailMessageParts:
        """Render the message for ``alerts`` (raises a non-retryable DeliveryError on bad config)."""
        c = self.config
        what = self._what
        text = Renderer(self.templates, ctx, alerts, what=what)
        html = Renderer(self.templates, ctx, alerts, what=what, html=True)
        sender_text = text(c.from_, "from")
        to_text = text(c.to, "to")
        senders = [addr for _, addr in getaddresses([sender_text]) if addr]
        if len(senders) != 1:
            raise DeliveryError(
                f"{what}: from: must be exactly one address, got {sender_text!r}", retry=False
            )
        recipients = [addr for _, addr in getaddresses([to_text]) if addr]
        if not recipients:
            raise DeliveryError(f"{what}: to: no address in {to_text!r}", retry=False)

        msg = EmailMessage(policy=SMTP_POLICY)
        for name, template in self.headers():
            value = _one_line(text(template, f"headers.{name}"))
            try:
                msg[name] = value
            except (ValueError, TypeError) as exc:
                raise DeliveryError(f"{what}: header {name}: {exc}", retry=False) from exc
        msg["Date"] = format_datetime(datetime.fromtimestamp(ctx.now, UTC))
        plain = text(c.text, "text") if c.text else ""
        body_html = html(c.html, "html") if c.html else ""
        if c.text:
            msg.set_content(plain, subtype="plain", charset="utf-8", cte="quoted-printable")
            if c.html:
                msg.add_alternative(
                    body_html, subtype="html", charset="utf-8", cte="quoted-printable"
                )
        elif c.html:
            msg.set_content(body_html, subtype="html", charset="utf-8", cte="quoted-printable")
        if not msg.is_multipart():
            msg.make_alternative()  # a one-part multipart/alternative, as Alertmanager sends
        return EmailMessageParts(senders[0], recipients, msg.as_bytes())

    # -- sending ----------------------------------------------------------------

    async def notify(self, ctx: NotificationContext, alerts: Sequence[Alert]) -> None:
        parts = self.message(ctx, alerts)
        await asyncio.to_thread(self.send, parts)

    def send(self, parts: EmailMessageParts) -> None:
        """One SMTP session delivering ``parts`` (blocking; :meth:`notify` runs it in a thread)."""
        c = self.config
        what = self._what
        host, port = c.smarthost_host, c.smarthost_port
        if not host or not port:
            raise DeliveryError(f"{what}: smarthost is not configured", retry=False)
        where = f"{host}:{port}"
        context = self._tls
        if context is None:
            try:
                context = self._tls = tls_context(c.tls_config)
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"{what}: tls_config: {exc}", retry=False) from exc
        server_name = c.tls_config.server_name or host
        try:
            smtp = self._connect(host, port, context, server_name)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{what}: connecting to {where}: {exc}", retry=True) from exc
        try:
            with smtp:
                self._session(smtp, parts, context, server_name, tls=port == 465, where=where)
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            message = error.decode("utf-8", "replace") if isinstance(error, bytes) else error
            raise DeliveryError(f"{what}: {where}: {exc.smtp_code} {message}", retry=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"{what}: {where}: recipients refused: {sorted(exc.recipients)}", retry=True
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{what}: {where}: {exc}", retry=True) from exc

    def _connect(
        self, host: str, port: int, context: ssl.SSLContext, server_name: str
    ) -> smtplib.SMTP:
        local = self.config.hello or None
        if port != 465:
            smtp = smtplib.SMTP(host, port, local_hostname=local, timeout=self._timeout)
            # STARTTLS checks the certificate against this name.
            smtp._host = server_name  # type: ignore[attr-defined]
            return smtp
        raw = socket.create_connection((host, port), timeout=self._timeout)
        try:
            sock = context.wrap_socket(raw, server_hostname=server_name)
        except BaseException:
            raw.close()
            raise
        smtp = smtplib.SMTP(local_hostname=local, timeout=self._timeout)
        smtp.sock = sock
        code, msg = smtp.getreply()
        if code != 220:
            smtp.close()
            raise smtplib.SMTPConnectError(code, msg)
        return smtp

    def _session(
        self,
        smtp: smtplib.SMTP,
        parts: EmailMessageParts,
        context: ssl.SSLContext,
        server_name: str,
        *,
        tls: bool,
        where: str,
    ) -> None:
        c = self.config
        smtp.ehlo(c.hello or None)  # type: ignore[arg-type]
        if c.require_tls and not tls:
            if not smtp.has_extn("starttls"):
                raise DeliveryError(
                    f"{self._what}: require_tls: true (default), but {where} does not "
                    "advertise the STARTTLS extension",
                    retry=True,
                )
            smtp.starttls(context=context)
            smtp.ehlo(c.hello or None)  # type: ignore[arg-type]
            tls = True
        if smtp.has_extn("auth") and c.auth_username:
            self._auth(smtp, smtp.esmtp_features.get("auth", ""), tls=tls, host=server_name)
        smtp.sendmail(parts.sender, parts.recipients, parts.body)

    def _auth(self, smtp: smtplib.SMTP, mechanisms: str, *, tls: bool, host: str) -> None:
        c = self.config
        what = self._what
        problems: list[str] = []
        for mech in mechanisms.upper().split():
            if mech == "CRAM-MD5":
                if not c.auth_secret:
                    problems.append("missing secret for CRAM-MD5 auth mechanism")
                    continue
                smtp.user, smtp.password = c.auth_username, c.auth_secret
                smtp.auth("CRAM-MD5", smtp.auth_cram_md5)
                return
            if mech in ("PLAIN", "LOGIN"):
                password = read_secret(c.auth_password, c.auth_password_file, "auth_password")
                if not password:
                    problems.append(f"missing password for {mech} auth mechanism")
                    continue
                if not tls and host not in _LOOPBACK:
                    raise DeliveryError(
                        f"{what}: refusing to send {mech} credentials over an unencrypted "
                        "connection (enable require_tls)",
                        retry=False,
                    )
                smtp.user, smtp.password = c.auth_username, password
                if mech == "PLAIN":
                    smtp.auth("PLAIN", _Plain(c.auth_identity, c.auth_username, password))
                else:
                    smtp.auth("LOGIN", smtp.auth_login)
                return
        if not problems:
            problems.append(f"unknown auth mechanism: {mechanisms}")
        raise DeliveryError(f"{what}: {'; '.join(problems)}", retry=True)


class _Plain:
    """AUTH PLAIN's response, with the authorization identity (which smtplib's lacks)."""

    def __init__(self, identity: str, username: str, password: str) -> None:
        self._response = f"{identity}\0{username}\0{password}"

    def __call__(self, challenge: bytes | None = None, /) -> str:
        return self._response
