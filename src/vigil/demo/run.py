"""``vigil demo``: the demo app, its load generator, and a vigil server scraping both.

Everything runs in one process and one event loop: the instrumented shop API
(uvicorn), the load generator (a thread), and ``vigil server`` with its
embedded store, whose config scrapes the shop and the server itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import tempfile
from pathlib import Path

import uvicorn

from vigil.demo.app import create_app
from vigil.demo.load import LoadGenerator
from vigil.server import Server, ServerSettings, UvicornServer

log = logging.getLogger("vigil.demo")


def demo_config_text(server_address: str, demo_address: str, interval: str = "5s") -> str:
    """The demo server's config: scrape itself and the shop."""
    return (
        "global:\n"
        f"  scrape_interval: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: vigil\n"
        "    static_configs:\n"
        f"      - targets: ['{server_address}']\n"
        "  - job_name: demo-shop\n"
        "    static_configs:\n"
        f"      - targets: ['{demo_address}']\n"
        "        labels: {env: demo}\n"
    )


def run_demo(
    *,
    host: str,
    port: int,
    rate: float,
    duration: float = 0.0,
    server_listen: str | None = "127.0.0.1:9090",
    data_dir: Path | None = None,
    scrape_interval: str = "5s",
) -> int:
    """Run until interrupted (or *duration* seconds); ``server_listen`` None: no vigil server."""
    return asyncio.run(
        _run(
            host=host,
            port=port,
            rate=rate,
            duration=duration,
            server_listen=server_listen,
            data_dir=data_dir,
            scrape_interval=scrape_interval,
        )
    )


async def _run(
    *,
    host: str,
    port: int,
    rate: float,
    duration: float,
    server_listen: str | None,
    data_dir: Path | None,
    scrape_interval: str,
) -> int:
    app = create_app()
    web = UvicornServer(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    )
    base = f"http://{host}:{port}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)

    temp_dir: str | None = None
    server: Server | None = None
    if server_listen is not None:
        if data_dir is None:
            temp_dir = tempfile.mkdtemp(prefix="vigil-demo-")
            data_dir = Path(temp_dir)
        demo_address = f"{host}:{port}"
        server = Server(
            ServerSettings(
                data_dir=data_dir,
                listen=server_listen,
                default_config=lambda me: demo_config_text(me, demo_address, scrape_interval),
                default_rules=True,  # so the Alerts page has rules (and, under load, alerts)
            )
        )

    load = LoadGenerator(base, rate) if rate > 0 else None
    web_task = asyncio.create_task(web.serve())
    started = False
    try:
        while not web.started:
            if web_task.done():
                return 1  # uvicorn logged why (port in use, ...)
            await asyncio.sleep(0.02)
        started = True
        if server is not None:
            await server.start()
        if load is not None:
            load.start()
        fields: dict[str, object] = {
            "url": base,
            "metrics": f"{base}/metrics",
            "health": f"{base}/health",
            "load_rate": rate,
        }
        if server is not None:
            fields["vigil_server"] = f"http://{server.address}"
            fields["vigil_ui"] = f"http://{server.address}/ (sign in as admin: see the line above)"
            fields["vigil_targets"] = f"http://{server.address}/api/v1/targets"
            fields["vigil_data_dir"] = str(data_dir) + (" (temporary)" if temp_dir else "")
        log.info("vigil demo serving", extra=fields)
        await stop.wait()
    finally:
        if load is not None:
            await asyncio.to_thread(load.stop)
        if server is not None:
            await server.stop()
        web.should_exit = True
        with contextlib.suppress(Exception):
            await web_task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0 if started else 1
