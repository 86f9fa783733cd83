from __future__ import annotations

import math

import numpy as np
import pytest

from tests.promql._helpers import instant, store
from vigil.model.labels import Labels
from vigil.model.value import STALE_NAN
from vigil.promql.engine import Engine
from vigil.promql.selectors import _vector_per_series, vector_from_series
from vigil.promql.value import Matrix
from vigil.storage.interface import Series

M = 60_000


@pytest.fixture
def data():  # type: ignore[no-untyped-def]
    return store(
        {
            'm{a="1"}': [(0, 1.0), (M, 2.0), (2 * M, 3.0)],
            'm{a="2"}': [(0, 10.0), (M, STALE_NAN), (5 * M, 20.0)],
            'n{a="1"}': [(10 * M, 7.0)],
        }
    )


@pytest.mark.parametrize(
    ("query", "t", "want"),
    [
        ("m", 0, {"m{a=1}": 1.0, "m{a=2}": 10.0}),
        ("m", 30_000, {"m{a=1}": 1.0, "m{a=2}": 10.0}),
        # a stale marker ends the series until a later sample
        ("m", M, {"m{a=1}": 2.0}),
        ("m", 5 * M, {"m{a=1}": 3.0, "m{a=2}": 20.0}),
        # lookback: a sample exactly 5m old is out, one 5m-1ms old is in
        ("m", 7 * M - 1, {"m{a=1}": 3.0, "m{a=2}": 20.0}),
        ("m", 7 * M, {"m{a=2}": 20.0}),
        ('m{a="1"}', 2 * M, {"m{a=1}": 3.0}),
        ('m{a!="1"}', 0, {"m{a=2}": 10.0}),
        ('{__name__=~"m|n"}', 10 * M, {"n{a=1}": 7.0}),
        ('{__name__=~"m|n"}', 6 * M, {"m{a=1}": 3.0, "m{a=2}": 20.0}),
        ("m offset 1m", 2 * M, {"m{a=1}": 2.0}),
        ("m offset -1m", 0, {"m{a=1}": 2.0}),
        ("m @ 60", 10 * M, {"m{a=1}": 2.0}),
        ("m @ 120 offset 1m", 100 * M, {"m{a=1}": 2.0}),
        ("n", 9 * M, {}),
    ],
)
def test_vector_selector(data, query: str, t: int, want: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    assert instant(data, query, t) == want


def test_at_start_end_in_range_query(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().range(data, "m @ start()", 0, 2 * M, M).to_api_json()
    assert [p[1] for p in res["result"][0]["values"]] == ["1", "1", "1"]
    res = Engine().range(data, 'm{a="1"} @ end()', 0, 2 * M, M).to_api_json()
    assert [p[1] for p in res["result"][0]["values"]] == ["3", "3", "3"]


def test_matrix_selector_is_left_open_right_closed(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().instant(data, 'm{a="1"}[1m]', 2 * M)
    assert isinstance(res.value, Matrix)
    assert res.to_api_json() == {
        "resultType": "matrix",
        "result": [{"metric": {"__name__": "m", "a": "1"}, "values": [[120, "3"]]}],
    }
    res2 = Engine().instant(data, 'm{a="1"}[2m]', 2 * M).to_api_json()
    assert [p[0] for p in res2["result"][0]["values"]] == [60, 120]


def test_matrix_selector_drops_stale_markers(data) -> None:  # type: ignore[no-untyped-def]
    res = Engine().instant(data, 'm{a="2"}[10m]', 6 * M).to_api_json()
    assert res["result"][0]["values"] == [[0, "10"], [300, "20"]]


def test_matrix_windows_per_step(data) -> None:  # type: ignore[no-untyped-def]
    from vigil.promql.engine import _Evaluator
    from vigil.promql.parser import parse_expr

    ev = _Evaluator(Engine(), data, 0, 2 * M, M)
    steps = np.array([0, M, 2 * M], dtype=np.int64)
    m = ev.eval_matrix(parse_expr('m{a="1"}[1m] offset 1m'), steps)
    s = m.series[0]
    assert m.range_ms == M
    assert list(m.window_end) == [-M, 0, M]  # type: ignore[arg-type]
    assert [list(s.ts[a:b]) for a, b in zip(s.first, s.last, strict=True)] == [[], [0], [M]]


def test_nan_samples_are_values_not_staleness() -> None:
    s = store({"x": [(0, math.nan)]})
    got = instant(s, "x", 0)
    assert math.isnan(got["x{}"])


def test_vector_from_series_matches_lookup_one_series_at_a_time() -> None:
    """The one-searchsorted lookup over all series equals the per-series lookup."""
    rng = np.random.default_rng(7)
    series = []
    for i in range(40):
        n = int(rng.integers(0, 30))
        ts = np.cumsum(rng.integers(1, 40_000, n)).astype(np.int64) + int(rng.integers(0, 900_000))
        vs = rng.normal(size=n)
        if n > 3:
            vs[2] = STALE_NAN
        series.append(Series(Labels.from_dict({"__name__": "m", "i": str(i)}), ts, vs))
    ref = np.arange(0, 2_000_000, 7_000, dtype=np.int64)
    for stamps in (False, True):
        got = vector_from_series(series, ref, 300_000, timestamps=stamps)
        want = _vector_per_series(series, ref, 300_000, timestamps=stamps)
        assert got.labels == want.labels
        assert np.array_equal(got.present, want.present)
        assert np.array_equal(got.values[got.present], want.values[want.present])
    assert vector_from_series([], ref, 300_000).labels == []
    one = vector_from_series(series[:1], np.array([-(10**9)], dtype=np.int64), 300_000)
    assert one.labels == []


def test_packed_matrix_windows_equal_per_series_windows() -> None:
    """The selector's concatenation (Matrix.packed) gives the windows the series give."""
    from vigil.promql.functions._windows import Windows
    from vigil.promql.selectors import matrix_from_series

    rng = np.random.default_rng(3)
    series = []
    for i in range(25):
        n = int(rng.integers(0, 40))
        ts = np.cumsum(rng.integers(1, 30_000, n)).astype(np.int64)
        vs = rng.normal(size=n)
        if n > 5:
            vs[4] = STALE_NAN
        series.append(Series(Labels.from_dict({"__name__": "m", "i": str(i)}), ts, vs))
    ends = np.arange(0, 1_200_000, 15_000, dtype=np.int64)
    m = matrix_from_series(series, ends, 120_000)
    assert m.packed is not None
    a = Windows.from_matrix(m, len(ends))
    b = Windows.from_matrix(Matrix(m.series, m.range_ms, m.window_end), len(ends))
    assert (a.n_series, a.n_steps) == (b.n_series, b.n_steps)
    assert np.array_equal(a.count, b.count)
    for w in range(len(a.start)):
        sa, sb = slice(a.start[w], a.stop[w]), slice(b.start[w], b.stop[w])
        assert np.array_equal(a.ts[sa], b.ts[sb])
        assert np.array_equal(a.vs[sa], b.vs[sb])
    assert not np.isnan(b.vs).any()  # stale markers removed


@pytest.mark.parametrize(
    "ends",
    [
        np.arange(-60_000, 1_200_000, 15_000, dtype=np.int64),  # regular: counted by histogram
        np.array([5_000, 7_000, 300_000, 300_001, 900_000], dtype=np.int64),  # irregular
        np.array([450_000], dtype=np.int64),  # one step
    ],
)
@pytest.mark.parametrize("chunk", [1 << 18, 50])  # one pass, or groups of a few series
def test_matrix_windows_equal_a_search_per_series(
    ends: np.ndarray, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every window ``(end - range, end]`` holds what a binary search per series finds,
    samples on a window's edges included (timestamps on multiples of the step)."""
    from vigil.promql import selectors
    from vigil.promql.selectors import matrix_from_samples, matrix_from_series

    monkeypatch.setattr(selectors, "_COUNT_CHUNK", chunk)

    rng = np.random.default_rng(11)
    series = []
    for i in range(30):
        n = int(rng.integers(0, 60))
        ts = np.unique(rng.integers(0, 80, n) * 15_000 + rng.choice([0, 1, -1, 7_000], n))
        series.append(Series(Labels.from_dict({"i": f"{i:02d}"}), ts, rng.normal(size=len(ts))))
    for range_ms in (15_000, 120_000, 61_000):
        m = matrix_from_series(series, ends, range_ms)
        got = {s.labels: s for s in m.series}
        for s in series:
            want = matrix_from_samples(s.labels, s.timestamps, s.values, ends, range_ms)
            if not bool((want.last > want.first).any()):
                assert s.labels not in got
                continue
            g = got[s.labels]
            assert np.array_equal(g.first, want.first)
            assert np.array_equal(g.last, want.last)
            assert np.array_equal(g.ts, s.timestamps)


def test_concat_series_arrays_views_back_to_back_arrays_and_copies_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vigil.promql import selectors
    from vigil.promql.selectors import concat_series_arrays

    monkeypatch.setattr(selectors, "_VIEW_MIN", 0)  # views even for these small arrays

    buf = np.arange(20, dtype=np.float64)
    parts = [buf[0:3], buf[3:3], buf[3:9], buf[9:20]]
    got = concat_series_arrays(parts)
    assert np.shares_memory(got, buf)
    assert np.array_equal(got, buf)
    grid = np.arange(12, dtype=np.int64).reshape(3, 4)  # rows of a decoded batch
    flat = grid.reshape(-1)
    got = concat_series_arrays([flat[2:5], flat[5:11]])
    assert np.shares_memory(got, grid)
    assert got.tolist() == list(range(2, 11))
    for others in ([buf[0:3], buf[4:9]], [buf[5:9], buf[0:5]], [buf[0:4:2], buf[4:6]]):
        got = concat_series_arrays(others)  # a gap, out of order, strided: copied
        assert not np.shares_memory(got, buf)
        assert np.array_equal(got, np.concatenate(others))
    single = concat_series_arrays([buf[2:5]])
    assert single.tolist() == [2.0, 3.0, 4.0]


def test_without_name_drops_the_name_wherever_it_sorts() -> None:
    from vigil.promql.value import without_name

    plain = Labels.from_dict({"__name__": "m", "a": "1"})
    upper = Labels.from_dict({"__name__": "m", "A": "1", "b": "2"})  # "A" sorts first
    nameless = Labels.from_dict({"a": "1"})
    assert without_name(plain) == Labels.from_dict({"a": "1"})
    assert without_name(upper) == Labels.from_dict({"A": "1", "b": "2"})
    assert without_name(nameless) is nameless
    assert without_name(Labels()) == Labels()
