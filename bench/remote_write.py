"""Ingest throughput of the push endpoints, in process (no HTTP): decode, append, commit.

    .venv/bin/python bench/remote_write.py [--series 2000] [--requests 50]

Prints samples/s for: protobuf decode of new and of known series, remote write
into a real TSDB (one fsynced commit per request), and the text import.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cramjam
from prometheus_client import CollectorRegistry

from vigil.api.importer import Importer
from vigil.api.protobuf import decode_write_request, encode_write_request
from vigil.api.write import IngestMetrics, RemoteWriteReceiver
from vigil.tsdb.db import TSDB

T0 = 1_700_000_000_000


def _best(fn: object, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=50)
    a = ap.parse_args()
    labels = [
        [
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("instance", f"10.0.0.{s % 50}:8080"),
            ("code", str(200 + s % 5)),
            ("series", str(s)),
        ]
        for s in range(a.series)
    ]
    bodies = [
        encode_write_request(
            [(ls, [(T0 + i * 15_000, float(i + s))]) for s, ls in enumerate(labels)]
        )
        for i in range(a.requests)
    ]
    n = a.series
    full = _best(lambda: decode_write_request(bodies[0]))
    known = {s.key for s in decode_write_request(bodies[0])}
    fast = _best(lambda: decode_write_request(bodies[1], known))
    print(
        f"decode, new series:   {n / full / 1e6:.2f} M samples/s ({full / n * 1e6:.2f} us/series)"
    )
    print(
        f"decode, known series: {n / fast / 1e6:.2f} M samples/s ({fast / n * 1e6:.2f} us/series)"
    )

    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d, background=False)
        rx = RemoteWriteReceiver(db, metrics=IngestMetrics(CollectorRegistry()), clock=lambda: 2e9)
        snappy = [bytes(cramjam.snappy.compress_raw(b)) for b in bodies]
        t = time.perf_counter()
        for b in snappy:
            rx.handle(b)
        dt = time.perf_counter() - t
        total = n * a.requests
        print(
            f"remote write into TSDB: {total / dt / 1e6:.3f} M samples/s "
            f"({a.requests} requests of {n} samples, {dt / a.requests * 1000:.1f} ms/request)"
        )
        db.close()

    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d, background=False)
        imp = Importer(db, metrics=IngestMetrics(CollectorRegistry()))
        text = "".join(
            "http_requests_total{"
            + ",".join(f'{k}="{v}"' for k, v in ls[1:])
            + "}"
            + f" {i + s} {T0 + i * 15_000}\n"
            for i in range(a.requests)
            for s, ls in enumerate(labels)
        ).encode()
        t = time.perf_counter()
        r = imp.import_text(text, None)
        dt = time.perf_counter() - t
        print(
            f"text import into TSDB: {r.samples / dt / 1e6:.3f} M samples/s ({r.samples} samples)"
        )
        db.close()


if __name__ == "__main__":
    main()
