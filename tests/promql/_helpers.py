"""Shared helpers for the engine tests: a MemoryStorage from a dict, and result shapes."""

from __future__ import annotations

from typing import Any

from vigil.model.labels import Labels
from vigil.promql.engine import Engine
from vigil.storage.memory import MemoryStorage


def lbl(text: str) -> Labels:
    """``name{a="b"}`` (simple values only) to Labels."""
    name, _, rest = text.partition("{")
    pairs = {}
    if name:
        pairs["__name__"] = name
    rest = rest.rstrip("}")
    for part in filter(None, (p.strip() for p in rest.split(","))):
        k, _, v = part.partition("=")
        pairs[k] = v.strip('"')
    return Labels.from_dict(pairs)


def store(data: dict[str, list[tuple[int, float]]]) -> MemoryStorage:
    s = MemoryStorage()
    app = s.appender()
    for series, samples in data.items():
        ref = 0
        for t, v in samples:
            ref = app.append(ref, lbl(series), t, v)
    app.commit()
    return s


def instant(s: MemoryStorage, q: str, t: int, **kw: Any) -> dict[str, float]:
    """An instant vector query as {labels text: value}."""
    res = Engine(**kw).instant(s, q, t).to_api_json()
    assert res["resultType"] == "vector", res
    return {_text(r["metric"]): float(r["value"][1]) for r in res["result"]}


def ranged(s: MemoryStorage, q: str, start: int, end: int, step: int) -> dict[str, list[Any]]:
    res = Engine().range(s, q, start, end, step).to_api_json()
    return {_text(r["metric"]): [(p[0], float(p[1])) for p in r["values"]] for r in res["result"]}


def _text(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    body = ",".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{body}}}"
