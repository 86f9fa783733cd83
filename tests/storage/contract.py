"""The storage seam's contract, run against every implementation.

An implementation's test module builds a store and calls these functions (see
``test_memory.py``); :func:`all_contract_checks` lists them so a new
implementation gets every one with a single parametrised test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.model.value import STALE_NAN, is_stale_nan
from vigil.storage.interface import (
    Appendable,
    BatchAppender,
    DuplicateSampleError,
    OutOfOrderError,
    Queryable,
)


class Store(Appendable, Queryable):
    pass


def lbl(**kw: str) -> Labels:
    return Labels.from_dict(kw)


def check_commit_makes_samples_visible(store: Store) -> None:
    app = store.appender()
    ref = app.append(0, lbl(__name__="up", job="a"), 1000, 1.0)
    assert ref
    assert store.querier(0, 10_000).select([Matcher.equal("__name__", "up")]) == []
    app.commit()
    [s] = store.querier(0, 10_000).select([Matcher.equal("__name__", "up")])
    assert s.labels == lbl(__name__="up", job="a")
    assert s.timestamps.tolist() == [1000]
    assert s.values.tolist() == [1.0]


def check_rollback_drops_everything(store: Store) -> None:
    app = store.appender()
    app.append(0, lbl(__name__="x"), 1000, 1.0)
    app.rollback()
    app.append(0, lbl(__name__="y"), 1000, 2.0)
    app.commit()
    names = store.querier(0, 10_000).label_values("__name__")
    assert names == ["y"]


def check_ref_is_stable_and_reusable(store: Store) -> None:
    app = store.appender()
    ref = app.append(0, lbl(__name__="c", i="1"), 1000, 1.0)
    app.commit()
    app = store.appender()
    assert app.append(ref, None, 2000, 2.0) == ref
    assert app.append(0, lbl(__name__="c", i="1"), 3000, 3.0) == ref
    app.commit()
    [s] = store.querier(0, 10_000).select([Matcher.equal("__name__", "c")])
    assert s.timestamps.tolist() == [1000, 2000, 3000]


def check_out_of_order_and_duplicates(store: Store) -> None:
    app = store.appender()
    ref = app.append(0, lbl(__name__="o"), 2000, 1.0)
    app.commit()
    app = store.appender()
    with pytest.raises(OutOfOrderError):
        app.append(ref, None, 1000, 5.0)
    with pytest.raises(DuplicateSampleError):
        app.append(ref, None, 2000, 5.0)
    app.append(ref, None, 2000, 1.0)  # exact duplicate: accepted and ignored
    app.append(ref, None, 3000, 3.0)
    app.commit()
    [s] = store.querier(0, 10_000).select([Matcher.equal("__name__", "o")])
    assert s.timestamps.tolist() == [2000, 3000]
    assert s.values.tolist() == [1.0, 3.0]


def check_matchers_and_ranges(store: Store) -> None:
    app = store.appender()
    for job in ("api", "db", "web"):
        for t in range(0, 10):
            app.append(
                0, lbl(__name__="m", job=job, env="prod" if job != "db" else ""), t * 1000, t
            )
    app.commit()
    q = store.querier(3000, 5000)
    name = Matcher.equal("__name__", "m")
    got = q.select([name, Matcher(MatchType.REGEX, "job", "a.*|w.b")])
    assert [s.labels.get("job") for s in got] == ["api", "web"]
    assert all(s.timestamps.tolist() == [3000, 4000, 5000] for s in got)
    got = q.select([name, Matcher(MatchType.NOT_EQUAL, "job", "api")])
    assert [s.labels.get("job") for s in got] == ["db", "web"]
    # env="" matches series without the label
    got = q.select([name, Matcher.equal("env", "")])
    assert [s.labels.get("job") for s in got] == ["db"]
    got = q.select([name, Matcher(MatchType.NOT_REGEX, "job", "api|db")])
    assert [s.labels.get("job") for s in got] == ["web"]
    assert q.label_names([name]) == ["__name__", "env", "job"]
    assert q.label_values("job", [Matcher.equal("env", "prod")]) == ["api", "web"]
    assert store.querier(20_000, 30_000).select([name]) == []


def check_special_values_round_trip(store: Store) -> None:
    app = store.appender()
    for t, v in enumerate([math.inf, -math.inf, math.nan, STALE_NAN, -0.0, 1e-300]):
        app.append(0, lbl(__name__="special"), t * 1000, v)
    app.commit()
    [s] = store.querier(0, 10_000).select([Matcher.equal("__name__", "special")])
    vs = s.values
    assert vs[0] == math.inf
    assert vs[1] == -math.inf
    assert math.isnan(vs[2])
    assert not is_stale_nan(float(vs[2]))
    assert is_stale_nan(float(vs[3]))
    assert np.signbit(vs[4])
    assert vs[5] == 1e-300


def all_contract_checks() -> list[Callable[[Store], None]]:
    return [v for k, v in sorted(globals().items()) if k.startswith("check_")]


def check_append_many_batch(store: Store) -> None:
    """``append_many`` (when the appender has it): known refs, one timestamp, the rules of
    append per sample, a code per refused sample."""
    from vigil.storage.interface import (
        BATCH_DUPLICATE,
        BATCH_OUT_OF_ORDER,
        BATCH_UNKNOWN_REF,
    )

    plain = store.appender()
    if not hasattr(plain, "append_many"):
        pytest.skip("no append_many")
    app = cast(BatchAppender, plain)
    refs = [app.append(0, lbl(__name__="b", i=str(i)), 2000, float(i)) for i in range(4)]
    app.commit()
    app = cast(BatchAppender, store.appender())
    r = np.array(refs, dtype=np.int64)
    assert app.append_many(r, 3000, np.array([10.0, 11.0, 12.0, 13.0])) is None
    app.commit()
    app = cast(BatchAppender, store.appender())
    # exact duplicates (accepted), a duplicate with another value, an unknown ref
    batch = np.array([refs[0], refs[1], refs[2], 987_654_321], dtype=np.int64)
    codes = app.append_many(batch, 3000, np.array([10.0, 99.0, 12.0, 1.0]))
    assert codes is not None
    assert codes.tolist() == [0, BATCH_DUPLICATE, 0, BATCH_UNKNOWN_REF]
    codes = app.append_many(np.array([refs[3]], dtype=np.int64), 2500, np.array([1.0]))
    assert codes is not None
    assert codes.tolist() == [BATCH_OUT_OF_ORDER]
    app.commit()
    got = {
        s.labels.get("i"): (s.timestamps.tolist(), s.values.tolist())
        for s in store.querier(0, 10_000).select([Matcher.equal("__name__", "b")])
    }
    assert got == {
        "0": ([2000, 3000], [0.0, 10.0]),
        "1": ([2000, 3000], [1.0, 11.0]),
        "2": ([2000, 3000], [2.0, 12.0]),
        "3": ([2000, 3000], [3.0, 13.0]),
    }


def check_append_many_keeps_order_with_append(store: Store) -> None:
    """Single appends and batches in one transaction are applied in the order made."""
    plain = store.appender()
    if not hasattr(plain, "append_many"):
        pytest.skip("no append_many")
    app = cast(BatchAppender, plain)
    ref = app.append(0, lbl(__name__="mix"), 1000, 1.0)
    app.commit()
    app = cast(BatchAppender, store.appender())
    app.append(ref, None, 2000, 2.0)
    app.append_many(np.array([ref], dtype=np.int64), 3000, np.array([3.0]))
    app.append(ref, None, 4000, 4.0)
    app.append_many(np.array([ref], dtype=np.int64), 5000, np.array([math.inf]))
    app.commit()
    [s] = store.querier(0, 10_000).select([Matcher.equal("__name__", "mix")])
    assert s.timestamps.tolist() == [1000, 2000, 3000, 4000, 5000]
    assert s.values.tolist() == [1.0, 2.0, 3.0, 4.0, math.inf]
