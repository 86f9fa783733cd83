"""Head pages: many series encoded in one vectorised pass, every bit back."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.model.value import STALE_NAN
from vigil.tsdb.pages import PAGE_SAMPLES, build_cut, decode_cut, encode_cut, merge_cuts


def random_samples(
    seed: int, series: int, max_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, max_len + 1, series)
    refs = np.repeat(np.sort(rng.choice(10**9, series, replace=False)) + 1, lens).astype(np.int64)
    ts = np.concatenate(
        [rng.integers(-(2**40), 2**40) + np.cumsum(rng.integers(1, 20_000, n)) for n in lens]
    ).astype(np.int64)
    vs = rng.standard_normal(len(ts)) * 10.0 ** rng.integers(-5, 10, len(ts))
    specials = np.array([np.nan, STALE_NAN, -0.0, np.inf, -np.inf, 5e-324])
    pick = rng.random(len(vs)) < 0.05
    vs[pick] = rng.choice(specials, int(pick.sum()))
    return refs, ts, vs


@pytest.mark.parametrize(
    ("seed", "series", "max_len"), [(0, 1, 1), (1, 3, 5), (2, 400, 60), (3, 50, 3000)]
)
def test_cut_round_trips_every_bit(seed: int, series: int, max_len: int) -> None:
    refs, ts, vs = random_samples(seed, series, max_len)
    cut = build_cut(refs, ts, vs)
    for c in (cut, decode_cut(encode_cut(cut))):
        got_ts, got_vs = c.decode_all()
        assert got_ts.tolist() == ts.tolist()
        assert got_vs.view(np.uint64).tolist() == vs.view(np.uint64).tolist()
        assert c.refs.tolist() == np.unique(refs).tolist()
        assert c.samples == len(ts)
        assert (c.mint, c.maxt) == (int(ts.min()), int(ts.max()))


def test_pages_hold_whole_series_of_about_the_page_size() -> None:
    refs, ts, vs = random_samples(4, 2000, 40)
    cut = build_cut(refs, ts, vs)
    sizes = np.diff(cut.starts[cut.page_series])
    assert len(cut.pages) > 3
    # pages start at the first series starting at or after each multiple of PAGE_SAMPLES
    assert (np.abs(sizes[:-1] - PAGE_SAMPLES) < 40).all()


def test_regular_scrapes_compress_well() -> None:
    series, n = 1000, 120
    refs = np.repeat(np.arange(1, series + 1), n).astype(np.int64)
    ts = np.tile(1_700_000_000_000 + 15_000 * np.arange(n), series).astype(np.int64)
    rng = np.random.default_rng(5)
    vs = np.cumsum(rng.integers(0, 5, (series, n)), axis=1).astype(np.float64).ravel()
    cut = build_cut(refs, ts, vs)
    assert cut.nbytes / len(ts) < 1.5  # bytes per sample, index included


def test_empty_cut() -> None:
    e = np.empty(0, np.int64)
    cut = build_cut(e, e, np.empty(0))
    assert cut.samples == 0
    assert decode_cut(encode_cut(cut)).samples == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_cuts_hold_every_sample_of_the_parts_in_order(seed: int) -> None:
    """Consecutive cuts over overlapping and disjoint series merge into one cut equal to a
    cut built from all their samples at once, page by page."""
    rng = np.random.default_rng(seed)
    refs, ts, vs = random_samples(seed, 6000, 12)
    # Split each series' samples in time order across three cuts; some series skip a cut.
    which = np.zeros(len(refs), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, refs[1:] != refs[:-1]])
    for a, b in zip(starts.tolist(), [*starts[1:].tolist(), len(refs)], strict=True):
        which[a:b] = np.sort(rng.integers(0, 3, b - a))
    parts = [build_cut(refs[which == k], ts[which == k], vs[which == k]) for k in range(3)]
    merged = merge_cuts(parts, 1)
    whole = build_cut(refs, ts, vs)
    assert merged.level == 1
    assert merged.refs.tolist() == whole.refs.tolist()
    assert merged.starts.tolist() == whole.starts.tolist()
    assert merged.page_series.tolist() == whole.page_series.tolist()
    assert len(merged.pages) > 3
    got_ts, got_vs = merged.decode_all()
    assert got_ts.tolist() == ts.tolist()
    assert got_vs.view(np.uint64).tolist() == vs.view(np.uint64).tolist()
    assert (merged.mint, merged.maxt) == (int(ts.min()), int(ts.max()))


def test_merging_small_cuts_compresses_better() -> None:
    series, n = 1000, 48
    refs = np.repeat(np.arange(1, series + 1), n).astype(np.int64)
    ts = np.tile(1_700_000_000_000 + 5_000 * np.arange(n), series).astype(np.int64)
    rng = np.random.default_rng(6)
    vs = np.cumsum(rng.integers(0, 5, (series, n)), axis=1).astype(np.float64).ravel()
    step = np.tile(np.arange(n), series)
    parts = [
        build_cut(refs[step // 16 == k], ts[step // 16 == k], vs[step // 16 == k]) for k in range(3)
    ]
    merged = merge_cuts(parts, 1)
    assert merged.nbytes < 0.8 * sum(p.nbytes for p in parts)


def test_merging_nothing() -> None:
    e = np.empty(0, np.int64)
    empty = build_cut(e, e, np.empty(0))
    assert merge_cuts([empty, empty], 2).samples == 0
    one = build_cut(np.array([3, 3]), np.array([1, 2]), np.array([1.0, 2.0]))
    assert merge_cuts([empty, one], 1).decode_all()[0].tolist() == [1, 2]
