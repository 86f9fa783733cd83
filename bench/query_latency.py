"""Query latency: vigil against Prometheus and VictoriaMetrics on the same stored data.

One data set, generated once as OpenMetrics (cached in --workdir, keyed by its
parameters): --series series (default 10,000: 10 instances x 1,000) x --hours
(default 24) at 15 s, the realistic mix of bench/targets.py -- counters
``http_requests_total{job,instance,handler,method,code}``, two classic
histograms (``*_bucket{le}``, ``_sum``, ``_count``), CPU-seconds counters and
gauges (queues, temperatures, memory, constants). Two jobs (``api`` for even
instances, ``web`` for odd). Sample timestamps sit 7 s past a multiple of 15 s,
so that no evaluation time of the query set (whole minutes) and no range
boundary falls on a sample: there Prometheus 2.42 (ranges closed on the left)
and vigil (3.x semantics, open on the left) would differ by design.

Loading, each system on a loopback port with its own data directory:

* Prometheus: ``promtool tsdb create-blocks-from openmetrics`` into its data
  dir, then ``prometheus`` started on it (scraping nothing);
* VictoriaMetrics: ``POST /api/v1/import/prometheus`` of the same file in
  --chunk-mb requests (timestamps turned into milliseconds on the fly), then
  ``/internal/force_flush``; its response cache is off (``-search.disableCache``)
  as Prometheus and vigil have none;
* vigil: ``vigil server`` (scraping nothing) and ``vigil import FILE`` (the
  same OpenMetrics file, --chunk-mb requests); ``--vigil-hours`` imports only
  the last hours when the import is too slow (said in the report).

Then waits until every system's block set has settled (Prometheus and vigil
merge the imported blocks in the background), counts each system's stored
samples with one query, runs every query once to warm up, and then --repeat
rounds: in each round every query against every system (the order of systems
rotating), one request at a time over HTTP/1.1 keep-alive, timed until the
whole response body is read. Prints the median per query and system, vigil's
ratios to Prometheus (target: <= 1.0 for each) and to VictoriaMetrics, and
whether vigil's results equal Prometheus's (same series, same timestamps,
values within 1e-9 relative; mismatches printed). VictoriaMetrics's results are
not compared: its MetricsQL differs from PromQL by design (``rate`` without
extrapolation, lookback from the step, ...).

Everything is bounded: every request has --query-timeout (a query that times
out in the warm-up is not repeated on that system), every load step
--load-timeout, and all servers are stopped at the end, on error and on Ctrl-C.

Usage:
  .venv/bin/python bench/query_latency.py --quick            # 1,000 series x 6 h, ~3 min
  .venv/bin/python bench/query_latency.py                    # 10,000 series x 24 h
  .venv/bin/python bench/query_latency.py --repeat 7 --append --keep-data
  .venv/bin/python bench/query_latency.py --reuse     # time again on the kept data dirs
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import (
    PROMTOOL,
    ROOT,
    BenchError,
    Prometheus,
    System,
    VictoriaMetrics,
    Vigil,
    chunks,
    clean,
)
from targets import TargetState, build_layout

RESULTS = ROOT / "bench" / "RESULTS.md"
VIGIL_BIN = ROOT / ".venv" / "bin" / "vigil"
SERIES_PER_INSTANCE = 1000
STEP_S = 15
OFFSET_S = 7  # samples at 15 k + 7 s: off every whole-minute evaluation time and range edge
DAY = 86400
EMPTY_CONFIG = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"


# -- the data set ----------------------------------------------------------------------------


@dataclass
class Dataset:
    om: Path
    series: int
    samples: int
    start_s: int  # first sample, Unix seconds
    end_s: int  # last sample


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _om_meta(meta: str) -> str:
    """OpenMetrics names a counter family without its _total suffix."""
    out = []
    for line in meta.splitlines():
        parts = line.split(" ", 3)
        if parts[2].endswith("_total") and (parts[1] == "HELP" or parts[3] == "counter"):
            parts[2] = parts[2][: -len("_total")]
        out.append(" ".join(parts))
    return "\n".join(out) + "\n"


def _with_target(prefix: str, job: str, instance: str) -> str:
    lab = f'job="{job}",instance="{instance}"'
    name, brace, rest = prefix.partition("{")
    if brace:
        return f"{name}{{{lab},{rest}"
    return f"{name.rstrip()}{{{lab}}} "


def generate(workdir: Path, n_series: int, hours: float, *, end_s: int | None = None) -> Dataset:
    """The data set in ``workdir`` (generated unless cached). By default it ends before
    yesterday's midnight; ``end_s`` (Unix seconds) makes its last sample fall there instead
    (bench/rule_eval.py: Prometheus evaluates rules at wall-clock time)."""
    if n_series % SERIES_PER_INSTANCE:
        raise BenchError(f"--series must be a multiple of {SERIES_PER_INSTANCE}")
    instances = n_series // SERIES_PER_INSTANCE
    steps = int(hours * 3600 // STEP_S)
    if end_s is None:
        # ends before yesterday's midnight (UTC): stable for a day, so the file is reused
        start_s = int(time.time() // DAY * DAY - DAY - hours * 3600) + OFFSET_S
    else:
        start_s = end_s - (steps - 1) * STEP_S
    end_s = start_s + (steps - 1) * STEP_S
    key = f"q-{n_series}x{hours:g}h-{STEP_S}s-{start_s}"
    om, done = workdir / f"{key}.om", workdir / f"{key}.done"
    ds = Dataset(om, n_series, n_series * steps, start_s, end_s)
    if done.exists() and om.exists():
        print(f"using cached {om}", flush=True)
        return ds
    for old in workdir.glob("q-*.om"):  # one data set at a time on disk
        old.unlink()
    print(f"generating {n_series:,} series x {steps:,} steps = {ds.samples:,} samples", flush=True)
    t0 = time.monotonic()
    layout = build_layout(SERIES_PER_INSTANCE)
    times = start_s + STEP_S * np.arange(steps, dtype=np.int64)
    ts = [f" {t}\n" for t in times.tolist()]
    values = []  # per instance: steps x series
    for i in range(instances):
        st = TargetState(layout, seed=2000 + i, now=float(start_s))
        mat = np.empty((steps, SERIES_PER_INSTANCE))
        for k, t in enumerate(times.tolist()):
            st.advance(float(t))
            mat[k] = st.values
        values.append(mat)
    starts = sorted(layout.meta)
    families = [
        (a, starts[k + 1] if k + 1 < len(starts) else SERIES_PER_INSTANCE, layout.meta[a])
        for k, a in enumerate(starts)
    ]
    with om.open("w") as f:
        for a, b, meta in families:
            f.write(_om_meta(meta))
            for i in range(instances):
                job = "api" if i % 2 == 0 else "web"
                inst = f"host-{i:03d}:9100"
                for j in range(a, b):
                    prefix = _with_target(layout.prefixes[j], job, inst)
                    vals = map(_fmt, values[i][:, j].tolist())
                    f.write("".join([prefix + v + t for v, t in zip(vals, ts, strict=True)]))
        f.write("# EOF\n")
    done.write_text(json.dumps(ds.__dict__, default=str))
    print(
        f"generated in {time.monotonic() - t0:.0f}s: {om.stat().st_size / 1e9:.2f} GB", flush=True
    )
    return ds


_TS_RE = re.compile(rb" (\d+)\n")


def om_to_prom_ms(body: bytes) -> bytes:
    """OpenMetrics lines with second timestamps -> Prometheus text with milliseconds.

    Only sample lines end in `` <digits>\\n`` here (HELP texts end in a full stop)."""
    return _TS_RE.sub(rb" \g<1>000\n", body)


# -- the systems -----------------------------------------------------------------------------


class QueryPrometheus(Prometheus):
    def command(self, config: Path | None) -> list[str]:
        return [
            *super().command(config),
            "--storage.tsdb.retention.time=100y",
            "--query.timeout=5m",
        ]


class QueryVictoria(VictoriaMetrics):
    def command(self, config: Path | None) -> list[str]:
        return [
            *super().command(None),
            "-search.disableCache",
            "-search.maxQueryDuration=5m",
        ]


@dataclass
class Loaded:
    system: System
    load_s: float
    note: str = ""
    stored: float | None = None
    blocks: int | None = None


def _blocks(path: Path) -> int:
    return sum(1 for p in path.glob("*/meta.json"))


def settle(systems: list[System], timeout: float, quiet: float = 80.0) -> dict[str, int]:
    """Wait until each data dir's block set has not changed for *quiet* seconds (Prometheus
    and vigil both look for blocks to merge once a minute), at most *timeout* seconds in
    all; returns the block counts. VictoriaMetrics merges in its own way: not waited for."""
    todo = {s.name: s for s in systems if s.name != "victoriametrics"}
    last: dict[str, list[str]] = {}
    since = dict.fromkeys(todo, time.monotonic())
    deadline = time.monotonic() + timeout
    while todo and time.monotonic() < deadline:
        for name, system in list(todo.items()):
            names = sorted(p.parent.name for p in system.data_dir.glob("*/meta.json"))
            if names != last.get(name) or any(system.data_dir.glob("*.tmp*")):
                last[name], since[name] = names, time.monotonic()
            elif time.monotonic() - since[name] >= quiet:
                del todo[name]
        if todo:
            time.sleep(5.0)
    for name in todo:
        print(f"[{name}] blocks still changing after {timeout:.0f}s", flush=True)
    return {s.name: _blocks(s.data_dir) for s in systems if s.name != "victoriametrics"}


def load_prometheus(ds: Dataset, workdir: Path, timeout: float) -> Loaded:
    system = QueryPrometheus(workdir / "prometheus")
    why = system.available() or (None if PROMTOOL.exists() else f"{PROMTOOL} not installed")
    if why:
        raise BenchError(why)
    clean(system.workdir)
    system.data_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "-q", ds.om, system.data_dir],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"promtool did not finish in {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise BenchError(f"promtool failed ({proc.returncode}): {proc.stderr[-1000:]}")
    load_s = time.perf_counter() - t0
    config = system.workdir / "prometheus.yml"
    config.write_text(EMPTY_CONFIG)
    system.start(config, ready_timeout=300)
    return Loaded(system, load_s, f"promtool, {_blocks(system.data_dir)} blocks written")


def load_victoria(ds: Dataset, workdir: Path, timeout: float, chunk_mb: float) -> Loaded:
    system = QueryVictoria(workdir / "victoriametrics")
    why = system.available()
    if why:
        raise BenchError(why)
    clean(system.workdir)
    system.start(None)
    url = system.base + "/api/v1/import/prometheus"
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=600) as client:
        for body in chunks(ds.om, int(chunk_mb * 2**20)):
            r = client.post(url, content=om_to_prom_ms(body))
            if r.status_code // 100 != 2:
                raise BenchError(f"victoriametrics import: {r.status_code} {r.text[:300]}")
            if time.monotonic() > deadline:
                raise BenchError(f"victoriametrics import not done after {timeout:.0f}s")
        client.get(system.base + "/internal/force_flush").raise_for_status()
    return Loaded(system, time.perf_counter() - t0, "import/prometheus + force_flush")


def load_vigil(
    ds: Dataset, workdir: Path, timeout: float, chunk_mb: float, hours: float | None
) -> Loaded:
    system = Vigil(workdir / "vigil")
    why = system.available()
    if why:
        raise BenchError(why)
    clean(system.workdir)
    system.workdir.mkdir(parents=True)
    config = system.workdir / "vigil.yml"
    config.write_text(EMPTY_CONFIG)
    system.start(config)
    src, note = ds.om, "vigil import (OpenMetrics)"
    if hours is not None:
        # only the samples of the last `hours` (the file is series after series)
        src = system.workdir / "part.om"
        first = ds.end_s - int(hours * 3600)
        with ds.om.open("rb") as fi, src.open("wb") as fo:
            for line in fi:
                if line.startswith(b"#") or int(line.rsplit(b" ", 1)[1]) > first:
                    fo.write(line)
        note += f"; ONLY THE LAST {hours:g} h LOADED"
    chunk = int(chunk_mb * 2**20)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [VIGIL_BIN, "import", src, f"--url={system.base}", f"--chunk-bytes={chunk}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"vigil import did not finish in {timeout:.0f}s") from None
    finally:
        if src != ds.om:
            src.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise BenchError(f"vigil import failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return Loaded(system, time.perf_counter() - t0, note)


def reuse(name: str, run_dir: Path) -> Loaded:
    """Start *name* on the data dir an earlier ``--keep-data`` run left in *run_dir*."""
    system: System
    config: Path | None
    if name == "prometheus":
        system = QueryPrometheus(run_dir / "prometheus")
        config = system.workdir / "prometheus.yml"
    elif name == "victoriametrics":
        system, config = QueryVictoria(run_dir / "victoriametrics"), None
    elif name == "vigil":
        system = Vigil(run_dir / "vigil")
        config = system.workdir / "vigil.yml"
    else:
        raise BenchError(f"unknown system {name!r}")
    why = system.available()
    if why:
        raise BenchError(why)
    if not system.data_dir.is_dir() or (config is not None and not config.exists()):
        raise BenchError(f"{system.workdir}: nothing to reuse (run once with --keep-data)")
    system.start(config, ready_timeout=300)
    return Loaded(system, 0.0, "data dir of an earlier --keep-data run, reused")


# -- the queries -----------------------------------------------------------------------------


@dataclass
class Query:
    name: str
    expr: str
    range_s: int | None  # None: instant query
    step_s: int = 0

    @property
    def shape(self) -> str:
        if self.range_s is None:
            return "instant"
        return f"{self.range_s // 3600} h / {self.step_s} s"


QUERIES = [
    Query("selector", 'http_requests_total{code="500"}', 3600, 15),
    Query("selector, instant", "http_requests_total", None),
    Query(
        "regex matchers",
        'http_requests_total{handler=~"/api/v1/.*",code=~"4..|5.."}',
        3600,
        15,
    ),
    Query(
        "regex, negative",
        'node_cpu_seconds_total{mode!~"idle|iowait",cpu=~"[0-3]"}',
        3600,
        15,
    ),
    Query("sum by rate 1h", "sum by (job, code) (rate(http_requests_total[5m]))", 3600, 15),
    Query("sum by rate 24h", "sum by (job, code) (rate(http_requests_total[5m]))", DAY, 60),
    Query(
        "sum by rate cpu 24h",
        'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
        DAY,
        60,
    ),
    Query(
        "histogram_quantile 1h",
        "histogram_quantile(0.99, sum by (le, handler) "
        "(rate(http_request_duration_seconds_bucket[5m])))",
        3600,
        15,
    ),
    Query(
        "histogram_quantile 24h",
        "histogram_quantile(0.99, sum by (le, handler) "
        "(rate(http_request_duration_seconds_bucket[5m])))",
        DAY,
        60,
    ),
    Query(
        "topk",
        "topk(5, sum by (instance, handler) (rate(http_requests_total[5m])))",
        3600,
        15,
    ),
    Query("subquery", "max_over_time(rate(http_requests_total[5m])[1h:1m])", None),
    Query("gauge avg 24h", "avg by (instance, zone) (sensor_temperature_celsius)", DAY, 60),
]


@dataclass
class Timing:
    times: list[float] = field(default_factory=list)
    error: str | None = None
    result: Any = None
    series: int = 0
    points: int = 0

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def request(client: httpx.Client, system: System, q: Query, end_s: int) -> tuple[float, bytes]:
    if q.range_s is None:
        # half a minute back: a 1 m subquery's first point is then inside its range, not
        # on its edge (where 2.42, closed on the left, and 3.x would differ)
        url, params = "/api/v1/query", {"query": q.expr, "time": str(end_s - 30)}
    else:
        url = "/api/v1/query_range"
        params = {
            "query": q.expr,
            "start": str(end_s - q.range_s),
            "end": str(end_s),
            "step": str(q.step_s),
        }
    t0 = time.perf_counter()
    r = client.get(system.base + url, params=params)
    body = r.content
    dt = time.perf_counter() - t0
    if r.status_code != 200:
        raise BenchError(f"HTTP {r.status_code}: {body[:300]!r}")
    return dt, body


def _summary(data: dict[str, Any]) -> tuple[int, int]:
    res = data["result"]
    if data["resultType"] == "matrix":
        return len(res), sum(len(s["values"]) for s in res)
    if data["resultType"] == "vector":
        return len(res), len(res)
    return 1, 1


def _close(a: str, b: str, rel: float = 1e-9) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if x == y:
        return True
    return abs(x - y) <= rel * max(abs(x), abs(y))


def compare(got: dict[str, Any], want: dict[str, Any], limit: int = 5) -> list[str]:
    """Differences between two API results (vigil's, Prometheus's); empty if equal."""
    if got["resultType"] != want["resultType"]:
        return [f"result type {got['resultType']} != {want['resultType']}"]

    def key(s: dict[str, Any]) -> str:
        return json.dumps(s["metric"], sort_keys=True)

    def points(s: dict[str, Any]) -> list[tuple[float, str]]:
        if "values" in s:
            return [(float(t), v) for t, v in s["values"]]
        return [(float(s["value"][0]), s["value"][1])]

    g = {key(s): points(s) for s in got["result"]}
    w = {key(s): points(s) for s in want["result"]}
    out = [f"only in vigil: {k}" for k in sorted(g.keys() - w.keys())[:limit]]
    out += [f"only in prometheus: {k}" for k in sorted(w.keys() - g.keys())[:limit]]
    for k in sorted(g.keys() & w.keys()):
        gp, wp = g[k], w[k]
        if [t for t, _ in gp] != [t for t, _ in wp]:
            gt, wt = {t for t, _ in gp}, {t for t, _ in wp}
            out.append(
                f"{k}: {len(gp)} vs {len(wp)} points; only vigil at {sorted(gt - wt)[:3]}, "
                f"only prometheus at {sorted(wt - gt)[:3]}"
            )
        else:
            for (t, a), (_, b) in zip(gp, wp, strict=True):
                if not _close(a, b):
                    out.append(f"{k} at {t}: vigil {a}, prometheus {b}")
                    break
        if len(out) >= limit:
            break
    return out


# -- the run ---------------------------------------------------------------------------------


def stored_samples(system: System, ds: Dataset, timeout: float) -> float | None:
    """Samples the system holds, counted with one query per metric name (the names are
    needed: without them the series of a histogram's _sum and _count would collide)."""
    at = str((ds.end_s // 60 + 1) * 60)
    total = 0.0
    try:
        with httpx.Client(timeout=timeout) as c:
            r = c.get(system.base + "/api/v1/label/__name__/values")
            for name in r.json()["data"]:
                q = f'sum(count_over_time({{__name__="{name}"}}[2d]))'
                r = c.get(system.base + "/api/v1/query", params={"query": q, "time": at})
                body = r.json()
                if body.get("status") != "success":
                    raise BenchError(f"{q}: {body.get('error')}")
                res = body["data"]["result"]
                total += float(res[0]["value"][1]) if res else 0.0
    except (httpx.HTTPError, BenchError, KeyError, ValueError, IndexError) as e:
        print(f"[{system.name}] sample count failed: {e!r}", flush=True)
        return None
    return total


def run(
    args: argparse.Namespace,
) -> tuple[Dataset, dict[str, Loaded], dict[str, dict[str, Timing]]]:
    args.workdir.mkdir(parents=True, exist_ok=True)
    ds = generate(args.workdir, args.series, args.hours)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    loaded: dict[str, Loaded] = {}
    skipped: dict[str, str] = {}
    timings: dict[str, dict[str, Timing]] = {}
    run_dir = args.workdir / "run"
    try:
        for name in names:  # Prometheus first: it merges its 2 h blocks while the others load
            print(f"[{name}] loading ...", flush=True)
            try:
                if args.reuse:
                    ld = reuse(name, run_dir)
                elif name == "prometheus":
                    ld = load_prometheus(ds, run_dir, args.load_timeout)
                elif name == "victoriametrics":
                    ld = load_victoria(ds, run_dir, args.load_timeout, args.chunk_mb)
                elif name == "vigil":
                    ld = load_vigil(ds, run_dir, args.load_timeout, args.chunk_mb, args.vigil_hours)
                else:
                    raise BenchError(f"unknown system {name!r}")
            except (BenchError, httpx.HTTPError, OSError) as e:
                skipped[name] = str(e).splitlines()[0][:300] if str(e) else repr(e)
                print(f"[{name}] SKIPPED: {e}", flush=True)
                continue
            loaded[name] = ld
            print(f"[{name}] loaded in {ld.load_s:.1f}s ({ld.note})", flush=True)
        blocks = settle([ld.system for ld in loaded.values()], args.settle_timeout)
        for name, ld in loaded.items():
            ld.blocks = blocks.get(name)
            ld.stored = stored_samples(ld.system, ds, args.query_timeout)
            print(f"[{name}] settled: {ld.blocks} blocks, {ld.stored} samples", flush=True)
        end_s = ds.end_s // 60 * 60  # whole minute: off every sample (7 s past 15 s)
        clients = {n: httpx.Client(timeout=args.query_timeout) for n in loaded}
        timings = {q.name: {n: Timing() for n in loaded} for q in QUERIES}
        order = list(loaded)
        deadline = time.monotonic() + args.max_minutes * 60
        for rnd in range(args.repeat + 1):  # round 0 warms up
            if time.monotonic() > deadline:
                print(f"stopping after {rnd - 1} rounds: --max-minutes reached", flush=True)
                break
            for q in QUERIES:
                for n in order:
                    t = timings[q.name][n]
                    if t.error:
                        continue
                    try:
                        dt, body = request(clients[n], loaded[n].system, q, end_s)
                    except (BenchError, httpx.HTTPError) as e:
                        t.error = (str(e) or repr(e))[:200]
                        print(f"[{n}] {q.name}: {t.error}", flush=True)
                        continue
                    if rnd == 0:
                        t.result = orjson.loads(body)["data"]
                        t.series, t.points = _summary(t.result)
                    else:
                        t.times.append(dt)
            order = order[1:] + order[:1]
            if rnd == 0:
                print("warm-up done", flush=True)
            else:
                print(f"round {rnd}/{args.repeat} done", flush=True)
        for c in clients.values():
            c.close()
    finally:
        for ld in loaded.values():
            with contextlib.suppress(Exception):
                ld.system.close()
        if not args.keep_data:
            clean(run_dir)
    for n, why in skipped.items():
        loaded.setdefault(n, Loaded(System(run_dir / n), 0.0, f"skipped: {why}"))
    return ds, loaded, timings


def _ms(v: float | None) -> str:
    return f"{v * 1000:,.1f}" if v is not None else "-"


def report(
    ds: Dataset, loaded: dict[str, Loaded], timings: dict[str, dict[str, Timing]], repeat: int
) -> str:
    lines = [
        f"Data: {ds.series:,} series x {ds.samples // ds.series:,} samples at {STEP_S} s = "
        f"{ds.samples:,} samples ({(ds.end_s - ds.start_s + STEP_S) / 3600:g} h, "
        f"{ds.om.stat().st_size / 1e9 if ds.om.exists() else 0:.2f} GB OpenMetrics).",
        "",
        "| system | load s | how loaded | stored samples | blocks when queried |",
        "|---|---:|---|---:|---:|",
    ]
    for n, ld in loaded.items():
        stored = f"{ld.stored:,.0f}" if ld.stored is not None else "-"
        blocks = str(ld.blocks) if ld.blocks is not None else "-"
        lines.append(f"| {n} | {ld.load_s:.1f} | {ld.note} | {stored} | {blocks} |")
    lines += [
        "",
        f"Median latency in ms of {repeat} requests (after one warm-up request each):",
        "",
        "| query | range / step | result series / points | vigil | prometheus | victoriametrics "
        "| vigil / prom | vigil / VM | vigil = prom |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    met, total = 0, 0
    mismatches: list[str] = []
    for q in QUERIES:
        row = timings.get(q.name, {})

        def cell(n: str, row: dict[str, Timing] = row) -> str:
            t = row.get(n)
            if t is None:
                return "-"
            if t.error:
                return "error" if "timed out" not in t.error.lower() else "timeout"
            return _ms(t.median)

        def med(n: str, row: dict[str, Timing] = row) -> float | None:
            t = row.get(n)
            return t.median if t is not None and not t.error else None

        vi, pr, vm = med("vigil"), med("prometheus"), med("victoriametrics")
        rp = f"{vi / pr:.2f}" if vi and pr else "-"
        rv = f"{vi / vm:.2f}" if vi and vm else "-"
        if vi and pr:
            total += 1
            met += vi <= pr
        ref = row.get("prometheus") or row.get("vigil")
        shape = f"{ref.series:,} / {ref.points:,}" if ref else "-"
        agree = "-"
        v, p = row.get("vigil"), row.get("prometheus")
        if v and p and v.result is not None and p.result is not None:
            diffs = compare(v.result, p.result)
            agree = "yes" if not diffs else f"NO ({len(diffs)}+)"
            mismatches += [f"- {q.name}: {d}" for d in diffs]
        expr = q.expr.replace("|", "\\|")  # a pipe would end the table cell
        lines.append(
            f"| {q.name}: `{expr}` | {q.shape} | {shape} | {cell('vigil')} | "
            f"{cell('prometheus')} | {cell('victoriametrics')} | {rp} | {rv} | {agree} |"
        )
    lines.append("")
    if total:
        lines.append(f"**vigil median <= Prometheus median on {met} of {total} queries.**")
    if mismatches:
        lines += ["", "Result mismatches vigil vs Prometheus:", "", *mismatches]
    errs = [
        f"- {q} on {n}: {t.error}" for q, row in timings.items() for n, t in row.items() if t.error
    ]
    if errs:
        lines += ["", "Errors:", "", *errs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="prometheus,victoriametrics,vigil")
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--quick", action="store_true", help="1,000 series x 6 h")
    p.add_argument("--repeat", type=int, default=5, help="timed requests per query and system")
    p.add_argument("--chunk-mb", type=float, default=32.0, help="import request size")
    p.add_argument(
        "--vigil-hours",
        type=float,
        default=None,
        help="import only the last HOURS into vigil (when its import is too slow)",
    )
    p.add_argument("--query-timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--load-timeout", type=float, default=1200.0, help="seconds per system load")
    p.add_argument("--settle-timeout", type=float, default=300.0)
    p.add_argument("--max-minutes", type=float, default=30.0, help="bound on the timed rounds")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/vigil-bench-query"))
    p.add_argument("--keep-data", action="store_true", help="keep the generated file")
    p.add_argument("--append", action="store_true", help="append the results to bench/RESULTS.md")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="start the systems on the data dirs of an earlier --keep-data run in --workdir "
        "(same --series/--hours) instead of loading; implies --keep-data",
    )
    args = p.parse_args(argv)
    if args.reuse:
        args.keep_data = True
    if args.quick:
        args.series, args.hours = 1000, 6.0
    t0 = time.monotonic()
    ds, loaded, timings = run(args)
    text = report(ds, loaded, timings, args.repeat)
    if not args.keep_data:
        ds.om.unlink(missing_ok=True)
        (args.workdir / f"{ds.om.stem}.done").unlink(missing_ok=True)
    print()
    print(text)
    print(f"\n(whole run {time.monotonic() - t0:.0f}s)")
    if args.append:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python bench/query_latency.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        header = (
            f"\n## query_latency ({now})\n\nCommand: `{cmd.strip()}` (Python "
            f"{platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs shared "
            "with other jobs; Prometheus 2.42, VictoriaMetrics 1.79, all on loopback)\n\n"
        )
        with RESULTS.open("a") as f:
            f.write(header + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
