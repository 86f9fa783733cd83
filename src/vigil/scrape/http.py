"""Fetching one target's exposition over HTTP, bounded in time and size.

Each target gets an :class:`HttpScraper` with its own
:class:`httpx.AsyncClient` (see :func:`client_factory`), which sends Prometheus's headers (``Accept`` with the
formats Vigil reads, ``Accept-Encoding: gzip``,
``X-Prometheus-Scrape-Timeout-Seconds``), adds auth headers per request
(credential files are re-read each scrape, as Prometheus does) and reads the
body as a stream: ``body_size_limit`` bounds the *uncompressed* size and is
enforced while reading, so a huge or gzip-bomb body never lands in memory.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from vigil import __version__
from vigil.config.types import ScrapeConfig, Secret, TLSConfig
from vigil.textparse import SCRAPE_ACCEPT

__all__ = [
    "USER_AGENT",
    "BodySizeLimitError",
    "HttpScraper",
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

USER_AGENT = f"Vigil/{__version__}"


class ScrapeError(Exception):
    """A scrape that produced no body: connection, HTTP status, timeout, size."""


class BodySizeLimitError(ScrapeError):
    """The (uncompressed) body was larger than ``body_size_limit``."""


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


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def ssl_context(
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    insecure_skip_verify: bool = False,
) -> ssl.SSLContext:
    """A client TLS context: the system CAs (or ``ca_file``), an optional client certificate."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    if insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


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


def client_factory(sc: ScrapeConfig) -> Callable[[], httpx.AsyncClient]:
    """Clients for the targets of a scrape config: TLS, redirects and proxy from it.

    Each target gets its own client (httpcore scans every pooled connection on
    each request, so one client shared by hundreds of targets costs O(targets)
    per scrape); they share one SSL context, built here once (loading CA files
    per client would cost milliseconds and memory each). Raises ``OSError`` or
    ``ValueError`` for TLS files or values that cannot be used.
    """
    ctx = ssl_context_from_config(sc.tls_config)
    follow, proxy = sc.follow_redirects, sc.proxy_url
    return lambda: new_client(verify=ctx, follow_redirects=follow, proxy=proxy)


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


def new_client(
    *,
    verify: ssl.SSLContext | bool = True,
    follow_redirects: bool = True,
    max_connections: int | None = None,
    proxy: str | None = None,
) -> httpx.AsyncClient:
    """A client for scraping: connections kept alive (a target is scraped every
    interval); ``trust_env`` off, so proxy variables of the server's environment
    do not silently reroute scrapes."""
    return httpx.AsyncClient(
        verify=verify,
        follow_redirects=follow_redirects,
        trust_env=False,
        proxy=proxy,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=None),
        headers={"User-Agent": USER_AGENT},
    )


class HttpScraper:
    """Scrapes one URL; ``auth`` returns extra headers per request (or raises ``OSError``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
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
        self._extensions = {"sni_hostname": server_name} if server_name else None
        self.last_size = 0  # bytes of the last successful body, to size the next read

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
                return await self._fetch(headers)
        except TimeoutError:
            raise ScrapeError(f"scrape timed out after {self.timeout_s:g}s") from None
        except httpx.TimeoutException:
            raise ScrapeError(f"scrape timed out after {self.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise ScrapeError(_describe(exc)) from None
        except ssl.SSLError as exc:
            raise ScrapeError(f"TLS error: {exc}") from None

    async def _fetch(self, headers: Mapping[str, str]) -> ScrapeResponse:
        request = self._client.build_request(
            "GET",
            self._url,
            headers=headers,
            timeout=self.timeout_s,
            extensions=self._extensions,
        )
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise ScrapeError(
                    f"server returned HTTP status {response.status_code} {response.reason_phrase}"
                )
            encoding = response.headers.get("content-encoding", "").strip().lower()
            limit = self.body_size_limit
            if encoding == "gzip":
                body = await _read_gzip(response, limit)
            elif encoding in ("", "identity"):
                body = await _read_plain(response, limit)
            else:
                raise ScrapeError(f"unsupported Content-Encoding {encoding!r}")
        finally:
            await response.aclose()
        if body:
            self.last_size = len(body)
        return ScrapeResponse(body, response.headers.get("content-type"))


def _too_big(limit: int) -> BodySizeLimitError:
    return BodySizeLimitError(f"body size limit exceeded: the body is larger than {limit} bytes")


async def _read_plain(response: httpx.Response, limit: int) -> bytes:
    length = response.headers.get("content-length")
    if limit and length and length.isdigit() and int(length) > limit:
        raise _too_big(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if limit and size > limit:
            raise _too_big(limit)
        parts.append(chunk)
    return b"".join(parts)


async def _read_gzip(response: httpx.Response, limit: int) -> bytes:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            data = chunk
            while data and not d.eof:
                # max_length bounds what one call may allocate: a gzip bomb stops
                # at limit + 1 bytes of output.
                out = d.decompress(data, limit - size + 1 if limit else 0)
                size += len(out)
                if limit and size > limit:
                    raise _too_big(limit)
                parts.append(out)
                data = d.unconsumed_tail
        if not d.eof:
            raise ScrapeError("truncated gzip body")
    except zlib.error as exc:
        raise ScrapeError(f"invalid gzip body: {exc}") from None
    return b"".join(parts)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {text}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"reading the response failed: {text}"
    return text
