"""Prometheus's ``/api/v1/status/*`` endpoints: buildinfo, config, flags and tsdb.

The config is shown as YAML with every secret replaced by ``<secret>``; the
TSDB figures (series count, top metrics by cardinality...) are computed from
the store's querier over its head range.
"""

from __future__ import annotations

import dataclasses
import enum
import platform
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil import __version__
from vigil.api.errors import BadDataError
from vigil.model.labels import METRIC_NAME
from vigil.model.matchers import Matcher, MatchType
from vigil.storage import Queryable

__all__ = ["StatusOptions", "config_yaml", "status_routes", "tsdb_status"]

Handler = Callable[[Request], Awaitable[Response]]

MIN_TIME_MS = (-(2**63) // 1000 + 62135596801) * 1000
MAX_TIME_MS = ((2**63 - 1) // 1000 - 62135596801) * 1000 + 999


@dataclass
class StatusOptions:
    """What the status pages show; every field has a harmless default."""

    queryable: Queryable | None = None
    config: Callable[[], Any] = lambda: None  # the config in force (a VigilConfig) or None
    flags: Mapping[str, str] = field(default_factory=dict)
    store_stats: Callable[[], Any] | None = None  # e.g. TSDB.stats (head_min_time...)


_RENAMES = {"global_config": "global"}
_HIDDEN = {"ignored", "source"}


def _plain(value: Any) -> Any:
    """A YAML-ready copy of a config value: secrets masked, durations spelled, empties dropped."""
    if value is None:
        return None
    if type(value).__name__ == "Secret":
        return "<secret>" if value else ""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.name in _HIDDEN or f.name.startswith("_"):
                continue
            v = _plain(getattr(value, f.name))
            if v is None or v == [] or v == {}:
                continue
            out[_RENAMES.get(f.name, f.name)] = v
        if hasattr(value, "ms") and len(out) == 1 and "ms" in out:
            return str(value)
        return out
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def config_yaml(config: Any) -> str:
    """The config as YAML, with secrets shown as ``<secret>``."""
    if config is None:
        return ""
    return str(yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False))


def tsdb_status(queryable: Queryable, mint: int, maxt: int, limit: int) -> dict[str, Any]:
    """Prometheus's ``/api/v1/status/tsdb`` data computed from the store's series."""
    q = queryable.querier(mint, maxt)
    try:
        series = q.select([Matcher(MatchType.REGEX, METRIC_NAME, ".+")])
    finally:
        q.close()
    by_metric: Counter[str] = Counter()
    values_by_name: dict[str, set[str]] = {}
    memory_by_name: Counter[str] = Counter()
    by_pair: Counter[str] = Counter()
    label_pairs: set[tuple[str, str]] = set()
    min_t: int | None = None
    max_t: int | None = None
    for s in series:
        by_metric[s.labels.metric_name] += 1
        for name, value in s.labels.pairs:
            label_pairs.add((name, value))
            by_pair[f"{name}={value}"] += 1
            vals = values_by_name.setdefault(name, set())
            if value not in vals:
                vals.add(value)
                memory_by_name[name] += len(value)
        if len(s):
            lo, hi = int(s.timestamps[0]), int(s.timestamps[-1])
            min_t = lo if min_t is None else min(min_t, lo)
            max_t = hi if max_t is None else max(max_t, hi)

    def top(counter: Mapping[str, int]) -> list[dict[str, Any]]:
        items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [{"name": k, "value": v} for k, v in items]

    return {
        "headStats": {
            "numSeries": len(series),
            "numLabelPairs": len(label_pairs),
            "chunkCount": 0,
            "minTime": min_t if min_t is not None else 0,
            "maxTime": max_t if max_t is not None else 0,
        },
        "seriesCountByMetricName": top(by_metric),
        "labelValueCountByLabelName": top({k: len(v) for k, v in values_by_name.items()}),
        "memoryInBytesByLabelName": top(memory_by_name),
        "seriesCountByLabelValuePair": top(by_pair),
    }


def _success(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def status_routes(opts: StatusOptions, wrap: Callable[[Handler], Handler]) -> list[Route]:
    async def buildinfo(request: Request) -> Response:
        return _success(
            {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": f"python{platform.python_version()}",
            }
        )

    async def config(request: Request) -> Response:
        text = await run_in_threadpool(config_yaml, opts.config())
        return _success({"yaml": text})

    async def flags(request: Request) -> Response:
        return _success({k: str(v) for k, v in sorted(opts.flags.items())})

    async def tsdb(request: Request) -> Response:
        text = request.query_params.get("limit", "")
        limit = 10
        if text:
            try:
                limit = int(text)
            except ValueError:
                raise BadDataError(f"limit must be a number: {text!r}") from None
            if limit < 1 or limit > 10_000:
                raise BadDataError("limit must be a positive number not exceeding 10000")
        if opts.queryable is None:
            raise BadDataError("this server has no store to describe")
        mint, maxt = MIN_TIME_MS, MAX_TIME_MS
        if opts.store_stats is not None:
            stats = opts.store_stats()
            head_min = getattr(stats, "head_min_time", None)
            head_max = getattr(stats, "head_max_time", None)
            if head_min is not None and head_max is not None:
                mint, maxt = head_min, head_max
        queryable = opts.queryable
        data = await run_in_threadpool(tsdb_status, queryable, mint, maxt, limit)
        return _success(data)

    return [
        Route("/api/v1/status/buildinfo", wrap(buildinfo), methods=["GET"]),
        Route("/api/v1/status/config", wrap(config), methods=["GET"]),
        Route("/api/v1/status/flags", wrap(flags), methods=["GET"]),
        Route("/api/v1/status/tsdb", wrap(tsdb), methods=["GET"]),
    ]
