"""Targets: what a discovered label set becomes after target relabelling.

Follows Prometheus's ``PopulateLabels``/``TargetsFromGroup``:

1. A target's labels override its group's labels.
2. ``job``, ``__scrape_interval__``, ``__scrape_timeout__``, ``__metrics_path__``
   and ``__scheme__`` are filled from the scrape config where absent, and each
   ``params`` key ``k`` becomes ``__param_k`` (its first value). This set is the
   target's *discovered labels*.
3. ``relabel_configs`` run; a dropped set is a dropped target.
4. ``__address__`` must be present and must not contain ``/``; the interval and
   timeout labels must parse, be non-zero and timeout <= interval.
5. ``__meta_*`` labels go; ``instance`` defaults to ``__address__``.
6. The scrape URL is ``__scheme__://__address____metrics_path__?params``, where a
   ``__param_k`` label replaces the first value of parameter ``k``.

The labels attached to scraped samples are the remaining ones not starting
with ``__``. Unlike Prometheus 2.x (and like 3.x), no default port is added
to an address without one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from vigil.config.types import (
    DEFAULT_GLOBAL_SCRAPE_INTERVAL,
    DEFAULT_GLOBAL_SCRAPE_TIMEOUT,
    GlobalConfig,
    ScrapeConfig,
)
from vigil.config.units import Duration, parse_duration
from vigil.model import Labels
from vigil.scrape.relabel import relabel_dict

__all__ = [
    "ADDRESS_LABEL",
    "INSTANCE_LABEL",
    "JOB_LABEL",
    "METRICS_PATH_LABEL",
    "PARAM_LABEL_PREFIX",
    "SCHEME_LABEL",
    "SCRAPE_INTERVAL_LABEL",
    "SCRAPE_TIMEOUT_LABEL",
    "DroppedTarget",
    "Target",
    "targets_from_group",
]

ADDRESS_LABEL = "__address__"
SCHEME_LABEL = "__scheme__"
METRICS_PATH_LABEL = "__metrics_path__"
SCRAPE_INTERVAL_LABEL = "__scrape_interval__"
SCRAPE_TIMEOUT_LABEL = "__scrape_timeout__"
PARAM_LABEL_PREFIX = "__param_"
META_LABEL_PREFIX = "__meta_"
JOB_LABEL = "job"
INSTANCE_LABEL = "instance"

# Go's url.URL.EscapedPath keeps these unescaped in a path.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """One endpoint to scrape.

    ``labels`` go on every scraped sample (no ``__`` labels); ``all_labels`` are
    the full set after relabelling (including ``__address__``, ``__scheme__``,
    ...); ``discovered_labels`` are the set before relabelling, for the targets
    API. Two targets are equal when ``all_labels`` and ``url`` are.
    """

    labels: Labels
    discovered_labels: Labels
    all_labels: Labels
    url: str
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scrape_interval: Duration = DEFAULT_GLOBAL_SCRAPE_INTERVAL
    scrape_timeout: Duration = DEFAULT_GLOBAL_SCRAPE_TIMEOUT
    scrape_pool: str = ""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Target):
            return self.all_labels == other.all_labels and self.url == other.url
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.all_labels, self.url))

    def hash64(self) -> int:
        """A hash of labels and URL that is stable across processes (for spreading scrapes)."""
        h = hashlib.blake2b(digest_size=8)
        for name, value in self.all_labels.pairs:
            h.update(name.encode())
            h.update(b"\xff")
            h.update(value.encode())
            h.update(b"\xff")
        h.update(self.url.encode())
        return int.from_bytes(h.digest(), "big")

    def offset_ms(self, interval_ms: int, now_ms: int, seed: int = 0) -> int:
        """Milliseconds from ``now_ms`` until this target's slot in the interval.

        Each target scrapes at a fixed phase ``(hash ^ seed) % interval`` of the
        interval (Prometheus's spreading), so scrapes of many targets are spread
        evenly and a restart keeps each target's phase.
        """
        if interval_ms <= 0:
            return 0
        phase = (self.hash64() ^ seed) % interval_ms
        return (phase - now_ms) % interval_ms

    @property
    def address(self) -> str:
        return self.all_labels.get(ADDRESS_LABEL)

    @property
    def job(self) -> str:
        return self.labels.get(JOB_LABEL)

    @property
    def instance(self) -> str:
        return self.labels.get(INSTANCE_LABEL)


@dataclass(frozen=True, slots=True)
class DroppedTarget:
    """A discovered label set that did not become a target.

    ``error`` is None when relabelling dropped it, else what was wrong with it.
    """

    discovered_labels: Labels
    error: str | None = None


def _labels_of(d: Mapping[str, str]) -> Labels:
    # Discovery and config validated the names; values are data.
    return Labels._trusted(tuple(sorted((k, v) for k, v in d.items() if v)))


def _url(scheme: str, address: str, path: str, params: Mapping[str, tuple[str, ...]]) -> str:
    # Like Go's url.Values.Encode: keys sorted, each key's values in order.
    query = urlencode([(k, v) for k in sorted(params) for v in params[k]])
    url = f"{scheme}://{address}{quote(path, safe=_PATH_SAFE)}"
    return f"{url}?{query}" if query else url


def populate_labels(
    discovered: Mapping[str, str], scrape_config: ScrapeConfig
) -> tuple[Target | None, Labels, str | None]:
    """One label set through steps 2-6 of the module doc.

    Returns ``(target or None, discovered labels, error or None)``; a None target
    with a None error means relabelling dropped it.
    """
    sc = scrape_config
    d = {k: v for k, v in discovered.items() if v}
    for name, value in (
        (JOB_LABEL, sc.job_name),
        (SCRAPE_INTERVAL_LABEL, str(sc.scrape_interval)),
        (SCRAPE_TIMEOUT_LABEL, str(sc.scrape_timeout)),
        (METRICS_PATH_LABEL, sc.metrics_path),
        (SCHEME_LABEL, sc.scheme),
    ):
        if not d.get(name):
            d[name] = value
    for key, values in sc.params.items():
        if values:
            d[PARAM_LABEL_PREFIX + key] = values[0]
    discovered_labels = _labels_of(d)
    if not relabel_dict(d, sc.relabel_configs):
        return None, discovered_labels, None

    address = d.get(ADDRESS_LABEL, "")
    if not address:
        return None, discovered_labels, "no address"
    if "/" in address:
        return None, discovered_labels, f"{address!r} is not a valid hostname"
    try:
        interval = parse_duration(d.get(SCRAPE_INTERVAL_LABEL, ""))
    except ValueError as exc:
        return None, discovered_labels, f"error parsing scrape interval: {exc}"
    if interval == 0:
        return None, discovered_labels, "scrape interval cannot be 0"
    try:
        timeout = parse_duration(d.get(SCRAPE_TIMEOUT_LABEL, ""))
    except ValueError as exc:
        return None, discovered_labels, f"error parsing scrape timeout: {exc}"
    if timeout == 0:
        return None, discovered_labels, "scrape timeout cannot be 0"
    if timeout > interval:
        return (
            None,
            discovered_labels,
            "scrape timeout cannot be greater than scrape interval "
            f"({d[SCRAPE_TIMEOUT_LABEL]!r} > {d[SCRAPE_INTERVAL_LABEL]!r})",
        )
    for name in [n for n in d if n.startswith(META_LABEL_PREFIX)]:
        del d[name]
    if not d.get(INSTANCE_LABEL):
        d[INSTANCE_LABEL] = address
    for name, value in d.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None, discovered_labels, f"invalid label value for {name!r}: {value!r}"

    params = {k: tuple(v) for k, v in sc.params.items()}
    for name, value in d.items():
        if name.startswith(PARAM_LABEL_PREFIX):
            key = name[len(PARAM_LABEL_PREFIX) :]
            old = params.get(key, ())
            params[key] = (value, *old[1:]) if old else (value,)
    scheme = d.get(SCHEME_LABEL, "")
    url = _url(scheme, address, d.get(METRICS_PATH_LABEL, ""), params)
    all_labels = _labels_of(d)
    public = Labels._trusted(tuple(p for p in all_labels.pairs if not p[0].startswith("__")))
    target = Target(
        labels=public,
        discovered_labels=discovered_labels,
        all_labels=all_labels,
        url=url,
        params=params,
        scrape_interval=Duration(interval),
        scrape_timeout=Duration(timeout),
        scrape_pool=sc.job_name,
    )
    return target, discovered_labels, None


def targets_from_group(
    group_labels: Mapping[str, str],
    targets: Iterable[Mapping[str, str]],
    scrape_config: ScrapeConfig,
    global_config: GlobalConfig | None = None,
) -> tuple[list[Target], list[DroppedTarget]]:
    """The targets of one group, and the label sets that were dropped or invalid.

    ``targets`` are label sets (at least ``__address__``); their labels win over
    ``group_labels``. ``global_config`` is accepted for symmetry with Prometheus;
    the loader has already folded the globals into ``scrape_config``.
    """
    del global_config
    out: list[Target] = []
    dropped: list[DroppedTarget] = []
    for target_labels in targets:
        merged = dict(group_labels)
        merged.update(target_labels)
        target, discovered, error = populate_labels(merged, scrape_config)
        if target is not None:
            out.append(target)
        else:
            dropped.append(DroppedTarget(discovered, error))
    return out, dropped
