"""Run a real HTTP server (uvicorn, gunicorn) in a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

_LISTEN_RE = re.compile(r"(?:running on|Listening at:) https?://127\.0\.0\.1:(\d+)")


class ServerProcess:
    """A server subprocess whose output lines are collected by a reader thread."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(HERE),
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = self._wait_for_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def _wait_for_port(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output():
                match = _LISTEN_RE.search(line)
                if match:
                    return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"server {' '.join(self.argv)} did not start listening within {timeout} s; "
            "output:\n" + "\n".join(self.output())
        )

    def json_logs(self, logger: str | None = None) -> list[dict[str, Any]]:
        """The JSON lines of the output (optionally of one logger)."""
        records = []
        for line in self.output():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if logger is None or record.get("logger") == logger:
                records.append(record)
        return records

    def wait_for_log(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.json_logs():
                if predicate(record):
                    return record
            time.sleep(0.05)
        raise AssertionError("no matching log line; output:\n" + "\n".join(self.output()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "PROMETHEUS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextmanager
def uvicorn_server(
    app: str,
    *,
    factory: bool = True,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    argv = [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        # with --workers uvicorn reports the port it was given, so choose one here
        str(free_port()) if workers > 1 else "0",
        "--no-access-log",
        "--log-level",
        "info",
    ]
    if factory:
        argv.append("--factory")
    if workers > 1:
        argv += ["--workers", str(workers)]
    server = ServerProcess(argv, server_env(**(env or {})))
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def gunicorn_server(
    app: str, *, workers: int = 1, worker_class: str = "sync", env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    argv = [
        str(VENV_BIN / "python"),
        "-m",
        "gunicorn",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "info",
        "--graceful-timeout",
        "5",
        app,
    ]
    server = ServerProcess(argv, server_env(**(env or {})))
    try:
        yield server
    finally:
        server.stop()


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """Value of the sample *name* with exactly *labels* in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = labels or {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == wanted:
                return float(s.value)
    return None
