"""Synthetic scrape targets for the ingest benchmarks.

One process serves ``--targets`` targets (default 100), each on its own
loopback port (bound to port 0, so nothing collides), each exposing
``--series`` series (default 1,000) in the Prometheus text format at
``/metrics``. The series are shaped like a real web service's:

* ``http_requests_total{handler,method,code}`` counters: per-series rates
  drawn from a log-normal, increments Poisson, so busy series grow every scrape
  and rare ones (``code="500"``) stay flat for long stretches;
* two histograms (``http_request_duration_seconds{handler}``,
  ``db_query_duration_seconds{query}``) with 11 finite buckets + ``+Inf``,
  ``_sum`` and ``_count``; new observations are spread over the buckets with a
  multinomial draw, so buckets stay cumulative and monotonic;
* ``node_cpu_seconds_total{cpu,mode}`` counters growing by fractional seconds;
* gauges: queue lengths (mostly idle, some busy, Poisson each scrape),
  temperatures with one decimal drifting slowly around a mean, memory gauges
  in bytes moving a little every scrape, and constant ones (``*_info``,
  ``*_limit``), as real exporters have.

Values advance with wall-clock time since the target's previous scrape, and the
body is rendered on each request from precomputed series text plus one
formatted float per line: about 1 ms of CPU per 1,000-series body.

Every port also answers ``/stats`` with JSON ``{"scrapes": n, "series": s,
"samples": n*s}`` for that target, and the first port answers ``/stats/all``
with the totals over all targets: the benchmark harness counts samples served
from this side, identically for every system scraped.

Run standalone:  .venv/bin/python bench/targets.py [--targets 100] [--series 1000]
It prints one JSON line ``{"targets": ["127.0.0.1:port", ...]}`` on stdout when
ready, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HANDLERS = [f"/api/v1/{name}" for name in ("users", "orders", "items", "search", "login")] + [
    f"/api/v2/resource{i}" for i in range(15)
]
METHODS = ("GET", "POST")
CODES = ("200", "201", "400", "404", "500")
KIND_COUNTER, KIND_GAUGE_WALK, KIND_GAUGE_DRIFT, KIND_CONST, KIND_CPU = range(5)


@dataclass
class Layout:
    """The series of one target: text before the value, and how each value moves."""

    prefixes: list[str] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)
    # histograms: (first index of the 12 bucket series, index of _sum, index of _count, mean)
    histograms: list[tuple[int, int, int, float]] = field(default_factory=list)
    meta: dict[int, str] = field(default_factory=dict)  # index -> HELP/TYPE lines before it

    def add(self, prefix: str, kind: int) -> int:
        self.prefixes.append(prefix)
        self.kinds.append(kind)
        return len(self.prefixes) - 1

    def family(self, name: str, typ: str, help_text: str) -> None:
        self.meta[len(self.prefixes)] = f"# HELP {name} {help_text}\n# TYPE {name} {typ}\n"


def _histogram(layout: Layout, name: str, label: str, values: list[str], mean: float) -> None:
    layout.family(name, "histogram", f"Histogram of {name.replace('_', ' ')}.")
    for value in values:
        first = len(layout.prefixes)
        for le in [*(repr(b) for b in BUCKETS), "+Inf"]:
            layout.add(f'{name}_bucket{{{label}="{value}",le="{le}"}} ', KIND_CONST)
        s = layout.add(f'{name}_sum{{{label}="{value}"}} ', KIND_CONST)
        c = layout.add(f'{name}_count{{{label}="{value}"}} ', KIND_CONST)
        layout.histograms.append((first, s, c, mean))


def build_layout(series: int) -> Layout:
    """Exactly ``series`` series (at least 700) of a realistic mix."""
    if series < 700:
        raise ValueError(f"--series must be >= 700 (the fixed part of the mix), got {series}")
    lay = Layout()
    lay.family("http_requests_total", "counter", "Requests handled, by handler, method and code.")
    for h in HANDLERS:
        for m in METHODS:
            for code in CODES:
                lay.add(
                    f'http_requests_total{{handler="{h}",method="{m}",code="{code}"}} ',
                    KIND_COUNTER,
                )
    _histogram(lay, "http_request_duration_seconds", "handler", HANDLERS, 0.08)  # 280
    _histogram(lay, "db_query_duration_seconds", "query", [f"q{i}" for i in range(10)], 0.02)  # 140
    lay.family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
    for cpu in range(8):
        for mode in ("user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"):
            lay.add(f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} ', KIND_CPU)
    lay.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
    lay.add("process_resident_memory_bytes ", KIND_GAUGE_DRIFT)
    lay.family("build_info", "gauge", "Build information.")
    lay.add('build_info{version="1.4.2",revision="9f3c2ab",goversion="go1.20"} ', KIND_CONST)
    rest = series - len(lay.prefixes)
    n_queue = rest // 3
    n_temp = rest // 3
    n_cache = rest - n_queue - n_temp
    lay.family("worker_queue_length", "gauge", "Jobs waiting in each queue.")
    for i in range(n_queue):
        lay.add(f'worker_queue_length{{queue="queue-{i:03d}"}} ', KIND_GAUGE_WALK)
    lay.family("sensor_temperature_celsius", "gauge", "Temperature of each sensor.")
    for i in range(n_temp):
        lay.add(
            f'sensor_temperature_celsius{{sensor="s{i:03d}",zone="z{i % 7}"}} ', KIND_GAUGE_WALK
        )
    lay.family("cache_size_bytes", "gauge", "Bytes held by each cache; limits are constant.")
    for i in range(n_cache):
        kind = KIND_CONST if i % 4 == 0 else KIND_GAUGE_DRIFT
        suffix = "limit" if kind == KIND_CONST else "used"
        lay.add(f'cache_size_bytes{{cache="c{i:03d}",kind="{suffix}"}} ', kind)
    assert len(lay.prefixes) == series
    return lay


class TargetState:
    """Values of one target, advanced with numpy on each scrape."""

    def __init__(self, layout: Layout, seed: int, now: float) -> None:
        self.layout = layout
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        n = len(layout.prefixes)
        kinds = np.array(layout.kinds)
        self.counter = np.flatnonzero(kinds == KIND_COUNTER)
        self.cpu = np.flatnonzero(kinds == KIND_CPU)
        self.walk = np.flatnonzero(kinds == KIND_GAUGE_WALK)
        self.drift = np.flatnonzero(kinds == KIND_GAUGE_DRIFT)
        const = np.flatnonzero(kinds == KIND_CONST)
        self.values = np.zeros(n)
        # counters: busy ones tens per second, error codes rarely move
        self.rates = rng.lognormal(mean=0.0, sigma=1.5, size=self.counter.size)
        self.rates[self.rates < 0.3] *= 0.05
        self.values[self.counter] = np.floor(rng.uniform(0, 1e6, self.counter.size))
        self.values[self.cpu] = np.round(rng.uniform(1e4, 1e6, self.cpu.size), 2)
        self.cpu_share = rng.dirichlet(np.ones(8), size=self.cpu.size // 8).ravel()
        is_queue = np.array(
            [layout.prefixes[i].startswith("worker_queue") for i in self.walk], dtype=bool
        )
        self.queue = self.walk[is_queue]
        self.walk = self.walk[~is_queue]
        # queues: mostly idle, a few busy; lengths resampled each scrape
        self.queue_mean = np.where(
            rng.random(self.queue.size) < 0.7, 0.05, rng.uniform(1, 40, self.queue.size)
        )
        self.values[self.queue] = rng.poisson(self.queue_mean)
        # temperatures: one decimal, drifting slowly around a mean
        self.walk_mean = rng.uniform(20, 70, self.walk.size)
        self.values[self.walk] = np.round(self.walk_mean, 1)
        self.values[self.drift] = np.floor(rng.uniform(1e7, 5e9, self.drift.size))
        self.values[const] = np.floor(rng.uniform(1e6, 1e9, const.size))
        for first, _s, _c, _mean in layout.histograms:
            self.values[first : first + len(BUCKETS) + 3] = 0.0
        for i, prefix in enumerate(layout.prefixes):
            if prefix.startswith("build_info"):
                self.values[i] = 1.0
        hist_n = len(layout.histograms)
        self.hist_rates = rng.lognormal(mean=1.0, sigma=1.0, size=hist_n)
        self.hist_probs = np.array(
            [_bucket_probs(mean, rng) for (_f, _s, _c, mean) in layout.histograms]
        )
        self.hist_first = np.array([h[0] for h in layout.histograms])
        self.hist_sum = np.array([h[1] for h in layout.histograms])
        self.hist_count = np.array([h[2] for h in layout.histograms])
        self.hist_mean = np.array([h[3] for h in layout.histograms])
        self.last = now
        self.scrapes = 0
        self.advance(now - 60.0)  # start with non-trivial histograms

    def advance(self, now: float) -> None:
        dt = max(0.0, now - self.last)
        self.last = now
        if dt == 0.0:
            return
        rng, v = self.rng, self.values
        v[self.counter] += rng.poisson(self.rates * dt)
        v[self.cpu] = np.round(v[self.cpu] + self.cpu_share * dt * rng.uniform(0.9, 1.1), 2)
        w = v[self.walk]
        step = min(dt, 15.0) / 5.0
        v[self.walk] = np.round(
            w + 0.02 * step * (self.walk_mean - w) + rng.normal(0, 0.08, w.size) * step**0.5, 1
        )
        v[self.queue] = rng.poisson(self.queue_mean)
        # ~30% of 5 s scrapes see a memory gauge move, by whole pages
        moved = rng.random(self.drift.size) < min(1.0, 0.06 * dt)
        d = v[self.drift]
        v[self.drift] = np.where(
            moved, np.floor(d * (1 + rng.normal(0, 0.002, d.size)) / 4096) * 4096, d
        )
        new = rng.poisson(self.hist_rates * dt)
        per_bucket = np.array(
            [rng.multinomial(k, p) for k, p in zip(new, self.hist_probs, strict=True)]
        )
        cum = np.cumsum(per_bucket, axis=1)  # 12 columns: 11 finite buckets + +Inf
        idx = self.hist_first[:, None] + np.arange(len(BUCKETS) + 1)[None, :]
        v[idx] += cum
        v[self.hist_count] += new
        v[self.hist_sum] += new * self.hist_mean * rng.uniform(0.8, 1.2, new.size)

    def render(self, now: float) -> bytes:
        self.advance(now)
        self.scrapes += 1
        meta = self.layout.meta
        out: list[str] = []
        for i, (prefix, value) in enumerate(
            zip(self.layout.prefixes, self.values.tolist(), strict=True)
        ):
            m = meta.get(i)
            if m is not None:
                out.append(m)
            out.append(f"{prefix}{_fmt(value)}\n")
        return "".join(out).encode()


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _bucket_probs(mean: float, rng: np.random.Generator) -> np.ndarray:
    """Probability of an observation landing in each bucket (11 finite + +Inf)."""
    samples = rng.lognormal(np.log(mean), 0.9, 4000)
    edges = np.array([0.0, *BUCKETS, np.inf])
    counts, _ = np.histogram(samples, bins=edges)
    p = counts / counts.sum()
    return np.asarray(p)


class TargetServer:
    """Serves all targets from one asyncio loop with a minimal HTTP/1.1 keep-alive handler."""

    def __init__(self, n_targets: int, n_series: int, *, gzip_ok: bool, seed: int = 1) -> None:
        self.layout = build_layout(n_series)
        now = time.time()
        self.states = [TargetState(self.layout, seed + i, now) for i in range(n_targets)]
        self.gzip_ok = gzip_ok
        self.servers: list[asyncio.Server] = []
        self.addresses: list[str] = []

    async def start(self, host: str = "127.0.0.1") -> None:
        for i in range(len(self.states)):
            server = await asyncio.start_server(self._handler(i), host, 0, backlog=64)
            port = server.sockets[0].getsockname()[1]
            self.servers.append(server)
            self.addresses.append(f"{host}:{port}")

    def stats(self, i: int | None) -> dict[str, int]:
        states = self.states if i is None else [self.states[i]]
        scrapes = sum(s.scrapes for s in states)
        n = len(self.layout.prefixes)
        return {
            "targets": len(states),
            "scrapes": scrapes,
            "series": n * len(states),
            "samples": scrapes * n,
        }

    def _handler(
        self, i: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    try:
                        head = await reader.readuntil(b"\r\n\r\n")
                    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                        return
                    request_line, _, rest = head.partition(b"\r\n")
                    parts = request_line.split(b" ")
                    path = parts[1].split(b"?")[0] if len(parts) > 1 else b"/"
                    lower = rest.lower()
                    encoding = b""
                    if path == b"/metrics":
                        body = self.states[i].render(time.time())
                        ctype = CONTENT_TYPE
                        if self.gzip_ok and b"accept-encoding:" in lower and b"gzip" in lower:
                            body = gzip.compress(body, compresslevel=1)
                            encoding = b"Content-Encoding: gzip\r\n"
                        status = b"200 OK"
                    elif path == b"/stats" or (path == b"/stats/all" and i == 0):
                        body = json.dumps(self.stats(i if path == b"/stats" else None)).encode()
                        ctype, status = b"application/json", b"200 OK"
                    else:
                        body, ctype, status = b"not found\n", b"text/plain", b"404 Not Found"
                    close = b"connection: close" in lower
                    writer.write(
                        b"HTTP/1.1 "
                        + status
                        + b"\r\nContent-Type: "
                        + ctype
                        + b"\r\n"
                        + encoding
                        + b"Content-Length: "
                        + str(len(body)).encode()
                        + b"\r\n"
                        + (b"Connection: close\r\n" if close else b"")
                        + b"\r\n"
                        + body
                    )
                    await writer.drain()
                    if close:
                        return
            except (ConnectionError, OSError):
                return
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        return handle

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


async def _serve(args: argparse.Namespace) -> None:
    server = TargetServer(args.targets, args.series, gzip_ok=args.gzip, seed=args.seed)
    await server.start()
    print(json.dumps({"targets": server.addresses, "series_per_target": args.series}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=100)
    p.add_argument("--series", type=int, default=1000, help="series per target (>= 700)")
    p.add_argument("--gzip", action="store_true", help="gzip bodies when the scraper accepts it")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--print-body", action="store_true", help="print one target's body and exit")
    args = p.parse_args(argv)
    if args.print_body:
        state = TargetState(build_layout(args.series), args.seed, time.time())
        sys.stdout.write(state.render(time.time() + 5).decode())
        return 0
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
