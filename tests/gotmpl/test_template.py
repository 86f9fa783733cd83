"""Parsing and executing Go templates: every construct and builtin, table-driven.

Expected outputs are what Go's text/template prints for the same text and data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from vigil.gotmpl import NO_VALUE, Template, TemplateError, TemplateExecError, expand
from vigil.model import Labels


@dataclass
class KV:
    """Alertmanager's template.KV shape: a map with methods."""

    pairs: dict[str, str] = field(default_factory=dict)


class LabelMap(dict[str, str]):
    def SortedPairs(self) -> list[dict[str, str]]:  # noqa: N802
        return [{"Name": k, "Value": v} for k, v in sorted(self.items())]

    def Names(self) -> list[str]:  # noqa: N802
        return sorted(self)


class Alerts(list[Any]):
    def Firing(self) -> list[Any]:  # noqa: N802
        return [a for a in self if a.Status == "firing"]


@dataclass
class FakeAlert:
    Status: str
    Labels: LabelMap
    Annotations: dict[str, str]


@dataclass
class Obj:
    Name: str = "obj"
    Count: int = 3
    Nested: Any = None

    def Greet(self, who: str, times: int = 1) -> str:  # noqa: N802
        return " ".join([f"hi {who}"] * times)

    def Fail(self) -> str:  # noqa: N802
        raise ValueError("boom")


DATA: dict[str, Any] = {
    "Name": "web",
    "Count": 3,
    "Zero": 0,
    "Empty": "",
    "List": ["a", "b", "c"],
    "Ints": [3, 1, 2],
    "Map": {"b": 2, "a": 1, "c": 3},
    "Labels": {"instance": "host:9090", "job": "api"},
    "Value": 1234.5,
    "Obj": Obj(Nested=Obj(Name="inner")),
    "Nil": None,
    "True": True,
    "Float": 0.5,
}

CASES: list[tuple[str, str, Any]] = [
    # text, output, data
    ("plain text", "plain text", None),
    ("{{ 1 }}", "1", None),
    ("{{ .Name }}", "web", DATA),
    ("{{ .Labels.job }}/{{ .Labels.instance }}", "api/host:9090", DATA),
    ("{{ .Labels.missing }}", "<no value>", DATA),
    ("{{ .Obj.Name }} {{ .Obj.Nested.Name }} {{ .Obj.Count }}", "obj inner 3", DATA),
    ('{{ .Obj.Greet "bob" }}|{{ .Obj.Greet "al" 2 }}', "hi bob|hi al hi al", DATA),
    ('{{ "bob" | .Obj.Greet }}', "hi bob", DATA),
    ("{{ $ }}", "7", 7),
    ("{{ . }}", "[1 2]", [1, 2]),
    ("{{ .Map }}", "map[a:1 b:2 c:3]", DATA),
    ("{{ .Nil }}", "<nil>", DATA),
    ("{{ .True }} {{ false }}", "true false", DATA),
    # numbers and literals print like Go's %v
    (
        "{{ 1e6 }} {{ 0.5 }} {{ 3.0 }} {{ 1234567.0 }} {{ 0.00001 }}",
        "1e+06 0.5 3 1.234567e+06 1e-05",
        None,
    ),
    (
        "{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ -5 }} {{ +5 }}",
        "31 15 15 5 1000 -5 5",
        None,
    ),
    ("{{ 'a' }} {{ '\\n' }} {{ .5 }}", "97 10 0.5", None),
    ('{{ "a\\tb\\u00e9\\x41\\"" }}', 'a\tbéA"', None),
    ('{{ "\\xc3\\xa9" }}', "é", None),
    ("{{ `raw\\n` }}", "raw\\n", None),
    ("{{ .Value }}", "1234.5", DATA),
    ("{{ .Float }}", "0.5", DATA),
    # trimming and comments
    ("a  {{- 1 -}}  b", "a1b", None),
    ("a \n {{- /* comment */ -}} \n b", "ab", None),
    ("a{{/* comment */}}b", "ab", None),
    ("{{- 1 }} x {{ 2 -}}\n", "1 x 2", None),
    ("{{-3}}", "-3", None),
    # variables
    ("{{ $x := 5 }}{{ $x }}", "5", None),
    ("{{ $x := 5 }}{{ $x = 6 }}{{ $x }}", "6", None),
    ("{{ $x := .Name }}{{ if true }}{{ $x = 1 }}{{ end }}{{ $x }}", "1", DATA),
    ("{{ with $x := .Name }}{{ $x }}{{ end }}", "web", DATA),
    ("{{ $.Name }}{{ range .List }}{{ $.Count }}{{ end }}", "web333", DATA),
    ("{{ $o := .Obj }}{{ $o.Nested.Name }}", "inner", DATA),
    # if / else if / else
    ("{{ if .Count }}yes{{ else }}no{{ end }}", "yes", DATA),
    ("{{ if .Zero }}yes{{ else }}no{{ end }}", "no", DATA),
    ("{{ if .Empty }}a{{ else if .Zero }}b{{ else if .Name }}c{{ else }}d{{ end }}", "c", DATA),
    ("{{ if .Labels.missing }}a{{ else }}b{{ end }}", "b", DATA),
    ("{{ if .Nil }}a{{ else }}b{{ end }}", "b", DATA),
    ("{{ if .List }}a{{ end }}{{ if .Map }}b{{ end }}{{ if .Obj }}c{{ end }}", "abc", DATA),
    ("{{ if and .Count .Name }}y{{ end }}{{ if or .Zero .Empty }}n{{ end }}", "y", DATA),
    # with
    ("{{ with .Obj }}{{ .Name }}{{ end }}", "obj", DATA),
    ("{{ with .Empty }}x{{ else }}empty{{ end }}", "empty", DATA),
    ("{{ with .Empty }}x{{ else with .Name }}{{ . }}{{ else }}z{{ end }}", "web", DATA),
    # range
    ("{{ range .List }}{{ . }},{{ end }}", "a,b,c,", DATA),
    ("{{ range $i, $e := .List }}{{ $i }}={{ $e }} {{ end }}", "0=a 1=b 2=c ", DATA),
    ("{{ range $e := .List }}{{ $e }}{{ end }}", "abc", DATA),
    ("{{ range $k, $v := .Map }}{{ $k }}{{ $v }}{{ end }}", "a1b2c3", DATA),
    ("{{ range .Map }}{{ . }}{{ end }}", "123", DATA),
    ("{{ range 3 }}{{ . }}{{ end }}", "012", None),
    ("{{ range .Nil }}x{{ else }}none{{ end }}", "none", DATA),
    ("{{ range .Empty2 }}x{{ else }}none{{ end }}", "none", {"Empty2": []}),
    ('{{ range .List }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', "a", DATA),
    ('{{ range .List }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}', "ac", DATA),
    ("{{ $i := 0 }}{{ range $i = .List }}{{ end }}{{ $i }}", "c", DATA),
    ("{{ range .Lbl }}{{ . }}{{ end }}", "12", {"Lbl": Labels(a="1", b="2")}),
    (
        "{{ range $k, $v := .Lbl }}{{ $k }}={{ $v }};{{ end }}",
        "a=1;b=2;",
        {"Lbl": Labels(a="1", b="2")},
    ),
    ("{{ .Lbl.b }}{{ .Lbl.zz }}", "2<no value>", {"Lbl": Labels(a="1", b="2")}),
    # define / template / block
    (
        '{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" 5 }}{{ template "x" }}',
        "[5][<nil>]",
        None,
    ),
    ('{{ define "x" }}{{ $ }}{{ end }}{{ template "x" .Name }}', "web", DATA),
    ('{{ block "b" .Name }}<{{ . }}>{{ end }}', "<web>", DATA),
    ('{{ template "x" . }}{{ define "x" }}late{{ end }}', "late", None),
    # pipelines and parentheses
    ('{{ .Name | printf "%s!" }}', "web!", DATA),
    ('{{ "x" | printf "%s-%s" "a" }}', "a-x", None),
    ("{{ (len .List) }}", "3", DATA),
    ("{{ (.Obj).Nested.Name }}", "inner", DATA),
    ('{{ (index .List 1) | printf "%q" }}', '"b"', DATA),
    ('{{ $x := (len .List) | printf "%d" }}{{ $x }}', "3", DATA),
    # builtins
    ('{{ len .List }} {{ len .Map }} {{ len .Name }} {{ len "é" }}', "3 3 3 2", DATA),
    ('{{ index .List 2 }} {{ index .Map "b" }} {{ index .Labels "nope" }}|', "c 2 |", DATA),
    ("{{ index . 0 1 }}", "2", [[1, 2]]),
    ('{{ index "abc" 1 }}', "98", None),
    (
        '{{ slice .List 1 }} {{ slice .List 1 2 }} {{ slice .List }} {{ slice "hello" 1 3 }}',
        "[b c] [b] [a b c] el",
        DATA,
    ),
    ("{{ not .Zero }} {{ not .Name }}", "true false", DATA),
    ('{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 "" }} {{ or 0 "x" 1 }}', "0 2  x", None),
    ("{{ or .Zero .Nope.X }}", "<no value>", {"Zero": 0}),
    ("{{ and .Zero .Nil.X }}", "0", {"Zero": 0, "Nil": None}),
    ('{{ print "a" "b" 1 2 "c" }}', "ab1 2c", None),
    ('{{ println "a" 1 }}', "a 1\n", None),
    ('{{ html "<a href=\'x\'>&\\"" }}', "&lt;a href=&#39;x&#39;&gt;&amp;&#34;", None),
    ('{{ js "it\'s <b>\\"x\\" = \\\\" }}', 'it\\\'s \\u003Cb\\u003E\\"x\\" \\u003D \\\\', None),
    ('{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9", None),
    ('{{ eq 1 1 }} {{ eq "a" "b" }} {{ eq 1 2 3 1 }} {{ ne 1 2 }}', "true false true true", None),
    ('{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 2.5 }}', "true true true false", None),
    ('{{ eq .Labels.missing "x" }}', "false", DATA),
    ("{{ eq .Nil .Nil }}", "true", DATA),
    ("{{ call .F 2 3 }}", "5", {"F": lambda a, b: a + b}),
    ("{{ .Name | html | urlquery }}", "web", DATA),
    # methods on maps and lists (Alertmanager's KV and Alerts)
    (
        "{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}"
        "{{ .CommonLabels.Names }} {{ .CommonLabels.job }}",
        "a=1 job=x [a job] x",
        {"CommonLabels": LabelMap(job="x", a="1")},
    ),
    (
        "{{ len .Alerts.Firing }}{{ range .Alerts.Firing }} {{ .Labels.alertname }}{{ end }}",
        "1 Up",
        {
            "Alerts": Alerts(
                [
                    FakeAlert("firing", LabelMap(alertname="Up"), {}),
                    FakeAlert("resolved", LabelMap(alertname="Down"), {}),
                ]
            )
        },
    ),
]


@pytest.mark.parametrize(("text", "want", "data"), CASES, ids=[c[0][:60] for c in CASES])
def test_execute(text: str, want: str, data: Any) -> None:
    assert expand(text, data) == want


def test_missingkey_options() -> None:
    text = "[{{ .Labels.nope }}]"
    data = {"Labels": {"a": "b"}}
    assert expand(text, data) == "[<no value>]"
    assert expand(text, data, missingkey="zero") == "[]"
    with pytest.raises(TemplateExecError, match='map has no entry for key "nope"'):
        expand(text, data, missingkey="error")
    with pytest.raises(ValueError, match="missingkey"):
        Template("t", missingkey="bogus")  # type: ignore[arg-type]


def test_parse_once_execute_many_and_sets() -> None:
    t = Template("main").parse(
        '{{ define "greet" }}hello {{ . }}{{ end }}{{ template "greet" .Name }}'
    )
    assert [t.execute({"Name": n}) for n in ("a", "b")] == ["hello a", "hello b"]
    assert t.names() == ["greet", "main"]
    assert t.execute("x", name="greet") == "hello x"
    # a clone takes new definitions without touching the original
    c = t.clone().parse('{{ define "greet" }}bye {{ . }}{{ end }}')
    assert c.execute({"Name": "z"}) == "bye z"
    assert t.execute({"Name": "z"}) == "hello z"
    # a text of only definitions does not replace a non-empty body
    t.parse('{{ define "other" }}o{{ end }}')
    assert t.execute({"Name": "q"}) == "hello q"
    assert t.lookup("other")
    with pytest.raises(TemplateExecError, match='no template "nope"'):
        t.execute(None, name="nope")


def test_alertmanager_style_template_files() -> None:
    t = Template("notify", {"toUpper": str.upper}).parse(
        '{{ define "slack.title" }}[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }}{{ end }}\n'
        '{{ define "slack.text" }}{{ range .Alerts }}* {{ .Annotations.summary }}\n{{ end }}{{ end }}',
        source="slack.tmpl",
    )
    data = {
        "Status": "firing",
        "GroupLabels": {"alertname": "HighLatency"},
        "Alerts": [{"Annotations": {"summary": "p99 above 1s"}}, {"Annotations": {"summary": "x"}}],
    }
    title = t.clone().parse('{{ template "slack.title" . }}')
    assert title.execute(data) == "[FIRING] HighLatency"
    assert t.execute(data, name="slack.text") == "* p99 above 1s\n* x\n"


def test_custom_functions_and_their_errors() -> None:
    def fails(x: int) -> int:
        raise ValueError(f"cannot use {x}")

    t = Template("t", {"double": lambda x: x * 2, "fails": fails})
    assert t.parse("{{ double 21 }} {{ 4 | double }}").execute(None) == "42 8"
    with pytest.raises(TemplateExecError) as info:
        Template("t", {"fails": fails}).parse("ab\n  {{ fails 3 }}").execute(None)
    err = info.value
    assert err.reason == "error calling fails: cannot use 3"
    assert err.template == "t"
    assert err.position is not None
    assert (err.position.line, err.position.col) == (2, 6)
    assert str(err) == 't:2:6: executing "t" at <fails>: error calling fails: cannot use 3'
    with pytest.raises(TemplateExecError, match="wrong number of args for double: want 1 got 2"):
        Template("t", {"double": lambda x: x * 2}).parse("{{ double 1 2 }}").execute(None)
    with pytest.raises(TypeError, match="not callable"):
        Template("t", {"x": 1})  # type: ignore[dict-item]


EXEC_ERRORS: list[tuple[str, Any, str]] = [
    ("{{ index .L 5 }}", {"L": [1]}, "error calling index: index out of range: 5"),
    ("{{ index 1 0 }}", None, "error calling index: can't index item of type int"),
    ("{{ .X.Y }}", {"X": 1}, "can't evaluate field Y in type int"),
    ("{{ .Obj.Missing }}", {"Obj": Obj()}, "can't evaluate field Missing in type Obj"),
    ("{{ .Obj.Fail }}", {"Obj": Obj()}, "error calling Fail: boom"),
    ("{{ .Nil.X }}", {"Nil": None}, "nil pointer evaluating interface {}.X"),
    ("{{ .Map.a 1 }}", {"Map": {"a": 1}}, "a is not a method but has arguments"),
    ("{{ .Obj.Name 1 }}", {"Obj": Obj()}, "Name has arguments but cannot be invoked as function"),
    ("{{ lt 1 1.5 }}", None, "error calling lt: incompatible types for comparison"),
    ('{{ eq 1 "1" }}', None, "error calling eq: incompatible types for comparison"),
    ("{{ lt true false }}", None, "error calling lt: invalid type for comparison"),
    ("{{ len 3 }}", None, "error calling len: len of type int"),
    ("{{ nil }}", None, "nil is not a command"),
    ("{{ 1 2 }}", None, "can't give argument to non-function 1"),
    ("{{ range .S }}{{ end }}", {"S": "abc"}, "range can't iterate over abc"),
    ("{{ call .F }}", {"F": None}, "error calling call: call of nil"),
    ("{{ slice .L 2 1 }}", {"L": [1, 2, 3]}, "error calling slice: invalid slice index: 2 > 1"),
    ('{{ template "missing" }}', None, 'no template "missing" associated with template "t"'),
    (
        '{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}',
        None,
        "exceeded maximum template depth (100)",
    ),
    ("{{ .F }}", {"F": len}, "can't print .F of type builtin_function_or_method"),
]


@pytest.mark.parametrize(("text", "data", "reason"), EXEC_ERRORS, ids=[e[0] for e in EXEC_ERRORS])
def test_execution_errors(text: str, data: Any, reason: str) -> None:
    with pytest.raises(TemplateExecError) as info:
        Template("t").parse(text).execute(data)
    assert info.value.reason == reason
    assert info.value.template == "t"


def test_output_is_capped() -> None:
    t = Template("t").parse("{{ range .N }}{{ $.S }}{{ end }}")
    with pytest.raises(TemplateExecError, match="output exceeds the limit"):
        t.execute({"N": 2000, "S": "x" * 1000})


PARSE_ERRORS: list[tuple[str, str]] = [
    # text, "line:col: message"
    ("{{", "1:1: unclosed action"),
    ("{{ .A ", "1:1: unclosed action"),
    ("ab {{ foo }}", '1:7: function "foo" not defined'),
    ("{{ .A }\n", "1:7: unrecognized character in action: U+007D '}'"),
    ("x\n{{ $x }}", '2:4: undefined variable "$x"'),
    ("{{ $x = 1 }}", '1:4: undefined variable "$x"'),
    ("{{ if 1 }}", "1:11: unexpected EOF"),
    ("{{ end }}", "1:4: unexpected {{end}}"),
    ("{{ else }}", "1:4: unexpected {{else}}"),
    ("{{ break }}", "1:4: {{break}} outside {{range}}"),
    ("{{ range .L }}{{ break 1 }}{{ end }}", '1:24: unexpected "1" in {{break}}'),
    ("{{ }}", "1:4: missing value for command"),
    ("{{ if }}{{ end }}", "1:7: missing value for if"),
    ('{{ "abc }}', "1:4: unterminated quoted string"),
    ("{{ `abc }}", "1:4: unterminated raw quoted string"),
    ("{{ 'a }}", "1:4: unterminated character constant"),
    ('{{ "\\q" }}', "1:4: invalid syntax"),
    ("{{ 3x }}", '1:4: bad number syntax: "3x"'),
    ("{{ .A@ }}", "1:6: bad character U+0040 '@'"),
    ("{{ # }}", "1:4: unrecognized character in action: U+0023 '#'"),
    ("{{ ( .A }}", "1:9: unclosed left paren"),
    ("{{ .A ) }}", "1:7: unexpected right paren"),
    ('{{ .A"x" }}', "1:6: bad character U+0022 '\"'"),
    ('{{ (1)"x" }}', '1:7: unexpected "\\"x\\"" in operand'),
    ("{{ 1 | 2 }}", "1:8: non executable command in pipeline stage 2"),
    ('{{ "a".B }}', '1:4: unexpected . after term "\\"a\\""'),
    ("{{/* x */ y }}", "1:1: comment ends before closing delimiter"),
    ("{{/* x ", "1:1: unclosed comment"),
    ("{{ template x }}", '1:13: unexpected "x" in template clause'),
    (
        '{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}',
        '1:27: template: multiple definition of template "a"',
    ),
    ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "1:24: expected end; found {{else}}"),
    ("{{ $x, $y := 1 }}", "1:6: too many declarations in command"),
    ("{{ range $a, 1 := .L }}{{ end }}", "1:14: range can only initialize variables"),
    ("{{ a: }}", "1:5: expected :="),
]


@pytest.mark.parametrize(("text", "want"), PARSE_ERRORS, ids=[e[0] for e in PARSE_ERRORS])
def test_parse_errors(text: str, want: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template("t", {"a": lambda: 1}).parse(text, source="rules.yml")
    err = info.value
    assert err.position is not None
    assert f"{err.position.line}:{err.position.col}: {err.message}" == want
    assert str(err).startswith("rules.yml:")


def test_failed_parse_leaves_the_set_unchanged() -> None:
    t = Template("t").parse("ok")
    with pytest.raises(TemplateError):
        t.parse('{{ define "x" }}{{ end }}{{ if }}')
    assert t.names() == ["t"]
    assert t.execute(None) == "ok"


def test_nesting_depth_is_bounded() -> None:
    deep = "{{ if 1 }}" * 60 + "x" + "{{ end }}" * 60
    with pytest.raises(TemplateError, match="maximum depth of 50"):
        Template("t").parse(deep)
    parens = "{{ " + "(" * 60 + "1" + ")" * 60 + " }}"
    with pytest.raises(TemplateError, match="maximum depth of 50"):
        Template("t").parse(parens)
    ok = "{{ if 1 }}" * 40 + "x" + "{{ end }}" * 40
    assert expand(ok, None) == "x"


def test_no_value_and_nan_print_like_go() -> None:
    assert expand("{{ . }}", NO_VALUE) == "<no value>"
    assert expand("{{ .A }} {{ .B }} {{ .C }}", {"A": math.nan, "B": math.inf, "C": -math.inf}) == (
        "NaN +Inf -Inf"
    )
    assert expand("{{ . }}", -0.0) == "-0"
    assert expand("{{ . }}", 1e21) == "1e+21"
    assert expand("{{ . }}", 123456.0) == "123456"
    assert expand("{{ . }}", 0.0001) == "0.0001"
