"""Exposition parsing speed: Vigil's parsers against prometheus_client's.

Parses each body of ../shared/conformance/textparse (or $VIGIL_CONFORMANCE_DIR)
repeatedly and prints samples per second (median of --repeat runs, each run
parsing the body --loops times) and Vigil's ratio to prometheus_client:

* Prometheus text bodies: ``PrometheusTextParser`` cold (no cache), warm (a
  ``SeriesCache`` filled by the previous scrape, the steady state of a
  scrape loop), against ``prometheus_client.parser.text_string_to_metric_families``.
* OpenMetrics bodies: ``OpenMetricsParser`` lenient and strict against
  ``prometheus_client.openmetrics.parser.text_string_to_metric_families``
  (strict rejects alltypes.5mfs.om.txt by design, so it is skipped there).

Usage: .venv/bin/python bench/textparse_speed.py [--repeat 15] [--loops 20] [--append]
``--append`` adds the figures to bench/RESULTS.md under "textparse".
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as pc_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as pc_text

from vigil.textparse import (
    OpenMetricsParser,
    ParseError,
    PrometheusTextParser,
    Sample,
    SeriesCache,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VIGIL_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))
TEXTPARSE = DATA / "textparse"

PROM_BODIES = ["alltypes.237mfs.prom.txt", "alltypes.237mfs.nometa.prom.txt"]
OM_BODIES = ["alltypes.5mfs.om.txt", "1histogram.om.txt"]


def vigil_text(raw: bytes, cache: SeriesCache | None) -> int:
    return sum(1 for e in PrometheusTextParser(raw, series_cache=cache) if isinstance(e, Sample))


def vigil_openmetrics(raw: bytes, strict: bool) -> int:
    return sum(1 for e in OpenMetricsParser(raw, strict=strict) if isinstance(e, Sample))


def client(fn: Callable[[str], Iterable[Metric]], text: str) -> int:
    return sum(len(f.samples) for f in fn(text))


def rate(fn: Callable[[], int], repeat: int, loops: int) -> tuple[float, int]:
    """Median samples/second over ``repeat`` runs of ``loops`` parses."""
    n = fn()  # warm-up, and the sample count
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        dt = time.perf_counter() - t0
        rates.append(n * loops / dt)
    return statistics.median(rates), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--loops", type=int, default=20)
    ap.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()

    rows: list[tuple[str, str, int, float, float]] = []  # body, parser, samples, rate, ratio

    for name in PROM_BODIES:
        raw = (TEXTPARSE / name).read_bytes()
        text = raw.decode()
        base, n = rate(partial(client, pc_text, text), args.repeat, args.loops)
        rows.append((name, "prometheus_client text", n, base, 1.0))
        cold, n1 = rate(partial(vigil_text, raw, None), args.repeat, args.loops)
        rows.append((name, "vigil text, cold", n1, cold, cold / base))
        cache = SeriesCache()
        warm, n2 = rate(partial(vigil_text, raw, cache), args.repeat, args.loops)
        rows.append((name, "vigil text, warm cache", n2, warm, warm / base))

    for name in OM_BODIES:
        raw = (TEXTPARSE / name).read_bytes()
        text = raw.decode()
        try:
            base, n = rate(partial(client, pc_openmetrics, text), args.repeat, args.loops)
        except ValueError:
            base, n = 0.0, 0
        rows.append((name, "prometheus_client openmetrics", n, base, 1.0))
        for strict in (False, True):
            label = "vigil openmetrics " + ("strict" if strict else "lenient")
            try:
                r, m = rate(partial(vigil_openmetrics, raw, strict), args.repeat, args.loops)
            except ParseError:
                rows.append((name, label + " (rejects body)", 0, 0.0, 0.0))
                continue
            rows.append((name, label, m, r, r / base if base else 0.0))

    lines = [
        f"| body | parser | samples | samples/s (median of {args.repeat}) | x prometheus_client |",
        "|---|---|---:|---:|---:|",
    ]
    for body, parser, n, r, ratio in rows:
        if r == 0.0 and not n:
            shown = "rejected" if "vigil" in parser else "rejects body"
            lines.append(f"| {body} | {parser} | - | {shown} | - |")
            continue
        shown_ratio = f"{ratio:.2f}" if ratio else "-"
        lines.append(f"| {body} | {parser} | {n} | {r:,.0f} | {shown_ratio} |")
    table = "\n".join(lines)
    print(table)

    if args.append:
        results = ROOT / "bench" / "RESULTS.md"
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python bench/textparse_speed.py " + " ".join(sys.argv[1:])
        machine = f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"
        section = f"\n## textparse ({stamp})\n\nCommand: `{cmd}` ({machine})\n\n{table}\n"
        if not results.exists():
            results.write_text("# Benchmark results\n")
        with results.open("a") as fh:
            fh.write(section)
        print(f"appended to {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
