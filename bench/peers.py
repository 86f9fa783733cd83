"""Start, measure and stop the systems the benchmarks compare: vigil, Prometheus, VictoriaMetrics.

Each system is a subprocess on a loopback port with its own data directory. A
``System`` knows how to start its binary with a Prometheus-style scrape config,
when it is ready, how to read its own sample counter, how to make its data
reach its compacted on-disk form (Prometheus: an admin-API snapshot, which
writes the head as a block; VictoriaMetrics: ``/internal/force_flush`` then
``/internal/force_merge``; vigil: a graceful stop, then whatever the data
directory holds), and how to stop.

CPU and memory are read from /proc through psutil for the process and all its
children: user + system CPU seconds, and resident set size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
VIGIL = Path(os.environ.get("VIGIL_BIN", ROOT / ".venv" / "bin" / "vigil"))
PROMETHEUS = Path(os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus"))
PROMTOOL = Path(os.environ.get("PROMTOOL_BIN", "/usr/bin/promtool"))
VICTORIA = Path(os.environ.get("VICTORIA_BIN", "/usr/bin/victoria-metrics"))


class BenchError(Exception):
    """A system did not start, answer or stop as expected."""


def chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file in pieces of about ``size`` bytes, each ending at a line end."""
    with path.open("rb") as f:
        rest = b""
        while True:
            block = f.read(size)
            if not block:
                if rest:
                    yield rest
                return
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            yield block[:cut]
            rest = block[cut:]


def free_port() -> int:
    """A loopback port free right now (for binaries that need a fixed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dir_bytes(path: Path) -> int:
    """Bytes of all regular files under ``path`` (hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_size
    return total


def blocks_disk(path: Path, how: str) -> Disk:
    """Blocks under ``path``: total, and their chunks (a chunks/ directory or file) alone."""
    data = sum(dir_bytes(c) if c.is_dir() else c.stat().st_size for c in path.glob("**/chunks"))
    return Disk(dir_bytes(path), data, how)


def scrape_config_yaml(
    targets: Sequence[str], *, interval_s: int, timeout_s: int, job: str = "bench"
) -> str:
    """A prometheus.yml all three systems accept unchanged."""
    lines = [
        "global:",
        f"  scrape_interval: {interval_s}s",
        f"  scrape_timeout: {timeout_s}s",
        "scrape_configs:",
        f"  - job_name: {job}",
        "    static_configs:",
        "      - targets:",
    ]
    lines += [f"          - {t}" for t in targets]
    return "\n".join(lines) + "\n"


def parse_metric(text: str, name: str) -> float | None:
    """Sum of every sample of metric ``name`` (any labels) in an exposition, None if absent."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        rest = line[len(name) :]
        if rest[:1] not in ("{", " "):
            continue
        try:
            value = float(line.rsplit("}", 1)[-1].split()[0] if "{" in rest else rest.split()[0])
        except (ValueError, IndexError):
            continue
        total += value
        found = True
    return total if found else None


@dataclass
class Disk:
    """Compacted on-disk size: total, the sample data alone (None if not separable), how measured."""

    total: int
    data: int | None
    how: str


@dataclass
class Usage:
    cpu_s: float
    rss: int


class System:
    """One system under test; subclasses fill in the binary specifics."""

    name = "?"
    ready_path = "/-/ready"
    samples_metrics: tuple[str, ...] = ()
    series_metrics: tuple[str, ...] = ()

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"
        self.client = httpx.Client(timeout=60.0)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, config: Path | None) -> list[str]:
        raise NotImplementedError

    def available(self) -> str | None:
        """None when the system can run here, else why not."""
        return None

    def start(self, config: Path | None, *, ready_timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            self.command(config), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if self.client.get(self.base + self.ready_path, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"{self.name} not ready after {ready_timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def usage(self) -> Usage:
        """CPU seconds (user+system, the process and its children) and RSS bytes."""
        assert self.proc is not None
        try:
            p = psutil.Process(self.proc.pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            return Usage(0.0, 0)
        cpu, rss = 0.0, 0
        for q in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = q.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                rss += q.memory_info().rss
        return Usage(cpu, rss)

    def own_metrics(self) -> str:
        r = self.client.get(self.base + "/metrics")
        r.raise_for_status()
        return r.text

    def _first_metric(self, names: Sequence[str]) -> float | None:
        try:
            text = self.own_metrics()
        except httpx.HTTPError:
            return None
        for name in names:
            v = parse_metric(text, name)
            if v is not None:
                return v
        return None

    def samples_appended(self) -> float | None:
        """The system's own count of samples written to storage, if it exports one."""
        return self._first_metric(self.samples_metrics)

    def head_series(self) -> float | None:
        return self._first_metric(self.series_metrics)

    def flush(self) -> Disk:
        """Bring data to its compacted on-disk form and measure it."""
        return Disk(dir_bytes(self.data_dir), None, "data dir")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        self.client.close()


class Prometheus(System):
    name = "prometheus"
    samples_metrics = ("prometheus_tsdb_head_samples_appended_total",)
    series_metrics = ("prometheus_tsdb_head_series",)

    def available(self) -> str | None:
        return None if PROMETHEUS.exists() else f"{PROMETHEUS} not installed"

    def command(self, config: Path | None) -> list[str]:
        assert config is not None
        return [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-admin-api",
            "--log.level=warn",
        ]

    def flush(self) -> Disk:
        r = self.client.post(self.base + "/api/v1/admin/tsdb/snapshot")
        r.raise_for_status()
        snap = self.data_dir / "snapshots" / r.json()["data"]["name"]
        return blocks_disk(snap, "admin snapshot (head written as a block)")


class VictoriaMetrics(System):
    name = "victoriametrics"
    ready_path = "/health"
    samples_metrics = ("vm_rows_added_to_storage_total",)
    series_metrics = ("vm_new_timeseries_created_total",)

    def available(self) -> str | None:
        return None if VICTORIA.exists() else f"{VICTORIA} not installed"

    def command(self, config: Path | None) -> list[str]:
        cmd = [
            str(VICTORIA),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=100y",
            "-loggerLevel=WARN",
        ]
        if config is not None:
            cmd.append(f"-promscrape.config={config}")
        return cmd

    def flush(self) -> Disk:
        self.client.get(self.base + "/internal/force_flush").raise_for_status()
        # force_merge (all partitions) runs in the background: wait until the
        # directory stops changing
        self.client.get(self.base + "/internal/force_merge")
        last, stable = -1, 0
        deadline = time.monotonic() + 60
        while stable < 3 and time.monotonic() < deadline:
            time.sleep(1.0)
            size = dir_bytes(self.data_dir)
            stable = stable + 1 if size == last else 0
            last = size
        data = dir_bytes(self.data_dir / "data")
        index = dir_bytes(self.data_dir / "indexdb")
        return Disk(data + index, data, "force_flush + force_merge; data/ + indexdb/")


class Vigil(System):
    name = "vigil"
    samples_metrics = ("vigil_tsdb_head_samples_appended_total",)
    series_metrics = ("vigil_tsdb_head_series",)

    def available(self) -> str | None:
        if not VIGIL.exists():
            return f"{VIGIL} not found"
        try:
            out = subprocess.run(
                [str(VIGIL), "server", "--help"], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"`vigil server --help` failed: {e}"
        if out.returncode != 0:
            return f"`vigil server` not available yet (exit {out.returncode})"
        return None

    def command(self, config: Path | None) -> list[str]:
        cmd = [
            str(VIGIL),
            "server",
            f"--data-dir={self.data_dir}",
            f"--listen=127.0.0.1:{self.port}",
            "--log-level=warning",  # like the peers' warn level
            "--public-ingest",  # the peers take writes and imports without credentials too
        ]
        if config is not None:
            cmd.append(f"--config={config}")
        return cmd

    def flush(self) -> Disk:
        # Use a Prometheus-compatible snapshot if the server offers one. Else stop
        # it gracefully and do what Prometheus's snapshot does, offline, through
        # public APIs: open the store, select every series and write them as one
        # block (vigil's own chunk encoding and index) into a snapshot directory.
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            r = self.client.post(self.base + "/api/v1/admin/tsdb/snapshot")
            if r.status_code == 200:
                snap = self.data_dir / "snapshots" / r.json()["data"]["name"]
                return blocks_disk(snap, "admin snapshot")
        self.stop()
        try:
            return vigil_offline_snapshot(self.data_dir, self.workdir / "snapshot")
        except Exception as e:  # the TSDB API may still move; fall back to the raw directory
            return Disk(dir_bytes(self.data_dir), None, f"whole data dir (snapshot failed: {e})")


def vigil_offline_snapshot(data_dir: Path, out: Path) -> Disk:
    """Open vigil's data dir (WAL replay), write all its samples as blocks, measure them."""
    from vigil.model.matchers import Matcher, MatchType
    from vigil.tsdb.block import write_block
    from vigil.tsdb.db import TSDB

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    existing = {b.name for b in data_dir.iterdir() if (b / "meta.json").exists()}
    db = TSDB.open(data_dir, retention_ms=None, background=False)
    try:
        q = db.querier(-(2**62), 2**62)
        try:
            series = q.select([Matcher(MatchType.REGEX, "__name__", ".+")])
        finally:
            q.close()
        if series:
            mint = min(int(s.timestamps[0]) for s in series if len(s))
            maxt = max(int(s.timestamps[-1]) for s in series if len(s)) + 1
            write_block(
                out, ((s.labels, s.timestamps, s.values) for s in series), mint=mint, maxt=maxt
            )
    finally:
        db.close()
    disk = blocks_disk(
        out, "graceful stop, then all samples written as one block (offline snapshot)"
    )
    if existing:
        disk.how += f"; the server had written {len(existing)} block(s) itself"
    return disk


SYSTEMS: dict[str, type[System]] = {
    "vigil": Vigil,
    "prometheus": Prometheus,
    "victoriametrics": VictoriaMetrics,
}


def make_system(name: str, workdir: Path) -> System:
    try:
        cls = SYSTEMS[name]
    except KeyError:
        raise BenchError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}") from None
    return cls(workdir / name)


def clean(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
