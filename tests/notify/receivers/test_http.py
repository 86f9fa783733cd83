"""HTTP delivery plumbing: clients kept per integration, TLS built only when needed."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from vigil.notify.receivers import DeliveryError, WebhookIntegration
from vigil.notify.receivers._http import ClientCache, new_http_client
from vigil.notify.receivers.config import HTTPClientConfig, TLSConfig, WebhookConfig
from vigil.notify.templates import TemplateSet

from ._servers import http_server
from .conftest import context, firing

pytestmark = pytest.mark.anyio


class CountingFactory:
    """The default client factory, counting the clients it builds."""

    def __init__(self) -> None:
        self.built: list[httpx.AsyncClient] = []

    def __call__(self, config: HTTPClientConfig, timeout: float) -> httpx.AsyncClient:
        client = new_http_client(config, timeout)
        self.built.append(client)
        return client


async def test_one_client_per_integration_reused_until_closed(templates: TemplateSet) -> None:
    factory = CountingFactory()
    with http_server() as srv:
        hook = WebhookIntegration(
            WebhookConfig(url=srv.url("/hook")), templates, http_client_factory=factory
        )
        try:
            for _ in range(3):
                await hook.notify(context(), [firing()])
            assert len(factory.built) == 1
            assert len(hook.clients) == 1
            await hook.aclose()
            assert factory.built[0].is_closed
            assert len(hook.clients) == 0
            # a closed integration still works: it builds a new client
            await hook.notify(context(), [firing()])
            assert len(factory.built) == 2
        finally:
            await hook.aclose()
        assert factory.built[1].is_closed
    assert [r.path for r in srv.requests] == ["/hook"] * 4


async def test_cache_keys_on_config_and_timeout() -> None:
    factory = CountingFactory()
    cache = ClientCache(factory)
    a = HTTPClientConfig()
    b = HTTPClientConfig(authorization_credentials="t")
    try:
        first = cache.get(a, 5.0)
        assert cache.get(HTTPClientConfig(), 5.0) is first  # equal configs share
        assert cache.get(a, 10.0) is not first
        assert cache.get(b, 5.0) is not first
        assert len(factory.built) == 3
    finally:
        await cache.aclose()
    assert all(c.is_closed for c in factory.built)


async def test_plain_http_never_builds_a_tls_context(
    templates: TemplateSet, server_tls: ssl.SSLContext, tmp_path: Path
) -> None:
    # a CA file that does not exist: only a request that needs TLS notices
    broken = HTTPClientConfig(tls_config=TLSConfig(ca_file=str(tmp_path / "missing.pem")))
    with http_server() as plain:
        hook = WebhookIntegration(WebhookConfig(url=plain.url("/p"), http_config=broken), templates)
        try:
            await hook.notify(context(), [firing()])
        finally:
            await hook.aclose()
    assert [r.path for r in plain.requests] == ["/p"]
    with http_server(tls=server_tls) as secure:
        hook = WebhookIntegration(
            WebhookConfig(url=secure.url("/s"), http_config=broken), templates
        )
        try:
            with pytest.raises(DeliveryError, match="tls_config") as info:
                await hook.notify(context(), [firing()])
        finally:
            await hook.aclose()
    assert info.value.retry is False
    assert secure.requests == []


async def test_tls_client_is_reused_too(
    templates: TemplateSet, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    factory = CountingFactory()
    trusted = HTTPClientConfig(tls_config=TLSConfig(ca_file=ca_file))
    with http_server(tls=server_tls) as srv:
        hook = WebhookIntegration(
            WebhookConfig(url=srv.url("/t"), http_config=trusted),
            templates,
            http_client_factory=factory,
        )
        try:
            await hook.notify(context(), [firing()])
            await hook.notify(context(), [firing()])
        finally:
            await hook.aclose()
    assert len(factory.built) == 1
    assert [r.path for r in srv.requests] == ["/t", "/t"]
