"""Rule files: upstream rulefmt's test data gives the verdicts, and errors carry positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config.errors import ConfigError
from vigil.rules.file import load_rule_files, parse_rule_file
from vigil.rules.templating import available as templates_available

from ._helpers import conformance_dir

RULEFMT = conformance_dir() / "rulefmt"


def _good_files() -> list[str]:
    return sorted(
        p.name
        for p in RULEFMT.glob("*.yaml")
        if p.name.endswith(".good.yaml") or p.name.startswith("test")
    )


def test_conformance_data_is_there() -> None:
    assert len(_good_files()) >= 4
    assert len(list(RULEFMT.glob("*.bad.yaml"))) >= 10


@pytest.mark.parametrize("name", _good_files())
def test_good_files_load(name: str) -> None:
    groups = load_rule_files([RULEFMT / name])
    assert groups
    assert all(g.file == str(RULEFMT / name) for g in groups)


# Upstream's rulefmt_test.go: file -> the error it must mention, plus where we place it.
BAD = {
    "duplicate_grp.bad.yaml": ('groupname: "yolo" is repeated in the same file', "3:5"),
    "bad_expr.bad.yaml": ("parse error", "5:20"),
    "record_and_alert.bad.yaml": ("only one of 'record' and 'alert' must be set", "4:17"),
    "no_rec_alert.bad.yaml": ("one of 'record' or 'alert' must be set", "4:9"),
    "noexpr.bad.yaml": ("field 'expr' must be set in rule", "4:9"),
    "invalid_record_name.bad.yaml": (
        'braces present in the recording rule name; should it be in expr?: strawberry{flavor="sweet"}',
        "4:17",
    ),
    "bad_field.bad.yaml": ("annotation: unknown field", "8:9"),
    "invalid_label_name.bad.yaml": ("invalid label name: __name__", "7:11"),
    "record_and_for.bad.yaml": ("invalid field 'for' in recording rule", "4:17"),
    "record_and_keep_firing_for.bad.yaml": (
        "invalid field 'keep_firing_for' in recording rule",
        "4:17",
    ),
}


def test_every_bad_file_has_a_verdict() -> None:
    names = {p.name for p in RULEFMT.glob("*.bad.yaml")}
    assert names - set(BAD) == {"legacy_validation_annotation.bad.yaml"}


@pytest.mark.parametrize(("name", "expected"), sorted(BAD.items()))
def test_bad_files_are_rejected_with_a_position(name: str, expected: tuple[str, str]) -> None:
    reason, where = expected
    path = RULEFMT / name
    with pytest.raises(ConfigError) as info:
        load_rule_files([path])
    text = info.value.format()
    assert reason in text
    first = text.splitlines()[0]
    assert first.startswith(f"{path}:{where}: groups[")


def test_legacy_name_validation() -> None:
    bad = RULEFMT / "legacy_validation_annotation.bad.yaml"
    with pytest.raises(ConfigError, match="invalid annotation name: ins-tance"):
        load_rule_files([bad], name_validation="legacy")
    load_rule_files([RULEFMT / "legacy_validation_annotation.good.yaml"], name_validation="legacy")
    with pytest.raises(ConfigError, match="invalid label name: ins-tance"):
        load_rule_files([RULEFMT / "utf-8_lname.good.yaml"], name_validation="legacy")
    load_rule_files([bad])  # UTF-8 names (the default) allow it


def test_aliases_and_merge_keys() -> None:
    expr = (
        "sum without(instance) (rate(errors_total[5m]))\n/\n"
        "sum without(instance) (rate(requests_total[5m]))\n"
    )
    groups = load_rule_files([RULEFMT / "test_aliases.yaml"])
    assert len(groups) == 2
    for g in groups:
        assert g.interval_s == 30
        r = g.rules
        assert r[0].alert == "HighAlert"
        assert r[0].labels == {"severity": "critical"}
        assert r[0].annotations == {"description": "stuff's happening with {{ $.labels.service }}"}
        assert r[1].record == "new_metric"
        assert r[2].alert == "HighAlert"
        assert r[3].alert == "HighAlert2"
        assert r[3].labels == {"severity": "critical"}
        assert all(rule.expr == expr for rule in r)


def test_group_fields() -> None:
    text = """groups:
  - name: g
    interval: 1m30s
    query_offset: 10s
    limit: 5
    labels: {team: a}
    rules:
      - alert: A
        expr: up == 0
        for: 5m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations: {summary: down}
      - record: job:up:sum
        expr: sum by (job) (up)
"""
    [g] = parse_rule_file(text, "r.yml")
    assert (g.name, g.file, g.interval_s, g.query_offset_s, g.limit) == ("g", "r.yml", 90, 10, 5)
    assert g.labels == {"team": "a"}
    a, rec = g.rules
    assert (a.alert, a.record, a.for_s, a.keep_firing_for_s) == ("A", None, 300, 120)
    assert a.kind == "alerting"
    assert rec.kind == "recording"
    assert a.position is not None
    assert str(a.position) == "8:9"
    assert rec.name == "job:up:sum"
    assert parse_rule_file("", "empty.yml") == []


def test_every_problem_is_collected() -> None:
    # Upstream's TestUniqueErrorNodes: two bad expressions, two errors at two places.
    text = """
groups:
- name: example
  rules:
  - alert: InstanceDown
    expr: up ===== 0
    for: 5m
  - alert: InstanceUp
    expr: up ===== 1
    for: 5m
  - record: x
    expr: 1
    bogus: 1
    for: 5x
"""
    with pytest.raises(ConfigError) as info:
        parse_rule_file(text, "f.yml")
    lines = info.value.format().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("f.yml:6:16: groups[0].rules[0].expr: ")
    assert "could not parse expression: 1:6: parse error: unexpected <op:==>" in lines[0]
    assert lines[1].startswith("f.yml:9:16: groups[0].rules[1].expr: ")
    assert "f.yml:13:5: groups[0].rules[2].bogus: unknown field" in lines
    assert any(ln.startswith("f.yml:14:10: groups[0].rules[2].for: ") for ln in lines)


@pytest.mark.parametrize(
    ("expr_yaml", "where"),
    [
        # the error is at the end of the input: just past the expression's last character
        ("expr: sum(rate(x[5m])) +", "5:33"),  # plain
        ("expr: 'sum(x) +'", "5:24"),  # single-quoted
        ('expr: "sum(x) by"', "5:25"),  # double-quoted
        ("expr: |\n          sum(x)\n          + on(\n", "7:16"),  # block
        ("expr: |\n          sum(x)\n          + rate(x)\n", "7:18"),  # block, at the argument
        ("expr: 'sum(x) + rate(x)'", "5:30"),  # quoted, at the argument
    ],
)
def test_promql_errors_point_into_the_file(expr_yaml: str, where: str) -> None:
    text = f"groups:\n  - name: g\n    rules:\n      - record: r\n        {expr_yaml}\n"
    with pytest.raises(ConfigError) as info:
        parse_rule_file(text, "f.yml")
    assert info.value.format().startswith(f"f.yml:{where}: groups[0].rules[0].expr: ")


def test_unknown_fields_can_be_ignored() -> None:
    path = conformance_dir() / "promtool" / "rules_extrafields.yml"
    with pytest.raises(ConfigError) as info:
        load_rule_files([path])
    assert [p.path for p in info.value.problems] == ["groups[0].namespace", "groups[1].ownership"]
    groups = load_rule_files([path], ignore_unknown_fields=True)
    assert sum(len(g.rules) for g in groups) == 5


def test_problems_of_all_files_are_reported(tmp_path: Path) -> None:
    a = tmp_path / "a.yml"
    a.write_text("groups:\n  - name: a\n    rules:\n      - record: 'a{b}'\n        expr: 1\n")
    b = tmp_path / "b.yml"
    b.write_text("groups: [\n")
    with pytest.raises(ConfigError) as info:
        load_rule_files([a, b, tmp_path / "missing.yml"])
    text = info.value.format()
    assert f"{a}:4:17: groups[0].rules[0].record:" in text
    assert f"{b}:2:1: YAML syntax" in text
    assert f"{tmp_path / 'missing.yml'}: cannot read rule file" in text


def test_bad_values() -> None:
    text = """groups:
  - name: ""
    limit: -1
    rules:
      - alert: A
        expr: vector(1)
        labels: {"": x}
"""
    with pytest.raises(ConfigError) as info:
        parse_rule_file(text, "f.yml")
    text_out = info.value.format()
    assert "Groupname must not be empty" in text_out
    assert "groups[0].limit: expected a whole number >= 0" in text_out
    assert "invalid label name: " in text_out


def test_templates_are_checked() -> None:
    assert templates_available()
    # Upstream's TestTemplateParsing.
    base = """
groups:
- name: example
  rules:
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    labels:
      severity: "{severity}"
    annotations:
      summary: "{summary}"
"""
    ok = base.format(severity="page", summary="Instance {{ $labels.instance }} down")
    parse_rule_file(ok, "ok.yml")
    for severity, summary, field in [
        ("page", "Instance {{ $label.instance }} down", "annotations.summary"),
        ("{{$this_is_wrong}}", "x", "labels.severity"),
        ("page", "{{$labels.quantile * 100}}", "annotations.summary"),
    ]:
        text = base.format(severity=severity, summary=summary)
        with pytest.raises(ConfigError) as info:
            parse_rule_file(text, "bad.yml")
        [p] = info.value.problems
        assert p.path == f"groups[0].rules[0].{field}"
        assert p.position is not None
        kind = "annotation" if field.startswith("annotations") else "label"
        assert f'group "example", rule 1, "InstanceDown": {kind} ' in p.message
