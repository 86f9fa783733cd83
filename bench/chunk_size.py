"""Bytes per sample of vigil's blocks against Prometheus's, on the same generated data.

Generates realistic series (integer counters, float counters, wandering
gauges, histogram buckets with their _sum/_count, constants), writes them as a
vigil block with :func:`vigil.tsdb.block.write_block`, and as OpenMetrics text
that ``promtool tsdb create-blocks-from openmetrics`` turns into a Prometheus
block; then compares chunk bytes (and whole-block bytes) per sample, per kind
of series and overall.

    .venv/bin/python bench/chunk_size.py [--series 2000] [--hours 2] [--interval 15] [--jitter-ms 0]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vigil.model.labels import Labels
from vigil.tsdb import chunkenc
from vigil.tsdb.block import write_block

Series = tuple[Labels, np.ndarray, np.ndarray]
KINDS = ("counter", "float_counter", "gauge", "histogram", "constant")
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def generate(kind: str, count: int, ts: np.ndarray, rng: np.random.Generator) -> list[Series]:
    """*count* series of one kind, changing the way real exporters' series do."""
    n = len(ts)
    out: list[Series] = []
    i = 0
    while len(out) < count:
        base = {
            "__name__": f"app_{kind}",
            "instance": f"10.0.{i // 250}.{i % 250}:8080",
            "job": "app",
        }
        if kind == "counter":  # requests: integer increments at a per-series rate
            rate = rng.lognormal(1.0, 1.5)
            v = float(rng.integers(0, 10**6)) + np.cumsum(rng.poisson(rate * 15, n))
            out.append((Labels.from_dict({**base, "code": "200"}), ts, v.astype(np.float64)))
        elif kind == "float_counter":  # CPU seconds: ticks of 10 ms, printed with 2 decimals
            v = np.round(rng.uniform(0, 1e4) + np.cumsum(rng.gamma(2.0, 0.05, n) * 15), 2)
            out.append((Labels.from_dict(base), ts, v))
        elif kind == "gauge":  # half memory bytes (page multiples), half full-precision floats
            if i % 2:
                v = 4096.0 * np.round(1e5 + np.cumsum(rng.normal(0, 50, n)))
            else:
                v = np.abs(50 + np.cumsum(rng.normal(0, 0.5, n))) * rng.uniform(0.5, 2)
            out.append((Labels.from_dict(base), ts, v))
        elif kind == "histogram":  # request durations: cumulative buckets, _sum, _count
            rate = rng.lognormal(1.0, 1.0)
            obs = rng.poisson(rate * 15, n)
            shares = np.cumsum(rng.dirichlet(np.ones(len(BUCKETS)) * 0.7))
            counts = np.cumsum(obs)
            for le, share in zip(BUCKETS, shares, strict=True):
                cum = np.floor(counts * min(share, 1.0)) if le != "+Inf" else counts
                out.append(
                    (
                        Labels.from_dict({**base, "__name__": "app_seconds_bucket", "le": le}),
                        ts,
                        cum.astype(np.float64),
                    )
                )
            out.append(
                (
                    Labels.from_dict({**base, "__name__": "app_seconds_count"}),
                    ts,
                    counts.astype(np.float64),
                )
            )
            sums = np.cumsum(obs * rng.gamma(2.0, 0.05, n))
            out.append((Labels.from_dict({**base, "__name__": "app_seconds_sum"}), ts, sums))
        else:  # up, build_info, config values
            out.append((Labels.from_dict(base), ts, np.full(n, float(rng.integers(0, 3)))))
        i += 1
    return out[:count]


def openmetrics(series: list[Series]) -> str:
    lines = []
    by_name: dict[str, list[Series]] = {}
    for s in series:
        by_name.setdefault(s[0].metric_name, []).append(s)
    for name, group in by_name.items():
        lines.append(f"# TYPE {name} gauge")  # the type does not change how samples are stored
        for labels, ts, vs in group:
            body = ",".join(f'{k}="{v}"' for k, v in labels.pairs if k != "__name__")
            head = f"{name}{{{body}}} "
            for t, v in zip(ts.tolist(), vs.tolist(), strict=True):
                lines.append(f"{head}{v!r} {t / 1000:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def du(path: Path, pattern: str = "**/*") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


def prometheus_sizes(series: list[Series], work: Path) -> tuple[int, int] | None:
    """(chunk bytes, block bytes) of the blocks promtool makes from the same samples."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return None
    src = work / "data.om"
    src.write_text(openmetrics(series))
    out = work / "prom"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(src), str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return du(out, "*/chunks/*"), du(out)


def vigil_sizes(series: list[Series], work: Path, mint: int, maxt: int) -> tuple[int, int, float]:
    out = work / "vigil"
    out.mkdir()
    start = time.perf_counter()
    meta = write_block(out, series, mint=mint, maxt=maxt)
    elapsed = time.perf_counter() - start
    chunks = (meta.path / "chunks").stat().st_size
    return chunks, du(out), elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--series", type=int, default=2000, help="series per run (split over the kinds)"
    )
    ap.add_argument(
        "--hours", type=float, default=2.0, help="time span (Prometheus cuts 2h blocks)"
    )
    ap.add_argument("--interval", type=int, default=15, help="scrape interval, seconds")
    ap.add_argument("--jitter-ms", type=int, default=0, help="random +-jitter on each timestamp")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    mint = 1_700_000_000_000 // 7_200_000 * 7_200_000
    span = int(args.hours * 3_600_000)
    ts = np.arange(mint, mint + span, args.interval * 1000, dtype=np.int64)
    if args.jitter_ms:
        ts = ts + rng.integers(-args.jitter_ms, args.jitter_ms + 1, len(ts))
        ts = np.clip(np.maximum.accumulate(ts), mint, mint + span - 1)
        ts = np.unique(ts)
    per_kind = max(1, args.series // len(KINDS))
    print(
        f"{per_kind} series per kind x {len(ts)} samples ({args.hours}h at {args.interval}s, "
        f"jitter +-{args.jitter_ms} ms); zstd level {chunkenc.ZSTD_LEVEL}"
    )
    print(
        f"{'kind':<14} {'samples':>9} {'vigil B/s':>10} {'prom B/s':>9} {'ratio':>6}   (chunk bytes per sample)"
    )
    totals = np.zeros(5)
    all_series: list[Series] = []
    for kind in KINDS:
        series = generate(kind, per_kind, ts, rng)
        all_series += series
        samples = sum(len(s[1]) for s in series)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            v_chunks, v_total, _ = vigil_sizes(series, work, mint, mint + span)
            prom = prometheus_sizes(series, work)
        p_chunks, p_total = prom if prom else (0, 0)
        totals += (samples, v_chunks, v_total, p_chunks, p_total)
        ratio = f"{v_chunks / p_chunks:6.2f}" if p_chunks else "   n/a"
        print(
            f"{kind:<14} {samples:>9} {v_chunks / samples:>10.3f} {p_chunks / samples:>9.3f} {ratio}"
        )
    samples = int(totals[0])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mixed = sorted(all_series, key=lambda s: s[0])
        v_chunks, v_total, secs = vigil_sizes(mixed, work, mint, mint + span)
        prom = prometheus_sizes(mixed, work)
    p_chunks, p_total = prom if prom else (0, 0)
    print(
        f"{'all (1 block)':<14} {int(samples):>9} {v_chunks / samples:>10.3f} {p_chunks / samples:>9.3f}",
        end="",
    )
    print(f" {v_chunks / p_chunks:6.2f}" if p_chunks else "    n/a")
    print(
        f"whole block (chunks+index+meta): vigil {v_total / samples:.3f} B/sample, "
        f"prometheus {p_total / samples:.3f} B/sample"
        + (f", ratio {v_total / p_total:.2f}" if p_total else "")
    )
    print(f"vigil write_block: {samples / secs / 1e6:.2f} M samples/s ({secs:.2f} s)")
    if not prom:
        print("promtool not found: Prometheus figures skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
