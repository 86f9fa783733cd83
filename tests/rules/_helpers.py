"""Shared pieces of the rules tests: a fake clock, a real engine over MemoryStorage."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher
from vigil.model.value import is_stale_nan
from vigil.promql.engine import Engine
from vigil.rules.base import RuleContext
from vigil.rules.query import engine_query
from vigil.storage.memory import MemoryStorage

REPO = Path(__file__).resolve().parents[2]


def conformance_dir() -> Path:
    env = os.environ.get("VIGIL_CONFORMANCE_DIR")
    return Path(env) if env else REPO.parent / "shared" / "conformance"


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Notifications:
    calls: list[list[Alert]] = field(default_factory=list)

    def __call__(self, alerts: Sequence[Alert]) -> None:
        self.calls.append(list(alerts))

    @property
    def last(self) -> list[Alert]:
        return self.calls[-1] if self.calls else []


@dataclass
class Env:
    storage: MemoryStorage
    clock: FakeClock
    notes: Notifications
    ctx: RuleContext


def make_env(**ctx_kwargs: object) -> Env:
    storage = MemoryStorage()
    clock = FakeClock()
    notes = Notifications()
    ctx = RuleContext(
        query=engine_query(Engine(), storage),
        appendable=storage,
        notify=notes,
        clock=clock,
        **ctx_kwargs,  # type: ignore[arg-type]
    )
    return Env(storage, clock, notes, ctx)


def add_samples(
    storage: MemoryStorage, labels: Labels, points: Sequence[tuple[int, float]]
) -> None:
    app = storage.appender()
    for t, v in points:
        app.append(0, labels, t, v)
    app.commit()


def series(storage: MemoryStorage, name: str) -> dict[Labels, list[tuple[int, float]]]:
    """Every sample of every series called ``name`` (stale markers as the string "stale")."""
    q = storage.querier(-(2**62), 2**62)
    out: dict[Labels, list[tuple[int, float]]] = {}
    for s in q.select([Matcher.equal("__name__", name)]):
        out[s.labels] = [
            (int(t), math.nan if is_stale_nan(float(v)) else float(v))
            for t, v in zip(s.timestamps, s.values, strict=True)
        ]
    return out


def stale_at(storage: MemoryStorage, labels: Labels) -> list[int]:
    q = storage.querier(-(2**62), 2**62)
    out: list[int] = []
    for s in q.select([Matcher.equal(k, v) for k, v in labels.pairs]):
        if s.labels == labels:
            out += [
                int(t)
                for t, v in zip(s.timestamps, s.values, strict=True)
                if is_stale_nan(float(v))
            ]
    return out
