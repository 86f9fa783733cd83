"""``vigil demo``: serve the demo app with uvicorn and drive it with the load generator."""

from __future__ import annotations

import logging
import threading

import uvicorn

from vigil.demo.app import create_app
from vigil.demo.load import LoadGenerator

log = logging.getLogger("vigil.demo")


def run_demo(*, host: str, port: int, rate: float, duration: float = 0.0) -> int:
    app = create_app()
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)

    base = f"http://{host}:{port}"
    load = LoadGenerator(base, rate) if rate > 0 else None
    timer: threading.Timer | None = None
    if duration > 0:
        timer = threading.Timer(duration, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()

    def started() -> None:
        log.info(
            "vigil demo serving",
            extra={
                "url": base,
                "metrics": f"{base}/metrics",
                "health": f"{base}/health",
                "load_rate": rate,
            },
        )
        if load is not None:
            load.start()

    # uvicorn has no start-up callback: wait for it in a helper thread.
    def watch() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            started()

    threading.Thread(target=watch, name="vigil-demo-watch", daemon=True).start()
    try:
        server.run()
    finally:
        if load is not None:
            load.stop()
        if timer is not None:
            timer.cancel()
    return 0 if server.started else 1
