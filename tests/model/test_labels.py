from __future__ import annotations

import pytest

from vigil.model import (
    METRIC_NAME,
    Labels,
    is_valid_label_name,
    is_valid_metric_name,
    validate_label_name,
    validate_metric_name,
)


@pytest.mark.parametrize("name", ["a", "_", "a_b:c", ":a", "A9", "__name__", "a:"])
def test_valid_metric_names(name: str) -> None:
    assert is_valid_metric_name(name)
    assert validate_metric_name(name) == name


@pytest.mark.parametrize("name", ["", "0a", "a-b", "a.b", "a b", "ä", "a\n", "\uff41", "a\u0661"])
def test_invalid_metric_names(name: str) -> None:
    assert not is_valid_metric_name(name)
    with pytest.raises(ValueError, match="invalid metric name"):
        validate_metric_name(name)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a", True), ("_a9", True), ("__x", True), ("a:b", False), ("9a", False), ("é", False)],
)
def test_label_names(name: str, ok: bool) -> None:
    assert is_valid_label_name(name) is ok
    if not ok:
        with pytest.raises(ValueError, match="invalid label name"):
            validate_label_name(name)


def test_labels_are_sorted_immutable_values() -> None:
    a = Labels(b="2", a="1")
    b = Labels.from_dict({"a": "1", "b": "2"})
    c = Labels.from_pairs([("b", "2"), ("a", "1")])
    assert a == b == c
    assert hash(a) == hash(b) == hash(c)
    assert a.pairs == (("a", "1"), ("b", "2"))
    assert list(a) == [("a", "1"), ("b", "2")]
    assert len(a) == 2
    assert bool(a)
    assert not Labels()
    assert a["a"] == "1"
    assert a.get("z") == ""
    assert a.get("z", "d") == "d"
    assert "a" in a
    assert "z" not in a
    assert a.names() == ("a", "b")
    assert a.to_dict() == {"a": "1", "b": "2"}
    with pytest.raises(KeyError):
        a["z"]
    with pytest.raises(AttributeError):
        a.foo = 1  # type: ignore[attr-defined]
    assert {a: 1}[c] == 1


def test_labels_validation() -> None:
    with pytest.raises(ValueError, match="duplicate label name 'a'"):
        Labels.from_pairs([("a", "1"), ("a", "2")])
    with pytest.raises(ValueError, match="invalid label name"):
        Labels.from_dict({"a-b": "1"})
    with pytest.raises(ValueError, match="invalid metric name"):
        Labels.from_dict({METRIC_NAME: "0bad"})
    with pytest.raises(TypeError):
        Labels.from_dict({"a": 1})  # type: ignore[dict-item]


def test_name_handling() -> None:
    base = Labels(job="x")
    series = base.with_name("up")
    assert series.metric_name == "up"
    assert series.pairs[0] == (METRIC_NAME, "up")
    assert series.without_name() == base
    assert base.metric_name == ""
    assert str(series) == 'up{job="x"}'
    assert repr(base) == 'Labels({job="x"})'


def test_derived_sets() -> None:
    a = Labels(a="1", b="", c="3")
    assert a.set("b", "2") == Labels(a="1", b="2", c="3")
    assert a.set("d", "4").names() == ("a", "b", "c", "d")
    assert a.without("a", "zz") == Labels(b="", c="3")
    assert a.without("zz") is a
    assert a.without_empty() == Labels(a="1", c="3")
    with pytest.raises(ValueError, match="invalid label name"):
        a.set("1x", "v")


def test_ordering_and_escaping_in_str() -> None:
    assert sorted([Labels(a="2"), Labels(a="1", b="1"), Labels(a="1")]) == [
        Labels(a="1"),
        Labels(a="1", b="1"),
        Labels(a="2"),
    ]
    assert str(Labels(a='q"\\\n')) == '{a="q\\"\\\\\\n"}'
