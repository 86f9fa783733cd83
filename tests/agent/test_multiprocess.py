"""Multi-process metrics: detection, the shared directory, dead workers, real servers."""

from __future__ import annotations

import concurrent.futures
import contextlib
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from vigil.agent import multiprocess
from vigil.agent.exposition import render_metrics
from vigil.agent.metrics import Counter

APPS = Path(__file__).parent / "apps"
BIN = Path(sys.executable).parent
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)


# --------------------------------------------------------------------------- helpers


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of sample *name* with exactly *labels* (ignoring ``pid``), or None."""
    wanted = labels or {}
    for family in parse_text(text):
        for s in family.samples:
            got = {k: v for k, v in s.labels.items() if k != "pid"}
            if s.name == name and got == wanted:
                return float(s.value)
    return None


def samples_named(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(s.labels), float(s.value))
        for family in parse_text(text)
        for s in family.samples
        if s.name == name
    ]


def clean_env(tmp: Path) -> dict[str, str]:
    """The test's environment minus anything that would configure multi-process mode."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", multiprocess.ENV_VAR)
    }
    tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(tmp)
    return env


def get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), dict(response.headers.items())


def metrics_text(port: int) -> str:
    return get(port, "/metrics")[0].decode()


def wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, psutil.Error):
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def workers(self) -> list[psutil.Process]:
        return [
            p
            for p in psutil.Process(self.proc.pid).children()
            if p.status() != psutil.STATUS_ZOMBIE
        ]

    def info(self) -> dict[str, object]:
        result: dict[str, object] = json.loads(get(self.port, "/info")[0])
        return result


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def run_gunicorn(tmp_path: Path, *extra: str) -> Iterator[Server]:
    """A real gunicorn with 4 sync workers on a free loopback port, always stopped."""
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                "4",
                "--worker-class",
                "sync",
                "--bind",
                "127.0.0.1:0",
                "--no-control-socket",
                "--graceful-timeout",
                "3",
                "--chdir",
                str(APPS),
                *extra,
                "multiprocess_app:app",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(tmp_path / "tmp"),
        )
    try:
        port_box: list[int] = []

        def listening() -> bool:
            assert proc.poll() is None, log.read_text()
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
            if found:
                port_box.append(int(found.group(1)))
            return bool(found)

        wait_for(listening, 20, "gunicorn to listen")
        server = Server(proc, port_box[0], log)
        wait_for(lambda: len(server.workers()) == 4, 20, "4 gunicorn workers")
        wait_for(lambda: server.info()["active"], 20, "the app to answer")
        yield server
    finally:
        stop(proc)


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Server]:
    with run_gunicorn(tmp_path) as server:
        yield server


def spread_requests(port: int, count: int, *, sleep: float = 0.01) -> dict[int, int]:
    """Send *count* requests, 16 at a time, each on its own connection; pid -> requests served."""

    def one(_: int) -> int:
        return int(get(port, f"/work?sleep={sleep}")[0])

    served: dict[int, int] = {}
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for pid in pool.map(one, range(count)):
            served[pid] = served.get(pid, 0) + 1
    return served


# --------------------------------------------------------------------------- real gunicorn


def test_gunicorn_four_workers_sum_exactly(gunicorn: Server) -> None:
    info = gunicorn.info()
    assert info["active"] is True
    directory = Path(str(info["directory"]))
    # Keyed by the gunicorn master (the server root) and its start time.
    assert directory.name.startswith(f"{gunicorn.proc.pid}-")
    master_ms = int(psutil.Process(gunicorn.proc.pid).create_time() * 1000)
    assert directory.name == f"{gunicorn.proc.pid}-{master_ms}"

    n = 240
    served = spread_requests(gunicorn.port, n)
    worker_pids = {p.pid for p in gunicorn.workers()}
    assert set(served) == worker_pids, f"requests did not reach all 4 workers: {served}"
    assert sum(served.values()) == n

    # Every scrape, whichever worker answers it, shows the sum over the workers.
    for _ in range(8):
        text = metrics_text(gunicorn.port)
        assert sample(text, "app_requests_total", {"path": "/work"}) == n
        assert sample(text, "orders_total", {"region": "eu"}) == n
        assert sample(text, "app_latency_seconds_count") == n
        assert sample(text, "app_latency_seconds_bucket", {"le": "+Inf"}) == n
        assert sample(text, "app_in_flight") == 0
        assert sample(text, "app_worker_up") == 4

    # The same numbers in OpenMetrics, gzip-compressed, as Prometheus asks for them.
    body, headers = get(
        gunicorn.port, "/metrics", {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    )
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert headers["Content-Encoding"] == "gzip"
    families = {f.name: f for f in parse_openmetrics(gzip.decompress(body).decode())}
    (total,) = [s for s in families["app_requests"].samples if s.name == "app_requests_total"]
    assert total.value == n


def test_gunicorn_killed_worker_is_archived_and_counts_stay_exact(gunicorn: Server) -> None:
    directory = Path(str(gunicorn.info()["directory"]))
    n = 120
    served = spread_requests(gunicorn.port, n)
    victim = max(served, key=lambda pid: served[pid])
    assert (directory / f"counter_{victim}.db").exists()
    assert (directory / f"gauge_livesum_{victim}.db").exists()

    os.kill(victim, signal.SIGKILL)

    def respawned() -> bool:
        pids = {p.pid for p in gunicorn.workers()}
        return victim not in pids and len(pids) == 4

    wait_for(respawned, 30, "gunicorn to replace the killed worker")
    # The replacement imports the app after the fork; its gauge appears then.
    # livesum gauges forget the dead worker: 4 live workers, not 5.
    wait_for(
        lambda: sample(metrics_text(gunicorn.port), "app_worker_up") == 4,
        30,
        "the replacement worker to start",
    )

    text = metrics_text(gunicorn.port)
    assert sample(text, "app_requests_total", {"path": "/work"}) == n
    assert sample(text, "orders_total", {"region": "eu"}) == n
    assert sample(text, "app_latency_seconds_count") == n
    assert sample(text, "app_worker_up") == 4

    # The victim's files are gone, folded into the archives.
    leftovers = sorted(p.name for p in directory.glob(f"*_{victim}.db"))
    assert leftovers == []
    assert (directory / "counter_archive.db").exists()
    assert (directory / "histogram_archive.db").exists()
    live_pids = {str(p.pid) for p in gunicorn.workers()}
    owners = {p.stem.rpartition("_")[2] for p in directory.glob("*.db")}
    assert owners <= live_pids | {"archive", str(gunicorn.proc.pid)}

    more = 60
    spread_requests(gunicorn.port, more)
    for _ in range(4):
        text = metrics_text(gunicorn.port)
        assert sample(text, "app_requests_total", {"path": "/work"}) == n + more
        assert sample(text, "app_latency_seconds_count") == n + more


def test_gunicorn_preload_and_recycled_workers_stay_exact(tmp_path: Path) -> None:
    # --preload: the master imports the app (and creates the metrics) before forking;
    # --max-requests: workers exit and are replaced every few requests.
    with run_gunicorn(tmp_path, "--preload", "--max-requests", "15") as server:
        directory = Path(str(server.info()["directory"]))
        assert directory.name.startswith(f"{server.proc.pid}-")
        n = 200
        served = spread_requests(server.port, n)
        assert sum(served.values()) == n
        assert len(served) > 4, f"workers were not recycled: {served}"
        for _ in range(4):
            text = metrics_text(server.port)
            assert sample(text, "app_requests_total", {"path": "/work"}) == n
            assert sample(text, "orders_total", {"region": "eu"}) == n
            assert sample(text, "app_latency_seconds_count") == n
        # Files stay bounded: the live processes' and the archives, not one set per worker ever.
        live = {str(p.pid) for p in server.workers()} | {str(server.proc.pid)}
        owners = {p.stem.rpartition("_")[2] for p in directory.glob("*.db")}
        stale = owners - live - {"archive"}
        # A worker that exited after the last scrape's cleanup may still be listed.
        assert len(stale) <= 4, f"dead workers' files were not archived: {sorted(stale)}"


# --------------------------------------------------------------------------- real uvicorn


def test_uvicorn_two_workers_sum_exactly(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "uvicorn"),
                "--workers",
                "2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--app-dir",
                str(APPS),
                "--no-access-log",
                "multiprocess_app:asgi_app",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(tmp_path / "tmp"),
        )
    try:
        server = Server(proc, port, log)

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            # (uvicorn's children also include multiprocessing's resource tracker)
            return log.read_text().count("startup complete") == 2

        wait_for(ready, 30, "2 uvicorn workers")
        info = server.info()
        assert info["active"] is True
        assert Path(str(info["directory"])).name.startswith(f"{proc.pid}-")

        n = 100
        served = spread_requests(port, n, sleep=0.02)
        assert sum(served.values()) == n
        assert len(served) == 2, f"requests did not reach both workers: {served}"
        for _ in range(4):
            text = metrics_text(port)
            assert sample(text, "app_requests_total", {"path": "/work"}) == n
            assert sample(text, "app_worker_up") == 2
    finally:
        stop(proc)


# --------------------------------------------------------------------------- files and archive

WRITER = textwrap.dedent(
    """
    import sys
    import prometheus_client as p

    value = float(sys.argv[1])
    p.Counter("jobs", "Jobs", ["kind"]).labels("a").inc(value)
    p.Histogram("dur", "Durations", buckets=[1, 5]).observe(value)
    p.Summary("size", "Sizes").observe(value)
    p.Gauge("g_sum", "", multiprocess_mode="sum").set(value)
    p.Gauge("g_live", "", multiprocess_mode="livesum").set(1)
    p.Gauge("g_all", "").set(value)
    p.Gauge("g_max", "", multiprocess_mode="max").set(value)
    p.Gauge("g_min", "", multiprocess_mode="min").set(value)
    p.Gauge("g_recent", "", multiprocess_mode="mostrecent").set(value)
    if sys.argv[2:] == ["stay"]:
        print("ready", flush=True)
        sys.stdin.read()
    """
)


def run_writer(directory: Path, value: float) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", WRITER, str(value)], env=env, check=True, timeout=30)


def start_staying_writer(directory: Path, value: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(value), "stay"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def collect_text(directory: Path) -> str:
    registry = CollectorRegistry()
    registry.register(multiprocess.MultiProcessAggregator(str(directory)))
    return render_metrics(registry, None, None)[0].decode()


def test_dead_writers_are_archived_with_exact_totals(tmp_path: Path) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    for value in (1, 2, 30):
        run_writer(directory, value)
    alive = start_staying_writer(directory, 4)
    try:
        for _ in range(2):  # the second pass must not count the archive twice
            text = collect_text(directory)
            assert sample(text, "jobs_total", {"kind": "a"}) == 37
            assert sample(text, "dur_count") == 4
            assert sample(text, "dur_sum") == 37
            assert sample(text, "dur_bucket", {"le": "1.0"}) == 1
            assert sample(text, "dur_bucket", {"le": "5.0"}) == 3
            assert sample(text, "size_count") == 4
            assert sample(text, "size_sum") == 37
            assert sample(text, "g_sum") == 37
            assert sample(text, "g_live") == 1
            assert sample(text, "g_max") == 30
            assert sample(text, "g_min") == 1
            assert sample(text, "g_recent") == 4
            # "all" gauges: one series per live worker only.
            assert samples_named(text, "g_all") == [({"pid": str(alive.pid)}, 4.0)]

        owners = {p.stem.rpartition("_")[2] for p in directory.glob("*.db")}
        assert owners == {str(alive.pid), "archive"}
        archives = sorted(p.name for p in directory.glob("*_archive.db"))
        assert archives == [
            "counter_archive.db",
            "gauge_max_archive.db",
            "gauge_min_archive.db",
            "gauge_mostrecent_archive.db",
            "gauge_sum_archive.db",
            "histogram_archive.db",
            "summary_archive.db",
        ]
    finally:
        assert alive.stdin is not None
        alive.stdin.close()
        alive.wait(timeout=10)
        assert alive.stdout is not None
        alive.stdout.close()

    text = collect_text(directory)
    assert sample(text, "jobs_total", {"kind": "a"}) == 37
    assert sample(text, "g_max") == 30
    assert sample(text, "g_recent") == 4
    assert sample(text, "g_live") is None
    assert samples_named(text, "g_all") == []
    assert {p.stem.rpartition("_")[2] for p in directory.glob("*.db")} == {"archive"}

    # The archive is in prometheus_client's own format: its stock collector agrees.
    stock = CollectorRegistry()
    MultiProcessCollector(stock, path=str(directory))
    assert sample(render_metrics(stock, None, None)[0].decode(), "jobs_total", {"kind": "a"}) == 37


def test_concurrent_collections_never_double_count(tmp_path: Path) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    writers = 24
    observed: list[float] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def scrape() -> None:
        last = 0.0
        try:
            while not done.is_set():
                value = sample(collect_text(directory), "jobs_total", {"kind": "a"}) or 0.0
                assert value >= last, f"total went down from {last} to {value}"
                assert value <= writers, f"total {value} is more than {writers} writers"
                observed.append(value)
                last = value
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scrape) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: run_writer(directory, 1), range(writers)))
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    assert observed, "no scrape completed"
    assert sample(collect_text(directory), "jobs_total", {"kind": "a"}) == writers
    assert {p.stem.rpartition("_")[2] for p in directory.glob("*.db")} == {"archive"}


def test_mark_process_dead_archives_one_pid(tmp_path: Path) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    run_writer(directory, 5)
    (dead_file,) = directory.glob("counter_*.db")
    pid = int(dead_file.stem.rpartition("_")[2])
    multiprocess.mark_process_dead(pid, str(directory))
    assert not list(directory.glob(f"*_{pid}.db"))
    assert sample(collect_text(directory), "jobs_total", {"kind": "a"}) == 5


def test_cleanup_keeps_live_processes_files(tmp_path: Path) -> None:
    directory = tmp_path / "mp"
    directory.mkdir()
    alive = start_staying_writer(directory, 2)
    try:
        assert multiprocess.cleanup_dead_workers(str(directory)) == []
        assert list(directory.glob(f"*_{alive.pid}.db"))
    finally:
        assert alive.stdin is not None
        alive.stdin.close()
        alive.wait(timeout=10)
        assert alive.stdout is not None
        alive.stdout.close()
    assert multiprocess.cleanup_dead_workers(str(directory)) == [alive.pid]


def test_aggregator_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        multiprocess.MultiProcessAggregator(str(tmp_path / "missing"))


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("cmdline", "kind"),
    [
        (["gunicorn", "app:app", "-w", "4"], "gunicorn"),
        (["/srv/venv/bin/gunicorn", "app:app"], "gunicorn"),
        (["/usr/bin/python3.11", "/srv/venv/bin/gunicorn", "app:app"], "gunicorn"),
        (["python", "-m", "gunicorn", "app:app"], "gunicorn"),
        (["python3", "-u", "-X", "dev", "-m", "uvicorn", "main:app"], "uvicorn"),
        (["python", "-muvicorn", "main:app"], "uvicorn"),
        (["gunicorn: worker [app:app]"], "gunicorn"),
        (["uvicorn", "main:app", "--workers", "2"], "uvicorn"),
        (["hypercorn", "main:app"], "hypercorn"),
        (["/srv/venv/bin/fastapi", "run", "main.py"], "uvicorn"),
        (["fastapi", "--help"], None),
        (["pytest", "tests/test_gunicorn.py"], None),
        (["python", "-c", "import gunicorn"], None),
        (["python", "manage.py", "runserver"], None),
        (["python"], None),
        ([], None),
    ],
)
def test_server_kind(cmdline: list[str], kind: str | None) -> None:
    assert multiprocess.server_kind(cmdline) == kind


DETECT = "import json; from vigil.agent.multiprocess import detect_server; s = detect_server(); print(json.dumps(s and [s.kind, s.root_pid, s.is_root, s.serves_from_workers]))"


def test_detect_server_finds_the_outermost_server(tmp_path: Path) -> None:
    # A real process tree: a script named "uvicorn" whose child is a worker.
    script = tmp_path / "uvicorn"
    script.write_text(
        "import subprocess, sys\n"
        f"exec({DETECT!r})\n"
        f"subprocess.run([sys.executable, '-c', {DETECT!r}], check=True)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=60
    )
    root_line, child_line = result.stdout.splitlines()
    root = json.loads(root_line)
    child = json.loads(child_line)
    assert root[0] == "uvicorn"
    assert root[2] is True
    assert root[3] is False
    assert child == ["uvicorn", root[1], False, True]


def test_detect_server_outside_a_server() -> None:
    # The test runner itself is never mistaken for a server.
    assert multiprocess.server_kind(psutil.Process().cmdline()) is None


# --------------------------------------------------------------------------- setup


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private temp dir and no multi-process environment; setup(False) afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv(multiprocess.ENV_VAR, raising=False)
    assert not multiprocess.is_active()
    try:
        yield tmp_path
    finally:
        multiprocess.setup(False)
        values.close_all_multiprocess_files()


def test_setup_true_and_false_round_trip(isolated: Path) -> None:
    before = values.ValueClass
    assert multiprocess.setup(True) is True
    try:
        path = multiprocess.directory()
        assert path is not None
        me = psutil.Process()
        assert path == os.path.join(
            multiprocess.base_directory(), f"{me.pid}-{int(me.create_time() * 1000)}"
        )
        assert path.startswith(str(isolated))
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == path
        assert getattr(values.ValueClass, "_multiprocess", False)
        assert multiprocess.setup(True) is True  # idempotent

        counter = Counter("setup_probe", "probe", registry=None)
        counter.inc(3)
        assert os.path.exists(os.path.join(path, f"counter_{os.getpid()}.db"))
        body = render_metrics(None, None, None)[0].decode()
        assert sample(body, "setup_probe_total") == 3
        assert multiprocess.collection_registry() is not REGISTRY
    finally:
        assert multiprocess.setup(False) is False
    assert not multiprocess.is_active()
    assert multiprocess.directory() is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert values.ValueClass is before
    assert multiprocess.collection_registry() is REGISTRY


def test_setup_auto_is_off_outside_a_server(isolated: Path) -> None:
    assert multiprocess.setup() is False
    assert not multiprocess.is_active()


def test_setup_env_override(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(multiprocess.ENV_VAR, "0")
    assert multiprocess.setup() is False
    monkeypatch.setenv(multiprocess.ENV_VAR, "yes")
    assert multiprocess.setup() is True
    monkeypatch.setenv(multiprocess.ENV_VAR, "maybe")
    with pytest.raises(ValueError, match=r"VIGIL_MULTIPROCESS='maybe' is not valid"):
        multiprocess.setup()


def test_setup_uses_a_directory_set_by_the_user(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = isolated / "mine"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mine))
    assert multiprocess.setup() is True
    assert multiprocess.directory() == str(mine)
    assert mine.is_dir()
    multiprocess.setup(False)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(mine)  # not ours to remove


def test_setup_removes_directories_of_finished_servers(isolated: Path) -> None:
    base = Path(multiprocess.base_directory())
    base.mkdir(mode=0o700)
    me = psutil.Process()
    stale_pid = base / "4194303-1000"  # no such process
    stale_time = base / f"{me.pid}-1000"  # our pid, but another start time
    live = base / f"{me.ppid()}-{int(psutil.Process(me.ppid()).create_time() * 1000)}"
    unrelated = base / "notes"
    for d in (stale_pid, stale_time, live, unrelated):
        d.mkdir()
    multiprocess.setup(True)
    assert not stale_pid.exists()
    assert not stale_time.exists()
    assert live.exists()
    assert unrelated.exists()


def test_setup_refuses_a_base_directory_owned_by_a_symlink(isolated: Path) -> None:
    target = isolated / "elsewhere"
    target.mkdir()
    os.symlink(target, multiprocess.base_directory())
    with pytest.raises(PermissionError, match="symlink"):
        multiprocess.setup(True)
    assert not multiprocess.is_active()
