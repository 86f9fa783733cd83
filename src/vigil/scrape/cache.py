"""The per-target scrape cache, and how a sample's labels meet its target's.

:class:`ScrapeCache` maps the text of a sample line up to its value (the
``series`` of a parsed :class:`~vigil.textparse.Sample`) to the series'
storage ref and final labels, and remembers which series the previous scrape
had, for staleness (Prometheus's ``scrapeCache``). :func:`merge_target_labels`
is Prometheus's ``mutateSampleLabels`` without the relabelling step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from vigil.model import Labels
from vigil.storage.interface import SeriesRef
from vigil.textparse import SeriesCache

__all__ = ["Entry", "ScrapeCache", "merge_target_labels", "scrape_offset"]

_EXPORTED = "exported_"


class Entry:
    """A cached series: its storage ref, final labels, and the last scrape that saw it."""

    __slots__ = ("iter", "labels", "ref")

    def __init__(self, ref: SeriesRef, labels: Labels, it: int) -> None:
        self.ref = ref
        self.labels = labels
        self.iter = it


class ScrapeCache:
    """Per-target state kept between scrapes (reusable across a config reload
    when the labels it caches do not change)."""

    __slots__ = (
        "added",
        "cur",
        "dropped",
        "fast_format",
        "iter",
        "meta_lines",
        "pairs",
        "parser_cache",
        "prev",
        "report",
        "series",
        "successful_size",
    )

    def __init__(self) -> None:
        self.series: dict[str, Entry] = {}
        """series text -> entry, for series that were appended."""
        self.dropped: dict[str, int] = {}
        """series text -> last scrape iteration, for series metric relabelling dropped."""
        self.cur: dict[SeriesRef, Entry] = {}
        self.prev: dict[SeriesRef, Entry] = {}
        """Series of the current and of the previous scrape, for staleness."""
        self.report: dict[str, SeriesRef] = {}
        self.parser_cache = SeriesCache()
        self.added: list[str] = []
        """Keys of the entries the current scrape created (forgotten if it is rolled back)."""
        self.iter = 1
        self.successful_size = 0
        self.fast_format = ""
        """The exposition format every key of ``series``/``dropped`` was last validated in
        (set after a successful scrape); the scrape fast path trusts the keys only then."""
        self.meta_lines: set[str] = set()
        """Metadata and comment lines the full parser accepted in ``fast_format``."""
        self.pairs: dict[tuple[str, str], tuple[str, str]] = {}
        """Label pairs shared by this target's series (a target's 1,000 series have a few
        hundred distinct pairs: job, instance, ``le``, ``code``...): one tuple each."""

    def __len__(self) -> int:
        return len(self.series)

    def forget_added(self) -> None:
        """Drop the entries the current scrape created: its transaction did not commit,
        so their refs may mean nothing to the store."""
        parsed = self.parser_cache.entries
        for key in self.added:
            e = self.series.pop(key, None)
            parsed.pop(key, None)
            if e is not None:
                if self.cur.get(e.ref) is e:
                    del self.cur[e.ref]
                if self.prev.get(e.ref) is e:
                    del self.prev[e.ref]
        self.added.clear()

    def iter_done(
        self, flush: bool, seen_series: int | None = None, seen_dropped: int | None = None
    ) -> None:
        """End of a scrape; ``flush`` (after a successful one) forgets series it did not see.

        ``seen_series``/``seen_dropped`` (distinct entries the scrape used) skip
        the scan for unseen entries when every entry was seen, the usual case.
        Failed scrapes do not flush, unless the cache has grown past twice its
        size after the last success plus 1,000 (a target failing with churning
        series must not grow it forever; Prometheus's heuristic).
        """
        size = len(self.series) + len(self.dropped)
        if flush:
            self.successful_size = size
        elif size > 2 * self.successful_size + 1000:
            flush = True
        if flush:
            it = self.iter
            gone = (
                [k for k, e in self.series.items() if e.iter != it]
                if seen_series is None or seen_series < len(self.series)
                else []
            )
            gone_dropped = (
                [k for k, i in self.dropped.items() if i != it]
                if seen_dropped is None or seen_dropped < len(self.dropped)
                else []
            )
            if gone or gone_dropped:
                parsed = self.parser_cache.entries
                for k in gone:
                    del self.series[k]
                    parsed.pop(k, None)
                for k in gone_dropped:
                    del self.dropped[k]
                    parsed.pop(k, None)
        self.prev, self.cur = self.cur, self.prev
        self.cur.clear()
        self.iter += 1
        if len(self.pairs) > 4 * len(self.series) + 1000:
            self.pairs.clear()  # churning label values: start over (sharing is only a saving)


def merge_target_labels(
    exposed: Labels,
    target: Iterable[tuple[str, str]],
    honor_labels: bool,
    pairs: dict[tuple[str, str], tuple[str, str]] | None = None,
) -> Labels:
    """A sample's labels with the target's labels attached, as Prometheus does.

    With ``honor_labels`` exposed labels win over target labels; otherwise
    target labels win and a clashing exposed value is kept as
    ``exported_<name>`` (prefixed again while that name is taken). Labels with
    an empty value are dropped. ``pairs`` interns the label pairs: equal pairs of
    the labels it returns are one tuple (memory: series live as long as the head).
    """
    d = dict(exposed.pairs)
    if honor_labels:
        for name, value in target:
            if not d.get(name):
                d[name] = value
    else:
        conflicts: list[tuple[str, str]] = []
        for name, value in target:
            old = d.get(name)
            if old:
                conflicts.append((name, old))
            d[name] = value
        conflicts.sort(key=lambda p: len(p[0]))
        for name, old in conflicts:
            new = name
            while True:
                new = _EXPORTED + new
                if not d.get(new):
                    d[new] = old
                    break
    if pairs is None:
        return Labels.from_pairs((n, v) for n, v in d.items() if v)
    out = []
    for pair in d.items():
        if pair[1]:
            shared = pairs.get(pair)
            if shared is None:
                shared = pairs[pair] = pair
            out.append(shared)
    return Labels.from_pairs(out)  # sorts and checks; keeps these very tuples


def scrape_offset(key: str, interval_s: float, now_s: float) -> float:
    """Seconds to wait before the first scrape so that a target is always scraped
    at the same phase of its interval (a hash of ``key``), spreading targets
    over the interval like Prometheus."""
    if interval_s <= 0:
        return 0.0
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    interval_ns = max(1, int(interval_s * 1e9))
    phase = h % interval_ns
    now_ns = int(now_s * 1e9) % interval_ns
    return ((phase - now_ns) % interval_ns) / 1e9
