"""``vigil server`` end to end: scraping, reload, the CLI, and a real Prometheus remote-writing."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cramjam
import httpx
import pytest

from vigil.api.protobuf import encode_write_request
from vigil.model.matchers import Matcher, MatchType
from vigil.server import Server, ServerSettings, default_config_text, parse_listen
from vigil.storage import Series
from vigil.tsdb.db import TSDB
from vigil.ui.users import Role

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class MetricsTarget:
    """A scrape target on a loopback port serving a counter that grows on each scrape."""

    def __init__(self) -> None:
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = (
                    "# TYPE demo_hits_total counter\n"
                    f"demo_hits_total {outer.hits}\n"
                    'demo_temp{room="a"} 21.5\n'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def target() -> Iterator[MetricsTarget]:
    t = MetricsTarget()
    yield t
    t.close()


class InProcess:
    """A Server running on its own event loop in a thread; tests read its store directly."""

    def __init__(self, settings: ServerSettings) -> None:
        self.server = Server(settings)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise AssertionError("server did not start")
        if self._error is not None:
            raise self._error
        self.url = f"http://{self.server.address}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            try:
                await self.server.start()
            except BaseException as exc:
                self._error = exc
                self._started.set()
                await self.server.stop()
                return
            self._started.set()
            await self.server._stopping.wait()
            await self.server.stop()

        self._loop.run_until_complete(main())
        self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self.server.request_stop)
        self._thread.join(30)
        assert not self._thread.is_alive()

    def token(self, role: str = "admin") -> str:
        """A fresh API token with ``role`` (the UI's access control guards every change)."""
        assert self.server.ui is not None
        _, secret = self.server.ui.users.create_token(f"test-{role}", Role.parse(role), "test")
        return secret

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def select(self, **labels: str) -> list[Series]:
        q = self.server.storage.querier(0, 2**62)
        try:
            return list(q.select([Matcher(MatchType.EQUAL, k, v) for k, v in labels.items()]))
        finally:
            q.close()


@contextlib.contextmanager
def in_process(settings: ServerSettings) -> Iterator[InProcess]:
    srv = InProcess(settings)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9090", ("127.0.0.1", 9090)),
        (":9090", ("0.0.0.0", 9090)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9090", "is not host:port"),
        ("h:x", "port 'x' is not a number"),
        ("h:70000", "not a TCP port"),
    ],
)
def test_parse_listen_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_listen(text)


def test_without_config_the_server_scrapes_itself(tmp_path: Path) -> None:
    settings = ServerSettings(
        data_dir=tmp_path / "data",
        listen="127.0.0.1:0",
        default_config=lambda me: default_config_text(me, "1s"),
    )
    with in_process(settings) as srv:
        ups = _wait("up{job=vigil}", lambda: srv.select(__name__="up", job="vigil"))
        assert isinstance(ups, list)
        assert ups[0].labels.get("instance") == srv.server.address
        assert ups[0].values[-1] == 1.0
        data = httpx.get(srv.url + "/api/v1/targets").json()["data"]
        (t,) = data["activeTargets"]
        assert (t["scrapePool"], t["scrapeInterval"]) == ("vigil", "1s")
        # Its own metrics were stored: ingest counters, scrape metrics, process metrics.
        _wait("self metrics", lambda: srv.select(__name__="process_resident_memory_bytes"))
        text = httpx.get(srv.url + "/metrics").text
        for name in (
            "vigil_config_last_reload_successful 1.0",
            "process_cpu_seconds_total",
            "vigil_tsdb_head_series ",
            "vigil_tsdb_wal_bytes ",
            "vigil_tsdb_head_samples_appended_total ",
        ):
            assert name in text


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _config(*targets: tuple[str, str]) -> str:
    out = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
    for job, address in targets:
        out += f"  - job_name: {job}\n    static_configs:\n      - targets: ['{address}']\n"
    return out


def test_reload_applies_a_good_config_and_keeps_the_old_one_on_errors(
    tmp_path: Path, target: MetricsTarget
) -> None:
    cfg = tmp_path / "vigil.yml"
    _write(cfg, _config(("a", target.address)))
    settings = ServerSettings(config_file=cfg, data_dir=tmp_path / "d", listen="127.0.0.1:0")
    with in_process(settings) as srv:

        def pools() -> set[str]:
            data = httpx.get(srv.url + "/api/v1/targets").json()["data"]
            return {t["scrapePool"] for t in data["activeTargets"]}

        assert pools() == {"a"}
        _write(
            cfg, "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: a\n    bogus: 1\n"
        )
        admin = srv.auth()
        assert httpx.post(srv.url + "/-/reload").status_code == 401  # reload is for admins
        assert httpx.post(srv.url + "/-/reload", headers=srv.auth("editor")).status_code == 403
        r = httpx.post(srv.url + "/-/reload", headers=admin)
        assert r.status_code == 400
        err = r.json()
        assert err["errorType"] == "bad_data"
        assert f"{cfg}:5:5:" in err["error"]
        assert "bogus" in err["error"]
        assert pools() == {"a"}
        assert "vigil_config_last_reload_successful 0.0" in httpx.get(srv.url + "/metrics").text
        _write(cfg, _config(("a", target.address), ("b", target.address)))
        assert httpx.post(srv.url + "/-/reload", headers=admin).status_code == 200
        assert pools() == {"a", "b"}
        _wait("job b scraped", lambda: srv.select(__name__="demo_hits_total", job="b"))


def _vigil(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vigil", "server", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VIGIL_LOG_LEVEL": "info"},
        )


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
    return proc.returncode


def test_cli_server_scrapes_reloads_on_sighup_and_stops_on_sigterm(
    tmp_path: Path, target: MetricsTarget
) -> None:
    cfg = tmp_path / "prometheus.yml"
    _write(cfg, _config(("app", target.address)))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = _vigil(
        "--config",
        str(cfg),
        "--data-dir",
        str(tmp_path / "data"),
        "--listen",
        f"127.0.0.1:{port}",
        log=log,
    )
    try:

        def targets() -> list[dict[str, object]]:
            assert proc.poll() is None, log.read_text()
            active: list[dict[str, object]] = httpx.get(url + "/api/v1/targets").json()["data"][
                "activeTargets"
            ]
            return active

        _wait("target up", lambda: [t for t in targets() if t["health"] == "up"], 60)
        _write(
            cfg,
            "scrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n    scrape_timeout: 5s\n",
        )
        proc.send_signal(signal.SIGHUP)
        _wait("reload error logged", lambda: "config reload failed" in log.read_text())
        assert re.search(rf"{cfg}:4:\d+: scrape_configs\[0\]\.scrape_timeout", log.read_text())
        assert [t["scrapePool"] for t in targets()] == ["app"]  # old config in force
        _write(cfg, _config(("app", target.address), ("again", target.address)))
        proc.send_signal(signal.SIGHUP)
        _wait("new job", lambda: {t["scrapePool"] for t in targets()} == {"app", "again"})
        assert httpx.get(url + "/-/ready").status_code == 200
        _wait("a few more scrapes", lambda: target.hits >= 8)
    finally:
        assert _stop(proc) == 0, log.read_text()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "opened storage" in messages
    assert "closed storage" in messages
    # What was scraped is on disk: reopen the data directory.
    db = TSDB.open(tmp_path / "data", background=False)
    try:
        q = db.querier(0, 2**62)
        (hits,) = q.select(
            [
                Matcher(MatchType.EQUAL, "__name__", "demo_hits_total"),
                Matcher(MatchType.EQUAL, "job", "app"),
            ]
        )
        q.close()
        values = hits.values.tolist()
        assert len(values) >= 2
        assert values == sorted(values)
        assert hits.labels.get("job") == "app"
    finally:
        db.close()


def test_acknowledged_remote_writes_survive_kill_9(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    cfg = tmp_path / "empty.yml"
    cfg.write_text("scrape_configs: []\n")
    proc = _vigil(
        "--config",
        str(cfg),
        "--data-dir",
        str(tmp_path / "data"),
        "--listen",
        f"127.0.0.1:{port}",
        "--public-ingest",
        log=log,
    )
    acked: list[tuple[int, int]] = []
    t0 = int(time.time() * 1000) - 60_000
    try:
        _wait("ready", lambda: httpx.get(url + "/-/ready").status_code == 200, 60)
        with httpx.Client(timeout=10) as client:
            for i in range(40):
                series = [
                    ([("__name__", "pushed"), ("n", str(n))], [(t0 + i, float(i))])
                    for n in range(50)
                ]
                body = bytes(cramjam.snappy.compress_raw(encode_write_request(series)))
                r = client.post(
                    url + "/api/v1/write", content=body, headers={"Content-Encoding": "snappy"}
                )
                assert r.status_code == 204, r.text
                acked.append((i, 50))
    finally:
        proc.kill()  # no clean shutdown
        proc.wait(10)
    db = TSDB.open(tmp_path / "data", background=False)
    try:
        q = db.querier(0, 2**62)
        found = q.select([Matcher(MatchType.EQUAL, "__name__", "pushed")])
        q.close()
    finally:
        db.close()
    assert len(found) == 50, log.read_text()
    for s in found:
        assert s.timestamps.tolist() == [t0 + i for i, _ in acked]
        assert s.values.tolist() == [float(i) for i, _ in acked]


def test_cli_invalid_config_exits_2_with_file_line_col(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1x\nscrape_configs:\n  - job_name: a\n    nope: 1\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "vigil", "server", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VIGIL_CONFIG": str(cfg), "VIGIL_DATA_DIR": str(tmp_path / "d")},
    )
    assert proc.returncode == 2, proc.stderr
    assert "invalid config, not starting" in proc.stderr
    assert f"{cfg}:2:20: global.scrape_interval" in proc.stderr
    assert f"{cfg}:5:5: scrape_configs[0]" in proc.stderr
    assert not (tmp_path / "d").exists()  # nothing was opened


def test_cli_usage_errors() -> None:
    for args, message in [
        (["--listen", "nowhere"], "--listen: 'nowhere' is not host:port"),
        (["--config", "/no/such/file.yml"], "--config /no/such/file.yml: no such file"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "vigil", "server", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert message in proc.stderr


def _prom_samples(
    prom: str, selector: str, at: float
) -> dict[frozenset[tuple[str, str]], list[tuple[int, str]]]:
    r = httpx.get(prom + "/api/v1/query", params={"query": f"{selector}[30s]", "time": at}).json()
    assert r["status"] == "success", r
    return {
        frozenset(s["metric"].items()): [(round(float(t) * 1000), v) for t, v in s["values"]]
        for s in r["data"]["result"]
    }


def _same(a: str, b: float) -> bool:
    return (math.isnan(b) and a == "NaN") or float(a) == b


@pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="prometheus is not installed")
def test_a_real_prometheus_remote_writes_its_samples_to_vigil(
    tmp_path: Path, target: MetricsTarget
) -> None:
    settings = ServerSettings(
        data_dir=tmp_path / "vigil",
        listen="127.0.0.1:0",
        default_config=lambda me: "scrape_configs: []\n",  # vigil only receives here
    )
    with in_process(settings) as srv:
        prom_port = _free_port()
        prom = f"http://127.0.0.1:{prom_port}"
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            f"  - job_name: app\n    static_configs:\n      - targets: ['{target.address}']\n"
            f"  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n"
            "remote_write:\n"
            f"  - url: {srv.url}/api/v1/write\n"
            f"    authorization: {{credentials: {srv.token('editor')}}}\n"
            "    queue_config: {batch_send_deadline: 1s, max_samples_per_send: 1000}\n"
        )
        log = tmp_path / "prometheus.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={cfg}",
                    f"--storage.tsdb.path={tmp_path / 'prom'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait("prometheus ready", lambda: httpx.get(prom + "/-/ready").status_code == 200, 30)
            # Wait until Prometheus holds a few scrapes of both jobs, then pick a past instant.
            _wait(
                "three scrapes",
                lambda: (
                    len(next(iter(_prom_samples(prom, 'up{job="app"}', time.time()).values()), []))
                    >= 3
                ),
            )
            at = time.time() - 1.0
            expected = _prom_samples(prom, '{job=~"app|prometheus"}', at)
            assert len(expected) > 100  # Prometheus's own metrics plus the app's

            def missing() -> list[str]:
                out = []
                for key, samples in expected.items():
                    found = srv.select(**dict(key))
                    got = {}
                    if found:
                        got = dict(
                            zip(found[0].timestamps.tolist(), found[0].values.tolist(), strict=True)
                        )
                    for t, v in samples:
                        if t not in got or not _same(v, got[t]):
                            out.append(f"{dict(key)} @{t}={v}")
                return out

            _wait("every sample delivered", lambda: not missing() or None, 30)
            assert not missing()
            (hits,) = srv.select(__name__="demo_hits_total", job="app")
            assert hits.values.tolist() == sorted(hits.values.tolist())  # a counter, in order
            metrics = httpx.get(srv.url + "/metrics").text
            assert 'vigil_ingest_requests_total{code="204",endpoint="remote_write"}' in metrics
            assert 'code="400"' not in metrics
            assert 'code="500"' not in metrics
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_cli_refuses_a_data_dir_in_use_and_a_busy_port(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "first.log"
    first = _vigil("--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}", log=log)
    try:
        _wait("ready", lambda: httpx.get(f"http://127.0.0.1:{port}/-/ready").status_code == 200, 60)
        for args, message in [
            (
                ["--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                "in use by another process",
            ),
            (
                ["--data-dir", str(tmp_path / "other"), "--listen", f"127.0.0.1:{port}"],
                "can't bind",
            ),
        ]:
            proc = subprocess.run(
                [sys.executable, "-m", "vigil", "server", *args],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 1, proc.stderr
            assert message in proc.stderr
    finally:
        assert _stop(first) == 0, log.read_text()
