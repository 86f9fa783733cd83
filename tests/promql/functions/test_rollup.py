"""Range functions: vectorised kernels against a sample-by-sample reference of Prometheus's code."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.promql.functions import FUNCTION_IMPLS
from vigil.promql.functions.rollup import absent_labels
from vigil.promql.parser import parse_expr
from vigil.promql.parser.ast import Call, MatrixSelector, VectorSelector
from vigil.promql.value import Scalar, Value, Vector

from ._helpers import ctx, matrix

# -- a plain reference, one window at a time ----------------------------------


def kahan_inc(inc: float, s: float, c: float) -> tuple[float, float]:
    t = s + inc
    if math.isinf(t):
        c = 0.0
    elif abs(s) >= abs(inc):
        c += (s - t) + inc
    else:
        c += (inc - t) + s
    return t, c


def ref_rate(
    ts: list[int], vs: list[float], start: int, end: int, rng: int, counter: bool, is_rate: bool
) -> float | None:
    if len(vs) < 2:
        return None
    result = vs[-1] - vs[0]
    if counter:
        for i in range(1, len(vs)):
            if vs[i] < vs[i - 1]:
                result += vs[i - 1]
    to_start = (ts[0] - start) / 1000
    to_end = (end - ts[-1]) / 1000
    sampled = (ts[-1] - ts[0]) / 1000
    avg = sampled / (len(vs) - 1)
    thr = avg * 1.1
    if to_start >= thr:
        to_start = avg / 2
    if counter:
        to_zero = to_start
        if result > 0 and vs[0] >= 0:
            to_zero = sampled * (vs[0] / result)
        to_start = min(to_start, to_zero)
    if to_end >= thr:
        to_end = avg / 2
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor /= rng / 1000
    return result * factor


def ref_sum(ts: list[int], vs: list[float]) -> float | None:
    if not vs:
        return None
    s = c = 0.0
    for v in vs:
        s, c = kahan_inc(v, s, c)
    return s if math.isinf(s) else s + c


def ref_avg(ts: list[int], vs: list[float]) -> float | None:
    if not vs:
        return None
    total, count, mean, c, inc = vs[0], 1.0, 0.0, 0.0, False
    for i, f in enumerate(vs[1:]):
        count = float(i + 2)
        if not inc:
            ns, nc = kahan_inc(f, total, c)
            if not math.isinf(ns):
                total, c = ns, nc
                continue
            inc = True
            mean = total / (count - 1)
            c /= count - 1
        q = (count - 1) / count
        mean, c = kahan_inc(f / count, q * mean, q * c)
    return mean + c if inc else total / count + c / count


def ref_stdvar(ts: list[int], vs: list[float]) -> float | None:
    if not vs:
        return None
    count = mean = cm = aux = ca = 0.0
    for f in vs:
        count += 1
        delta = f - (mean + cm)
        mean, cm = kahan_inc(delta / count, mean, cm)
        aux, ca = kahan_inc(delta * (f - (mean + cm)), aux, ca)
    return (aux + ca) / count


def ref_max(ts: list[int], vs: list[float]) -> float | None:
    if not vs:
        return None
    m = vs[0]
    for f in vs:
        if f > m or math.isnan(m):
            m = f
    return m


def ref_quantile(q: float, vs: list[float]) -> float:
    if not vs or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    srt = sorted(vs, key=lambda v: (not math.isnan(v), v if not math.isnan(v) else 0.0))
    n = len(srt)
    rank = q * (n - 1)
    lo = max(0, math.floor(rank))
    hi = min(n - 1, lo + 1)
    w = rank - math.floor(rank)
    return srt[lo] * (1 - w) + srt[hi] * w


def ref_changes(ts: list[int], vs: list[float]) -> float | None:
    if not vs:
        return None
    return float(
        sum(
            1 for a, b in itertools.pairwise(vs) if a != b and not (math.isnan(a) and math.isnan(b))
        )
    )


def ref_resets(ts: list[int], vs: list[float]) -> float | None:
    if not vs:
        return None
    return float(sum(1 for a, b in itertools.pairwise(vs) if b < a))


def ref_regression(ts: list[int], vs: list[float], at: int) -> tuple[float, float]:
    n = sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    const = all(v == vs[0] for v in vs[1:])
    for t, v in zip(ts, vs, strict=True):
        n += 1
        x = (t - at) / 1e3
        sx, cx = kahan_inc(x, sx, cx)
        sy, cy = kahan_inc(v, sy, cy)
        sxy, cxy = kahan_inc(x * v, sxy, cxy)
        sx2, cx2 = kahan_inc(x * x, sx2, cx2)
    if const:
        if math.isinf(vs[0]):
            return math.nan, math.nan
        return 0.0, vs[0]
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    slope = (sxy - sx * sy / n) / (sx2 - sx * sx / n)
    return slope, sy / n - slope * sx / n


# -- harness --------------------------------------------------------------------

STEPS = list(range(0, 3_600_000, 37_000))
RANGE = 300_000


def random_series(seed: int) -> list[tuple[Labels, list[int], list[float]]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(5):
        n = int(rng.integers(0, 300))
        ts = np.sort(rng.choice(np.arange(0, 3_600_000, 1000), size=n, replace=False))
        kind = i % 3
        if kind == 0:  # a counter with resets
            inc = rng.exponential(5.0, size=n)
            vs = np.cumsum(inc)
            for r in rng.integers(0, max(n, 1), size=3):
                vs[r:] -= vs[r] if r < n else 0
        elif kind == 1:  # a gauge with big cancelling values
            vs = rng.normal(0, 1e3, size=n) + rng.choice([0, 1e16, -1e16], size=n)
        else:  # small integers with NaNs and repeats
            vs = rng.integers(-3, 4, size=n).astype(float)
            vs[rng.random(n) < 0.1] = np.nan
        out.append((Labels(i=str(i)), ts.tolist(), vs.tolist()))
    return out


def windows_of(
    series: list[tuple[Labels, list[int], list[float]]], t: int, rng: int = RANGE
) -> Iterator[tuple[Labels, list[int], list[float]]]:
    for labels, ts, vs in series:
        sel = [(a, b) for a, b in zip(ts, vs, strict=True) if t - rng < a <= t]
        yield labels, [a for a, _ in sel], [b for _, b in sel]


def call(name: str, *args: Value, steps: list[int] = STEPS) -> Vector:
    text = {
        "quantile_over_time": "quantile_over_time(0.5, x[5m])",
        "predict_linear": "predict_linear(x[5m], 60)",
        "double_exponential_smoothing": "double_exponential_smoothing(x[5m], 0.5, 0.5)",
        "mad_over_time": "mad_over_time(x[5m])",
    }.get(name, f"{name}(x[5m])")
    from vigil.promql.parser import ParseOptions

    expr = parse_expr(text, ParseOptions(enable_experimental_functions=True))
    assert isinstance(expr, Call)
    out = FUNCTION_IMPLS[name](ctx(steps), list(args), expr)
    assert isinstance(out, Vector)
    return out


def assert_close(got: Vector, expected: dict[Labels, list[float | None]]) -> None:
    rows = {lb: i for i, lb in enumerate(got.labels)}
    for lb, vals in expected.items():
        if all(v is None for v in vals):
            assert lb not in rows or not got.present[rows[lb]].any()
            continue
        i = rows[lb]
        for j, v in enumerate(vals):
            assert bool(got.present[i, j]) == (v is not None), (lb, j)
            if v is not None:
                g = float(got.values[i, j])
                if math.isnan(v):
                    assert math.isnan(g), (lb, j, g)
                else:
                    assert g == pytest.approx(v, rel=1e-9, abs=1e-300), (lb, j)


Ref = Callable[[list[int], list[float]], float | None]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("sum_over_time", ref_sum),
        ("avg_over_time", ref_avg),
        ("stdvar_over_time", ref_stdvar),
        ("max_over_time", ref_max),
        ("changes", ref_changes),
        ("resets", ref_resets),
        ("count_over_time", lambda ts, vs: float(len(vs)) if vs else None),
        ("last_over_time", lambda ts, vs: vs[-1] if vs else None),
        ("first_over_time", lambda ts, vs: vs[0] if vs else None),
        ("present_over_time", lambda ts, vs: 1.0 if vs else None),
        ("quantile_over_time", lambda ts, vs: ref_quantile(0.5, vs) if vs else None),
        (
            "deriv",
            lambda ts, vs: ref_regression(ts, vs, ts[0])[0] if len(vs) > 1 else None,
        ),
        (
            "idelta",
            lambda ts, vs: vs[-1] - vs[-2] if len(vs) > 1 else None,
        ),
    ],
)
def test_matches_reference(seed: int, name: str, ref: Ref) -> None:
    series = random_series(seed)
    m = matrix(series, STEPS, RANGE)
    args: list[Value] = [m]
    if name == "quantile_over_time":
        args = [Scalar(np.full(len(STEPS), 0.5)), m]
    got = call(name, *args)
    expected: dict[Labels, list[float | None]] = {lb: [] for lb, _, _ in series}
    for t in STEPS:
        for lb, ts, vs in windows_of(series, t):
            expected[lb].append(ref(ts, vs))
    assert_close(got, expected)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("name", "counter", "is_rate"),
    [("rate", True, True), ("increase", True, False), ("delta", False, False)],
)
def test_extrapolated_rate_matches_reference(
    seed: int, name: str, counter: bool, is_rate: bool
) -> None:
    series = random_series(seed)
    offset = 60_000
    got = call(name, matrix(series, STEPS, RANGE, offset))
    expected: dict[Labels, list[float | None]] = {lb: [] for lb, _, _ in series}
    for t in STEPS:
        end = t - offset
        for lb, ts, vs in windows_of(series, end):
            expected[lb].append(ref_rate(ts, vs, end - RANGE, end, RANGE, counter, is_rate))
    assert_close(got, expected)


def test_predict_linear_intercepts_at_step_time() -> None:
    series = random_series(3)
    got = call("predict_linear", matrix(series, STEPS, RANGE), Scalar(np.full(len(STEPS), 60.0)))
    expected: dict[Labels, list[float | None]] = {lb: [] for lb, _, _ in series}
    for t in STEPS:
        for lb, ts, vs in windows_of(series, t):
            if len(vs) < 2:
                expected[lb].append(None)
            else:
                slope, icpt = ref_regression(ts, vs, t)
                expected[lb].append(slope * 60 + icpt)
    assert_close(got, expected)


# -- hand-written cases from Prometheus's behaviour ---------------------------------


def one(
    name: str, ts: list[int], vs: list[float], t: int, rng: int = RANGE, *extra: Value
) -> float | None:
    m = matrix([(Labels(a="b"), ts, vs)], [t], rng)
    got = call(name, m, *extra, steps=[t])
    if not got.labels or not got.present[0, 0]:
        return None
    return float(got.values[0, 0])


def test_rate_of_a_regular_counter() -> None:
    # 0, 10, ..., 100 every 30 s: increase over [5m] at the last sample extrapolates to the start.
    ts = list(range(0, 330_000, 30_000))
    vs = [float(i * 10) for i in range(11)]
    assert one("increase", ts, vs, 300_000) == pytest.approx(100.0)
    assert one("rate", ts, vs, 300_000) == pytest.approx(100.0 / 300)


def test_rate_needs_two_samples() -> None:
    assert one("rate", [10_000], [1.0], 60_000) is None
    assert one("irate", [10_000], [1.0], 60_000) is None


def test_counter_reset_adds_value_before_it() -> None:
    ts = [60_000, 120_000, 180_000, 240_000, 300_000]
    vs = [0.0, 10.0, 2.0, 12.0, 22.0]
    # 22 - 0 + 10 = 32 with the window (0, 300s]: extrapolated by the zero point (0 s away).
    assert one("increase", ts, vs, 300_000) == pytest.approx(32 * (240 + 0 + 0) / 240)
    assert one("resets", ts, vs, 300_000) == 1.0
    assert one("irate", ts, vs, 300_000) == pytest.approx(10 / 60)


def test_counter_zero_point_limits_only_the_half_interval_extrapolation() -> None:
    # A counter first seen at 300 s, every 60 s, rising 1/s: extrapolated back, it
    # is 0 at 300 s - v0. The window (0, 600 s] starts 300 s before the first
    # sample, beyond 1.1 intervals (66 s), so the series is taken to start half an
    # interval (30 s) before it, and the zero point can only shorten that.
    ts = list(range(300_000, 660_000, 60_000))

    def increase(v0: float) -> float | None:
        return one("increase", ts, [v0 + 60.0 * i for i in range(len(ts))], 600_000, 600_000)

    # Zero point 15 s before the first sample: inside the half interval, it bounds it.
    assert increase(15.0) == pytest.approx(300 * (300 + 15) / 300)
    # Zero point 45 s before: past the half interval but within 1.1 intervals.
    # Prometheus 3 (and 2.51+, prometheus/prometheus#13725) extrapolates 30 s;
    # 2.42 tested the threshold against the zero point and extrapolated 45 s (345).
    assert increase(45.0) == pytest.approx(300 * (300 + 30) / 300)
    assert one("rate", ts, [45.0 + 60.0 * i for i in range(6)], 600_000, 600_000) == (
        pytest.approx(330 / 600)
    )
    # Zero point 120 s before: beyond the threshold too, the half interval wins either way.
    assert increase(120.0) == pytest.approx(300 * (300 + 30) / 300)


def test_irate_after_reset_uses_last_value() -> None:
    assert one("irate", [0, 10_000], [10.0, 4.0], 10_000) == pytest.approx(0.4)


def test_kahan_sum_survives_cancellation() -> None:
    ts = [1000, 2000, 3000, 4000]
    vs = [1e100, 1.0, -1e100, 1.0]
    assert one("sum_over_time", ts, vs, 4000) == 2.0
    assert one("avg_over_time", ts, vs, 4000) == 0.5


def test_avg_over_time_switches_to_incremental_mean_on_overflow() -> None:
    ts = [1000, 2000, 3000]
    vs = [1.5e308, 1.5e308, 1.5e308]
    assert one("avg_over_time", ts, vs, 3000) == pytest.approx(1.5e308)


def test_max_over_time_ignores_nan_unless_all_nan() -> None:
    assert one("max_over_time", [1, 2, 3], [math.nan, 1.0, math.nan], 3) == 1.0
    got = one("min_over_time", [1, 2], [math.nan, math.nan], 3)
    assert got is not None
    assert math.isnan(got)


def test_quantile_over_time_bounds() -> None:
    ts, vs = [1, 2, 3], [1.0, 2.0, 3.0]
    m = matrix([(Labels(a="b"), ts, vs)], [3], RANGE)
    for q, want in ((0.5, 2.0), (0.25, 1.5), (-1.0, -math.inf), (2.0, math.inf)):
        c = ctx([3])
        expr = parse_expr("quantile_over_time(0.5, x[5m])")
        assert isinstance(expr, Call)
        got = FUNCTION_IMPLS["quantile_over_time"](c, [Scalar(np.array([q])), m], expr)
        assert isinstance(got, Vector)
        assert float(got.values[0, 0]) == want
    assert c.annotations


def test_mad_over_time() -> None:
    # values 1 2 3 4 100: median 3, deviations 2 1 0 1 97 -> median 1.
    assert one("mad_over_time", [1, 2, 3, 4, 5], [1.0, 2.0, 3.0, 4.0, 100.0], 5) == 1.0


def test_deriv_of_constant_and_of_line() -> None:
    assert one("deriv", [0, 1000, 2000], [5.0, 5.0, 5.0], 2000) == 0.0
    assert one("deriv", [0, 1000, 2000], [0.0, 2.0, 4.0], 2000) == pytest.approx(2.0)
    got = one("deriv", [0, 1000], [math.inf, math.inf], 2000)
    assert got is not None
    assert math.isnan(got)


def test_double_exponential_smoothing() -> None:
    ts = [0, 1000, 2000, 3000]
    vs = [0.0, 1.0, 2.0, 3.0]
    # A straight line is followed exactly.
    assert one(
        "double_exponential_smoothing",
        ts,
        vs,
        3000,
        RANGE,
        Scalar(np.array([0.5])),
        Scalar(np.array([0.5])),
    ) == pytest.approx(3.0)


def test_changes_counts_nan_runs_once() -> None:
    vs = [1.0, math.nan, math.nan, 1.0, 1.0, 2.0]
    assert one("changes", list(range(1, 7)), vs, 6) == 3.0


def test_absent_labels_from_equality_matchers() -> None:
    vs = VectorSelector(
        "x",
        [
            Matcher(MatchType.EQUAL, "job", "a"),
            Matcher(MatchType.EQUAL, "job", "b"),
            Matcher(MatchType.EQUAL, "env", "p"),
            Matcher(MatchType.REGEX, "i", ".*"),
            Matcher(MatchType.EQUAL, "__name__", "x"),
        ],
    )
    assert absent_labels(vs) == Labels(env="p")
    assert absent_labels(MatrixSelector(vs, 60_000)) == Labels(env="p")


def test_absent_over_time() -> None:
    m = matrix([(Labels(a="b"), [100_000], [1.0])], [100_000, 500_000], 60_000)
    expr = parse_expr('absent_over_time(x{job="j"}[1m])')
    assert isinstance(expr, Call)
    got = FUNCTION_IMPLS["absent_over_time"](ctx([100_000, 500_000]), [m], expr)
    assert isinstance(got, Vector)
    assert got.labels == [Labels(job="j")]
    assert got.present.tolist() == [[False, True]]


@pytest.mark.parametrize(("is_counter", "is_rate"), [(True, True), (True, False), (False, False)])
def test_extrapolated_rate_in_passes_equals_one_pass(
    is_counter: bool, is_rate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows evaluated a slice at a time give bit for bit what one pass gives."""
    from vigil.promql.functions import rollup
    from vigil.promql.selectors import matrix_from_series
    from vigil.storage.interface import Series

    rng = np.random.default_rng(5)
    series = []
    for i in range(12):
        ts = np.cumsum(rng.integers(5_000, 25_000, 300)).astype(np.int64)
        vs = np.cumsum(rng.integers(0, 9, 300)).astype(np.float64)
        vs[rng.random(300) < 0.03] = 0.0  # counter resets
        series.append(Series(Labels.from_dict({"i": str(i)}), ts, vs))
    ends = np.arange(0, 4_000_000, 30_000, dtype=np.int64)
    m = matrix_from_series(series, ends, 300_000)
    w = rollup.Windows.from_matrix(m, len(ends))
    whole = rollup.extrapolated_rate(w, 300_000, is_counter=is_counter, is_rate=is_rate)
    monkeypatch.setattr(rollup, "_RATE_CHUNK", 97)
    parts = rollup.extrapolated_rate(w, 300_000, is_counter=is_counter, is_rate=is_rate)
    np.testing.assert_array_equal(whole[1], parts[1])
    np.testing.assert_array_equal(whole[0].view(np.uint64), parts[0].view(np.uint64))
    assert bool(whole[1].any())
