"""Rule evaluation cost: 1,000 alerting rules over the query benchmark's data, vigil vs Prometheus.

The data is bench/query_latency.py's (``generate()``: the bench/targets.py mix,
15 s steps), ``--quick`` 1,000 series x 6 h (the default here) or ``--full``
10,000 series x 24 h, but ending near the wall clock: Prometheus evaluates its
rules at the current time, so the last sample is put ``--lead-s`` seconds after
the start of the run (enough to generate and load it), and Prometheus is started
only once that time has passed.

The rules (``make_rules``): 1,000 alerting rules in 20 groups of 50, generated
deterministically, of the kinds rule files hold -- request-rate thresholds per
handler and instance, 5xx error ratios, ``histogram_quantile(0.95, ...)``
latency thresholds, ``up == 0`` and gauge thresholds (queues, temperatures,
memory) with ``for``, each with labels and a templated annotation. One rule file
and one evaluation interval (``--interval``, 15 s) for both systems.

* Prometheus 2.42: ``promtool tsdb create-blocks-from openmetrics`` into its
  data dir, then ``prometheus`` with ``rule_files`` and no scrape jobs. Every
  second the bench reads its ``/metrics``: per group
  ``prometheus_rule_group_last_evaluation_timestamp_seconds`` and
  ``prometheus_rule_group_last_duration_seconds``; after every complete round it
  reads ``/api/v1/rules`` (per-rule ``evaluationTime``, for the per-kind split).
  A group's evaluation times are its slots: Prometheus's ``EvalTimestamp``
  (an xxhash64 of the group's file and name picks the offset in the interval),
  computed here from the evaluation's wall-clock start.
* vigil: the same OpenMetrics file imported in-process (the importer behind
  ``/api/v1/import/prometheus``, as ``vigil import`` uses it) into a TSDB in a
  temp dir, blocks merged by one ``compact()``; then
  ``vigil.rules.manager.RuleManager`` over ``engine_query(Engine(), db)``,
  appending ``ALERTS`` into the same TSDB, evaluates every group at exactly
  Prometheus's slots, in time order, each ``group.eval(t_ms)`` timed.

A round is one evaluation of every group (1,000 rules); the figure is the total
evaluation time per round, median over the rounds after ``--warmup`` ones, and
vigil / Prometheus. Afterwards the alerts of both (name, labels, state after
the last evaluation, Prometheus's from ``/api/v1/rules``) are compared.

Bounded: ``--max-minutes`` caps the Prometheus rounds, every load step has a
timeout, and Prometheus is stopped at the end, on error and on Ctrl-C. Loopback only.

Usage:
  .venv/bin/python bench/rule_eval.py                  # 1,000 series x 6 h, ~4 min
  .venv/bin/python bench/rule_eval.py --full           # 10,000 series x 24 h
  .venv/bin/python bench/rule_eval.py --rounds 10 --append
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import PROMTOOL, ROOT, BenchError, Prometheus, chunks, clean
from query_latency import Dataset, generate
from targets import HANDLERS

RESULTS = ROOT / "bench" / "RESULTS.md"
OM_TYPE = "application/openmetrics-text; version=1.0.0"
KINDS = ("rate", "error_ratio", "quantile", "up", "gauge")
# per 50 rules: 12 rate, 10 error ratio, 10 quantile, 3 up, 15 gauge, in a fixed shuffled order
_KIND_CYCLE = ["rate"] * 12 + ["error_ratio"] * 10 + ["quantile"] * 10 + ["up"] * 3 + ["gauge"] * 15
random.Random(5).shuffle(_KIND_CYCLE)


# -- xxhash64 (Prometheus's labels.Hash) -------------------------------------------------------

_P1, _P2, _P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P4, _P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
_M = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 of ``data`` (the hash Prometheus's ``labels.Hash`` uses)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed, (seed - _P1) & _M]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], int.from_bytes(data[i + 8 * j : i + 8 * j + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for x in v:
            h = ((h ^ _round(0, x)) * _P1 + _P4) & _M
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    return h ^ (h >> 32)


def prometheus_slot_ns(file: str, name: str, interval_s: float, wall_ns: int) -> int:
    """Prometheus's ``Group.EvalTimestamp(wall_ns)``: the group's latest slot at or before it."""
    interval = round(interval_s * 1e9)
    key = b"file\xff" + file.encode() + b"\xffname\xff" + name.encode() + b"\xff"
    offset = xxh64(key) % interval
    adj = wall_ns - offset
    return adj - adj % interval + offset


# -- the rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleDef:
    name: str
    kind: str
    expr: str
    for_s: int
    severity: str


def _for(s: int) -> str:
    return f"{s // 60}m" if s and s % 60 == 0 else f"{s}s"


def make_rules(groups: int = 20, per_group: int = 50) -> list[list[RuleDef]]:
    """``groups`` x ``per_group`` alerting rules, the same every run."""
    out: list[list[RuleDef]] = []
    for g in range(groups):
        rules: list[RuleDef] = []
        for i in range(per_group):
            k = g * per_group + i
            kind = _KIND_CYCLE[i % len(_KIND_CYCLE)]
            h = HANDLERS[(k * 7) % len(HANDLERS)]
            v = k // 5  # varies the threshold between rules of a kind
            if kind == "rate":
                if v % 2:
                    thr = (0.5, 2.0, 5.0, 20.0)[v % 4]
                    expr = (
                        "sum by (instance, handler) "
                        f'(rate(http_requests_total{{handler="{h}"}}[5m])) > {thr}'
                    )
                else:
                    code = ("200", "201", "400", "404", "500")[v % 5]
                    thr = (0.1, 0.5, 1.0, 3.0)[v % 4]
                    expr = f'rate(http_requests_total{{handler="{h}",code="{code}"}}[5m]) > {thr}'
                rd = RuleDef(f"HighRequestRate{k:04d}", kind, expr, (0, 60)[v % 2], "warning")
            elif kind == "error_ratio":
                thr = (0.02, 0.05, 0.1, 0.2)[v % 4]
                expr = (
                    "sum by (job, handler) "
                    f'(rate(http_requests_total{{handler="{h}",code=~"5.."}}[5m]))\n'
                    "  / sum by (job, handler) "
                    f'(rate(http_requests_total{{handler="{h}"}}[5m])) > {thr}'
                )
                rd = RuleDef(f"HighErrorRatio{k:04d}", kind, expr, (30, 120)[v % 2], "critical")
            elif kind == "quantile":
                if v % 3 == 2:
                    thr = (0.02, 0.05, 0.1)[v % 3]
                    expr = (
                        "histogram_quantile(0.95, sum by (le, instance, query) "
                        f'(rate(db_query_duration_seconds_bucket{{query="q{k % 10}"}}[5m])))'
                        f" > {thr}"
                    )
                else:
                    thr = (0.1, 0.25, 0.5, 1.0)[v % 4]
                    expr = (
                        "histogram_quantile(0.95, sum by (le, instance) "
                        f'(rate(http_request_duration_seconds_bucket{{handler="{h}"}}[5m])))'
                        f" > {thr}"
                    )
                rd = RuleDef(f"SlowRequests{k:04d}", kind, expr, (60, 300)[v % 2], "warning")
            elif kind == "up":
                job = ("api", "web", "node", "db")[k % 4]
                rd = RuleDef(f"TargetDown{k:04d}", kind, f'up{{job="{job}"}} == 0', 60, "critical")
            else:
                which = v % 4
                if which == 0:
                    expr = (
                        f'worker_queue_length{{queue="queue-{k % 100:03d}"}} > {(2, 5, 10)[k % 3]}'
                    )
                elif which == 1:
                    expr = f'sensor_temperature_celsius{{zone="z{k % 7}"}} > {(45, 55, 65)[k % 3]}'
                elif which == 2:
                    expr = f"avg by (instance, zone) (sensor_temperature_celsius) > {40 + k % 15}"
                else:
                    expr = f"process_resident_memory_bytes > {(1e9, 2.5e9, 4e9)[k % 3]:.0f}"
                rd = RuleDef(f"GaugeHigh{k:04d}", kind, expr, (60, 120, 300)[k % 3], "warning")
            rules.append(rd)
        out.append(rules)
    return out


def rules_yaml(groups: list[list[RuleDef]]) -> str:
    lines = ["groups:"]
    for g, rules in enumerate(groups):
        lines += [f"  - name: bench-{g:02d}", "    rules:"]
        for r in rules:
            lines += [f"      - alert: {r.name}", "        expr: |"]
            lines += [f"          {line}" for line in r.expr.splitlines()]
            if r.for_s:
                lines.append(f"        for: {_for(r.for_s)}")
            lines += [
                "        labels:",
                f"          severity: {r.severity}",
                f"          kind: {r.kind}",
                "        annotations:",
                '          summary: "{{ $labels.instance }}: {{ $value }} over the threshold"',
            ]
    return "\n".join(lines) + "\n"


# -- Prometheus ------------------------------------------------------------------------------------

_GROUP_RE = re.compile(r'rule_group="([^"]*)"')


@dataclass
class GroupRun:
    file: str = ""
    name: str = ""
    starts: list[float] = field(default_factory=list)  # wall-clock start of each evaluation
    durations: list[float] = field(default_factory=list)
    slots_ns: list[int] = field(default_factory=list)


@dataclass
class PromRun:
    groups: dict[str, GroupRun]  # by "file;name"
    kind_rounds: list[dict[str, float]]  # per /api/v1/rules read: seconds per kind
    final: dict[str, Any]  # the last /api/v1/rules answer
    iterations: dict[str, float]
    missed: float
    first_lag_s: float  # first evaluation's time minus the data's last sample
    max_wake_s: float  # the latest an evaluation started after its computed slot


def _group_metrics(text: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            m = _GROUP_RE.search(line)
            if m:
                out[m.group(1)] = float(line.rsplit(" ", 1)[1])
    return out


def _rfc3339_ns(text: str) -> int:
    """'2026-11-23T16:00:07.123456789Z' (Go's format, up to ns) -> Unix ns."""
    head, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.UTC)
    return int(dt.timestamp()) * 10**9 + int((frac + "000000000")[:9])


def measure_prometheus(
    system: Prometheus,
    rule_kinds: dict[str, str],
    n_groups: int,
    interval_s: float,
    rounds: int,
    data_end_s: int,
    max_minutes: float,
) -> PromRun:
    client = httpx.Client(timeout=30.0)
    groups: dict[str, GroupRun] = {}
    kind_rounds: list[dict[str, float]] = []
    deadline = time.monotonic() + max_minutes * 60
    done_rounds = 0
    try:
        while time.monotonic() < deadline:
            text = client.get(system.base + "/metrics").text
            last = _group_metrics(text, "prometheus_rule_group_last_evaluation_timestamp_seconds")
            dur = _group_metrics(text, "prometheus_rule_group_last_duration_seconds")
            for key, ts in last.items():
                if ts <= 0:
                    continue
                g = groups.setdefault(key, GroupRun())
                if not g.starts or g.starts[-1] != ts:
                    g.starts.append(ts)
                    g.durations.append(dur.get(key, float("nan")))
            complete = min((len(g.starts) for g in groups.values()), default=0)
            if len(groups) == n_groups and complete > done_rounds:
                done_rounds = complete
                body = client.get(system.base + "/api/v1/rules").json()
                per_kind: dict[str, float] = defaultdict(float)
                for grp in body["data"]["groups"]:
                    for r in grp["rules"]:
                        per_kind[rule_kinds.get(r["name"], "?")] += float(r["evaluationTime"])
                kind_rounds.append(dict(per_kind))
                print(f"[prometheus] round {done_rounds}/{rounds}", flush=True)
                if done_rounds >= rounds:
                    break
            time.sleep(1.0)
        final = client.get(system.base + "/api/v1/rules").json()["data"]
        text = client.get(system.base + "/metrics").text
    finally:
        client.close()
    iterations = _group_metrics(text, "prometheus_rule_group_iterations_total")
    missed = sum(_group_metrics(text, "prometheus_rule_group_iterations_missed_total").values())
    for grp in final["groups"]:
        g = groups.setdefault(f"{grp['file']};{grp['name']}", GroupRun())
        g.file, g.name = grp["file"], grp["name"]
        g.slots_ns = [
            prometheus_slot_ns(g.file, g.name, interval_s, round(s * 1e9)) for s in g.starts
        ]
        # the rules answer may be one evaluation newer than the last /metrics read
        final_slot = prometheus_slot_ns(
            g.file, g.name, interval_s, _rfc3339_ns(grp["lastEvaluation"])
        )
        step = round(interval_s * 1e9)
        while g.slots_ns and g.slots_ns[-1] < final_slot:
            g.slots_ns.append(g.slots_ns[-1] + step)
    first = min((g.slots_ns[0] for g in groups.values() if g.slots_ns), default=0)
    # a wrong slot offset would show as a start far after its slot
    wake = max(
        (
            s - slot / 1e9
            for g in groups.values()
            for s, slot in zip(g.starts, g.slots_ns, strict=False)
        ),
        default=0.0,
    )
    return PromRun(groups, kind_rounds, final, iterations, missed, first / 1e9 - data_end_s, wake)


def load_prometheus(ds: Dataset, workdir: Path, timeout: float) -> tuple[Prometheus, float]:
    system = Prometheus(workdir / "prometheus")
    why = system.available() or (None if PROMTOOL.exists() else f"{PROMTOOL} not installed")
    if why:
        raise BenchError(why)
    clean(system.workdir)
    system.data_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "-q", ds.om, system.data_dir],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"promtool failed ({proc.returncode}): {proc.stderr[-1000:]}")
    return system, time.perf_counter() - t0


# -- vigil -------------------------------------------------------------------------------------------


@dataclass
class VigilRun:
    rounds: list[float]  # seconds per round (all groups)
    kind_rounds: list[dict[str, float]]
    alerts: list[Any]
    load_s: float
    failures: list[str]


def run_vigil(
    ds: Dataset,
    rules_file: Path,
    prom: PromRun,
    rule_kinds: dict[str, str],
    interval_s: float,
    chunk_mb: float,
    workdir: Path,
) -> VigilRun:
    from prometheus_client import CollectorRegistry

    from vigil.api.importer import Importer
    from vigil.api.write import IngestMetrics
    from vigil.promql.engine import Engine
    from vigil.rules.base import RuleContext, RuleHealth
    from vigil.rules.manager import RuleManager
    from vigil.rules.query import engine_query
    from vigil.tsdb.db import TSDB

    with tempfile.TemporaryDirectory(prefix="vigil-rules-", dir=workdir) as d:
        db = TSDB.open(d, retention_ms=None, background=False)
        try:
            t0 = time.perf_counter()
            importer = Importer(db, metrics=IngestMetrics(CollectorRegistry()))
            for body in chunks(ds.om, int(chunk_mb * 2**20)):
                body = body.rstrip()
                if body.endswith(b"# EOF"):
                    body = body[: -len(b"# EOF")].rstrip()
                if body:
                    importer.import_text(body + b"\n# EOF\n", OM_TYPE)
            db.compact()
            load_s = time.perf_counter() - t0
            print(f"[vigil] loaded in {load_s:.1f}s ({len(db.blocks)} blocks)", flush=True)
            ctx = RuleContext(
                query=engine_query(Engine(), db), appendable=db, notify=lambda alerts: None
            )
            manager = RuleManager(
                ctx, evaluation_interval_s=interval_s, registry=CollectorRegistry()
            )
            manager.load([rules_file])
            by_key = {g.key: g for g in manager.groups()}
            # every (slot, group) of Prometheus's run, in time order, numbered by round
            schedule: list[tuple[int, int, str]] = []
            for key, gr in prom.groups.items():
                vkey = f"{rules_file};{gr.name}"
                if vkey not in by_key:
                    raise BenchError(f"vigil has no group {vkey!r} (Prometheus: {key!r})")
                schedule += [(s, k, vkey) for k, s in enumerate(gr.slots_ns)]
            schedule.sort()
            n_rounds = max((k for _, k, _ in schedule), default=-1) + 1
            rounds = [0.0] * n_rounds
            kind_rounds: list[dict[str, float]] = [defaultdict(float) for _ in range(n_rounds)]
            for slot, k, vkey in schedule:
                g = by_key[vkey]
                t = time.perf_counter()
                g.eval(slot // 1_000_000)
                rounds[k] += time.perf_counter() - t
                for r in g.rules:
                    kind_rounds[k][rule_kinds.get(r.name, "?")] += r.evaluation_duration
            print(f"[vigil] {len(schedule)} group evaluations in {n_rounds} rounds", flush=True)
            failures = [
                f"{r.name}: {r.last_error}" for r in manager.rules() if r.health == RuleHealth.BAD
            ]
            # only complete rounds count (a round's groups all evaluated)
            counts = [sum(1 for _, k, _ in schedule if k == i) for i in range(n_rounds)]
            full = [i for i in range(n_rounds) if counts[i] == len(prom.groups)]
            return VigilRun(
                [rounds[i] for i in full],
                [dict(kind_rounds[i]) for i in full],
                manager.alerts(),
                load_s,
                failures,
            )
        finally:
            db.close()


# -- comparing alerts --------------------------------------------------------------------------------


AlertKey = tuple[str, tuple[tuple[str, str], ...], str]


def prometheus_alerts(final: dict[str, Any]) -> dict[AlertKey, float]:
    out: dict[AlertKey, float] = {}
    for grp in final["groups"]:
        for r in grp["rules"]:
            for a in r.get("alerts", []):
                key = (r["name"], tuple(sorted(a["labels"].items())), a["state"])
                out[key] = float(a["value"])
    return out


def vigil_alerts(alerts: list[Any]) -> dict[AlertKey, float]:
    out: dict[AlertKey, float] = {}
    for a in alerts:
        labels = a.labels.to_dict() if hasattr(a.labels, "to_dict") else dict(a.labels)
        out[(a.rule, tuple(sorted(labels.items())), str(a.state))] = float(a.value)
    return out


def compare_alerts(
    vig: dict[AlertKey, float], prom: dict[AlertKey, float], limit: int = 5
) -> list[str]:
    diffs = [f"only in vigil: {k}" for k in sorted(vig.keys() - prom.keys())[:limit]]
    diffs += [f"only in prometheus: {k}" for k in sorted(prom.keys() - vig.keys())[:limit]]
    bad = [
        k
        for k in sorted(vig.keys() & prom.keys())
        if abs(vig[k] - prom[k]) > 1e-6 * max(abs(vig[k]), abs(prom[k]), 1e-12)
    ]
    diffs += [f"value {k}: vigil {vig[k]!r}, prometheus {prom[k]!r}" for k in bad[:limit]]
    return diffs


# -- the run -------------------------------------------------------------------------------------------


def _states(alerts: dict[AlertKey, float]) -> str:
    firing = sum(1 for k in alerts if k[2] == "firing")
    return f"{firing} firing, {len(alerts) - firing} pending"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="10,000 series x 24 h (default 1,000 x 6 h)")
    p.add_argument("--groups", type=int, default=20)
    p.add_argument("--rules-per-group", type=int, default=50)
    p.add_argument("--interval", type=float, default=15.0, help="evaluation interval, seconds")
    p.add_argument("--rounds", type=int, default=7, help="rounds of every group (first: warm-up)")
    p.add_argument("--warmup", type=int, default=1, help="rounds left out of the medians")
    p.add_argument(
        "--lead-s",
        type=float,
        default=None,
        help="data ends this long after the start (default 45 quick, 1500 full)",
    )
    p.add_argument("--chunk-mb", type=float, default=32.0)
    p.add_argument("--load-timeout", type=float, default=1800.0)
    p.add_argument("--max-minutes", type=float, default=10.0, help="bound on Prometheus's rounds")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/vigil-bench-rules"))
    p.add_argument("--append", action="store_true", help="append the results to bench/RESULTS.md")
    args = p.parse_args(argv)
    series, hours = (10_000, 24.0) if args.full else (1_000, 6.0)
    lead = args.lead_s if args.lead_s is not None else (1500.0 if args.full else 45.0)
    if args.interval * (args.rounds + 1) > 240:
        raise SystemExit("--interval x (--rounds + 1) must stay under 4 min (the data goes stale)")
    t_start = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    end_s = int(time.time() + lead)
    ds = generate(args.workdir, series, hours, end_s=end_s)
    groups = make_rules(args.groups, args.rules_per_group)
    rule_kinds = {r.name: r.kind for g in groups for r in g}
    rules_file = args.workdir / "rules.yml"
    rules_file.write_text(rules_yaml(groups))
    run_dir = args.workdir / "run"
    system: Prometheus | None = None
    try:
        print("[prometheus] promtool create-blocks-from ...", flush=True)
        system, prom_load_s = load_prometheus(ds, run_dir, args.load_timeout)
        wait = end_s + 1 - time.time()
        if wait > 0:
            print(f"[prometheus] waiting {wait:.0f}s for the data's end to pass", flush=True)
            time.sleep(wait)
        config = system.workdir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: 15s\n  evaluation_interval: {args.interval:g}s\n"
            f"rule_files:\n  - {rules_file}\nscrape_configs: []\n"
        )
        system.start(config, ready_timeout=300)
        prom = measure_prometheus(
            system, rule_kinds, len(groups), args.interval, args.rounds, end_s, args.max_minutes
        )
    finally:
        if system is not None:
            with contextlib.suppress(Exception):
                system.close()
        clean(run_dir)
    if prom.first_lag_s > 60:
        print(f"WARNING: first evaluation {prom.first_lag_s:.0f}s after the data ends", flush=True)
    vig = run_vigil(ds, rules_file, prom, rule_kinds, args.interval, args.chunk_mb, args.workdir)
    ds.om.unlink(missing_ok=True)
    (args.workdir / f"{ds.om.stem}.done").unlink(missing_ok=True)
    text = report(args, ds, prom, vig, prom_load_s, rule_kinds)
    print()
    print(text)
    print(f"\n(whole run {time.monotonic() - t_start:.0f}s)")
    if args.append:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python bench/rule_eval.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        header = (
            f"\n## rule_eval ({now})\n\nCommand: `{cmd.strip()}` (Python "
            f"{platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs shared "
            "with other jobs; Prometheus 2.42, loopback)\n\n"
        )
        with RESULTS.open("a") as f:
            f.write(header + text + "\n")
    return 0


def _med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def report(
    args: argparse.Namespace,
    ds: Dataset,
    prom: PromRun,
    vig: VigilRun,
    prom_load_s: float,
    rule_kinds: dict[str, str],
) -> str:
    w = args.warmup
    n_rules = len(rule_kinds)
    # Prometheus rounds: the k-th evaluation of every group
    n = min((len(g.durations) for g in prom.groups.values()), default=0)
    prom_rounds = [sum(g.durations[k] for g in prom.groups.values()) for k in range(n)]
    pm, vm = _med(prom_rounds[w:]), _med(vig.rounds[w:])
    counts: dict[str, int] = defaultdict(int)
    for kind in rule_kinds.values():
        counts[kind] += 1
    lines = [
        f"Data: {ds.series:,} series x {ds.samples // ds.series:,} samples at 15 s "
        f"({(ds.end_s - ds.start_s + 15) / 3600:g} h) ending {prom.first_lag_s:.0f} s before "
        f"Prometheus's first evaluation. Loaded: Prometheus (promtool) {prom_load_s:.1f} s, "
        f"vigil (in-process import + compact) {vig.load_s:.1f} s.",
        f"Rules: {n_rules:,} alerting rules in {args.groups} groups of {args.rules_per_group} "
        f"(interval {args.interval:g} s): "
        + ", ".join(f"{counts[k]} {k}" for k in KINDS)
        + f". Rounds: {len(prom_rounds)} Prometheus / {len(vig.rounds)} vigil at the same "
        f"evaluation times, medians over rounds {w + 1}.. (round 1 = warm-up).",
        "",
        "| evaluation of all rules, per round | vigil ms | Prometheus ms | vigil / Prometheus |",
        "|---|---:|---:|---:|",
    ]

    def row(label: str, v: float | None, p: float | None) -> str:
        ratio = f"{v / p:.1f}" if v is not None and p else "-"
        vs = f"{v * 1000:,.1f}" if v is not None else "-"
        ps = f"{p * 1000:,.1f}" if p is not None else "-"
        return f"| {label} | {vs} | {ps} | {ratio} |"

    lines.append(row(f"**all {n_rules:,} rules (median)**", vm, pm))
    pk = prom.kind_rounds[w:] or prom.kind_rounds
    vk = vig.kind_rounds[w:] or vig.kind_rounds
    for kind in KINDS:
        v = _med([r.get(kind, 0.0) for r in vk])
        p_ = _med([r.get(kind, 0.0) for r in pk])
        lines.append(row(f"{counts[kind]} {kind} rules (sum of per-rule times)", v, p_))
    lines.append("")
    pa, va = prometheus_alerts(prom.final), vigil_alerts(vig.alerts)
    diffs = compare_alerts(va, pa)
    lines.append(
        f"Alerts after the last evaluation: Prometheus {_states(pa)}; vigil {_states(va)}; "
        + ("**the same alerts, states and values**." if not diffs else "**they differ**:")
    )
    lines += [f"- {d}" for d in diffs]
    iters = sorted({int(v) for v in prom.iterations.values()})
    lines.append(
        f"Per-round totals (ms), vigil: {', '.join(f'{x * 1000:.0f}' for x in vig.rounds)}; "
        f"Prometheus: {', '.join(f'{x * 1000:.1f}' for x in prom_rounds)}. Prometheus "
        f"iterations per group {iters}, missed {prom.missed:g}; evaluations started at most "
        f"{prom.max_wake_s * 1000:.1f} ms after their slots."
    )
    if vig.failures:
        lines.append(f"vigil rule failures ({len(vig.failures)}): {vig.failures[:3]}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
