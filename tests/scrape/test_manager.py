from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from vigil.config import parse_config
from vigil.config.types import FileSDConfig, ScrapeConfig, StaticConfig, TLSConfig, VigilConfig
from vigil.config.units import Duration
from vigil.model.matchers import Matcher
from vigil.model.value import is_stale_nan
from vigil.scrape.loop import Health
from vigil.scrape.manager import ScrapeManager, ScrapeSetupError
from vigil.storage import MemoryStorage
from vigil.storage.interface import Series

from ._targets import Route, serving

pytestmark = pytest.mark.anyio


def _job(name: str, *addresses: str, **kw: object) -> ScrapeConfig:
    base: dict[str, object] = {
        "job_name": name,
        "scrape_interval": Duration(200),
        "scrape_timeout": Duration(150),
        "static_configs": (StaticConfig(targets=addresses),) if addresses else (),
    }
    base.update(kw)
    return ScrapeConfig(**base)  # type: ignore[arg-type]


def _series(store: MemoryStorage, name: str, **labels: str) -> list[Series]:
    ms = [Matcher.equal("__name__", name)] + [Matcher.equal(k, v) for k, v in labels.items()]
    return store.querier(0, 2**62).select(ms)


async def _until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_apply_config_scrapes_static_targets_and_reports_health() -> None:
    store = MemoryStorage()
    registry = CollectorRegistry()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"hello 1\n")
        manager = ScrapeManager(store, registry=registry)
        try:
            await manager.apply_config(VigilConfig(scrape_configs=(_job("hello", srv.address),)))
            await _until(lambda: manager.targets()["hello"][0].health is Health.UP)
            (h,) = manager.targets()["hello"]
            assert h.scrape_url == srv.url()
            assert h.scrape_pool == "hello"
            assert h.labels.to_dict() == {"job": "hello", "instance": srv.address}
            assert h.discovered_labels.get("__address__") == srv.address
            assert h.last_scrape_ms is not None
            assert h.interval_s == 0.2
            assert manager.dropped_targets() == {"hello": []}
            assert (
                registry.get_sample_value("vigil_scrape_pool_targets", {"scrape_job": "hello"}) == 1
            )
        finally:
            await manager.stop()
    assert _series(store, "hello", job="hello", instance=srv.address)


async def test_a_config_from_yaml_runs_unchanged(tmp_path: Path) -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b'm{job="pushed"} 1\n')
        cfg = parse_config(
            f"""
global:
  scrape_interval: 200ms
  scrape_timeout: 100ms
scrape_configs:
  - job_name: app
    honor_labels: true
    static_configs:
      - targets: ['{srv.address}']
        labels: {{env: test}}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: m
        target_label: kept
        replacement: yes
""",
            "vigil.yml",
        )
        manager = ScrapeManager(store)
        try:
            await manager.apply_config(cfg)
            await _until(lambda: bool(_series(store, "m")))
        finally:
            await manager.stop()
    (s,) = _series(store, "m")
    assert s.labels.to_dict() == {
        "__name__": "m",
        "job": "pushed",
        "instance": srv.address,
        "env": "test",
        "kept": "yes",
    }


async def test_reapplying_a_config_leaves_unchanged_jobs_alone() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        manager = ScrapeManager(store)
        try:
            cfg = VigilConfig(scrape_configs=(_job("a", srv.address), _job("b", srv.address)))
            await manager.apply_config(cfg)
            pools = manager.pools()
            loops = {job: list(p.loops().values()) for job, p in pools.items()}
            # Same content, new objects: nothing restarts.
            await manager.apply_config(
                VigilConfig(scrape_configs=(_job("a", srv.address), _job("b", srv.address)))
            )
            assert manager.pools() == pools
            assert {job: list(p.loops().values()) for job, p in pools.items()} == loops
            # Change b only: a's loop is the same object, b's restarted with its cache.
            await manager.apply_config(
                VigilConfig(
                    scrape_configs=(_job("a", srv.address), _job("b", srv.address, sample_limit=10))
                )
            )
            assert list(manager.pools()["a"].loops().values()) == loops["a"]
            (new_b,) = manager.pools()["b"].loops().values()
            assert new_b is not loops["b"][0]
            assert new_b.cache is loops["b"][0].cache
            assert all(
                loop.running for p in manager.pools().values() for loop in p.loops().values()
            )
        finally:
            await manager.stop()


async def test_removing_a_job_marks_its_series_stale() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        manager = ScrapeManager(store)
        try:
            await manager.apply_config(
                VigilConfig(scrape_configs=(_job("gone", srv.address), _job("stays", srv.address)))
            )
            await _until(lambda: len(_series(store, "a")) == 2)
            await manager.apply_config(VigilConfig(scrape_configs=(_job("stays", srv.address),)))
            assert set(manager.targets()) == {"stays"}
            assert is_stale_nan(_series(store, "a", job="gone")[0].values[-1])
            assert is_stale_nan(_series(store, "up", job="gone")[0].values[-1])
            await asyncio.sleep(0.3)
            assert not is_stale_nan(_series(store, "a", job="stays")[0].values[-1])
        finally:
            await manager.stop()


async def test_file_sd_targets_follow_the_file(tmp_path: Path) -> None:
    store = MemoryStorage()
    sd = tmp_path / "targets.json"
    with serving() as one, serving() as two:
        one.routes["/metrics"] = Route(b"one 1\n")
        two.routes["/metrics"] = Route(b"two 1\n")
        sd.write_text(json.dumps([{"targets": [one.address], "labels": {"team": "x"}}]))
        job = _job("files", file_sd_configs=(FileSDConfig(files=(str(tmp_path / "*.json"),)),))
        manager = ScrapeManager(store, discovery_tick=0.05)
        try:
            await manager.apply_config(VigilConfig(scrape_configs=(job,)))
            assert [h.labels.get("team") for h in manager.targets()["files"]] == ["x"]
            await _until(lambda: bool(_series(store, "one", team="x")))
            sd.write_text(json.dumps([{"targets": [one.address, two.address]}]))
            await _until(lambda: len(manager.targets()["files"]) == 2)
            await _until(lambda: bool(_series(store, "two")))
            # A broken file keeps its previous targets; the error names the file.
            sd.write_text("[{not json")
            await _until(lambda: bool(manager.discovery_errors()))
            assert str(sd) in next(iter(manager.discovery_errors().values()))
            assert len(manager.targets()["files"]) == 2
            # Emptied: the targets go, and their series get markers about two intervals later.
            sd.write_text("[]")
            await _until(lambda: manager.targets()["files"] == [])
            await _until(lambda: is_stale_nan(_series(store, "two")[0].values[-1]))
        finally:
            await manager.stop()


async def test_relabelling_drops_targets_and_reports_them() -> None:
    store = MemoryStorage()
    cfg = parse_config(
        """
scrape_configs:
  - job_name: j
    static_configs: [{targets: ['keep:1', 'drop:2', 'bad/address']}]
    relabel_configs:
      - source_labels: [__address__]
        regex: 'drop:.*'
        action: drop
""",
        "vigil.yml",
    )
    manager = ScrapeManager(store)
    try:
        await manager.apply_config(cfg)
        assert [h.labels.get("instance") for h in manager.targets()["j"]] == ["keep:1"]
        dropped = manager.dropped_targets()["j"]
        assert sorted(d.discovered_labels.get("__address__") for d in dropped) == [
            "bad/address",
            "drop:2",
        ]
        assert {d.error for d in dropped} == {None, "'bad/address' is not a valid hostname"}
    finally:
        await manager.stop()


async def test_an_unloadable_tls_file_is_refused_and_the_old_config_stays(tmp_path: Path) -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        manager = ScrapeManager(store)
        try:
            good = VigilConfig(scrape_configs=(_job("a", srv.address),))
            await manager.apply_config(good)
            bad_job = _job(
                "a", srv.address, tls_config=TLSConfig(ca_file=str(tmp_path / "nope.pem"))
            )
            with pytest.raises(ScrapeSetupError, match=r"scrape_configs\['a'\].tls_config"):
                await manager.apply_config(VigilConfig(scrape_configs=(bad_job,)))
            assert manager.config is good
            assert manager.pools()["a"].config == good.scrape_configs[0]
        finally:
            await manager.stop()


async def test_https_targets_with_a_private_ca(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    store = MemoryStorage()
    with _TLSServer(cert, key, b"secure 1\n") as address:
        job = _job("tls", address, scheme="https", tls_config=TLSConfig(ca_file=str(cert)))
        insecure = _job(
            "insecure", address, scheme="https", tls_config=TLSConfig(insecure_skip_verify=True)
        )
        untrusted = _job("untrusted", address, scheme="https")
        manager = ScrapeManager(store)
        try:
            await manager.apply_config(VigilConfig(scrape_configs=(job, insecure, untrusted)))
            await _until(
                lambda: (
                    all(
                        h.last_error or h.health is Health.UP
                        for hs in manager.targets().values()
                        for h in hs
                    )
                    and all(
                        h.health is not Health.UNKNOWN
                        for hs in manager.targets().values()
                        for h in hs
                    )
                )
            )
            health = {job: hs[0] for job, hs in manager.targets().items()}
        finally:
            await manager.stop()
    assert health["tls"].health is Health.UP
    assert health["insecure"].health is Health.UP
    assert health["untrusted"].health is Health.DOWN
    assert "certificate" in health["untrusted"].last_error.lower()
    assert _series(store, "secure", job="tls")


async def test_stop_leaves_nothing_running() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        manager = ScrapeManager(store)
        await manager.apply_config(VigilConfig(scrape_configs=(_job("a", srv.address),)))
        await _until(lambda: bool(_series(store, "a")))
        ours = ("scrape ", "stale ", "discovery ")
        before = {t for t in asyncio.all_tasks() if t.get_name().startswith(ours)}
        assert before
        await manager.stop()
        n = len(srv.requests)
        await asyncio.sleep(0.4)
        assert len(srv.requests) == n
    leftover = [t for t in before if not t.done()]
    assert leftover == []
    with pytest.raises(RuntimeError, match="stopped"):
        await manager.apply_config(VigilConfig())


async def test_a_job_interval_change_restarts_with_the_new_interval() -> None:
    store = MemoryStorage()
    with serving() as srv:
        srv.routes["/metrics"] = Route(b"a 1\n")
        manager = ScrapeManager(store)
        try:
            job = _job("a", srv.address)
            await manager.apply_config(VigilConfig(scrape_configs=(job,)))
            await manager.apply_config(
                VigilConfig(
                    scrape_configs=(
                        replace(job, scrape_interval=Duration(500), scrape_timeout=Duration(100)),
                    )
                )
            )
            (h,) = manager.targets()["a"]
            assert h.interval_s == 0.5
            assert h.timeout_s == 0.1
        finally:
            await manager.stop()


# -- TLS helpers ------------------------------------------------------------------


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


class _TLSServer:
    def __init__(self, cert: Path, key: Path, body: bytes) -> None:
        import ssl
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                # The handshake runs here, in the request's thread: done in accept() it
                # would block the whole server on a client that never finishes it.
                self.request.settimeout(5)
                self.request.do_handshake()
                super().setup()

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # rejected handshakes (the untrusted client) are expected

        self._httpd = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._httpd.socket = ctx.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return f"127.0.0.1:{self._httpd.server_port}"

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
