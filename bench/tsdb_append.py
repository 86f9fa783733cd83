"""TSDB ingest micro-benchmark: the append + commit path the scrape loop drives.

Simulates N targets x S series scraped every `interval` ms: each scrape is one
transaction (append with cached refs, then commit = one WAL write + fsync).
Prints CPU microseconds per sample (append, commit, total), commits/s, and
memory per series (RSS growth / series) once the head holds `minutes` of data.

    .venv/bin/python bench/tsdb_append.py --targets 100 --series 1000 --minutes 30
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np
import psutil

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.tsdb.db import TSDB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=int, default=5000)
    ap.add_argument("--fsync", action="store_true", default=True)
    args = ap.parse_args()
    proc = psutil.Process()
    rng = np.random.default_rng(0)
    labels = [
        [
            Labels.from_dict(
                {
                    "__name__": f"metric_{i % 50}_total",
                    "job": "bench",
                    "instance": f"host-{tgt}:9100",
                    "le": str(i % 12),
                    "code": str(200 + i % 5),
                    "path": f"/api/v1/thing/{i // 50}",
                }
            )
            for i in range(args.series)
        ]
        for tgt in range(args.targets)
    ]
    rss0 = proc.memory_info().rss
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d, background=False)
        refs = [[0] * args.series for _ in range(args.targets)]
        steps = int(args.minutes * 60_000 / args.interval)
        base = np.cumsum(rng.integers(0, 100, size=(args.targets, args.series)), axis=1).astype(
            float
        )
        t_app = t_com = 0.0
        n = 0
        commits = 0
        t0 = 1_700_000_000_000
        wall = time.perf_counter()
        for step in range(steps):
            incr = rng.integers(0, 20, size=(args.targets, args.series))
            base += incr
            for tgt in range(args.targets):
                vals = base[tgt].tolist()
                ts = t0 + step * args.interval + tgt
                r = refs[tgt]
                lb = labels[tgt]
                c0 = time.process_time()
                app = db.appender()
                for i in range(args.series):
                    r[i] = app.append(r[i], lb[i], ts, vals[i])
                c1 = time.process_time()
                app.commit()
                c2 = time.process_time()
                t_app += c1 - c0
                t_com += c2 - c1
                n += args.series
                commits += 1
        wall = time.perf_counter() - wall
        rss = proc.memory_info().rss
        st = db.stats()
        series = args.targets * args.series
        print(f"samples={n} series={series} head_chunk_bytes={st.head_chunk_bytes}")
        print(
            f"cpu us/sample: append {t_app / n * 1e6:.3f} commit {t_com / n * 1e6:.3f} "
            f"total {(t_app + t_com) / n * 1e6:.3f}"
        )
        print(f"wall: {n / wall:,.0f} samples/s, {commits / wall:,.0f} commits/s (each fsynced)")
        print(
            f"memory: rss growth {(rss - rss0) / series:,.0f} B/series "
            f"(max rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / series:,.0f} B/series), "
            f"head pages {st.head_chunk_bytes / max(1, n):.2f} B/sample, wal {st.wal_bytes / n:.2f} B/sample"
        )
        for matchers in (
            [Matcher.equal("__name__", "metric_7_total"), Matcher.equal("instance", "host-3:9100")],
            [Matcher.equal("__name__", "metric_7_total")],
            [Matcher(MatchType.REGEX, "path", "/api/v1/thing/1.*")],
        ):
            q0 = time.perf_counter()
            got = db.querier(0, 2**62).select(matchers)
            took = time.perf_counter() - q0
            points = sum(len(x) for x in got)
            print(
                f"query {' '.join(map(str, matchers))}: {len(got)} series, {points} samples "
                f"in {took * 1000:.1f} ms"
            )
        db.close()


if __name__ == "__main__":
    main()
