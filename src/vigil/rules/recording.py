"""Recording rules: an expression's result stored under a new metric name."""

from __future__ import annotations

from collections.abc import Mapping

from vigil.model import METRIC_NAME, Labels
from vigil.promql import Expr
from vigil.rules.base import Rule, RuleContext, RuleError, build_labels

__all__ = ["RecordingRule"]


class RecordingRule(Rule):
    """``record: name``: each sample's labels, ``__name__`` set to the name, rule labels applied."""

    kind = "recording"

    def __init__(
        self, name: str, expr: str | Expr, labels: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(name, expr, labels or {})

    def eval(
        self, t_ms: int, ctx: RuleContext, query_offset_ms: int, limit: int
    ) -> list[tuple[Labels, float]]:
        samples = self.query(ctx, t_ms - query_offset_ms)
        updates = {METRIC_NAME: self.name, **self.labels}
        out: dict[Labels, float] = {}
        for labels, value in samples:
            lb = build_labels(labels, updates)
            if lb in out:
                raise RuleError(
                    "vector contains metrics with the same labelset after applying rule labels"
                )
            out[lb] = value
        if limit > 0 and len(out) > limit:
            raise RuleError(f"exceeded limit {limit} with {len(out)} series")
        return list(out.items())
