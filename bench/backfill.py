"""Backfill benchmark: import 10,000 series x 24 h at 15 s (57.6 M samples).

Generates the data once (cached in --workdir, keyed by the parameters) with the
realistic series mix of bench/targets.py (10 instances x 1,000 series, values
advancing step by step as the targets' do), in two files holding the same
samples:

* ``*.om``: OpenMetrics, timestamps in seconds, ``# EOF``, series after
  series, for ``promtool tsdb create-blocks-from openmetrics``;
* ``*.prom``: Prometheus text with millisecond timestamps (no comments), for
  ``POST /api/v1/import/prometheus`` (vigil, VictoriaMetrics), sent as
  requests of about ``--chunk-mb`` MB cut at line boundaries, one after the
  other on one connection.

Then times each system (wall clock, and CPU of the importing process tree):

* promtool: the whole command, until its blocks are written;
* vigil: ``vigil server`` started with an empty data dir and a config that
  scrapes nothing, then every request until its last 2xx (vigil acknowledges
  only durable data);
* VictoriaMetrics: every request, then ``/internal/force_flush`` (its 2xx only
  means buffered).

And checks the samples each system reports it stored against the samples sent,
and the on-disk bytes per sample afterwards (promtool's blocks; VictoriaMetrics
after a forced merge; vigil's data dir after a graceful stop) -- with 5,760
samples per series this is the long-run density that the short scrape-ingest
runs cannot show. Prints vigil's time ratio to promtool (target: <= 1.0).

Usage:
  .venv/bin/python bench/backfill.py                       # 10,000 x 24 h x 15 s
  .venv/bin/python bench/backfill.py --quick               # 1,000 x 24 h x 15 s
  .venv/bin/python bench/backfill.py --systems promtool,victoriametrics --append
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import (
    PROMTOOL,
    ROOT,
    BenchError,
    System,
    chunks,
    clean,
    dir_bytes,
    make_system,
    parse_metric,
)
from targets import TargetState, build_layout

RESULTS = ROOT / "bench" / "RESULTS.md"
SERIES_PER_INSTANCE = 1000
DAY = 86400


def default_start(now: float, hours: float) -> int:
    """Midnight UTC a day before the data must end: recent (inside a 15 d retention),
    block-aligned, and stable for a day so the generated files are reused."""
    return int(now // DAY * DAY - DAY - hours * 3600)


@dataclass
class Dataset:
    om: Path
    prom: Path
    series: int
    samples: int
    start_s: int
    end_s: int
    om_bytes: int = 0
    prom_bytes: int = 0


@dataclass
class Run:
    system: str
    wall_s: float
    cpu_s: float
    stored: float | None
    disk_bytes: int
    disk_how: str
    note: str = ""


@dataclass
class Outcome:
    system: str
    runs: list[Run] = field(default_factory=list)
    skipped: str | None = None


def _family_ranges(meta: dict[int, str], n: int) -> list[tuple[int, int, str]]:
    starts = sorted(meta)
    return [(a, starts[k + 1] if k + 1 < len(starts) else n, meta[a]) for k, a in enumerate(starts)]


def _om_meta(meta: str) -> str:
    """OpenMetrics names a counter family without its _total suffix."""
    out = []
    for line in meta.splitlines():
        parts = line.split(" ", 3)
        if parts[2].endswith("_total") and (parts[1] == "HELP" or parts[3] == "counter"):
            parts[2] = parts[2][: -len("_total")]
        out.append(" ".join(parts))
    return "\n".join(out) + "\n"


def _with_instance(prefix: str, instance: str) -> str:
    lab = f'instance="{instance}",job="backfill"'
    name, brace, rest = prefix.partition("{")
    if brace:
        return f"{name}{{{lab},{rest}"
    return f"{name.rstrip()}{{{lab}}} "


def generate(
    workdir: Path, n_series: int, hours: float, step_s: int, start_s: int, order: str
) -> Dataset:
    if n_series % SERIES_PER_INSTANCE:
        raise BenchError(f"--series must be a multiple of {SERIES_PER_INSTANCE}")
    instances = n_series // SERIES_PER_INSTANCE
    steps = int(hours * 3600 // step_s)
    key = f"bf-{n_series}x{hours:g}h-{step_s}s-{start_s}"
    om, prom = workdir / f"{key}.om", workdir / f"{key}-{order}.prom"
    end_s = start_s + (steps - 1) * step_s
    ds = Dataset(om, prom, n_series, n_series * steps, start_s, end_s)
    done = workdir / f"{key}-{order}.done"
    if done.exists() and om.exists() and prom.exists():
        print(f"using cached {om.name}, {prom.name}", flush=True)
        ds.om_bytes, ds.prom_bytes = om.stat().st_size, prom.stat().st_size
        return ds
    print(
        f"generating {n_series:,} series x {steps:,} steps = {ds.samples:,} samples ...", flush=True
    )
    t0 = time.monotonic()
    layout = build_layout(SERIES_PER_INSTANCE)
    times = start_s + step_s * np.arange(steps, dtype=np.int64)
    ts_s = [str(t) for t in times.tolist()]
    ts_ms = [str(t * 1000) for t in times.tolist()]
    # values[instance] is steps x series
    values = []
    for i in range(instances):
        st = TargetState(layout, seed=1000 + i, now=float(start_s))
        mat = np.empty((steps, SERIES_PER_INSTANCE))
        for k, t in enumerate(times.tolist()):
            st.advance(float(t))
            mat[k] = st.values
        values.append(mat)
    with om.open("w") as fo, prom.open("w") as fp:
        for a, b, meta in _family_ranges(layout.meta, SERIES_PER_INSTANCE):
            fo.write(_om_meta(meta))
            for i in range(instances):
                inst = f"host-{i:03d}"
                for j in range(a, b):
                    prefix = _with_instance(layout.prefixes[j], inst)
                    vals = [_fmt(v) for v in values[i][:, j].tolist()]
                    fo.write(
                        "".join([f"{prefix}{v} {t}\n" for v, t in zip(vals, ts_s, strict=True)])
                    )
                    if order == "series":
                        fp.write(
                            "".join(
                                [f"{prefix}{v} {t}\n" for v, t in zip(vals, ts_ms, strict=True)]
                            )
                        )
        fo.write("# EOF\n")
        if order == "time":
            _write_time_major(fp, layout.prefixes, values, ts_ms)
    ds.om_bytes, ds.prom_bytes = om.stat().st_size, prom.stat().st_size
    done.write_text(json.dumps(ds.__dict__, default=str))
    print(
        f"generated in {time.monotonic() - t0:.0f}s: {om.stat().st_size / 1e9:.2f} GB + "
        f"{prom.stat().st_size / 1e9:.2f} GB",
        flush=True,
    )
    return ds


def _write_time_major(
    fp: TextIO, prefixes: list[str], values: list[np.ndarray], ts_ms: list[str]
) -> None:
    """Every series at the first timestamp, then every series at the next, ..."""
    pre = [[_with_instance(p, f"host-{i:03d}") for p in prefixes] for i in range(len(values))]
    for k, t in enumerate(ts_ms):
        for i, mat in enumerate(values):
            fp.write(
                "".join(
                    [f"{p}{_fmt(v)} {t}\n" for p, v in zip(pre[i], mat[k].tolist(), strict=True)]
                )
            )


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def run_promtool(ds: Dataset, out: Path) -> Run:
    clean(out)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics", "-q", str(ds.om), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise BenchError(f"promtool failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stored = 0.0
    for meta in out.glob("*/meta.json"):
        stored += json.loads(meta.read_text())["stats"]["numSamples"]
    chunks_b = sum(dir_bytes(c) for c in out.glob("*/chunks"))
    nblocks = len(list(out.glob("*/meta.json")))
    return Run(
        "promtool",
        wall,
        cpu,
        stored,
        dir_bytes(out),
        f"{nblocks} blocks",
        note=f"chunks alone {chunks_b / ds.samples:.3f} B/sample",
    )


def run_import(system: System, ds: Dataset, chunk_mb: float) -> Run:
    # no scraping during the import (vigil scrapes itself when given no config)
    config = system.workdir / "empty.yml"
    system.workdir.mkdir(parents=True, exist_ok=True)
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    system.start(config)
    try:
        u0 = system.usage()
        client = httpx.Client(timeout=600.0)
        url = system.base + "/api/v1/import/prometheus"
        headers = {"Content-Type": "text/plain; version=0.0.4"}
        sent = 0
        t0 = time.perf_counter()
        for body in chunks(ds.prom, int(chunk_mb * 2**20)):
            try:
                r = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as e:
                raise BenchError(
                    f"{system.name} import failed after {sent:,} bytes: {e!r}\n{system.log_tail()}"
                ) from None
            if r.status_code // 100 != 2:
                raise BenchError(f"{system.name} import answered {r.status_code}: {r.text[:500]}")
            sent += len(body)
        if system.name == "victoriametrics":
            client.get(system.base + "/internal/force_flush").raise_for_status()
        wall = time.perf_counter() - t0
        cpu = system.usage().cpu_s - u0.cpu_s
        client.close()
        text = system.own_metrics()
        stored = None
        # vigil's importer may write old samples straight to blocks, past the head's counter
        for name in ("vigil_ingest_samples_total", *system.samples_metrics):
            stored = parse_metric(text, name)
            if stored is not None:
                break
        disk = system.flush()
        system.stop()
        left = dir_bytes(system.data_dir)
        note = f"data dir after stop {left / ds.samples:.3f} B/sample"
        return Run(system.name, wall, cpu, stored, disk.total, disk.how, note=note)
    finally:
        system.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="vigil,promtool,victoriametrics")
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--step", type=int, default=15, help="seconds between samples")
    p.add_argument("--repeat", type=int, default=1, help="runs per system (the median is printed)")
    p.add_argument("--chunk-mb", type=float, default=32.0, help="import request size")
    p.add_argument(
        "--import-order",
        choices=("series", "time"),
        default="series",
        help="order of the import file: series after series (like the OpenMetrics file) "
        "or timestamp after timestamp",
    )
    p.add_argument("--quick", action="store_true", help="1,000 series instead of 10,000")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/vigil-bench-backfill"))
    p.add_argument("--keep-data", action="store_true", help="keep generated files afterwards")
    p.add_argument("--append", action="store_true", help="append the results to bench/RESULTS.md")
    args = p.parse_args(argv)
    if args.quick:
        args.series = 1000
    args.workdir.mkdir(parents=True, exist_ok=True)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    ds = generate(
        args.workdir,
        args.series,
        args.hours,
        args.step,
        default_start(time.time(), args.hours),
        args.import_order,
    )
    outcomes: list[Outcome] = []
    for name in names:
        oc = Outcome(name)
        outcomes.append(oc)
        for k in range(args.repeat):
            run_dir = args.workdir / f"run-{name}"
            clean(run_dir)
            try:
                if name == "promtool":
                    if not PROMTOOL.exists():
                        oc.skipped = f"{PROMTOOL} not installed"
                        break
                    run = run_promtool(ds, run_dir / "blocks")
                else:
                    system = make_system(name, run_dir)
                    why = system.available()
                    if why is not None:
                        oc.skipped = why
                        break
                    try:
                        run = run_import(system, ds, args.chunk_mb)
                    finally:
                        system.close()
            except BenchError as e:
                oc.skipped = f"failed: {str(e).splitlines()[0][:300]}"
                print(f"[{name}] FAILED: {e}", flush=True)
                break
            finally:
                clean(run_dir)
            print(
                f"[{name}] run {k + 1}: {run.wall_s:.1f}s wall, {run.cpu_s:.1f}s CPU, "
                f"stored {run.stored}, {run.disk_bytes:,} B on disk",
                flush=True,
            )
            oc.runs.append(run)
    if not args.keep_data:
        for f in (ds.om, ds.prom):
            f.unlink(missing_ok=True)
        (args.workdir / f"{ds.prom.stem}.done").unlink(missing_ok=True)
    text = report(ds, outcomes)
    print()
    print(text)
    if args.append:
        append(text, argv, args)
    return 0


def report(ds: Dataset, outcomes: list[Outcome]) -> str:
    lines = [
        f"{ds.series:,} series x {ds.samples // ds.series:,} samples = {ds.samples:,} samples "
        f"({ds.om_bytes / 1e9:.2f} GB OpenMetrics, {ds.prom_bytes / 1e9:.2f} GB Prometheus text)",
        "",
        "| system | runs | wall s (median) | samples/s | CPU s | stored / sent | disk bytes/sample | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    med: dict[str, float] = {}
    med_cpu: dict[str, float] = {}
    for oc in outcomes:
        if not oc.runs:
            lines.append(f"| {oc.system} | 0 | skipped: {oc.skipped} | | | | | |")
            continue
        wall = statistics.median(r.wall_s for r in oc.runs)
        cpu = statistics.median(r.cpu_s for r in oc.runs)
        med[oc.system] = wall
        med_cpu[oc.system] = cpu
        last = oc.runs[-1]
        stored = f"{last.stored / ds.samples:.4f}" if last.stored is not None else "-"
        lines.append(
            f"| {oc.system} | {len(oc.runs)} | {wall:.1f} | {ds.samples / wall:,.0f} | {cpu:.1f} "
            f"| {stored} | {last.disk_bytes / ds.samples:.3f} | {last.disk_how}; {last.note} |"
        )
    lines.append("")
    if "vigil" in med:
        for peer in ("promtool", "victoriametrics"):
            if peer in med:
                ratio = med["vigil"] / med[peer]
                target = (
                    " (target <= 1.0: " + ("ok)" if ratio <= 1.0 else "not met)")
                    if peer == "promtool"
                    else ""
                )
                cpu_ratio = med_cpu["vigil"] / med_cpu[peer] if med_cpu[peer] else float("nan")
                lines.append(
                    f"**vigil / {peer} import time: {ratio:.2f}x{target}; CPU {cpu_ratio:.2f}x**"
                )
    return "\n".join(lines)


def append(text: str, argv: list[str] | None, args: argparse.Namespace) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python bench/backfill.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    header = (
        f"\n## backfill ({now})\n\nCommand: `{cmd.strip()}` (Python {platform.python_version()}, "
        f"{platform.machine()}, {psutil.cpu_count()} CPUs shared with other jobs; import requests "
        f"of {args.chunk_mb:g} MB, import file in {args.import_order} order)\n\n"
    )
    with RESULTS.open("a") as f:
        f.write(header + text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
