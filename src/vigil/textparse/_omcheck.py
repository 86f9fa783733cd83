"""The semantic rules of strict OpenMetrics 1.0, checked sample by sample.

Syntax is the parser's job; this checks what the conformance vectors expect
of families: metadata placement, name clashes, counter-like values, histogram
structure, grouping and timestamp order, info/stateset values, exemplar
placement and size. It holds one family at a time plus the set of claimed
names, so memory stays proportional to the largest family.
"""

from __future__ import annotations

import math

from vigil.model import Labels
from vigil.textparse._scan import EMPTY_LABELS, LineError
from vigil.textparse.entries import Exemplar, MetricType

_SUFFIXES: dict[MetricType, tuple[str, ...]] = {
    MetricType.COUNTER: ("_total", "_created"),
    MetricType.SUMMARY: ("", "_count", "_sum", "_created"),
    MetricType.HISTOGRAM: ("_count", "_sum", "_bucket", "_created"),
    MetricType.GAUGEHISTOGRAM: ("_gcount", "_gsum", "_bucket"),
    MetricType.INFO: ("_info",),
}
_NOT_NAN = frozenset(("_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"))
_NOT_NEGATIVE = frozenset(("_total", "_sum", "_count", "_bucket", "_gcount"))
_HISTOGRAMS = (MetricType.HISTOGRAM, MetricType.GAUGEHISTOGRAM)
MAX_EXEMPLAR_RUNES = 128


def _bound(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or "_" in text or not text.isascii() or text != text.strip():
        raise LineError(0, f"invalid {what} {text!r}: not a number")
    return value


class FamilyChecker:
    """Feed it every metadata entry and sample in order, then :meth:`finish`."""

    def __init__(self) -> None:
        self.claimed: dict[str, int] = {}
        self.name: str | None = None
        self._start("", None, 0)
        self.name = None

    # -- families -----------------------------------------------------------

    def _start(self, name: str, type_: MetricType | None, line: int) -> None:
        self.name = name
        self.type = type_
        self.line = line
        self.has_help = False
        self.unit: str | None = None
        self.has_samples = False
        self.members: dict[str, str] = {name: ""}
        self.group: Labels | None = None
        self.group_ts: float | None = None
        self.group_series: set[tuple[str, Labels]] = set()
        self.seen_groups: set[Labels] = set()
        self.hkey: tuple[Labels, float | None] | None = None

    def _end(self) -> None:
        name = self.name
        if name is None:
            return
        self._histogram_done()
        type_ = self.type or MetricType.UNKNOWN
        names = {name + s for s in _SUFFIXES.get(type_, ())} | {name}
        for full in sorted(names):
            if full in self.claimed:
                raise LineError(
                    0,
                    f"metric family {name!r} clashes with the family declared on line "
                    f"{self.claimed[full]}: both use the name {full!r}",
                    self.line,
                )
        for full in names:
            self.claimed[full] = self.line
        self.name = None

    def finish(self) -> None:
        self._end()

    def meta(self, kind: str, name: str, text: str, line: int) -> None:
        if name != self.name:
            self._end()
            self._start(name, None, line)
        elif self.has_samples:
            raise LineError(0, f"# {kind} for {name!r} after its samples: metadata comes first")
        if kind == "TYPE":
            if self.type is not None:
                raise LineError(0, f"second # TYPE for {name!r}")
            self.type = type_ = MetricType(text)
            self.members = {name + s: s for s in _SUFFIXES.get(type_, ("",))}
            self._check_unit_allowed()
        elif kind == "HELP":
            if self.has_help:
                raise LineError(0, f"second # HELP for {name!r}")
            self.has_help = True
        else:
            if self.unit is not None:
                raise LineError(0, f"second # UNIT for {name!r}")
            self.unit = text
            self._check_unit_allowed()

    def _check_unit_allowed(self) -> None:
        if self.unit and self.type in (MetricType.INFO, MetricType.STATESET):
            raise LineError(0, f"{self.type.value} metric {self.name!r} cannot have a unit")

    # -- samples ------------------------------------------------------------

    def sample(
        self,
        name: str,
        labels: Labels,
        value: float,
        ts: float | None,
        exemplar: Exemplar | None,
        line: int,
    ) -> None:
        suffix = self.members.get(name) if self.name is not None else None
        if suffix is None:
            self._end()
            self._start(name, MetricType.UNKNOWN, line)
            suffix = ""
        family = self.name
        assert family is not None
        self.has_samples = True
        type_ = self.type or MetricType.UNKNOWN

        if type_ is MetricType.STATESET:
            if family not in labels:
                raise LineError(0, f"stateset sample needs a label named {family!r}")
            if value != 0 and value != 1:
                raise LineError(0, f"stateset value must be 0 or 1, not {value!r}")
        elif type_ is MetricType.INFO and value != 1:
            raise LineError(0, f"info value must be 1, not {value!r}")
        if suffix in _NOT_NAN and math.isnan(value):
            raise LineError(0, f"{name} cannot be NaN (counter semantics)")
        if suffix in _NOT_NEGATIVE and value < 0:
            raise LineError(0, f"{name} cannot be negative (counter semantics)")
        le = math.nan
        if suffix == "_bucket" and type_ in _HISTOGRAMS:
            if "le" not in labels:
                raise LineError(0, f"{name} needs an 'le' label")
            le_text = labels["le"]
            le = _bound(le_text, "le")
            if math.isinf(le) and le > 0 and le_text != "+Inf":
                raise LineError(0, f'le={le_text!r}: write the +Inf bucket as le="+Inf"')
            if not value.is_integer():
                raise LineError(0, f"bucket count must be an integer, not {value!r}")
        elif suffix in ("_count", "_gcount") and not value.is_integer():
            raise LineError(0, f"{name} must be an integer, not {value!r}")
        elif type_ is MetricType.SUMMARY and suffix == "":
            if "quantile" not in labels:
                raise LineError(0, f"summary sample {name} needs a 'quantile' label")
            q = _bound(labels["quantile"], "quantile")
            if not 0 <= q <= 1:
                raise LineError(0, f"quantile {labels['quantile']!r} is not between 0 and 1")
            if value < 0:
                raise LineError(0, f"quantile value of {name} cannot be negative")
        if exemplar is not None:
            if not (
                (suffix == "_bucket" and type_ in _HISTOGRAMS)
                or (suffix == "_total" and type_ is MetricType.COUNTER)
            ):
                raise LineError(
                    0, "exemplars are allowed only on counter _total and histogram _bucket samples"
                )
            runes = sum(len(n) + len(v) for n, v in exemplar.labels)
            if runes > MAX_EXEMPLAR_RUNES:
                raise LineError(
                    0,
                    f"exemplar labels are {runes} characters long; at most "
                    f"{MAX_EXEMPLAR_RUNES} are allowed",
                )

        # Grouping: the samples of one label set (without le/quantile/state)
        # are contiguous, and their timestamps do not go backwards.
        if type_ is MetricType.INFO:
            g = EMPTY_LABELS
        elif type_ is MetricType.SUMMARY and suffix == "":
            g = labels.without("quantile")
        elif type_ is MetricType.STATESET:
            g = labels.without(family)
        elif suffix == "_bucket" and type_ in _HISTOGRAMS:
            g = labels.without("le")
        else:
            g = labels
        if self.group is not None and g == self.group:
            if (ts is None) != (self.group_ts is None):
                raise LineError(0, "some samples of this label set have a timestamp and some not")
            if (
                ts is not None
                and self.group_ts is not None
                and ts < self.group_ts
                and type_ is not MetricType.INFO
            ):
                raise LineError(0, "timestamps went backwards within a label set")
        else:
            if self.group is not None and g in self.seen_groups:
                raise LineError(
                    0, f"samples of {family}{g} are not contiguous (label set seen before)"
                )
            self.group_series = set()
        series = (name, labels)
        duplicate = ts == self.group_ts and series in self.group_series
        self.group_series.add(series)
        self.group = g
        self.group_ts = ts
        self.seen_groups.add(g)
        if type_ in _HISTOGRAMS and suffix and not duplicate:
            self._histogram_step(suffix, (g, ts), value, le, line)

    # -- histograms ---------------------------------------------------------

    def _histogram_step(
        self, suffix: str, key: tuple[Labels, float | None], value: float, le: float, line: int
    ) -> None:
        if key != self.hkey:
            self._histogram_done()
            self.hkey = key
            self.h_bucket: float | None = None
            self.h_value = 0.0
            self.h_count: float | None = None
            self.h_sum = self.h_gsum = self.h_negative = self.h_negative_gsum = False
        self.h_line = line
        if suffix == "_bucket":
            if le < 0:
                self.h_negative = True
            if self.h_bucket is not None and le <= self.h_bucket:
                raise LineError(0, f"bucket le={le!r} is not above the previous bucket")
            if value < self.h_value:
                raise LineError(0, "bucket counts must not decrease as le grows")
            self.h_bucket = le
            self.h_value = value
        elif suffix == "_count" or suffix == "_gcount":
            self.h_count = value
        elif suffix == "_sum":
            self.h_sum = True
        elif suffix == "_gsum":
            self.h_gsum = True
            if value < 0:
                self.h_negative_gsum = True

    def _histogram_done(self) -> None:
        if self.hkey is None:
            return
        group = f"{self.name}{self.hkey[0]}"
        self.hkey = None
        problem = ""
        if self.h_bucket != math.inf:
            problem = 'has no le="+Inf" bucket'
        elif self.h_count is not None and self.h_count != self.h_value:
            problem = f"count {self.h_count!r} differs from the +Inf bucket {self.h_value!r}"
        elif self.h_sum and self.h_count is None:
            problem = "has _sum but no _count"
        elif self.h_gsum and self.h_count is None:
            problem = "has _gsum but no _gcount"
        elif not (self.h_sum or self.h_gsum) and self.h_count is not None:
            problem = "has a count but no sum"
        elif self.h_negative and self.h_sum:
            problem = "has negative buckets, so it cannot have _sum"
        elif not self.h_negative and self.h_negative_gsum:
            problem = "has a negative _gsum but no negative buckets"
        if problem:
            raise LineError(0, f"histogram {group} {problem}", self.h_line)
