"""The block index: postings answer matchers exactly as a scan over every series would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.tsdb.index import ChunkRefs, CorruptIndexError, IndexReader, write_index


def refs(n: int, base: int = 0) -> ChunkRefs:
    return ChunkRefs(
        mint=np.arange(n, dtype=np.int64) * 100 + base,
        maxt=np.arange(n, dtype=np.int64) * 100 + base + 99,
        ref=np.arange(n, dtype=np.uint64) * 10 + 8,
        length=np.full(n, 6, dtype=np.uint32),
        count=np.full(n, 3, dtype=np.uint32),
    )


def random_series(seed: int, count: int) -> list[Labels]:
    rng = np.random.default_rng(seed)
    out: set[Labels] = set()
    while len(out) < count:
        d = {
            "__name__": f"metric_{rng.integers(0, 4)}",
            "job": ["api", "db", "web", "ünï"][rng.integers(0, 4)],
        }
        if rng.random() < 0.6:
            d["env"] = ["prod", "dev", ""][rng.integers(0, 3)]
        if rng.random() < 0.3:
            d["le"] = str(rng.choice(["0.1", "1", "+Inf"]))
        d["i"] = str(rng.integers(0, 1000))
        out.add(Labels.from_dict(d))
    return sorted(out)


@pytest.fixture
def built(tmp_path: Path) -> tuple[list[Labels], IndexReader]:
    series = random_series(1, 300)
    write_index(tmp_path / "index", [(lb, refs(i % 3 + 1, i)) for i, lb in enumerate(series)])
    return series, IndexReader(tmp_path / "index")


MATCHER_CASES = [
    [Matcher.equal("job", "api")],
    [Matcher.equal("job", "nope")],
    [Matcher.equal("env", "")],
    [Matcher(MatchType.NOT_EQUAL, "env", "")],
    [Matcher(MatchType.NOT_EQUAL, "env", "prod")],
    [Matcher(MatchType.REGEX, "job", "a.*|w.b")],
    [Matcher(MatchType.REGEX, "env", "prod|")],
    [Matcher(MatchType.REGEX, "missing", ".*")],
    [Matcher(MatchType.REGEX, "missing", ".+")],
    [Matcher(MatchType.NOT_REGEX, "job", "api|db")],
    [Matcher(MatchType.NOT_REGEX, "le", ".+")],
    [Matcher(MatchType.NOT_REGEX, "le", "")],
    [Matcher.equal("__name__", "metric_1"), Matcher(MatchType.REGEX, "le", r"\+Inf|1")],
    [
        Matcher.equal("__name__", "metric_2"),
        Matcher.equal("job", "ünï"),
        Matcher.equal("env", "dev"),
    ],
    [Matcher(MatchType.REGEX, "i", "1.*"), Matcher(MatchType.NOT_EQUAL, "job", "db")],
    [],
]


@pytest.mark.parametrize("matchers", MATCHER_CASES, ids=lambda ms: ",".join(map(str, ms)) or "none")
def test_postings_equal_a_full_scan(
    built: tuple[list[Labels], IndexReader], matchers: list[Matcher]
) -> None:
    series, index = built
    expected = [
        i for i, lb in enumerate(series) if all(m.matches(lb.get(m.name)) for m in matchers)
    ]
    assert index.postings_for_matchers(matchers).tolist() == expected


def test_series_labels_and_chunks(built: tuple[list[Labels], IndexReader]) -> None:
    series, index = built
    assert index.num_series == len(series)
    for sid, lb in enumerate(series):
        assert index.labels(sid) == lb
        s, e = index.chunk_range(sid)
        assert e - s == sid % 3 + 1
        assert index.chunk_mint[s:e].tolist() == refs(sid % 3 + 1, sid).mint.tolist()
        assert index.chunk_count[s:e].tolist() == [3] * (e - s)


def test_label_names_and_values(built: tuple[list[Labels], IndexReader]) -> None:
    series, index = built
    assert index.label_names() == sorted({n for lb in series for n, v in lb.pairs if v})
    assert index.label_values("env") == ["dev", "prod"]  # the empty value is no value
    assert index.label_values("job") == ["api", "db", "web", "ünï"]
    assert index.label_values("missing") == []
    assert index.postings("job", "db").tolist() == [
        i for i, lb in enumerate(series) if lb.get("job") == "db"
    ]


def test_empty_index(tmp_path: Path) -> None:
    write_index(tmp_path / "index", [])
    index = IndexReader(tmp_path / "index")
    assert index.num_series == 0
    assert index.label_names() == []
    assert index.postings_for_matchers([Matcher.equal("a", "")]).tolist() == []


def test_corruption_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "index"
    write_index(path, [(Labels.from_dict({"__name__": "up"}), refs(1))])
    data = bytearray(path.read_bytes())

    data[-5] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match=r"index: index checksum mismatch"):
        IndexReader(path)

    path.write_bytes(bytes(data[:30]))
    with pytest.raises(CorruptIndexError, match="truncated"):
        IndexReader(path)

    path.write_bytes(b"NOTINDEX" + bytes(data[8:]))
    with pytest.raises(CorruptIndexError, match="not a vigil index"):
        IndexReader(path)
