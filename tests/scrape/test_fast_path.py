"""The scrape fast path (known series: split, look-up, bulk float parse, batch append)
must give exactly what the full parser path gives: same results, same errors with the
same positions, same stored samples, on conformance bodies and on mutated bodies."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pytest

from vigil.model import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.scrape.http import ScrapeError, ScrapeResponse
from vigil.scrape.loop import LoopOptions, ScrapeLoop, ScrapeResult, _parse_values
from vigil.storage import MemoryStorage

from ..textparse._conformance import OPENMETRICS as OM_VECTORS
from ..textparse._conformance import openmetrics_cases, textparse_body

PROM = "text/plain; version=0.0.4"
OM = "application/openmetrics-text; version=1.0.0"
T0 = 1_700_000_000_000


class _NoScraper:
    url = "http://h:1/metrics"

    async def scrape(self) -> ScrapeResponse:
        raise ScrapeError("not used")

    async def aclose(self) -> None:
        pass


def _drop_some(lset: Labels) -> Labels | None:
    name = lset.metric_name
    return None if name.endswith("_count") or lset.get("quantile") == "0.5" else lset


OPTIONS: dict[str, LoopOptions] = {
    "default": LoopOptions(interval_s=1, timeout_s=1),
    "honor": LoopOptions(interval_s=1, timeout_s=1, honor_labels=True, honor_timestamps=False),
    "relabel": LoopOptions(interval_s=1, timeout_s=1, metric_relabel=_drop_some),
    "limits": LoopOptions(interval_s=1, timeout_s=1, sample_limit=1500, label_limit=6),
}


class Pair:
    """The same bodies through a loop with the fast path and one without."""

    def __init__(self, options: LoopOptions) -> None:
        target = Labels(job="app", instance="h:1", quantile="target")
        self.fast_store, self.full_store = MemoryStorage(), MemoryStorage()
        self.fast = ScrapeLoop(_NoScraper(), self.fast_store, options, target_labels=target)
        self.full = ScrapeLoop(_NoScraper(), self.full_store, options, target_labels=target)
        self.full._append_body_fast = lambda *a: False  # type: ignore[method-assign]
        self.fast_hits = 0
        real = self.fast._append_body_fast

        def counting(*a: Any) -> bool:
            ok = real(*a)
            self.fast_hits += ok
            return ok

        self.fast._append_body_fast = counting  # type: ignore[method-assign,assignment]
        self.t = T0
        self.ok = 0

    def scrape(self, body: bytes, content_type: str) -> None:
        self.t += 1000
        a = self.fast.append_scrape(body, content_type, self.t, started=0.0)
        b = self.full.append_scrape(body, content_type, self.t, started=0.0)
        assert _key(a) == _key(b), body[:2000]
        self.ok += not b.error

    def check_stores(self) -> None:
        m = [Matcher(MatchType.REGEX, "__name__", ".+")]
        got = self.fast_store.querier(0, 2**62).select(m)
        want = self.full_store.querier(0, 2**62).select(m)
        assert [s.labels for s in got] == [s.labels for s in want]
        for g, w in zip(got, want, strict=True):
            assert g.timestamps.tolist() == w.timestamps.tolist(), g.labels
            if g.labels.metric_name == "scrape_duration_seconds":
                continue
            assert g.values.view(np.uint64).tolist() == w.values.view(np.uint64).tolist(), g.labels


def _key(r: ScrapeResult) -> tuple[object, ...]:
    return (
        r.error,
        r.failure_reason,
        r.scraped,
        r.post_relabel,
        r.series_added,
        r.stale_markers,
        sorted(r.rejected.items()),
    )


_NUM = re.compile(rb"(?<= )-?[0-9][0-9.e+-]*(?=\n| )")


def _new_values(body: bytes, rnd: random.Random) -> bytes:
    """The same series with other values (what the next scrape of a target looks like)."""

    def repl(m: re.Match[bytes]) -> bytes:
        r = rnd.random()
        if r < 0.5:
            return m.group(0)
        if r < 0.9:
            return str(rnd.randint(0, 10**6)).encode()
        return repr(rnd.uniform(-1e3, 1e3)).encode()

    return _NUM.sub(repl, body)


_CHARS = [" ", "\t", "{", "}", '"', ",", "=", "#", "\n", "\r", "e", "_", "-", ".", "x", "0"]
_CHARS += ["\u00e9", "\\", "+", "1"]
_VALUES = ["NaN", "+Inf", "-Inf", "-0", "1e400", "0x10", "1_0", "", "1.", ".5", "01", "1e5"]
_VALUES += ["Infinity", "nan", "+1", "-0.0", "18446744073709551617", "1,5", '"1"', "true"]


def mutate(body: bytes, rnd: random.Random) -> bytes:
    text = body.decode("utf-8", "replace")
    lines = text.split("\n")
    kind = rnd.randrange(10)
    i = rnd.randrange(len(lines))
    if kind == 0 and text:
        p = rnd.randrange(len(text))
        text = text[:p] + rnd.choice(_CHARS) + text[p + 1 :]
    elif kind == 1 and text:
        p = rnd.randrange(len(text))
        text = text[:p] + text[p + 1 :]
    elif kind == 2:
        p = rnd.randrange(len(text) + 1)
        text = text[:p] + rnd.choice(_CHARS) + text[p:]
    else:
        if kind == 3:
            lines.insert(i, lines[rnd.randrange(len(lines))])  # a duplicate line
        elif kind == 4:
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 5:
            del lines[i]
        elif kind == 6:
            lines[i] += " " + str(rnd.choice([T0 // 1000, T0, T0 + 10**9, -1, 17]))
        elif kind == 7:
            head, _, _ = lines[i].rpartition(" ")
            lines[i] = head + " " + rnd.choice(_VALUES)
        elif kind == 8:
            lines.insert(i, rnd.choice(["", "# EOF", "# HELP x y", "# TYPE x gauge", "#"]))
        else:
            lines[i] = lines[i].replace(" ", rnd.choice(["  ", "\t", " \t"]), 1)
        text = "\n".join(lines)
    out = text.encode()
    if rnd.random() < 0.02:
        out = out[: rnd.randrange(len(out) + 1)]
    if rnd.random() < 0.01:
        out += b"\xff"
    return out


BASES = {
    "alltypes.prom": ("alltypes.237mfs.prom.txt", PROM),
    "alltypes.nometa.prom": ("alltypes.237mfs.nometa.prom.txt", PROM),
    "histogram.om": ("1histogram.om.txt", OM),
    "alltypes.om": ("alltypes.5mfs.om.txt", OM),
    "alltypes.om-as-prom": ("alltypes.5mfs.om.txt", PROM),
}


@pytest.mark.parametrize("options", sorted(OPTIONS))
@pytest.mark.parametrize("base", sorted(BASES))
def test_fast_path_equals_full_path_on_mutated_conformance_bodies(base: str, options: str) -> None:
    name, ctype = BASES[base]
    body = textparse_body(name)
    rnd = random.Random(f"{base}/{options}")
    pair = Pair(OPTIONS[options])
    steps = 25 if len(body) > 50_000 else 80
    for _ in range(steps):
        pair.scrape(_new_values(body, rnd), ctype)  # a good scrape: the fast path's case
        pair.scrape(mutate(_new_values(body, rnd), rnd), ctype)
        if rnd.random() < 0.1:
            other = OM if ctype == PROM else PROM
            pair.scrape(body, other)  # the format changed: the cache's keys are not trusted
    pair.check_stores()
    if options == "default" and not base.endswith("as-prom"):
        assert pair.fast_hits > steps // 4  # the fast path was exercised


def test_fast_path_equals_full_path_on_the_openmetrics_vectors() -> None:
    cases = openmetrics_cases()
    if not cases:
        pytest.skip(f"no OpenMetrics vectors in {OM_VECTORS}")
    rnd = random.Random(3)
    for case in cases:
        body = (case / "metrics").read_bytes()
        for options in OPTIONS.values():
            pair = Pair(options)
            for ctype in (OM, PROM):
                pair.scrape(body, ctype)
                pair.scrape(body, ctype)  # the second time from the cache
                for _ in range(3):
                    pair.scrape(mutate(body, rnd), ctype)
                    pair.scrape(body, ctype)
            pair.check_stores()


def test_malformed_known_series_lines_never_slip_through() -> None:
    """Lines whose series the cache knows but whose value or layout is wrong fail
    the scrape with the full parser's positioned error."""
    good = b'# TYPE a counter\na_total{x="1"} 1\nb 2\n'
    bads = [
        b'# TYPE a counter\na_total{x="1"} 1_0\nb 2\n',
        b'# TYPE a counter\na_total{x="1"} 0x1\nb 2\n',
        b'# TYPE a counter\na_total{x="1"} 1\nb 2 3 4\n',
        b'# TYPE a counter\na_total{x="1"} 1\nb\t\n',
        b'# TYPE a counter\na_total{x="1"} \xff\nb 2\n',
        b'# TYPE a countr\na_total{x="1"} 1\nb 2\n',
        b'# TYPE a counter\na_total{x="1"} "1"\nb 2\n',
        b'# TYPE a counter\na_total{x="1"} 1\nb -\n',
    ]
    for bad in bads:
        pair = Pair(OPTIONS["default"])
        pair.scrape(good, PROM)
        pair.scrape(good, PROM)
        pair.scrape(bad, PROM)
        r = pair.fast.last
        assert r is not None
        assert r.failure_reason == "parse", bad
        assert "line" in r.error or ":" in r.error, r.error
        pair.check_stores()
    assert pair.fast_hits >= 1


@pytest.mark.parametrize(
    "tokens",
    [
        ["1", "2.5", "-3", "1e5", "1.7976931348623157e308", "5e-324"],
        ["-0", "0", "-0.0"],
        ["NaN", "+Inf", "-Inf", "1."],
        ["18446744073709551617", "1"],
        ["0.1", "0.30000000000000004", "123456789012345678901234567890"],
    ],
)
def test_bulk_value_parse_is_bit_identical_to_float(tokens: list[str]) -> None:
    got = _parse_values(tokens)
    want = np.array([float(t) for t in tokens])
    assert got.view(np.uint64).tolist() == want.view(np.uint64).tolist()


@pytest.mark.parametrize("tokens", [["1_0"], ["0x10"], ["1,5"], ['"1"'], ["true"], ["1\t"], [""]])
def test_bulk_value_parse_refuses_what_the_parser_fast_path_refuses(tokens: list[str]) -> None:
    with pytest.raises(ValueError, match=r"fast path|could not convert"):
        _parse_values(tokens)


def test_bulk_value_parse_random_tokens() -> None:
    rnd = random.Random(7)
    tokens = [repr(rnd.uniform(-1e9, 1e9)) for _ in range(2000)]
    tokens += [str(rnd.getrandbits(rnd.randrange(1, 70))) for _ in range(2000)]
    got = _parse_values(tokens)
    want = np.array([float(t) for t in tokens])
    assert got.view(np.uint64).tolist() == want.view(np.uint64).tolist()
