"""Alert delay: from an alert's cause to its webhook, vigil vs Prometheus 2.42 + Alertmanager 0.25.

One bench process serves, on one loopback port, a scrape target and a webhook
recorder:

* ``GET /metrics``: ``bench_flag{case="<n>"} 0|1`` for every case so far;
* ``POST /vigil``, ``POST /alertmanager``: webhook receivers; each notification's
  firing alerts are recorded with their arrival time (first arrival per alert).

Two paths are measured, with the same rule file and the same alertmanager.yml
(receiver ``hook``, ``group_by: [alertname, case]``, ``group_wait: 0s``,
``group_interval: 1s``) for both systems:

* **rule path**: ``vigil server --config prom.yml --notifier-config am.yml``,
  and ``prometheus`` (same scrape job and rule file, ``alerting`` pointing at)
  ``prometheus-alertmanager`` (clustering off). Both scrape the target every
  ``--interval`` seconds and evaluate ``BenchFlag: bench_flag == 1`` (``for:
  0s``) every ``--interval`` seconds. A case flips its flag to 1; the delay is
  from the flip to the webhook's arrival, measured for both systems from the
  same flip. Flips are spaced by a random pause (seeded), so they fall at every
  phase of the scrape and evaluation schedules; the delay then includes, on
  average, half a scrape interval and half an evaluation interval for both.
* **notifier path**: an alert ``BenchDirect{case}`` POSTed to
  ``/api/v2/alerts`` of vigil and of Alertmanager (one after the other, in
  alternating order); the delay is from the POST to the webhook's arrival.

Prints median and p90 per path and system and vigil / Prometheus(+Alertmanager)
ratios. Bounded: ``--repeat`` cases per path, each waiting at most
``--case-timeout`` seconds, and all servers are stopped at the end, on error
and on Ctrl-C. Loopback only.

Usage:
  .venv/bin/python bench/alert_delay.py                    # 20 cases per path, ~2 min
  .venv/bin/python bench/alert_delay.py --repeat 40 --append
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import shlex
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import ROOT, BenchError, Prometheus, System, Vigil, clean

RESULTS = ROOT / "bench" / "RESULTS.md"
ALERTMANAGER = Path(os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager"))
SYSTEMS = ("vigil", "alertmanager")  # webhook paths; "alertmanager" = Prometheus + Alertmanager


# -- target + webhook recorder --------------------------------------------------------------------


@dataclass
class Recorder:
    """The flags the target serves and the webhook arrivals, shared with the HTTP threads."""

    flags: dict[str, int] = field(default_factory=dict)
    arrivals: dict[tuple[str, str, str], float] = field(default_factory=dict)  # monotonic
    arrivals_wall: dict[tuple[str, str, str], float] = field(default_factory=dict)
    notifications: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cond: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.cond = threading.Condition(self.lock)

    def metrics(self) -> bytes:
        with self.lock:
            lines = [
                "# HELP bench_flag 1 when the case's alert should fire.",
                "# TYPE bench_flag gauge",
            ]
            lines += [f'bench_flag{{case="{c}"}} {v}' for c, v in self.flags.items()]
        return ("\n".join(lines) + "\n").encode()

    def record(self, path: str, body: dict[str, Any]) -> None:
        now, wall = time.monotonic(), time.time()
        with self.cond:
            self.notifications[path] = self.notifications.get(path, 0) + 1
            for a in body.get("alerts", []):
                if a.get("status") != "firing":
                    continue
                labels = a.get("labels", {})
                key = (path, labels.get("alertname", ""), labels.get("case", ""))
                self.arrivals.setdefault(key, now)
                self.arrivals_wall.setdefault(key, wall)
            self.cond.notify_all()

    def wait(self, keys: list[tuple[str, str, str]], timeout: float) -> dict[str, float]:
        """Arrival times of ``keys`` (by path) once all arrived or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(k in self.arrivals for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return {k[0]: self.arrivals[k] for k in keys if k in self.arrivals}


def serve(rec: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._reply(200, rec.metrics(), "text/plain; version=0.0.4")
            else:
                self._reply(404, b"not found\n")

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            path = self.path.strip("/")
            if path not in SYSTEMS:
                self._reply(404, b"not found\n")
                return
            try:
                rec.record(path, json.loads(raw))
            except ValueError:
                self._reply(400, b"bad json\n")
                return
            self._reply(200, b"ok\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="bench-http", daemon=True).start()
    return server


# -- configs and systems ---------------------------------------------------------------------------


RULES = """\
groups:
  - name: bench
    rules:
      - alert: BenchFlag
        expr: bench_flag == 1
        for: 0s
        labels:
          severity: page
        annotations:
          summary: "case {{ $labels.case }} flipped"
"""


def alertmanager_yaml(hook_base: str, path: str, group_interval_s: float) -> str:
    return (
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname, case]\n"
        "  group_wait: 0s\n"
        f"  group_interval: {group_interval_s:g}s\n"
        "  repeat_interval: 4h\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: {hook_base}/{path}\n"
        "        send_resolved: false\n"
    )


def prometheus_yaml(target: str, rules: Path, interval_s: float, am: str | None) -> str:
    text = (
        "global:\n"
        f"  scrape_interval: {interval_s:g}s\n"
        f"  scrape_timeout: {interval_s:g}s\n"
        f"  evaluation_interval: {interval_s:g}s\n"
        f"rule_files:\n  - {rules}\n"
        "scrape_configs:\n"
        "  - job_name: bench\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    if am is not None:
        text += f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
    return text


class Alertmanager(System):
    name = "alertmanager"

    def available(self) -> str | None:
        return None if ALERTMANAGER.exists() else f"{ALERTMANAGER} not installed"

    def command(self, config: Path | None) -> list[str]:
        assert config is not None
        return [
            str(ALERTMANAGER),
            f"--config.file={config}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # a single instance: no gossip, no peer wait
            "--log.level=warn",
        ]


class NotifyingVigil(Vigil):
    def __init__(self, workdir: Path, notifier_config: Path) -> None:
        super().__init__(workdir)
        self.notifier_config = notifier_config

    def command(self, config: Path | None) -> list[str]:
        # --public-ingest: the notifier path POSTs alerts without an API token
        return [
            *super().command(config),
            f"--notifier-config={self.notifier_config}",
            "--public-ingest",
        ]


# -- measuring -------------------------------------------------------------------------------------------


def _rules_evaluated(client: httpx.Client, base: str) -> bool:
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, IndexError):
        groups = client.get(base + "/api/v1/rules").json()["data"]["groups"]
        last = str(groups[0].get("lastEvaluation") or "")
        return bool(last) and not last.startswith("0001")
    return False


def _target_up(client: httpx.Client, base: str) -> bool:
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, IndexError):
        r = client.get(base + "/api/v1/query", params={"query": 'up{job="bench"}'})
        return float(r.json()["data"]["result"][0]["value"][1]) == 1.0
    return False


def wait_ready(bases: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as c:
        for name, base in bases.items():
            while not (_target_up(c, base) and _rules_evaluated(c, base)):
                if time.monotonic() > deadline:
                    raise BenchError(f"{name}: target not up or rules not evaluated in time")
                time.sleep(0.5)


def rule_path(
    rec: Recorder, repeat: int, interval_s: float, timeout: float, rng: random.Random
) -> dict[str, list[float]]:
    delays: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    misses = dict.fromkeys(SYSTEMS, 0)
    for i in range(repeat):
        time.sleep(rng.uniform(0.5, 0.5 + interval_s))  # a random phase of the schedules
        case = f"r{i}"
        with rec.lock:
            rec.flags[case] = 1
            t0 = time.monotonic()
        got = rec.wait([(s, "BenchFlag", case) for s in SYSTEMS], timeout)
        for s in SYSTEMS:
            if s in got:
                delays[s].append(got[s] - t0)
            else:
                misses[s] += 1
        print(
            f"rule path {i + 1}/{repeat}: "
            + ", ".join(f"{s} {got[s] - t0:.3f}s" if s in got else f"{s} -" for s in SYSTEMS),
            flush=True,
        )
    for s, n in misses.items():
        if n:
            print(f"rule path: {s} missed {n} of {repeat} cases", flush=True)
    return delays


def parse_rfc3339(text: str) -> float:
    """'2026-11-23T16:00:07.123456789Z' or '...+00:00' (any fraction length) -> Unix seconds."""
    text = text.replace("Z", "+00:00")
    head, _, rest = text.partition(".")
    frac, tz = "", rest
    if rest:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, tz = rest[:i], rest[i:]
    else:
        head, tz = text[:19], text[19:]
    dt = datetime.datetime.fromisoformat(head + (tz or "+00:00"))
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def active_to_webhook(rec: Recorder, bases: dict[str, str]) -> dict[str, list[float]]:
    """Per system: webhook arrival (wall clock) minus the alert's ``activeAt`` (its rule
    evaluation's timestamp), for every ``BenchFlag`` case delivered."""
    out: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    with httpx.Client(timeout=10.0) as c:
        for s, base in bases.items():
            for a in c.get(base + "/api/v1/alerts").json()["data"]["alerts"]:
                labels = a["labels"]
                key = (s, labels.get("alertname", ""), labels.get("case", ""))
                if labels.get("alertname") == "BenchFlag" and key in rec.arrivals_wall:
                    out[s].append(rec.arrivals_wall[key] - parse_rfc3339(a["activeAt"]))
    return out


def notifier_path(
    rec: Recorder, bases: dict[str, str], repeat: int, timeout: float
) -> dict[str, list[float]]:
    delays: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    order = list(SYSTEMS)
    with httpx.Client(timeout=10.0) as c:
        for base in bases.values():  # connections open before the first timed POST
            c.get(base + "/-/ready")
        for i in range(repeat):
            for s in order:
                case = f"d{i}"
                now = datetime.datetime.now(datetime.UTC)
                alert = {
                    "labels": {"alertname": "BenchDirect", "case": case, "severity": "page"},
                    "annotations": {"summary": "posted by bench/alert_delay.py"},
                    "startsAt": now.isoformat().replace("+00:00", "Z"),
                    "endsAt": (now + datetime.timedelta(minutes=5))
                    .isoformat()
                    .replace("+00:00", "Z"),
                }
                t0 = time.monotonic()
                r = c.post(bases[s] + "/api/v2/alerts", json=[alert])
                if r.status_code // 100 != 2:
                    raise BenchError(f"{s}: POST /api/v2/alerts: {r.status_code} {r.text[:200]}")
                got = rec.wait([(s, "BenchDirect", case)], timeout)
                if s in got:
                    delays[s].append(got[s] - t0)
                else:
                    print(f"notifier path: {s} case {case} not delivered", flush=True)
            order.reverse()
            time.sleep(0.2)
    return delays


# -- report --------------------------------------------------------------------------------------------------


def _p90(xs: list[float]) -> float | None:
    if len(xs) < 2:
        return xs[0] if xs else None
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def _ms(x: float | None) -> str:
    return f"{x * 1000:,.1f}" if x is not None else "-"


def report(
    args: argparse.Namespace,
    active: dict[str, list[float]],
    rule: dict[str, list[float]],
    direct: dict[str, list[float]],
) -> str:
    lines = [
        f"Rule path: scrape and evaluation interval {args.interval:g} s, `for: 0s`, "
        "group_wait 0s. 'alert active -> webhook': from the alert's `activeAt` (the timestamp "
        "of the rule evaluation that found it) to the webhook's arrival, the systems' own "
        "latency; 'flag flip -> webhook': from the target's change to the webhook's arrival "
        "(the same flip for both; adds the wait for the next scrape and evaluation, which "
        "depends on the phases of the two schedules). Notifier path: from "
        "`POST /api/v2/alerts` to the webhook's arrival.",
        "",
        "| path | system | cases | median ms | p90 ms | min ms | max ms | vigil / peer (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, data, peer in (
        ("alert active -> webhook", active, "Prometheus + Alertmanager"),
        ("flag flip -> webhook", rule, "Prometheus + Alertmanager"),
        ("POST /api/v2/alerts -> webhook", direct, "Alertmanager"),
    ):
        vm = statistics.median(data["vigil"]) if data["vigil"] else None
        pm = statistics.median(data["alertmanager"]) if data["alertmanager"] else None
        for s, name in (("vigil", "vigil"), ("alertmanager", peer)):
            xs = data[s]
            ratio = f"{vm / pm:.2f}" if s == "vigil" and vm is not None and pm else ""
            lines.append(
                f"| {label} | {name} | {len(xs)} | {_ms(statistics.median(xs) if xs else None)} "
                f"| {_ms(_p90(xs))} | {_ms(min(xs) if xs else None)} "
                f"| {_ms(max(xs) if xs else None)} | {ratio} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=20, help="cases per path")
    p.add_argument("--interval", type=float, default=1.0, help="scrape = evaluation interval, s")
    p.add_argument("--group-interval", type=float, default=1.0, help="group_interval, s")
    p.add_argument("--case-timeout", type=float, default=15.0, help="wait per case, s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/vigil-bench-alert-delay"))
    p.add_argument("--append", action="store_true", help="append the results to bench/RESULTS.md")
    args = p.parse_args(argv)
    t_start = time.monotonic()
    clean(args.workdir)
    args.workdir.mkdir(parents=True)
    rec = Recorder()
    http = serve(rec)
    hook = f"http://127.0.0.1:{http.server_address[1]}"
    target = f"127.0.0.1:{http.server_address[1]}"
    rules = args.workdir / "rules.yml"
    rules.write_text(RULES)
    am_cfg = {s: args.workdir / f"am-{s}.yml" for s in SYSTEMS}
    for s, path in am_cfg.items():
        path.write_text(alertmanager_yaml(hook, s, args.group_interval))
    systems: list[System] = []
    try:
        am = Alertmanager(args.workdir / "alertmanager")
        vigil = NotifyingVigil(args.workdir / "vigil", am_cfg["vigil"])
        prom = Prometheus(args.workdir / "prometheus")
        for system in (am, vigil, prom):
            why = system.available()
            if why:
                raise BenchError(why)
        am.start(am_cfg["alertmanager"])
        systems.append(am)
        vigil_yml = args.workdir / "vigil.yml"
        vigil_yml.write_text(prometheus_yaml(target, rules, args.interval, None))
        vigil.start(vigil_yml)
        systems.append(vigil)
        prom_yml = args.workdir / "prometheus.yml"
        prom_yml.write_text(prometheus_yaml(target, rules, args.interval, f"127.0.0.1:{am.port}"))
        prom.start(prom_yml)
        systems.append(prom)
        wait_ready({"vigil": vigil.base, "prometheus": prom.base}, 60.0)
        print("ready; notifier path ...", flush=True)
        direct = notifier_path(
            rec, {"vigil": vigil.base, "alertmanager": am.base}, args.repeat, args.case_timeout
        )
        print("rule path ...", flush=True)
        rule = rule_path(
            rec, args.repeat, args.interval, args.case_timeout, random.Random(args.seed)
        )
        active = active_to_webhook(rec, {"vigil": vigil.base, "alertmanager": prom.base})
    finally:
        for started in reversed(systems):
            with contextlib.suppress(Exception):
                started.close()
        http.shutdown()
        http.server_close()
    text = report(args, active, rule, direct)
    print()
    print(text)
    print(f"\n(whole run {time.monotonic() - t_start:.0f}s)")
    if args.append:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python bench/alert_delay.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        header = (
            f"\n## alert_delay ({now})\n\nCommand: `{cmd.strip()}` (Python "
            f"{platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs shared "
            "with other jobs; Prometheus 2.42, Alertmanager 0.25, loopback)\n\n"
        )
        with RESULTS.open("a") as f:
            f.write(header + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
