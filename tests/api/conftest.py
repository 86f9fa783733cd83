from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from vigil.api import ApiOptions, create_app
from vigil.storage import MemoryStorage

NOW = 1_700_000_000.0


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[httpx.Client]:
    """Run *app* with uvicorn on a real loopback socket in a thread; yield a client for it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    server.install_signal_handlers = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def store() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(store: MemoryStorage, registry: CollectorRegistry) -> Iterator[httpx.Client]:
    opts = ApiOptions(store, registry=registry, clock=lambda: NOW, max_write_body_bytes=64 * 1024)
    with serve(create_app(opts)) as c:
        yield c
