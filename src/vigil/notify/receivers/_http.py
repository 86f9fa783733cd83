"""HTTP delivery shared by the webhook, Slack and PagerDuty integrations.

One POST, classified the way Alertmanager's ``notify.Retrier`` does: 2xx is
success, 5xx (and the integration's extra retry codes, such as 429) may
succeed later, every other status cannot. Connection errors and timeouts are
retryable. Redirects are followed only to the same scheme, host and port, and
only when they keep the method (307/308): a notification never carries its
credentials or payload to another host.

Clients are built once per integration and reused (:class:`ClientCache`), as
Alertmanager keeps one ``http.Client`` per integration: building one costs a
TLS context with the system CA bundle (tens of ms), so the default client
builds its TLS side only when an ``https://`` request (or a proxy) needs it.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Generic, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from vigil.notify.receivers.base import DeliveryError
from vigil.notify.receivers.config import HTTPClientConfig, TLSConfig
from vigil.notify.templates import TemplateSet

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "ClientCache",
    "HTTPClientFactory",
    "HTTPIntegration",
    "auth_headers",
    "check_status",
    "failure_reason",
    "new_http_client",
    "post",
    "read_secret",
    "redact_url",
    "tls_context",
]

DEFAULT_TIMEOUT = 10.0
"""Seconds for one delivery attempt when the integration's config says nothing."""

MAX_REDIRECTS = 5
MAX_ERROR_BODY = 1024
"""Bytes of a failed response's body quoted in the error message."""


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"Vigil/{version('vigil')}"
    except Exception:  # pragma: no cover - not installed as a distribution
        return "Vigil"


USER_AGENT = _user_agent()

HTTPClientFactory = Callable[[HTTPClientConfig, float], httpx.AsyncClient]
"""Builds the client for one delivery: ``(http_config, timeout_seconds) -> AsyncClient``."""

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def tls_context(tls: TLSConfig) -> ssl.SSLContext:
    """A client TLS context for ``tls_config`` (system CAs unless ``ca_file``)."""
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.min_version:
        version = _TLS_VERSIONS.get(tls.min_version.upper())
        if version is None:
            raise ValueError(f"tls_config: unknown min_version {tls.min_version!r}")
        ctx.minimum_version = version
    return ctx


class _LazyTLSTransport(httpx.AsyncBaseTransport):
    """The transport for ``https://``: its TLS context is built at the first request.

    A TLS setting that cannot be used (a missing ``ca_file``, an unknown
    ``min_version``) fails that request with a non-retryable :class:`DeliveryError`.
    """

    def __init__(self, config: HTTPClientConfig) -> None:
        self._config = config
        self._transport: httpx.AsyncHTTPTransport | None = None

    def _get(self) -> httpx.AsyncHTTPTransport:
        if self._transport is None:
            try:
                ctx = tls_context(self._config.tls_config)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise DeliveryError(f"tls_config: {exc}", retry=False, reason="other") from exc
            self._transport = httpx.AsyncHTTPTransport(
                verify=ctx, proxy=self._config.proxy_url or None, trust_env=False
            )
        return self._transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._get().handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def new_http_client(config: HTTPClientConfig, timeout: float) -> httpx.AsyncClient:
    """The default :data:`HTTPClientFactory`: TLS from the config, no environment proxies.

    Redirects are handled by :func:`post`, so the client never follows them itself.
    Plain ``http://`` requests without a proxy never build a TLS context.
    """
    tls = _LazyTLSTransport(config)
    # Without a proxy, the default transport only ever carries http:// requests (https://
    # is mounted on ``tls``): no certificate is involved, no CA bundle needs loading. A
    # proxy may itself speak TLS: then one transport serves both, built on first use.
    plain: httpx.AsyncBaseTransport = (
        tls if config.proxy_url else httpx.AsyncHTTPTransport(verify=False, trust_env=False)
    )
    return httpx.AsyncClient(
        transport=plain,
        mounts={"https://": tls},
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )


class ClientCache:
    """An integration's reusable clients, one per ``(http_config, timeout)``.

    A client belongs to the event loop it was first used on (its connections
    do); used from another loop, a new one is built. :meth:`aclose` closes them
    all (the notifier calls it when it stops or replaces the integration).
    """

    __slots__ = ("_clients", "_factory")

    def __init__(self, factory: HTTPClientFactory = new_http_client) -> None:
        self._factory = factory
        self._clients: dict[
            tuple[HTTPClientConfig, float], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]
        ] = {}

    def get(self, config: HTTPClientConfig, timeout: float) -> httpx.AsyncClient:
        """The client for ``config`` and ``timeout`` on the running loop (built on first use)."""
        loop = asyncio.get_running_loop()
        key = (config, timeout)
        entry = self._clients.get(key)
        if entry is not None and entry[0] is loop and not entry[1].is_closed:
            return entry[1]
        client = self._factory(config, timeout)
        self._clients[key] = (loop, client)
        return client

    async def aclose(self) -> None:
        """Close the clients of the running loop; forget those of other (finished) loops."""
        clients, self._clients = list(self._clients.values()), {}
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, client in clients:
            if loop is running and not client.is_closed:
                await client.aclose()

    def __len__(self) -> int:
        return len(self._clients)


def read_secret(value: str, path: str, what: str) -> str:
    """``value``, or the trimmed contents of the file ``path`` (as Alertmanager's ``*_file``)."""
    if value or not path:
        return value
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise DeliveryError(
            f"reading {what} from {path}: {exc.strerror}", retry=False, reason="other"
        ) from exc


def auth_headers(config: HTTPClientConfig) -> dict[str, str]:
    headers: dict[str, str] = {}
    if config.basic_auth is not None:
        ba = config.basic_auth
        password = read_secret(ba.password, ba.password_file, "basic_auth password")
        token = base64.b64encode(f"{ba.username}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    credentials = read_secret(
        config.authorization_credentials,
        config.authorization_credentials_file,
        "authorization credentials",
    )
    if credentials:
        headers["Authorization"] = f"{config.authorization_type or 'Bearer'} {credentials}"
    return headers


def redact_url(url: str) -> str:
    """``scheme://host:port``: webhook URLs carry secrets in their path and query."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return "<url>"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/<redacted>"


def failure_reason(status: int) -> str:
    """Alertmanager's ``numNotificationRequestsFailedTotal`` reason for a status code."""
    if 400 <= status < 500:
        return "clientError"
    if 500 <= status < 600:
        return "serverError"
    return "other"


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    http_config: HTTPClientConfig,
    content_type: str = "application/json",
    what: str,
) -> httpx.Response:
    """POST ``body`` to ``url``; return the final response (its body read).

    Raises :class:`DeliveryError` (retryable) when the request cannot be made,
    and (not retryable) for a bad URL or a redirect this module refuses to follow.
    ``what`` names the integration in messages; URLs are redacted there.
    """
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DeliveryError(f"{what}: invalid URL: {exc}", retry=False) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise DeliveryError(f"{what}: invalid URL {redact_url(url)}", retry=False)
    headers = {"User-Agent": USER_AGENT, "Content-Type": content_type}
    headers.update(auth_headers(http_config))
    extensions: dict[str, object] = {}
    if http_config.tls_config.server_name:
        extensions["sni_hostname"] = http_config.tls_config.server_name
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = await client.post(
                target, content=body, headers=headers, extensions=extensions
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"{what}: timeout posting to {redact_url(url)}", retry=True, reason="other"
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"{what}: posting to {redact_url(url)}: {type(exc).__name__}: {exc}",
                retry=True,
                reason="other",
            ) from exc
        if response.status_code not in (307, 308) or not http_config.follow_redirects:
            return response
        location = response.headers.get("location", "")
        next_url = httpx.URL(urljoin(str(target), location))
        if _origin(next_url) != _origin(target):
            raise DeliveryError(
                f"{what}: refusing to follow a redirect from {redact_url(str(target))} "
                f"to another host ({next_url.host})",
                retry=False,
                reason="clientError",
            )
        target = next_url
    raise DeliveryError(f"{what}: too many redirects", retry=False, reason="other")


def check_status(
    response: httpx.Response,
    *,
    what: str,
    retry_codes: Collection[int] = (),
    details: Callable[[httpx.Response], str] | None = None,
) -> None:
    """Alertmanager's ``Retrier.Check``: return on 2xx, else raise a classified DeliveryError."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retry = 500 <= status < 600 or status in retry_codes
    message = f"{what}: unexpected status code {status}"
    extra = details(response) if details is not None else _body_excerpt(response)
    if extra:
        message += f": {extra}"
    raise DeliveryError(message, retry=retry, reason=failure_reason(status))


def _body_excerpt(response: httpx.Response) -> str:
    text = response.content[:MAX_ERROR_BODY].decode("utf-8", "replace").strip()
    return text


class _HTTPSettings(Protocol):
    """What :class:`HTTPIntegration` reads of an integration's config."""

    @property
    def send_resolved(self) -> bool: ...

    @property
    def http_config(self) -> HTTPClientConfig: ...


_C = TypeVar("_C", bound=_HTTPSettings)


class HTTPIntegration(Generic[_C]):
    """The part the webhook, Slack and PagerDuty integrations share: config, client, POST.

    A subclass sets ``name`` and implements ``notify``, POSTing with :meth:`post`.
    """

    name = "http"

    def __init__(
        self,
        config: _C,
        templates: TemplateSet,
        *,
        index: int = 0,
        http_client_factory: HTTPClientFactory = new_http_client,
    ) -> None:
        self.config = config
        self.templates = templates
        self._index = index
        self.clients = ClientCache(http_client_factory)
        """The HTTP client kept between notifications (closed by :meth:`aclose`)."""

    @property
    def index(self) -> int:
        return self._index

    @property
    def what(self) -> str:
        """``name[index]``: how errors and logs name this integration."""
        return f"{self.name}[{self._index}]"

    async def aclose(self) -> None:
        """Close the HTTP client kept between notifications."""
        await self.clients.aclose()

    @property
    def send_resolved(self) -> bool:
        return self.config.send_resolved

    async def post(self, url: str, body: bytes, *, timeout: float) -> httpx.Response:
        """POST ``body`` to ``url`` with the client kept for ``timeout`` (see :func:`post`)."""
        client = self.clients.get(self.config.http_config, timeout)
        return await post(client, url, body, http_config=self.config.http_config, what=self.what)
