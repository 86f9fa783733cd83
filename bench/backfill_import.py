"""Backfill: vigil's bulk import against ``promtool tsdb create-blocks-from openmetrics``.

One run, one generated OpenMetrics file (bench/backfill.py's generator: 10,000
series x 24 h at 15 s = 57.6 M samples, series after series, cached in
--workdir), three timings:

* promtool: the whole command until its blocks are written;
* vigil server: ``vigil server`` (empty data dir, scraping nothing) and the
  ``vigil import FILE`` CLI sending the same file in --chunk-mb requests; the
  clock stops at the CLI's exit, i.e. after the last 204 (vigil answers 204
  only once the samples are fsynced and queryable);
* vigil in-process: the importer the endpoint uses (vectorised parse, bulk
  import into blocks) over the same chunks, against a TSDB opened in a temp
  dir; then its samples are counted back through a querier, and the overlapping
  per-request blocks are merged by one ``compact()`` (timed separately).

Prints samples/s, wall and CPU seconds, and vigil's wall-time ratios to promtool
(the target of issue 3: <= 1.0). ``--append`` writes them to bench/RESULTS.md.

Usage:
  .venv/bin/python bench/backfill_import.py                 # 10,000 x 24 h x 15 s
  .venv/bin/python bench/backfill_import.py --series 1000   # quick
  .venv/bin/python bench/backfill_import.py --skip promtool --keep-data
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backfill import Dataset, default_start, generate, run_promtool
from peers import ROOT, BenchError, chunks, clean, dir_bytes, make_system, parse_metric

RESULTS = ROOT / "bench" / "RESULTS.md"
VIGIL = ROOT / ".venv" / "bin" / "vigil"
OM_TYPE = "application/openmetrics-text; version=1.0.0"


def run_vigil_server(ds: Dataset, workdir: Path, chunk_mb: float) -> dict[str, Any]:
    system = make_system("vigil", workdir)
    why = system.available()
    if why is not None:
        raise BenchError(why)
    config = workdir / "empty.yml"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    system.start(config)
    try:
        u0 = system.usage()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                str(VIGIL),
                "import",
                str(ds.om),
                f"--url={system.base}",
                f"--chunk-bytes={int(chunk_mb * 2**20)}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise BenchError(f"vigil import failed ({proc.returncode}): {proc.stderr[-2000:]}")
        server_cpu = system.usage().cpu_s - u0.cpu_s
        cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        text = system.own_metrics()
        stored = parse_metric(text, "vigil_ingest_samples_total")  # nothing else ingests
        blocks = len(list(system.data_dir.glob("*/meta.json")))
        system.stop(timeout=600)
        return {
            "wall": wall,
            "cpu": server_cpu + cli_cpu,
            "stored": stored,
            "blocks": blocks,
            "disk": dir_bytes(system.data_dir),
        }
    finally:
        system.close()


def run_vigil_inprocess(ds: Dataset, chunk_mb: float) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from vigil.api.importer import Importer
    from vigil.api.write import IngestMetrics
    from vigil.model.matchers import Matcher, MatchType
    from vigil.tsdb.db import TSDB

    with tempfile.TemporaryDirectory(prefix="vigil-backfill-", dir=ds.om.parent) as d:
        db = TSDB.open(d, retention_ms=None, background=False)
        try:
            importer = Importer(db, metrics=IngestMetrics(CollectorRegistry()))
            proc = psutil.Process()
            c0 = sum(proc.cpu_times()[:2])
            t0 = time.perf_counter()
            samples = 0
            size = int(chunk_mb * 2**20)
            for body in chunks(ds.om, size):
                body = body.rstrip()
                if body.endswith(b"# EOF"):
                    body = body[: -len(b"# EOF")].rstrip()
                if not body:
                    continue
                samples += importer.import_text(body + b"\n# EOF\n", OM_TYPE).samples
            wall = time.perf_counter() - t0
            cpu = sum(proc.cpu_times()[:2]) - c0
            blocks = len(db.blocks)
            t1 = time.perf_counter()
            db.compact()
            compact_s = time.perf_counter() - t1
            q = db.querier(-(2**62), 2**62)
            try:
                got = q.select([Matcher(MatchType.REGEX, "__name__", ".+")])
            finally:
                q.close()
            counted = sum(len(s) for s in got)
            return {
                "wall": wall,
                "cpu": cpu,
                "stored": samples,
                "counted": counted,
                "series": len(got),
                "blocks": blocks,
                "blocks_after": len(db.blocks),
                "compact_s": compact_s,
                "disk": sum(b.meta.size_bytes for b in db.blocks),
            }
        finally:
            db.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--step", type=int, default=15)
    p.add_argument("--chunk-mb", type=float, default=64.0, help="import request size")
    p.add_argument("--skip", default="", help="comma list of: promtool,server,inprocess")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/vigil-bench-backfill-import"))
    p.add_argument("--keep-data", action="store_true")
    p.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = p.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.workdir.mkdir(parents=True, exist_ok=True)
    ds = generate(
        args.workdir,
        args.series,
        args.hours,
        args.step,
        default_start(time.time(), args.hours),
        "series",
    )
    rows: list[tuple[str, float, float, float | None, str]] = []
    walls: dict[str, float] = {}
    try:
        if "promtool" not in skip:
            out = args.workdir / "promtool-blocks"
            clean(out)
            print("promtool ...", flush=True)
            r = run_promtool(ds, out)
            clean(out)
            walls["promtool"] = r.wall_s
            rows.append(
                ("promtool", r.wall_s, r.cpu_s, r.stored, f"{r.disk_how}, {r.disk_bytes:,} B")
            )
            print(rows[-1], flush=True)
        if "server" not in skip:
            print("vigil server + vigil import ...", flush=True)
            wd = args.workdir / "vigil-server"
            clean(wd)
            s = run_vigil_server(ds, wd, args.chunk_mb)
            clean(wd)
            walls["vigil server + CLI"] = float(s["wall"])
            rows.append(
                (
                    "vigil server + CLI",
                    float(s["wall"]),
                    float(s["cpu"]),
                    s["stored"],
                    f"{s['blocks']} blocks at the end of the import (merged later in the "
                    f"background), data dir {s['disk']:,} B after stop",
                )
            )
            print(rows[-1], flush=True)
        if "inprocess" not in skip:
            print("vigil in-process ...", flush=True)
            m = run_vigil_inprocess(ds, args.chunk_mb)
            walls["vigil in-process"] = float(m["wall"])
            rows.append(
                (
                    "vigil in-process",
                    float(m["wall"]),
                    float(m["cpu"]),
                    float(m["stored"]),
                    f"{m['blocks']} blocks, merged by compact() into {m['blocks_after']} in "
                    f"{float(m['compact_s']):.1f} s ({int(m['disk']) / ds.samples:.3f} "
                    f"B/sample); read back {m['counted']:,} samples of {m['series']:,} series",
                )
            )
            print(rows[-1], flush=True)
    except (BenchError, httpx.HTTPError) as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    finally:
        if not args.keep_data:
            for path in (ds.om, ds.prom, *args.workdir.glob("*.done")):
                path.unlink(missing_ok=True)
    lines = [
        f"{ds.series:,} series x {ds.samples // ds.series:,} samples = {ds.samples:,} samples, "
        f"one OpenMetrics file; vigil imports it in {args.chunk_mb:g} MB requests",
        "",
        "| path | wall s | samples/s | CPU s | stored / sent | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, wall, cpu, stored, note in rows:
        frac = f"{stored / ds.samples:.4f}" if stored is not None else "-"
        lines.append(
            f"| {name} | {wall:.1f} | {ds.samples / wall:,.0f} | {cpu:.1f} | {frac} | {note} |"
        )
    lines.append("")
    if "promtool" in walls:
        for name, wall in walls.items():
            if name != "promtool":
                ratio = wall / walls["promtool"]
                ok = "ok" if ratio <= 1.0 else "not met"
                lines.append(f"**{name} / promtool wall time: {ratio:.2f}x (target <= 1.0: {ok})**")
    text = "\n".join(lines)
    print()
    print(text)
    if args.append:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python bench/backfill_import.py " + shlex.join(
            sys.argv[1:] if argv is None else argv
        )
        with RESULTS.open("a") as out:
            out.write(
                f"\n## backfill_import: bulk import vs promtool (F2, {now})\n\n"
                f"Command: `{cmd.strip()}` (Python {platform.python_version()}, "
                f"{psutil.cpu_count()} CPUs shared with other jobs)\n\n{text}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
