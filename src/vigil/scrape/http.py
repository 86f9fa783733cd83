"""Fetching one target's exposition over HTTP, bounded in time and size.

Each target gets an :class:`HttpScraper` with its own
:class:`~vigil.scrape.client.ScrapeClient` (see :func:`client_factory`; a
lean HTTP/1.1 client keeping the connection alive between scrapes). It sends
Prometheus's headers (``Accept`` with the formats Vigil reads,
``Accept-Encoding: gzip``, ``X-Prometheus-Scrape-Timeout-Seconds``), adds auth
headers per request (credential files are re-read each scrape, as Prometheus
does) and bounds each scrape by its timeout. ``body_size_limit`` bounds the
*uncompressed* size and is enforced while reading, so a huge or gzip-bomb
body never lands in memory.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from vigil.config.types import ScrapeConfig, Secret, TLSConfig
from vigil.scrape.client import (
    USER_AGENT,
    BodySizeLimitError,
    ScrapeClient,
    ScrapeError,
    basic_auth_header,
    new_client,
    parse_proxy,
    ssl_context,
)
from vigil.textparse import SCRAPE_ACCEPT

__all__ = [
    "USER_AGENT",
    "BodySizeLimitError",
    "HttpScraper",
    "ScrapeClient",
    "ScrapeError",
    "ScrapeResponse",
    "Scraper",
    "auth_from_config",
    "basic_auth_header",
    "client_factory",
    "new_client",
    "ssl_context",
    "ssl_context_from_config",
]


@dataclass(frozen=True, slots=True)
class ScrapeResponse:
    body: bytes
    content_type: str | None


class Scraper(Protocol):
    """What a scrape loop needs from its target: one body per call."""

    @property
    def url(self) -> str: ...

    async def scrape(self) -> ScrapeResponse:
        """The response body, or :class:`ScrapeError` saying why there is none."""
        ...

    async def aclose(self) -> None:
        """Release connections; the loop calls it when it stops."""
        ...


_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def ssl_context_from_config(tls: TLSConfig) -> ssl.SSLContext:
    """The TLS context of a ``tls_config`` (``ValueError``/``OSError`` for bad files or values).

    Inline ``cert``/``key`` are not supported yet (files are): Python's ssl
    module loads a client certificate from files only.
    """
    if tls.cert or tls.key:
        raise ValueError(
            "tls_config: inline 'cert'/'key' are not supported, use cert_file/key_file"
        )
    ctx = ssl_context(
        ca_file=tls.ca_file,
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        insecure_skip_verify=tls.insecure_skip_verify,
    )
    if tls.ca:
        ctx.load_verify_locations(cadata=tls.ca)
    if tls.min_version:
        version = _TLS_VERSIONS.get(tls.min_version.upper())
        if version is None:
            raise ValueError(f"tls_config: unknown min_version {tls.min_version!r}")
        ctx.minimum_version = version
    return ctx


def client_factory(sc: ScrapeConfig) -> Callable[[], ScrapeClient]:
    """Clients for the targets of a scrape config: TLS, redirects and proxy from it.

    Each target gets its own client (its own keep-alive connection); they share
    one SSL context, built here once (loading CA files per client would cost
    milliseconds and memory each). Raises ``OSError`` or ``ValueError`` for TLS
    files or values that cannot be used, or a proxy URL that is not http(s).
    """
    ctx = ssl_context_from_config(sc.tls_config)
    follow, proxy = sc.follow_redirects, sc.proxy_url
    if proxy:
        parse_proxy(proxy)  # fail at load time, not at every scrape
    return lambda: ScrapeClient(verify=ctx, follow_redirects=follow, proxy=proxy)


def _read_secret_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def _reveal(secret: Secret | None) -> str:
    return secret.reveal() if secret is not None else ""


def auth_from_config(sc: ScrapeConfig) -> Callable[[], dict[str, str]] | None:
    """Extra request headers for ``basic_auth``/``authorization``/``bearer_token``.

    Files are read at every scrape (rotated credentials work without a reload);
    an unreadable file is an ``OSError`` the scraper reports as the scrape error.
    """
    ba = sc.basic_auth
    if ba is not None:

        def basic() -> dict[str, str]:
            user = _read_secret_file(ba.username_file) if ba.username_file else ba.username
            pw = _read_secret_file(ba.password_file) if ba.password_file else _reveal(ba.password)
            return {"Authorization": basic_auth_header(user, pw)}

        return basic
    az = sc.authorization
    if az is None and (sc.bearer_token is not None or sc.bearer_token_file):
        from vigil.config.types import Authorization

        az = Authorization("Bearer", sc.bearer_token, sc.bearer_token_file)
    if az is not None:
        kind = az.type or "Bearer"
        creds_file = az.credentials_file
        creds = _reveal(az.credentials)

        def authorization() -> dict[str, str]:
            value = _read_secret_file(creds_file) if creds_file else creds
            return {"Authorization": f"{kind} {value}"}

        return authorization
    return None


class HttpScraper:
    """Scrapes one URL; ``auth`` returns extra headers per request (or raises ``OSError``)."""

    def __init__(
        self,
        client: ScrapeClient,
        url: str,
        *,
        timeout_s: float,
        body_size_limit: int = 0,
        auth: Callable[[], Mapping[str, str]] | None = None,
        server_name: str | None = None,
        compression: bool = True,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._url = url
        self.timeout_s = timeout_s
        self.body_size_limit = body_size_limit
        self._auth = auth
        self._headers = {
            "Accept": SCRAPE_ACCEPT,
            "Accept-Encoding": "gzip" if compression else "identity",
            "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout_s:g}",
        }
        self._server_name = server_name
        self.last_size = 0  # bytes of the last successful body

    @property
    def url(self) -> str:
        return self._url

    async def aclose(self) -> None:
        """Close the client if this scraper owns it."""
        if self._owns_client:
            await self._client.aclose()

    async def scrape(self) -> ScrapeResponse:
        headers = self._headers
        if self._auth is not None:
            try:
                headers = {**headers, **self._auth()}
            except OSError as exc:
                raise ScrapeError(f"reading credentials: {exc}") from None
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._client.get(
                    self._url,
                    headers,
                    body_limit=self.body_size_limit,
                    server_name=self._server_name,
                )
        except TimeoutError:
            raise ScrapeError(f"scrape timed out after {self.timeout_s:g}s") from None
        except ssl.SSLError as exc:
            raise ScrapeError(f"TLS error: {exc}") from None
        if response.status != 200:
            raise ScrapeError(f"server returned HTTP status {response.status} {response.reason}")
        body = response.body
        if body:
            self.last_size = len(body)
        return ScrapeResponse(body, response.headers.get("content-type"))
