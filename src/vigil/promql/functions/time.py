"""Date functions: ``year``, ``month``, ``day_of_month``, ``hour``... in UTC.

Each reads its argument's values as Unix seconds (truncated toward zero, as
Go's ``int64(f)``), or the evaluation time when called without one, and is
computed for every element at once with NumPy's calendar arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.promql.functions import EvalContext, FunctionImpl
from vigil.promql.functions import register as _register
from vigil.promql.functions._windows import quiet
from vigil.promql.parser.ast import Call
from vigil.promql.value import FloatArray, IntArray, Value, Vector

__all__ = ["DATE_FUNCTIONS", "date_field"]

_DAY = 86_400


def _days(secs: IntArray) -> npt.NDArray[np.datetime64]:
    return secs.astype("datetime64[s]").astype("datetime64[D]")


def _year(secs: IntArray) -> FloatArray:
    return (_days(secs).astype("datetime64[Y]").astype(np.int64) + 1970).astype(np.float64)


def _month(secs: IntArray) -> FloatArray:
    return (_days(secs).astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.float64)


def _day_of_month(secs: IntArray) -> FloatArray:
    d = _days(secs)
    delta = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    return np.asarray(delta + 1, dtype=np.float64)


def _day_of_year(secs: IntArray) -> FloatArray:
    d = _days(secs)
    delta = (d - d.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    return np.asarray(delta + 1, dtype=np.float64)


def _day_of_week(secs: IntArray) -> FloatArray:
    # 1970-01-01 was a Thursday (4); Sunday is 0.
    return ((np.floor_divide(secs, _DAY) + 4) % 7).astype(np.float64)


def _days_in_month(secs: IntArray) -> FloatArray:
    month = _days(secs).astype("datetime64[M]")
    nxt = (month + 1).astype("datetime64[D]")
    return np.asarray((nxt - month.astype("datetime64[D]")).astype(np.int64), dtype=np.float64)


def _hour(secs: IntArray) -> FloatArray:
    return (np.mod(secs, _DAY) // 3600).astype(np.float64)


def _minute(secs: IntArray) -> FloatArray:
    return (np.mod(secs, 3600) // 60).astype(np.float64)


DATE_FUNCTIONS: dict[str, Callable[[IntArray], FloatArray]] = {
    "year": _year,
    "month": _month,
    "day_of_month": _day_of_month,
    "day_of_year": _day_of_year,
    "day_of_week": _day_of_week,
    "days_in_month": _days_in_month,
    "hour": _hour,
    "minute": _minute,
}

# Unix seconds NumPy's datetime64[s] handles without overflow in the calendar casts.
_LIMIT = 2**62 // 1000


def date_field(name: str, seconds: FloatArray) -> FloatArray:
    """Field ``name`` of the UTC dates at ``seconds`` (NaN where not representable)."""
    finite = np.isfinite(seconds) & (np.abs(seconds) < _LIMIT)
    secs = np.where(finite, np.trunc(np.where(finite, seconds, 0.0)), 0.0).astype(np.int64)
    out = DATE_FUNCTIONS[name](secs)
    return np.where(finite, out, np.nan)


def _impl(name: str) -> FunctionImpl:
    def impl(ctx: EvalContext, args: list[Value], call: Call) -> Value:
        if not args:
            # Go's integer division truncates toward zero.
            secs = np.where(ctx.steps < 0, -((-ctx.steps) // 1000), ctx.steps // 1000).astype(
                np.float64
            )
            values = date_field(name, secs).reshape(1, -1)
            return Vector([Labels()], values, np.ones_like(values, dtype=bool))
        v = ctx.vector_arg(args, 0)
        return Vector(v.labels, date_field(name, v.values), v.present, v.drop_name)

    impl.__name__ = f"_{name}"
    return impl


for _name in DATE_FUNCTIONS:
    _register(_name)(quiet(_impl(_name)))
