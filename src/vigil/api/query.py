"""Prometheus's query API: ``/api/v1/query``, ``query_range``, ``series``, ``labels``...

Paths, parameters (GET query string or form POST; times as RFC 3339 or Unix
seconds; steps and timeouts as durations or float seconds), JSON shapes and
errors follow Prometheus's ``web/api/v1/api.go``. Handlers raise
:class:`~vigil.api.errors.ApiError`; the app's one wrapper renders it.
Evaluation runs in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import numpy.typing as npt
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil.api.errors import (
    ApiError,
    BadDataError,
    ExecutionError,
    InternalError,
    QueryCanceledError,
    QueryTimeoutError,
)
from vigil.model.labels import METRIC_NAME, Labels
from vigil.model.matchers import Matcher
from vigil.promql.errors import error_type
from vigil.promql.parser import (
    Expr,
    ParseError,
    ParseOptions,
    ValueType,
    documented_type,
    parse_expr,
    parse_metric_selector,
    to_string,
)
from vigil.storage import Queryable

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "QueryOptions",
    "format_sample_value",
    "format_timestamp",
    "parse_duration_param",
    "parse_time_param",
    "query_routes",
]

Handler = Callable[[Request], Awaitable[Response]]

MAX_POINTS_PER_SERIES = 11_000
MAX_FORM_BYTES = 16 * 1024 * 1024
# Prometheus's MinTime and MaxTime (web/api/v1/api.go), in milliseconds.
MIN_TIME_MS = (-(2**63) // 1000 + 62135596801) * 1000
MAX_TIME_MS = ((2**63 - 1) // 1000 - 62135596801) * 1000 + 999
_MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
_MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"

_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$"
)
_DURATION_RE = re.compile(r"^(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?$")
_DURATION_UNITS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
    "ms": 1,
}


def _default_engine() -> Any:
    from vigil.promql.engine import Engine as PromEngine

    return PromEngine()


MetadataSource = Callable[[], Mapping[str, Sequence[Mapping[str, str]]]]


@dataclass
class QueryOptions:
    """What the query API reads: a store, an engine, and the parser's settings."""

    queryable: Queryable
    engine: Any = None  # None: vigil.promql.engine.Engine() with its defaults, built at first use
    clock: Callable[[], float] | None = None  # None: the app's clock
    parse_options: ParseOptions = field(
        default_factory=lambda: ParseOptions(enable_experimental_functions=True)
    )
    metadata: MetadataSource | None = None


# -- parameters ----------------------------------------------------------------------------


def parse_time_param(text: str) -> int:
    """Prometheus's ``parseTime``: Unix seconds (float) or RFC 3339; milliseconds out."""
    try:
        f = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(f):
            raise ValueError(f"cannot parse {text!r} to a valid timestamp")
        whole = math.trunc(f)
        return int(whole) * 1000 + round((f - whole) * 1000)
    text_s = text.strip()
    if text_s == _MIN_TIME_TEXT:
        return MIN_TIME_MS
    if text_s == _MAX_TIME_TEXT:
        return MAX_TIME_MS
    m = _RFC3339_RE.match(text_s)
    if m is not None:
        y, mo, d, h, mi, s, frac, tz = m.groups()
        try:
            dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
        except ValueError:
            raise ValueError(f"cannot parse {text!r} to a valid timestamp") from None
        ms = int(dt.timestamp()) * 1000 + (int((frac or "0")[:3].ljust(3, "0")))
        if tz not in ("Z", "z"):
            sign = 1 if tz[0] == "+" else -1
            ms -= sign * (int(tz[1:3]) * 3_600_000 + int(tz[4:6]) * 60_000)
        return ms
    raise ValueError(f"cannot parse {text!r} to a valid timestamp")


def parse_duration_param(text: str) -> float:
    """Prometheus's ``parseDuration``: float seconds or a duration (``5m``); seconds out."""
    try:
        f = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(f) or abs(f * 1e9) > 2**63 - 1:
            raise ValueError(f"cannot parse {text!r} to a valid duration. It overflows int64")
        return f
    if text and _DURATION_RE.match(text):
        total = 0
        for num, unit in re.findall(r"(\d+)(ms|[ywdhms])", text):
            total += int(num) * _DURATION_UNITS[unit]
        return total / 1000.0
    raise ValueError(f"cannot parse {text!r} to a valid duration")


def format_timestamp(t_ms: int) -> int | float:
    """Seconds for JSON: an integer when the time is whole seconds, else 3 decimals."""
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


def format_sample_value(v: float) -> str:
    """Prometheus's ``jsonutil.MarshalFloat``: Go ``'f'`` format, ``'e'`` below 1e-6 or from 1e21."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        mant, _, exp = f"{v!r}".partition("e")
        if not exp:  # repr chose fixed notation; force the exponent form
            mant, _, exp = f"{v:e}".partition("e")
            mant = mant.rstrip("0").rstrip(".")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0").rjust(2, "0")
        return f"{mant}e{sign}{digits}"
    if v == int(v) and a < 1e16:
        text = str(int(v))
        return "-0" if text == "0" and math.copysign(1.0, v) < 0 else text
    from decimal import Decimal

    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_sample_values(values: npt.NDArray[np.float64] | Sequence[float]) -> list[str]:
    """:func:`format_sample_value` over many values at once (same text for each).

    Python's ``repr`` writes the shortest digits that round-trip, as Go's
    ``strconv.FormatFloat(v, 'f', -1, 64)`` does; where it chooses fixed notation
    (magnitudes from 1e-4 to below 1e16) only a trailing ``.0`` differs, so only
    the other values take the slow path.
    """
    if isinstance(values, np.ndarray) and values.dtype == np.float64 and len(values):
        with np.errstate(invalid="ignore"):  # NaN and infinities fail the test below
            ints = values.astype(np.int64)
        # whole numbers (counters, counts) print as integers; -0.0 prints "-0" (slow path)
        if (
            bool((ints == values).all())
            and bool((np.abs(ints) < 10**15).all())
            and not bool(np.signbit(values[ints == 0]).any())
        ):
            return list(map(str, ints.tolist()))
    lst = values.tolist() if isinstance(values, np.ndarray) else list(values)
    return [
        (r[:-2] if r[-2:] == ".0" else r)
        if "e" not in r and "n" not in r
        else format_sample_value(v)
        for v, r in zip(lst, map(repr, lst), strict=True)
    ]


def _timestamps(steps_ms: Sequence[int] | npt.NDArray[np.int64]) -> list[int | float]:
    """:func:`format_timestamp` of each step (whole seconds as ints)."""
    arr = np.asarray(steps_ms, dtype=np.int64)
    if not len(arr):
        return []
    if not bool((arr % 1000).any()):
        out: list[int | float] = (arr // 1000).tolist()
        return out
    return [format_timestamp(t) for t in arr.tolist()]


async def _params(request: Request) -> dict[str, list[str]]:
    """Query-string and form parameters together (as Go's ``r.FormValue`` sees them)."""
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            body = await request.body()
            if len(body) > MAX_FORM_BYTES:
                raise BadDataError(f"form body is over the limit of {MAX_FORM_BYTES} bytes")
            form_items: dict[str, list[str]] = {}
            try:
                pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
            except (UnicodeDecodeError, ValueError) as err:
                raise BadDataError(f"error parsing form values: {err}") from None
            for k, v in pairs:
                form_items.setdefault(k, []).append(v)
            # Go's ParseForm puts body values before query-string values.
            for k, vs in form_items.items():
                out[k] = vs + out.get(k, [])
    return out


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _time(params: Mapping[str, list[str]], name: str, default: int) -> int:
    text = _one(params, name)
    if text == "":
        return default
    try:
        return parse_time_param(text)
    except ValueError as err:
        raise BadDataError(f'invalid parameter "{name}": {err}') from None


def _limit(params: Mapping[str, list[str]]) -> int:
    text = _one(params, "limit")
    if text == "":
        return 0
    try:
        n = int(text)
    except ValueError:
        raise BadDataError(
            f'invalid parameter "limit": cannot parse {text!r} to a valid limit'
        ) from None
    if n < 0:
        raise BadDataError('invalid parameter "limit": limit must be non-negative')
    return n


def _timeout(params: Mapping[str, list[str]]) -> float | None:
    text = _one(params, "timeout")
    if text == "":
        return None
    try:
        return parse_duration_param(text)
    except ValueError as err:
        raise BadDataError(f'invalid parameter "timeout": {err}') from None


def _matcher_sets(params: Mapping[str, list[str]]) -> list[list[Matcher]]:
    sets = []
    for text in params.get("match[]", []):
        try:
            sets.append(parse_metric_selector(text))
        except ParseError as err:
            raise BadDataError(str(err)) from None
    return sets


# -- results -------------------------------------------------------------------------------


def _labels_json(labels: Labels) -> dict[str, str]:
    return dict(labels.pairs)


def _final_labels(labels: Labels, drop: bool) -> Labels:
    return labels.without(METRIC_NAME) if drop and METRIC_NAME in labels else labels


def render_value(value: Any, steps: Sequence[int], *, range_query: bool) -> dict[str, Any]:
    """``{"resultType", "result"}`` for a query's value, as Prometheus writes it.

    Values are formatted a whole row at a time (:func:`format_sample_values`)
    and step times once per query, not once per point.
    """
    from vigil.promql.value import Matrix, Scalar, String, Vector

    if isinstance(value, String):
        return {"resultType": "string", "result": [format_timestamp(steps[0]), value.value]}
    if isinstance(value, Scalar):
        vals = np.asarray(value.values, dtype=np.float64)
        if not range_query:
            return {
                "resultType": "scalar",
                "result": [format_timestamp(steps[0]), format_sample_value(float(vals[0]))],
            }
        pts = [list(p) for p in zip(_timestamps(steps), format_sample_values(vals), strict=True)]
        return {"resultType": "matrix", "result": [{"metric": {}, "values": pts}]}
    if isinstance(value, Vector):
        drop = value.drop_name
        drops = [False] * len(value.labels) if drop is None else drop.tolist()
        rows = [
            (_final_labels(labels, d), i)
            for i, (labels, d) in enumerate(zip(value.labels, drops, strict=True))
        ]
        if not range_query:
            t = format_timestamp(steps[0])
            present = value.present[:, 0].tolist() if len(rows) else []
            texts = format_sample_values(value.values[:, 0]) if len(rows) else []
            return {
                "resultType": "vector",
                "result": [
                    {"metric": _labels_json(lb), "value": [t, texts[i]]}
                    for lb, i in rows
                    if present[i]
                ],
            }
        rows.sort(key=lambda r: r[0])
        times = _timestamps(steps)
        series = []
        for lb, i in rows:
            p = value.present[i]
            if bool(p.all()):
                pts = list(
                    map(list, zip(times, format_sample_values(value.values[i]), strict=True))
                )
            else:
                idx = np.flatnonzero(p)
                if len(idx) == 0:
                    continue
                texts = format_sample_values(value.values[i, idx])
                pts = [[times[j], x] for j, x in zip(idx.tolist(), texts, strict=True)]
            series.append({"metric": _labels_json(lb), "values": pts})
        return {"resultType": "matrix", "result": series}
    if isinstance(value, Matrix):
        out = []
        for s in value.series:
            lo, hi = int(s.first[0]), int(s.last[0])
            if hi <= lo:
                continue
            pts = [
                list(x)
                for x in zip(
                    _timestamps(s.ts[lo:hi]), format_sample_values(s.vs[lo:hi]), strict=True
                )
            ]
            out.append({"metric": _labels_json(s.labels), "values": pts})
        return {"resultType": "matrix", "result": out}
    raise InternalError(f"the engine returned an unknown value type {type(value).__name__}")


def _annotations(result: Any) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    infos: list[str] = []
    for a in getattr(result, "annotations", None) or ():
        text = a.render() if hasattr(a, "render") else str(a)
        (infos if getattr(a, "kind", "warning") == "info" else warnings).append(text)
    warnings += [str(w) for w in getattr(result, "warnings", None) or ()]
    infos += [str(i) for i in getattr(result, "infos", None) or ()]
    return warnings, infos


def _success(data: Any, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> JSONResponse:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = list(warnings)
    if infos:
        body["infos"] = list(infos)
    return _JSONResponse(body)


class _JSONResponse(JSONResponse):
    """Starlette's JSON response rendered by orjson (same bytes for the API's shapes, faster).

    Falls back to the standard encoder for what orjson refuses (lone surrogates in
    a string, integers past 64 bits), so no body that rendered before fails now.
    """

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


def query_error(err: BaseException) -> ApiError:
    """The API error for an exception a query raised (Prometheus's ``returnAPIError``)."""
    if isinstance(err, ApiError):
        return err
    kind = error_type(err)
    text = str(err)
    if kind == "bad_data":
        return BadDataError(text)
    if kind == "timeout":
        return QueryTimeoutError(text)
    if kind == "canceled":
        return QueryCanceledError(text)
    if kind == "execution":
        return ExecutionError(text)
    return InternalError(f"{type(err).__name__}: {text}")


# -- routes --------------------------------------------------------------------------------


def query_routes(
    opts: QueryOptions, wrap: Callable[[Handler], Handler], clock: Callable[[], float]
) -> list[Route]:
    """The query API's routes; *wrap* is the app's error-rendering wrapper."""
    now = opts.clock or clock
    engines: list[Any] = [opts.engine] if opts.engine is not None else []

    def engine() -> Any:
        if not engines:
            engines.append(_default_engine())
        return engines[0]

    def parse(text: str) -> Expr:
        try:
            return parse_expr(text, opts.parse_options)
        except ParseError as err:
            raise BadDataError(f'invalid parameter "query": {err}') from None

    async def run(fn: Callable[[], Any]) -> Any:
        try:
            return await run_in_threadpool(fn)
        except ApiError:
            raise
        except Exception as err:
            if error_type(err) == "internal":
                raise
            raise query_error(err) from None

    async def query(request: Request) -> Response:
        params = await _params(request)
        t = _time(params, "time", round(now() * 1000))
        _timeout(params)
        limit = _limit(params)
        expr = parse(_one(params, "query"))
        result = await run(lambda: engine().instant(opts.queryable, expr, t))
        data = render_value(result.value, [t], range_query=False)
        warnings, infos = _annotations(result)
        if limit and data["resultType"] in ("vector", "matrix") and len(data["result"]) > limit:
            data["result"] = data["result"][:limit]
            warnings.append("results truncated due to limit")
        return _success(data, warnings, infos)

    async def query_range(request: Request) -> Response:
        params = await _params(request)
        start = _time(params, "start", MIN_TIME_MS) if _one(params, "start") else None
        end = _time(params, "end", MAX_TIME_MS) if _one(params, "end") else None
        if start is None:
            raise BadDataError('invalid parameter "start": cannot parse "" to a valid timestamp')
        if end is None:
            raise BadDataError('invalid parameter "end": cannot parse "" to a valid timestamp')
        if end < start:
            raise BadDataError("end timestamp must not be before start time")
        step_text = _one(params, "step")
        try:
            step_s = parse_duration_param(step_text)
        except ValueError as err:
            raise BadDataError(f'invalid parameter "step": {err}') from None
        if step_s <= 0:
            raise BadDataError(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer"
            )
        step_ns = int(step_s * 1e9)
        if step_ns <= 0 or (end - start) * 1_000_000 // step_ns > MAX_POINTS_PER_SERIES:
            raise BadDataError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        step_ms = max(1, round(step_s * 1000))
        _timeout(params)
        limit = _limit(params)
        expr = parse(_one(params, "query"))
        if expr.type not in (ValueType.SCALAR, ValueType.VECTOR):
            raise BadDataError(
                f'invalid expression type "{documented_type(expr.type)}" for range query, '
                "must be Scalar or instant Vector"
            )
        result = await run(lambda: engine().range(opts.queryable, expr, start, end, step_ms))
        steps = list(range(start, end + 1, step_ms))
        got_steps = getattr(result, "steps", None)
        if got_steps is not None:
            steps = [int(s) for s in np.asarray(got_steps)]
        data = render_value(result.value, steps, range_query=True)
        warnings, infos = _annotations(result)
        if limit and len(data["result"]) > limit:
            data["result"] = data["result"][:limit]
            warnings.append("results truncated due to limit")
        return _success(data, warnings, infos)

    def select_labels(mint: int, maxt: int, sets: list[list[Matcher]]) -> list[Labels]:
        q = opts.queryable.querier(mint, maxt)
        try:
            seen: set[Labels] = set()
            for ms in sets:
                for s in q.select(ms):
                    seen.add(s.labels)
        finally:
            q.close()
        return sorted(seen)

    async def series(request: Request) -> Response:
        params = await _params(request)
        if not params.get("match[]"):
            raise BadDataError("no match[] parameter provided")
        start = _time(params, "start", MIN_TIME_MS)
        end = _time(params, "end", MAX_TIME_MS)
        limit = _limit(params)
        sets = _matcher_sets(params)
        found = await run(lambda: select_labels(start, end, sets))
        warnings = []
        if limit and len(found) > limit:
            found = found[:limit]
            warnings.append("results truncated due to limit")
        return _success([_labels_json(lb) for lb in found], warnings)

    def names_or_values(
        mint: int, maxt: int, sets: list[list[Matcher]], name: str | None
    ) -> list[str]:
        q = opts.queryable.querier(mint, maxt)
        try:
            found: set[str] = set()
            for ms in sets or [[]]:
                found.update(q.label_names(ms) if name is None else q.label_values(name, ms))
        finally:
            q.close()
        return sorted(found)

    async def label_listing(request: Request, name: str | None) -> Response:
        """Label names (*name* None) or the values of label *name*: one parameter set, one shape."""
        params = await _params(request)
        start = _time(params, "start", MIN_TIME_MS)
        end = _time(params, "end", MAX_TIME_MS)
        limit = _limit(params)
        sets = _matcher_sets(params)
        found = await run(lambda: names_or_values(start, end, sets, name))
        warnings = []
        if limit and len(found) > limit:
            found = found[:limit]
            warnings.append("results truncated due to limit")
        return _success(found, warnings)

    async def labels(request: Request) -> Response:
        return await label_listing(request, None)

    async def label_values(request: Request) -> Response:
        name = request.path_params["name"]
        if name.startswith("U__"):  # Prometheus 3's escaping of UTF-8 label names
            name = _unescape_label_name(name)
        if not name:  # Prometheus 3 accepts any non-empty UTF-8 name
            raise BadDataError(f'invalid label name: "{name}"')
        return await label_listing(request, name)

    async def metadata(request: Request) -> Response:
        params = await _params(request)
        limit = _limit(params)
        metric = _one(params, "metric")
        data: dict[str, list[dict[str, str]]] = {}
        if opts.metadata is not None:
            for name, entries in sorted(opts.metadata().items()):
                if metric and name != metric:
                    continue
                data[name] = [dict(e) for e in entries]
                if limit and len(data) >= limit:
                    break
        return _success(data)

    async def query_exemplars(request: Request) -> Response:
        params = await _params(request)
        start = _time(params, "start", MIN_TIME_MS)
        end = _time(params, "end", MAX_TIME_MS)
        if end < start:
            raise BadDataError("end timestamp must not be before start time")
        parse(_one(params, "query"))
        return _success([])  # the store keeps no exemplars

    async def format_query(request: Request) -> Response:
        params = await _params(request)
        expr = parse(_one(params, "query"))
        return _success(to_string(expr))

    get_post = ["GET", "POST"]
    return [
        Route("/api/v1/query", wrap(query), methods=get_post),
        Route("/api/v1/query_range", wrap(query_range), methods=get_post),
        Route("/api/v1/series", wrap(series), methods=get_post),
        Route("/api/v1/labels", wrap(labels), methods=get_post),
        Route("/api/v1/label/{name}/values", wrap(label_values), methods=["GET"]),
        Route("/api/v1/metadata", wrap(metadata), methods=["GET"]),
        Route("/api/v1/query_exemplars", wrap(query_exemplars), methods=get_post),
        Route("/api/v1/format_query", wrap(format_query), methods=get_post),
    ]


def _unescape_label_name(name: str) -> str:
    """Prometheus's ``U__`` value-encoding escape: ``U__a_2e_b`` is ``a.b``, ``__`` is ``_``."""
    body = name[3:]
    out = []
    i = 0
    while i < len(body):
        if body.startswith("__", i):
            out.append("_")
            i += 2
        elif body[i] == "_":
            j = body.find("_", i + 1)
            if j < 0:
                return name
            try:
                out.append(chr(int(body[i + 1 : j], 16)))
            except ValueError:
                return name
            i = j + 1
        else:
            out.append(body[i])
            i += 1
    return "".join(out)
