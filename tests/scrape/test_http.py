"""The scrape HTTP client against real sockets: scripted asyncio servers on loopback
(framings, keep-alive, redirects, proxies, TLS) where ``http.server`` cannot misbehave
in the ways a target can."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trustme

from vigil.scrape.http import (
    BodySizeLimitError,
    HttpScraper,
    ScrapeClient,
    ScrapeError,
    new_client,
)

BODY = b"# TYPE a counter\na_total 1\nb 2\n"
OK_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"

Handler = Callable[[str, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Gets the request head; writes a response; returns whether to keep the connection."""


class Scripted:
    """An asyncio server that reads request heads and answers with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[str] = []
        self.connections = 0
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head.decode("latin-1"))
                if not await self.handler(head.decode("latin-1"), reader, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def drop_connections(self) -> None:
        for w in self._writers:
            w.close()

    def url(self, path: str = "/metrics", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def scripted(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Scripted]:
    s = Scripted(handler)
    server = await asyncio.start_server(s._serve, "127.0.0.1", 0, ssl=tls)
    s.port = server.sockets[0].getsockname()[1]
    try:
        yield s
    finally:
        s.drop_connections()
        server.close()
        await server.wait_closed()


def ok(body: bytes = BODY, extra: str = "") -> Handler:
    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        w.write(f"{OK_HEAD}Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
        return True

    return handler


def scraper(client: ScrapeClient, url: str, **kw: object) -> HttpScraper:
    return HttpScraper(client, url, timeout_s=kw.pop("timeout_s", 2.0), **kw)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_one_connection_is_kept_alive_between_scrapes() -> None:
    async with scripted(ok()) as srv:
        client = new_client()
        s = scraper(client, srv.url())
        try:
            for _ in range(3):
                r = await s.scrape()
                assert r.body == BODY
                assert r.content_type == "text/plain; version=0.0.4"
        finally:
            await client.aclose()
    assert srv.connections == 1
    assert client.connections_opened == 1
    first = srv.requests[0]
    assert first.startswith("GET /metrics HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{srv.port}\r\n" in first
    assert "X-Prometheus-Scrape-Timeout-Seconds: 2\r\n" in first


@pytest.mark.anyio
async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async with scripted(ok()) as srv:
        client = new_client()
        s = scraper(client, srv.url())
        try:
            assert (await s.scrape()).body == BODY
            srv.drop_connections()
            await asyncio.sleep(0.05)
            assert (await s.scrape()).body == BODY
        finally:
            await client.aclose()
    assert srv.connections == 2


@pytest.mark.anyio
async def test_connection_close_and_http_1_0_bodies_read_until_the_end() -> None:
    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        w.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + BODY)
        return False

    async with scripted(handler) as srv:
        client = new_client()
        try:
            for _ in range(2):
                assert (await scraper(client, srv.url()).scrape()).body == BODY
        finally:
            await client.aclose()
    assert srv.connections == 2  # no keep-alive after a body that ended with the connection


@pytest.mark.anyio
@pytest.mark.parametrize("compressed", [False, True])
async def test_chunked_bodies_with_extensions_and_trailers(compressed: bool) -> None:
    payload = gzip.compress(BODY * 50) if compressed else BODY * 50

    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        enc = "Content-Encoding: gzip\r\n" if compressed else ""
        w.write(f"{OK_HEAD}Transfer-Encoding: chunked\r\n{enc}\r\n".encode())
        for i in range(0, len(payload), 100):
            part = payload[i : i + 100]
            w.write(f"{len(part):X};ext=1\r\n".encode() + part + b"\r\n")
            await w.drain()
        w.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        return True

    async with scripted(handler) as srv:
        client = new_client()
        s = scraper(client, srv.url())
        try:
            assert (await s.scrape()).body == BODY * 50
            assert (await s.scrape()).body == BODY * 50  # the connection is reusable
        finally:
            await client.aclose()
    assert srv.connections == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("response", "words"),
    [
        (OK_HEAD + "Content-Length: 100\r\n\r\nshort", "closed the connection"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "closed the connection"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        ("HTCPCP/1.0 418 teapot\r\n\r\n", "malformed status line"),
        ("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line"),
        ("", "closed the connection"),
    ],
)
async def test_malformed_responses_are_scrape_errors(response: str, words: str) -> None:
    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        w.write(response.encode())
        return False

    async with scripted(handler) as srv:
        client = new_client()
        try:
            with pytest.raises(ScrapeError, match=words):
                await scraper(client, srv.url()).scrape()
        finally:
            await client.aclose()


@pytest.mark.anyio
async def test_informational_responses_are_skipped_and_status_errors_reported() -> None:
    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        if "/teapot" in head:
            w.write(b"HTTP/1.1 418 \r\nContent-Length: 0\r\n\r\n")
            return True
        w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        w.write(f"{OK_HEAD}Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
        return True

    async with scripted(handler) as srv:
        client = new_client()
        try:
            assert (await scraper(client, srv.url()).scrape()).body == BODY
            with pytest.raises(
                ScrapeError, match=r"^server returned HTTP status 418 I'm a Teapot$"
            ):
                await scraper(client, srv.url("/teapot")).scrape()
            assert (await scraper(client, srv.url()).scrape()).body == BODY
        finally:
            await client.aclose()


@pytest.mark.anyio
async def test_body_size_limit_before_and_while_reading() -> None:
    big = b"x 1\n" * 10_000

    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        if "/gz" in head:
            data = gzip.compress(big)
            w.write(
                f"{OK_HEAD}Content-Encoding: gzip\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            )
            w.write(data)
        elif "/chunked" in head:
            w.write(f"{OK_HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
            w.write(f"{len(big):x}\r\n".encode() + big + b"\r\n0\r\n\r\n")
        else:
            w.write(f"{OK_HEAD}Content-Length: {len(big)}\r\n\r\n".encode() + big)
        return True

    async with scripted(handler) as srv:
        client = new_client()
        try:
            for path in ("/plain", "/gz", "/chunked"):
                with pytest.raises(BodySizeLimitError, match="larger than 1000 bytes"):
                    await scraper(client, srv.url(path), body_size_limit=1000).scrape()
            got = await scraper(client, srv.url("/gz"), body_size_limit=len(big)).scrape()
            assert got.body == big
        finally:
            await client.aclose()


@pytest.mark.anyio
async def test_a_target_that_stalls_mid_body_times_out() -> None:
    async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
        w.write(f"{OK_HEAD}Content-Length: 1000\r\n\r\nhalf".encode())
        await w.drain()
        await asyncio.sleep(5)
        return False

    async with scripted(handler) as srv:
        client = new_client()
        try:
            with pytest.raises(ScrapeError, match=r"^scrape timed out after 0.2s$"):
                await scraper(client, srv.url(), timeout_s=0.2).scrape()
            assert client._conns == {}  # the half-read connection was closed
        finally:
            await client.aclose()


@pytest.mark.anyio
async def test_redirects_are_followed_and_auth_stays_on_its_host() -> None:
    async with scripted(ok()) as other:

        async def handler(head: str, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
            path = head.split(" ", 2)[1]
            location = {
                "/metrics": "/moved?x=1",
                "/moved?x=1": other.url("/final").replace("127.0.0.1", "localhost"),
                "/loop": "/loop",
            }.get(path)
            if location is None:
                return await ok()(head, r, w)
            w.write(
                f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
            )
            return True

        async with scripted(handler) as srv:
            client = new_client()
            auth = {"Authorization": "Bearer s3cret"}
            try:
                got = await scraper(client, srv.url(), auth=lambda: auth).scrape()
                assert got.body == BODY
                with pytest.raises(ScrapeError, match="stopped after 10 redirects"):
                    await scraper(client, srv.url("/loop")).scrape()
                no_follow = new_client(follow_redirects=False)
                try:
                    with pytest.raises(ScrapeError, match="HTTP status 302 Found"):
                        await scraper(no_follow, srv.url()).scrape()
                finally:
                    await no_follow.aclose()
            finally:
                await client.aclose()
    assert [r.split(" ", 2)[1] for r in srv.requests[:2]] == ["/metrics", "/moved?x=1"]
    assert all("Authorization: Bearer s3cret" in r for r in srv.requests[:2])
    assert other.requests[0].startswith("GET /final HTTP/1.1")
    assert "Authorization" not in other.requests[0]  # another host: credentials not sent
    assert f"Host: localhost:{other.port}" in other.requests[0]


@pytest.mark.anyio
async def test_connection_refused_says_where() -> None:
    async with scripted(ok()) as srv:
        url = srv.url()
    client = new_client()
    try:
        with pytest.raises(ScrapeError, match=rf"^connection failed: 127.0.0.1:{srv.port}: "):
            await scraper(client, url).scrape()
    finally:
        await client.aclose()


# -- TLS and proxies ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_ctx(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


def _client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@pytest.mark.anyio
async def test_tls_verifies_against_server_name(ca: trustme.CA) -> None:
    async with scripted(ok(), tls=_server_ctx(ca, "scrape.example")) as srv:
        client = new_client(verify=_client_ctx(ca))
        try:
            url = srv.url(scheme="https")
            with pytest.raises(ssl.SSLError):  # the certificate is not for 127.0.0.1
                await client.get(url, {})
            got = await scraper(client, url, server_name="scrape.example").scrape()
            assert got.body == BODY
            untrusted = new_client()
            try:
                with pytest.raises(ScrapeError, match=r"^TLS error: "):
                    await scraper(untrusted, url, server_name="scrape.example").scrape()
            finally:
                await untrusted.aclose()
        finally:
            await client.aclose()


class Proxy:
    """A forward proxy: absolute-form requests relayed, CONNECT tunnels spliced."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.heads.append(head)
            method, target, _ = head.split(" ", 2)
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_r, up_w = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                rest = target.removeprefix("http://")
                authority, path = rest.split("/", 1)
                host, port = authority.rsplit(":", 1)
                up_r, up_w = await asyncio.open_connection(host, int(port))
                up_w.write(head.replace(target, "/" + path, 1).encode("latin-1"))
            await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except ConnectionError:
        pass
    finally:
        dst.close()


@asynccontextmanager
async def proxy() -> AsyncIterator[Proxy]:
    p = Proxy()
    server = await asyncio.start_server(p.serve, "127.0.0.1", 0)
    p.port = server.sockets[0].getsockname()[1]
    try:
        yield p
    finally:
        server.close()


@pytest.mark.anyio
async def test_http_and_https_through_a_proxy(ca: trustme.CA) -> None:
    tls = _server_ctx(ca, "127.0.0.1")
    async with proxy() as px, scripted(ok()) as plain, scripted(ok(), tls=tls) as secure:
        client = new_client(verify=_client_ctx(ca), proxy=f"http://u:p%40ss@127.0.0.1:{px.port}")
        try:
            for _ in range(2):
                assert (await scraper(client, plain.url()).scrape()).body == BODY
                assert (await scraper(client, secure.url(scheme="https")).scrape()).body == BODY
        finally:
            await client.aclose()
    assert len(px.heads) == 2  # one connection each, kept alive
    by_method = {h.split(" ", 1)[0]: h for h in px.heads}
    assert by_method["GET"].startswith(f"GET http://127.0.0.1:{plain.port}/metrics HTTP/1.1")
    assert by_method["CONNECT"].startswith(f"CONNECT 127.0.0.1:{secure.port} HTTP/1.1")
    for h in px.heads:
        assert "Proxy-Authorization: Basic dTpwQHNz\r\n" in h  # u:p@ss
    assert "Proxy-Authorization" not in secure.requests[0]  # never inside the tunnel


def test_only_http_proxies_are_accepted() -> None:
    with pytest.raises(ValueError, match="only http:// proxies"):
        ScrapeClient(proxy="socks5://127.0.0.1:1080")
