"""Relabelling against Prometheus's semantics.

``CASES`` is a table of (input labels, rules, expected labels or None for
dropped). Outcomes follow Prometheus's ``model/relabel`` (its documented
behaviour and its own test table, e.g. hashmod of "baz" mod 1000 is 976).
tests/scrape/test_targets.py runs the target-relabelling subset of this table
through a real Prometheus and compares.
"""

from __future__ import annotations

from typing import Any

import pytest

from vigil.config import RelabelAction, RelabelConfig
from vigil.model import Labels
from vigil.model.matchers import compile_anchored
from vigil.scrape.relabel import expand_template, hashmod, relabel

R = RelabelConfig
A = RelabelAction

# (id, input, rules, expected); expected None = dropped.
CASES: list[tuple[str, dict[str, str], list[dict[str, Any]], dict[str, str] | None]] = [
    (
        "replace-basic",
        {"a": "foo"},
        [
            {
                "source_labels": ["a"],
                "regex": "f(.*)",
                "target_label": "d",
                "replacement": "ch${1}-ch${1}",
            }
        ],
        {"a": "foo", "d": "choo-choo"},
    ),
    (
        "replace-multi-source",
        {"a": "foo", "b": "bar"},
        [
            {
                "source_labels": ["a", "b"],
                "regex": "f(.*);(.*)r",
                "target_label": "a",
                "replacement": "b${1}${2}m",
            }
        ],
        {"a": "boobam", "b": "bar"},
    ),
    (
        "replace-no-match-no-change",
        {"a": "boo"},
        [{"source_labels": ["a"], "regex": "f", "target_label": "b", "replacement": "bar"}],
        {"a": "boo"},
    ),
    (
        "replace-anchored",
        {"a": "xfoo"},
        [{"source_labels": ["a"], "regex": "foo", "target_label": "b", "replacement": "yes"}],
        {"a": "xfoo"},
    ),
    (
        "replace-empty-result-deletes",
        {"a": "foo", "b": "bar"},
        [{"source_labels": ["a"], "regex": "(f).*", "target_label": "b", "replacement": "$2"}],
        {"a": "foo"},
    ),
    (
        "replace-target-from-group",
        {"a": "some-name-value"},
        [
            {
                "source_labels": ["a"],
                "regex": "some-([^-]+)-([^,]+)",
                "target_label": "${1}",
                "replacement": "${2}",
            }
        ],
        {"a": "some-name-value", "name": "value"},
    ),
    (
        "replace-invalid-target-after-expansion-skipped",
        {"a": "some-1name-value"},
        [
            {
                "source_labels": ["a"],
                "regex": "some-([^-]+)-([^,]+)",
                "target_label": "${1}",
                "replacement": "${2}",
            }
        ],
        {"a": "some-1name-value"},
    ),
    (
        "replace-dollar-name-runs-on",
        {"a": "foo"},
        [
            {
                "source_labels": ["a"],
                "regex": "(f)(o+)",
                "target_label": "b",
                "replacement": "$1x|$2",
            }
        ],
        {"a": "foo", "b": "|oo"},
    ),
    (
        "replace-double-dollar-literal",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "(.*)", "target_label": "b", "replacement": "$$1-${1}"}],
        {"a": "foo", "b": "$1-foo"},
    ),
    (
        "replace-named-group",
        {"a": "host:9100"},
        [
            {
                "source_labels": ["a"],
                "regex": "(?P<host>[^:]+):(?P<port>\\d+)",
                "target_label": "p",
                "replacement": "${port}/$host",
            }
        ],
        {"a": "host:9100", "p": "9100/host"},
    ),
    (
        "replace-missing-source-is-empty",
        {"a": "foo"},
        [{"source_labels": ["zzz"], "target_label": "b", "replacement": "set"}],
        {"a": "foo", "b": "set"},
    ),
    (
        "replace-static-value",
        {"a": "foo"},
        [{"target_label": "env", "replacement": "prod"}],
        {"a": "foo", "env": "prod"},
    ),
    (
        "replace-separator",
        {"a": "x", "b": "y"},
        [{"source_labels": ["a", "b"], "separator": "::", "target_label": "c"}],
        {"a": "x", "b": "y", "c": "x::y"},
    ),
    (
        "replace-overwrites-metric-name",
        {"__name__": "old_total", "a": "1"},
        [
            {
                "source_labels": ["__name__"],
                "regex": "old_(.*)",
                "target_label": "__name__",
                "replacement": "new_$1",
            }
        ],
        {"__name__": "new_total", "a": "1"},
    ),
    (
        "replace-regex-dot-matches-newline",
        {"a": "foo\nbar"},
        [{"source_labels": ["a"], "regex": "foo.bar", "target_label": "b", "replacement": "hit"}],
        {"a": "foo\nbar", "b": "hit"},
    ),
    (
        "keep-match",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "f.*", "action": "keep"}],
        {"a": "foo"},
    ),
    (
        "keep-no-match",
        {"a": "boo"},
        [{"source_labels": ["a"], "regex": "f.*", "action": "keep"}],
        None,
    ),
    (
        "keep-missing-label-vs-empty-regex",
        {"a": "x"},
        [{"source_labels": ["b"], "regex": "", "action": "keep"}],
        {"a": "x"},
    ),
    (
        "drop-match",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "f.*", "action": "drop"}],
        None,
    ),
    (
        "drop-no-match",
        {"a": "boo"},
        [{"source_labels": ["a"], "regex": "f.*", "action": "drop"}],
        {"a": "boo"},
    ),
    (
        "drop-partial-is-not-match",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "f", "action": "drop"}],
        {"a": "foo"},
    ),
    (
        "keepequal-equal",
        {"a": "1", "b": "1"},
        [{"source_labels": ["a"], "target_label": "b", "action": "keepequal"}],
        {"a": "1", "b": "1"},
    ),
    (
        "keepequal-differ",
        {"a": "1", "b": "2"},
        [{"source_labels": ["a"], "target_label": "b", "action": "keepequal"}],
        None,
    ),
    (
        "dropequal-equal",
        {"a": "1", "b": "1"},
        [{"source_labels": ["a"], "target_label": "b", "action": "dropequal"}],
        None,
    ),
    (
        "dropequal-differ",
        {"a": "1", "b": "2"},
        [{"source_labels": ["a"], "target_label": "b", "action": "dropequal"}],
        {"a": "1", "b": "2"},
    ),
    (
        "hashmod-prometheus-vector",
        {"a": "foo", "b": "bar", "c": "baz"},
        [{"source_labels": ["c"], "target_label": "d", "action": "hashmod", "modulus": 1000}],
        {"a": "foo", "b": "bar", "c": "baz", "d": "976"},
    ),
    (
        "hashmod-newline-vector",
        {"a": "foo\nbar"},
        [{"source_labels": ["a"], "target_label": "b", "action": "hashmod", "modulus": 1000}],
        {"a": "foo\nbar", "b": "734"},
    ),
    (
        "labelmap",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [{"regex": "(b.*)", "replacement": "bar_${1}", "action": "labelmap"}],
        {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"},
    ),
    (
        "labelmap-meta",
        {"a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"},
        [{"regex": "__meta_(my.*)", "replacement": "${1}", "action": "labelmap"}],
        {
            "a": "foo",
            "__meta_my_bar": "aaa",
            "__meta_my_baz": "bbb",
            "__meta_other": "ccc",
            "my_bar": "aaa",
            "my_baz": "bbb",
        },
    ),
    (
        "labelmap-overwrites",
        {"a": "foo", "__meta_a": "meta"},
        [{"regex": "__meta_(.*)", "action": "labelmap"}],
        {"a": "meta", "__meta_a": "meta"},
    ),
    (
        "labeldrop",
        {"a": "foo", "b": "bar", "c": "baz"},
        [{"regex": "(b|c)", "action": "labeldrop"}],
        {"a": "foo"},
    ),
    (
        "labeldrop-anchored",
        {"abc": "1", "b": "2"},
        [{"regex": "b", "action": "labeldrop"}],
        {"abc": "1"},
    ),
    (
        "labelkeep",
        {"a": "foo", "b": "bar", "c": "baz"},
        [{"regex": "(a|b)", "action": "labelkeep"}],
        {"a": "foo", "b": "bar"},
    ),
    (
        "lowercase",
        {"foo": "bAr123Foo", "x": "1"},
        [{"source_labels": ["foo"], "target_label": "foo_lc", "action": "lowercase"}],
        {"foo": "bAr123Foo", "foo_lc": "bar123foo", "x": "1"},
    ),
    (
        "uppercase",
        {"foo": "bAr123Foo"},
        [{"source_labels": ["foo"], "target_label": "foo_uc", "action": "uppercase"}],
        {"foo": "bAr123Foo", "foo_uc": "BAR123FOO"},
    ),
    (
        "lowercase-empty-deletes",
        {"foo": "x", "foo_lc": "old"},
        [{"source_labels": ["missing"], "target_label": "foo_lc", "action": "lowercase"}],
        {"foo": "x"},
    ),
    (
        "chain-sees-previous-result",
        {"__address__": "h:1"},
        [
            {"source_labels": ["__address__"], "regex": "(.*):.*", "target_label": "host"},
            {"source_labels": ["host"], "regex": "h", "action": "keep"},
            {"source_labels": ["host"], "target_label": "HOST", "action": "uppercase"},
        ],
        {"__address__": "h:1", "host": "h", "HOST": "H"},
    ),
    (
        "drop-stops-chain",
        {"a": "x"},
        [
            {"source_labels": ["a"], "regex": "x", "action": "drop"},
            {"target_label": "b", "replacement": "never"},
        ],
        None,
    ),
    (
        "action-case-insensitive",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "f.*", "action": "Drop"}],
        None,
    ),
]


def rules(specs: list[dict[str, Any]]) -> list[RelabelConfig]:
    out = []
    for spec in specs:
        kw = dict(spec)
        if "source_labels" in kw:
            kw["source_labels"] = tuple(kw["source_labels"])
        out.append(RelabelConfig(**kw))
    return out


@pytest.mark.parametrize(("name", "given", "specs", "want"), CASES, ids=[c[0] for c in CASES])
def test_relabel_table(
    name: str, given: dict[str, str], specs: list[dict[str, Any]], want: dict[str, str] | None
) -> None:
    got = relabel(Labels.from_dict(given), rules(specs))
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert got.to_dict() == want


def test_no_rules_returns_same_object() -> None:
    ls = Labels(a="1")
    assert relabel(ls, []) is ls


def test_unchanged_result_is_same_object() -> None:
    ls = Labels(a="1")
    assert relabel(ls, rules([{"source_labels": ["a"], "regex": "2", "action": "drop"}])) is ls


def test_hashmod_is_prometheus_compatible() -> None:
    assert hashmod("baz", 1000) == 976
    assert hashmod("foo\nbar", 1000) == 734
    assert all(0 <= hashmod(str(i), 7) < 7 for i in range(100))


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("$1", "ab"),
        ("${1}", "ab"),
        ("$1x", ""),  # the group named "1x"
        ("${1}x", "abx"),
        ("$2", "cd"),
        ("$9", ""),  # no such group
        ("$01", ""),  # leading zero: a name, not a number
        ("$$", "$"),
        ("$", "$"),
        ("${", "${"),
        ("${1", "${1"),
        ("$-", "$-"),
        ("$name", "cd"),
        ("${name}!", "cd!"),
        ("$0", "ab-cd"),
        ("plain", "plain"),
    ],
)
def test_expand_template_like_go(template: str, want: str) -> None:
    rx = compile_anchored("(ab)-(?P<name>cd)")
    m = rx.match("ab-cd")
    groups = (m.group(0), *m.groups())
    assert expand_template(template, groups, rx.groupindex) == want


def test_unmatched_optional_group_expands_empty() -> None:
    cfg = rules(
        [
            {
                "source_labels": ["x"],
                "regex": "(a)?(b)",
                "target_label": "y",
                "replacement": "[$1][$2]",
            }
        ]
    )
    got = relabel(Labels(x="b"), cfg)
    assert got is not None
    assert got.get("y") == "[][b]"


def test_result_keeps_invalid_metric_name_value_as_data() -> None:
    # Prometheus does not validate the value written to __name__ during relabelling.
    got = relabel(
        Labels(__name__="up"),
        rules([{"target_label": "__name__", "replacement": "not-a-name"}]),
    )
    assert got is not None
    assert got.get("__name__") == "not-a-name"


def test_regex_is_re2_no_backtracking_blowup() -> None:
    # A catastrophic pattern for a backtracking engine is linear for RE2.
    cfg = rules([{"source_labels": ["a"], "regex": "(a+)+$", "action": "keep"}])
    assert relabel(Labels(a="a" * 5000 + "!"), cfg) is None


def test_many_labels_and_rules_fast_enough() -> None:
    base = Labels.from_dict({f"l{i}": f"v{i}" for i in range(20)} | {"__name__": "m"})
    cfg = rules(
        [
            {"source_labels": ["l1"], "regex": "v1", "action": "keep"},
            {"regex": "l1[0-9]", "action": "labeldrop"},
            {"source_labels": ["l2", "l3"], "target_label": "x"},
        ]
    )
    for _ in range(2000):
        out = relabel(base, cfg)
    assert out is not None
    assert "l15" not in out
    assert out.get("x") == "v2;v3"


@pytest.mark.parametrize(
    "pattern",
    [
        "(.*)",
        ".*",
        "",
        "foo",
        "a|b|",
        "(a|bc)",
        "go_.*",
        "go_",
        "(go_.*)",
        "x(.*)",
        "(a)|(b)",
        "(?i)foo",
        "a.b",
        "(a)(b)?",
        r"a\.b",
        "(a|b)c",
        "[ab]",
    ],
)
def test_fast_paths_agree_with_re2(pattern: str) -> None:
    from vigil.scrape.relabel import _program

    cfg = RelabelConfig(source_labels=("v",), regex=pattern, action=A.KEEP)
    prog = _program(cfg)
    rx = compile_anchored(pattern)
    for value in [
        "",
        "a",
        "b",
        "bc",
        "c",
        "ac",
        "foo",
        "FOO",
        "go_",
        "go_x\ny",
        "xgo_",
        "a.b",
        "axb",
        "ab",
        "x",
    ]:
        m = rx.match(value)
        want = None if m is None else tuple(g or "" for g in (m.group(0), *m.groups()))
        assert prog.match(value) == want, (pattern, value, prog.kind)
        assert prog.match(value) == want  # memoised answer too
