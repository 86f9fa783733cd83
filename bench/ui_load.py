"""UI page load: time from navigation start until each page has drawn its data.

Issue 6 asks that "pages are usable within a second on the benchmark data". This
loads the query benchmark's data (bench/query_latency.py's ``generate()``, by
default its --quick size: 1,000 series x 6 h at 15 s, ending now so that the
Overview's "last hour" has data) into ``vigil server`` with ``vigil import``
(``load_vigil``: --public-ingest, as the peers take imports), signs in with
Playwright in Debian's chromium (headless), and opens each page --rounds times:

* overview ``/``
* explore ``/explore?expr=http_requests_total&range=1h`` (200 series over 1 h)
* a shipped dashboard ``/dashboards?uid=vigil-service-overview``
* alerts, health, targets and status.

The readiness signal: each page's script calls ``markReady()`` (static/js/api.js)
after its first data render, which sets ``document.body.dataset.ready = "1"`` and
``window.vigilReadyAt = performance.now()`` (ms since the navigation started).
That is the figure; the browser's ``load`` event is shown beside it. A page
passes when its p90 is at most --budget-ms (1,000). Every navigation is a full
page load in the same signed-in tab (static files cached after the first round,
as for a user). Console errors are counted and reported.

Usage:
  .venv/bin/python bench/ui_load.py                 # quick data, 5 rounds (~2 min)
  .venv/bin/python bench/ui_load.py --rounds 9 --append
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import ROOT, BenchError
from query_latency import STEP_S, generate, load_vigil

RESULTS = ROOT / "bench" / "RESULTS.md"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-ui-load-pw"

PAGES: list[tuple[str, str]] = [
    ("overview", "/"),
    ("explore (200 series, 1 h)", "/explore?expr=http_requests_total&range=1h"),
    ("dashboard (service overview)", "/dashboards?uid=vigil-service-overview"),
    ("alerts", "/alerts"),
    ("health", "/health"),
    ("targets", "/targets"),
    ("status", "/status"),
]


@dataclass
class PageTimes:
    name: str
    path: str
    ready_ms: list[float] = field(default_factory=list)
    load_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: list[str] = field(default_factory=list)
    note: str = ""


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def measure(base: str, rounds: int, timeout_s: float) -> list[PageTimes]:
    from playwright.sync_api import ConsoleMessage, sync_playwright

    results = [PageTimes(name, path) for name, path in PAGES]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            current: list[str] = []

            def on_console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    current.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: current.append(f"page error: {exc}"))
            page.goto(base + "/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for _ in range(rounds):
                for r in results:
                    current.clear()
                    page.goto(base + r.path, wait_until="commit")
                    deadline = time.monotonic() + timeout_s
                    ready = None
                    while time.monotonic() < deadline:
                        ready = page.evaluate("() => window.vigilReadyAt ?? null")
                        if ready is not None:
                            break
                        page.wait_for_timeout(20)
                    if ready is None:
                        r.timeouts += 1
                        r.errors += current
                        continue
                    page.wait_for_load_state("load")
                    nav = page.evaluate(
                        "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
                    )
                    r.ready_ms.append(float(ready))
                    r.load_ms.append(float(nav))
                    r.errors += current
                    if r.path.startswith("/explore"):
                        n = page.evaluate("() => window.vigilExplore.series")
                        r.note = f"{n} series drawn"
                    elif r.path.startswith("/dashboards"):
                        panels = page.evaluate("() => Object.values(window.vigilDashboards.panels)")
                        bad = [x for x in panels if x["state"] not in ("ok", "unsupported")]
                        drawn = sum(x.get("series", 0) for x in panels)
                        r.note = f"{len(panels)} panels, {drawn} series, {len(bad)} in error"
        finally:
            browser.close()
    return results


def report(results: list[PageTimes], budget_ms: float, rounds: int) -> tuple[str, bool]:
    lines = [
        f"| page | ready median (ms) | ready p90 (ms) | load event median (ms) | p90 <= {budget_ms:,.0f} ms | notes |",
        "|---|---:|---:|---:|:---:|---|",
    ]
    ok_all = True
    for r in results:
        if len(r.ready_ms) < rounds:
            ok_all = False
            lines.append(
                f"| {r.name} | - | - | - | FAIL | {r.timeouts} of {rounds} rounds never ready; "
                f"{'; '.join(r.errors[:3])} |"
            )
            continue
        med, hi = statistics.median(r.ready_ms), p90(r.ready_ms)
        ok = hi <= budget_ms and not r.errors
        ok_all &= ok
        notes = r.note
        if r.errors:
            notes += f"; {len(r.errors)} console errors: {r.errors[0][:120]}"
        lines.append(
            f"| {r.name} | {med:,.0f} | {hi:,.0f} | {statistics.median(r.load_ms):,.0f} | "
            f"{'pass' if ok else 'FAIL'} | {notes.strip('; ')} |"
        )
    return "\n".join(lines), ok_all


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", type=int, default=1000, help="query_latency's --quick size")
    p.add_argument("--hours", type=float, default=6.0)
    p.add_argument("--rounds", type=int, default=5, help="page loads per page")
    p.add_argument("--budget-ms", type=float, default=1000.0)
    p.add_argument("--page-timeout", type=float, default=30.0, help="seconds per page load")
    p.add_argument("--load-timeout", type=float, default=900.0, help="seconds for the import")
    p.add_argument("--chunk-mb", type=float, default=32.0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/vigil-bench-ui"))
    p.add_argument("--append", action="store_true", help="append the results to RESULTS.md")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    # Ends a minute ago (whole step), so "the last hour" of every page has data.
    end_s = (int(time.time()) - 60) // STEP_S * STEP_S
    ds = generate(args.workdir, args.series, args.hours, end_s=end_s)
    os.environ["VIGIL_ADMIN_PASSWORD"] = PASSWORD  # the server's first admin (child env)
    loaded = load_vigil(ds, args.workdir, args.load_timeout, args.chunk_mb, None)
    system = loaded.system
    try:
        print(f"imported {ds.samples:,} samples in {loaded.load_s:.1f}s", flush=True)
        r = system.client.get(
            system.base + "/api/v1/query", params={"query": "count(http_requests_total)"}
        )
        r.raise_for_status()
        result = r.json()["data"]["result"]
        if not result:
            raise BenchError("no http_requests_total series after the import")
        print(f"{result[0]['value'][1]} http_requests_total series stored", flush=True)
        results = measure(system.base, args.rounds, args.page_timeout)
    finally:
        system.stop()
        ds.om.unlink(missing_ok=True)
        (args.workdir / f"{ds.om.stem}.done").unlink(missing_ok=True)
    table, ok = report(results, args.budget_ms, args.rounds)
    summary = (
        f"{args.series:,} series x {args.hours:g} h ({ds.samples:,} samples) imported; "
        f"{args.rounds} loads per page; headless chromium; ready = the page's first data drawn"
    )
    print()
    print(summary)
    print(table)
    print(
        f"\n{'all pages pass' if ok else 'some pages FAIL'} (whole run {time.monotonic() - t0:.0f}s)"
    )
    if args.append:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python bench/ui_load.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        header = (
            f"\n## ui_load ({now})\n\nCommand: `{cmd.strip()}` (Python "
            f"{platform.python_version()}, {platform.machine()}, {psutil.cpu_count()} CPUs shared "
            f"with other jobs; chromium headless on loopback). {summary}.\n\n"
        )
        with RESULTS.open("a") as f:
            f.write(header + table + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
