"""Scrape-ingest benchmark: vigil, Prometheus and VictoriaMetrics on the same targets.

Starts bench/targets.py (default 100 targets x 1,000 series on loopback), writes
one prometheus.yml (5 s interval) and runs each system on it, one after the
other, in this one run:

1. start the system, wait until it is ready, let it scrape for ``--warmup``
   seconds (series creation, first chunks);
2. measure for ``--duration`` seconds, sampling every ``--sample-every`` seconds
   the system's CPU seconds (user+system of the process tree, /proc via psutil),
   its RSS, and the samples the targets served (their /stats counters: the same
   count whoever scrapes);
3. bring the data to its compacted on-disk form (see bench/peers.py) and measure
   the bytes.

Printed per system:

* CPU seconds per million samples ingested: median over the sampling windows
  (and the whole-window figure);
* RSS at the end / active series (bytes per series; targets x series);
* on-disk bytes per sample: compacted bytes / samples stored since start (the
  system's own sample counter when it exports one, else samples served);
* scrapes per second served, to show whether the system kept up;

then vigil's ratio to each peer (the issue's targets: CPU per sample <= 2x
Prometheus, memory per series and bytes per sample <= Prometheus).

Usage:
  .venv/bin/python bench/scrape_ingest.py                 # 30 s warm-up + 180 s per system
  .venv/bin/python bench/scrape_ingest.py --quick         # 15 s + 45 s per system
  .venv/bin/python bench/scrape_ingest.py --systems prometheus,victoriametrics --append
``--append`` adds a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import (
    ROOT,
    BenchError,
    System,
    clean,
    dir_bytes,
    make_system,
    scrape_config_yaml,
)

RESULTS = ROOT / "bench" / "RESULTS.md"


@dataclass
class Point:
    t: float
    cpu_s: float
    rss: int
    served: int
    scrapes: int


@dataclass
class Result:
    name: str
    skipped: str | None = None
    points: list[Point] = field(default_factory=list)
    cpu_per_m_median: float = 0.0
    cpu_per_m_overall: float = 0.0
    samples_per_s: float = 0.0
    scrapes_per_s: float = 0.0
    rss_end: int = 0
    rss_max: int = 0
    rss_per_series: float = 0.0
    head_series: float | None = None
    own_appended: float | None = None
    served_since_start: int = 0
    disk_bytes: int = 0
    disk_data_bytes: int | None = None
    disk_how: str = ""
    disk_per_sample: float = 0.0
    disk_data_per_sample: float | None = None
    disk_samples_from: str = ""
    raw_dir_bytes: int = 0


class Targets:
    """bench/targets.py in a subprocess."""

    def __init__(self, n_targets: int, n_series: int, gzip: bool) -> None:
        cmd = [sys.executable, str(ROOT / "bench" / "targets.py"), "--targets", str(n_targets)]
        cmd += ["--series", str(n_series)] + (["--gzip"] if gzip else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"targets.py exited with {self.proc.wait()}")
        info = json.loads(line)
        self.addresses: list[str] = info["targets"]
        self.series = n_series
        self.client = httpx.Client(timeout=10.0)

    def stats(self) -> dict[str, int]:
        r = self.client.get(f"http://{self.addresses[0]}/stats/all")
        r.raise_for_status()
        out: dict[str, int] = r.json()
        return out

    def cpu_s(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def sample(system: System, targets: Targets) -> Point:
    u = system.usage()
    s = targets.stats()
    return Point(time.monotonic(), u.cpu_s, u.rss, s["samples"], s["scrapes"])


def sleep_checking(system: System, seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if not system.alive():
            raise BenchError(
                f"{system.name} died (exit {system.proc and system.proc.returncode}):\n{system.log_tail()}"
            )
        time.sleep(min(left, 1.0))


def run_one(system: System, targets: Targets, config: Path, args: argparse.Namespace) -> Result:
    res = Result(system.name)
    why = system.available()
    if why is not None:
        res.skipped = why
        return res
    served_at_start = targets.stats()["samples"]
    system.start(config)
    try:
        print(f"[{system.name}] ready on {system.base}; warm-up {args.warmup:.0f}s", flush=True)
        sleep_checking(system, args.warmup)
        res.points.append(sample(system, targets))
        n_windows = max(1, round(args.duration / args.sample_every))
        for _ in range(n_windows):
            sleep_checking(system, args.sample_every)
            res.points.append(sample(system, targets))
        res.own_appended = system.samples_appended()
        res.head_series = system.head_series()
        res.served_since_start = targets.stats()["samples"] - served_at_start
        res.raw_dir_bytes = dir_bytes(system.data_dir)
        print(f"[{system.name}] measured; flushing", flush=True)
        disk = system.flush()
        res.disk_bytes, res.disk_data_bytes, res.disk_how = disk.total, disk.data, disk.how
    finally:
        system.stop()
    summarise(res, targets)
    return res


def summarise(res: Result, targets: Targets) -> None:
    pts = res.points
    rates = [
        (b.cpu_s - a.cpu_s) / (b.served - a.served) * 1e6
        for a, b in itertools.pairwise(pts)
        if b.served > a.served
    ]
    res.cpu_per_m_median = statistics.median(rates) if rates else float("nan")
    first, last = pts[0], pts[-1]
    served = last.served - first.served
    elapsed = last.t - first.t
    res.cpu_per_m_overall = (last.cpu_s - first.cpu_s) / served * 1e6 if served else float("nan")
    res.samples_per_s = served / elapsed
    res.scrapes_per_s = (last.scrapes - first.scrapes) / elapsed
    res.rss_end = last.rss
    res.rss_max = max(p.rss for p in pts)
    active = len(targets.addresses) * targets.series
    res.rss_per_series = res.rss_end / active
    if res.own_appended:
        stored, res.disk_samples_from = res.own_appended, "own counter"
    else:
        stored, res.disk_samples_from = float(res.served_since_start), "served by targets"
    res.disk_per_sample = res.disk_bytes / stored if stored else float("nan")
    if res.disk_data_bytes is not None and stored:
        res.disk_data_per_sample = res.disk_data_bytes / stored


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def report(
    results: list[Result], args: argparse.Namespace, targets_cpu: float, total_s: float
) -> str:
    ran = [r for r in results if r.skipped is None]
    lines = [
        "| system | samples/s | scrapes/s | CPU s per M samples (median) | (whole window) "
        "| RSS end MB | RSS bytes/series | disk bytes/sample | (samples data only) | on-disk form |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in ran:
        lines.append(
            f"| {r.name} | {r.samples_per_s:,.0f} | {r.scrapes_per_s:.1f} | {fmt(r.cpu_per_m_median)} "
            f"| {fmt(r.cpu_per_m_overall)} | {r.rss_end / 2**20:,.0f} | {r.rss_per_series:,.0f} "
            f"| {fmt(r.disk_per_sample)} | {fmt(r.disk_data_per_sample)} | {r.disk_how} |"
        )
    for r in results:
        if r.skipped:
            lines.append(f"| {r.name} | skipped: {r.skipped} | | | | | | | | |")
    lines.append("")
    detail = []
    for r in ran:
        detail.append(
            f"- {r.name}: RSS max {r.rss_max / 2**20:,.0f} MB; head series (own metric) {fmt(r.head_series, 0)}; "
            f"samples stored {fmt(r.own_appended, 0)} (own counter) vs {r.served_since_start:,} served; "
            f"disk {r.disk_bytes:,} B ({r.disk_samples_from}); data dir before flush {r.raw_dir_bytes:,} B"
        )
    lines += detail
    by = {r.name: r for r in ran}
    if "vigil" in by:
        v = by["vigil"]
        lines.append("")
        for peer, cpu_t, mem_t, disk_t in (
            ("prometheus", 2.0, 1.0, 1.0),
            ("victoriametrics", None, None, None),
        ):
            if peer not in by:
                continue
            p = by[peer]
            parts = []
            for label, a, b, target in (
                ("CPU/sample", v.cpu_per_m_median, p.cpu_per_m_median, cpu_t),
                ("RSS/series", v.rss_per_series, p.rss_per_series, mem_t),
                ("bytes/sample", v.disk_per_sample, p.disk_per_sample, disk_t),
            ):
                ratio = a / b if b else float("nan")
                verdict = (
                    ""
                    if target is None
                    else (" (ok)" if ratio <= target else f" (target <= {target:g})")
                )
                parts.append(f"{label} {ratio:.2f}x{verdict}")
            lines.append(f"**vigil / {peer}: " + ", ".join(parts) + "**")
    lines.append("")
    lines.append(
        f"Targets process CPU over the whole run: {targets_cpu:.1f} s of {total_s:.0f} s wall "
        f"({targets_cpu / total_s * 100:.0f}% of one core)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="vigil,prometheus,victoriametrics")
    p.add_argument("--targets", type=int, default=100)
    p.add_argument("--series", type=int, default=1000, help="series per target")
    p.add_argument("--interval", type=int, default=5, help="scrape interval, seconds")
    p.add_argument("--warmup", type=float, default=30.0)
    p.add_argument("--duration", type=float, default=180.0, help="measured seconds per system")
    p.add_argument("--sample-every", type=float, default=10.0)
    p.add_argument("--quick", action="store_true", help="15 s warm-up + 45 s measured per system")
    p.add_argument("--gzip", action="store_true", help="targets gzip their bodies")
    p.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    p.add_argument("--keep", action="store_true", help="keep data directories")
    p.add_argument("--append", action="store_true", help="append the results to bench/RESULTS.md")
    args = p.parse_args(argv)
    if args.quick:
        args.warmup, args.duration, args.sample_every = 15.0, 45.0, 5.0
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vigil-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    targets = Targets(args.targets, args.series, args.gzip)
    results: list[Result] = []
    try:
        config = workdir / "prometheus.yml"
        timeout = max(1, args.interval - 1)
        config.write_text(
            scrape_config_yaml(targets.addresses, interval_s=args.interval, timeout_s=timeout)
        )
        print(
            f"{len(targets.addresses)} targets x {args.series} series; config {config}", flush=True
        )
        for name in names:
            system = make_system(name, workdir)
            try:
                results.append(run_one(system, targets, config, args))
            except (BenchError, httpx.HTTPError) as e:
                print(f"[{name}] FAILED: {e}", flush=True)
                results.append(Result(name, skipped=f"failed: {str(e).splitlines()[0]}"))
            finally:
                system.close()
                if not args.keep:
                    clean(system.workdir)
        targets_cpu = targets.cpu_s()
    finally:
        targets.close()
        if not args.keep and args.workdir is None:
            clean(workdir)
    text = report(results, args, targets_cpu, time.monotonic() - started)
    print()
    print(text)
    if args.append:
        append(text, argv)
    return 0


def append(text: str, argv: list[str] | None) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python bench/scrape_ingest.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    versions = peer_versions()
    header = (
        f"\n## scrape_ingest ({now})\n\nCommand: `{cmd.strip()}` (Python {platform.python_version()}, "
        f"{platform.machine()}, {psutil.cpu_count()} CPUs shared with other jobs; {versions})\n\n"
    )
    with RESULTS.open("a") as f:
        f.write(header + text + "\n")


def peer_versions() -> str:
    out = []
    for cmd in (["/usr/bin/prometheus", "--version"],):
        try:
            first = subprocess.run(
                cmd, capture_output=True, text=True, timeout=10
            ).stdout.splitlines()[0]
            out.append(first.split(" (")[0])
        except (OSError, IndexError, subprocess.TimeoutExpired):
            pass
    try:
        v = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        if v:
            out.append(f"victoria-metrics {v}")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ", ".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
