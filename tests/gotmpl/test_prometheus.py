"""Prometheus's template functions, with expected outputs from upstream's
template_test.go, and real-world rule annotations from the seed documents."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from vigil.gotmpl import GoTime, Template, TemplateError, TemplateExecError, expand
from vigil.gotmpl.prometheus import (
    QueryResultSample,
    prometheus_funcs,
    re_replace_all,
    strip_domain,
    strip_port,
)

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
EXTERNAL_URL = "http://testhost:9090/path/prefix"

# Prometheus prepends these to every alerting rule template (rules/alerting.go).
RULE_PREAMBLE = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)


def _vector(*samples: tuple[dict[str, str], float]) -> list[QueryResultSample]:
    return [QueryResultSample(Labels=labels, Value=value) for labels, value in samples]


METRIC_A = ({"__name__": "metric", "instance": "a"}, 11.0)
METRIC_B = ({"__name__": "metric", "instance": "b"}, 21.0)

# (text, data, query result, expected output) from prometheus/template/template_test.go
UPSTREAM: list[tuple[str, Any, list[QueryResultSample], str]] = [
    ("plain text", None, [], "plain text"),
    ("{{ 1 }}", None, [], "1"),
    ('{{ "<b>" }}', None, [], "<b>"),
    ('{{ "<b>" | safeHtml }}', None, [], "<b>"),
    ('{{define "x"}}{{.arg0}} {{.arg1}}{{end}}{{template "x" (args 1 "2")}}', None, [], "1 2"),
    ('{{ query "1.5" | first | value }}', None, _vector(({}, 1.5)), "1.5"),
    ("{{ query \"metric{instance='a'}\" | first | value }}", None, _vector(METRIC_A), "11"),
    (
        '{{ query "metric{instance=\'a\'}" | first | label "instance" }}',
        None,
        _vector(METRIC_A),
        "a",
    ),
    ('{{ query "metric{instance=\'a\'}" | first | label "foo" }}', None, _vector(METRIC_A), ""),
    ('{{ $x := query "metric" | first }}{{ $x.Labels.foo }}', None, _vector(METRIC_A), ""),
    (
        '{{ range query "metric" | sortByLabel "instance" }}{{.Labels.instance}}:{{.Value}}: {{end}}',
        None,
        _vector(METRIC_B, METRIC_A),
        "a:11: b:21: ",
    ),
    ('{{ reReplaceAll "(a)b" "x$1" "ab" }}', None, [], "xa"),
    (
        "{{ range . }}{{ humanize . }}:{{ end }}",
        [0.0, 1.0, 1234567.0, 0.12],
        [],
        "0:1:1.235M:120m:",
    ),
    (
        "{{ range . }}{{ humanize1024 . }}:{{ end }}",
        [0.0, 1.0, 1048576.0, 0.12],
        [],
        "0:1:1Mi:0.12:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99],
        [],
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345],
        [],
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
        "{{humanizeTimestamp .}}:{{ end }}",
        [math.inf, -math.inf, math.nan],
        [],
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    ),
    (
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
        "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
        None,
        [],
        "-22.22%:0%:12.35%:123.5%",
    ),
    ("{{ 1435065584.128 | humanizeTimestamp }}", None, [], "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ "1435065584.128" | humanizeTimestamp }}', None, [], "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ humanize 1234567 }} {{ humanize "1234567" }}', None, [], "1.235M 1.235M"),
    ('{{ "aa bb CC" | title }}', None, [], "Aa Bb CC"),
    ('{{ "aa bb CC" | toUpper }}', None, [], "AA BB CC"),
    ('{{ "aA bB CC" | toLower }}', None, [], "aa bb cc"),
    ('{{ match "a+" "aa" }} {{ match "a+" "b" }}', None, [], "true false"),
    ('{{ graphLink "up" }}', None, [], "/graph?g0.expr=up&g0.tab=0"),
    ('{{ tableLink "up" }}', None, [], "/graph?g0.expr=up&g0.tab=1"),
    (
        '{{ graphLink "rate(x{a=\\"b\\"}[5m])" }}',
        None,
        [],
        "/graph?g0.expr=rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29&g0.tab=0",
    ),
    ("{{ pathPrefix }}", None, [], "/path/prefix"),
    ("{{ externalURL }}", None, [], EXTERNAL_URL),
    ('{{ parseDuration "1h2m10ms" }}', None, [], "3720.01"),
    ("{{ 1435065584.128 | toTime }}", None, [], "2015-06-23 13:19:44.128 +0000 UTC"),
    (
        '{{ (toTime 1435065584).Format "2006-01-02T15:04:05Z07:00" }}',
        None,
        [],
        "2015-06-23T13:19:44Z",
    ),
    ("{{ (toTime 1435065584.5).Unix }}", None, [], "1435065584"),
    ('{{ "foo.example.com:12345" | stripDomain }}', None, [], "foo:12345"),
    ('{{ "192.168.0.1:9090" | stripPort }}', None, [], "192.168.0.1"),
    (
        '{{ with query "up" }}{{ . | first | strvalue }}{{ end }}',
        None,
        _vector(({"__value__": "x"}, 0.0)),
        "x",
    ),
    (
        "{{ humanizeDuration 90061 }} {{ humanize 0.001234 }} {{ humanizePercentage 0.1234 }}",
        None,
        [],
        "1d 1h 1m 1s 1.234m 12.34%",
    ),
]


@pytest.mark.parametrize(
    ("text", "data", "result", "want"), UPSTREAM, ids=[u[0][:60] for u in UPSTREAM]
)
def test_upstream_expansions(
    text: str, data: Any, result: list[QueryResultSample], want: str
) -> None:
    queries: list[str] = []

    def query(q: str) -> list[QueryResultSample]:
        queries.append(q)
        return result

    funcs = prometheus_funcs(query, external_url=EXTERNAL_URL)
    assert expand(text, data, funcs, name="test", missingkey="zero") == want
    if "query" in text:
        assert queries


def test_upstream_failures() -> None:
    funcs = prometheus_funcs(lambda q: [], external_url=EXTERNAL_URL)
    with pytest.raises(TemplateExecError) as info:
        expand('{{ query "missing" | first }}', None, funcs, name="test")
    assert info.value.reason == "error calling first: first() called on vector with no elements"
    assert str(info.value).startswith('test:1:22: executing "test" at <first>')
    with pytest.raises(TemplateExecError, match="can't evaluate field banana in type"):
        expand('{{ (query "missing").banana }}', None, funcs, name="test")
    with pytest.raises(TemplateError, match="unclosed action"):
        expand("{{", None, funcs)
    with pytest.raises(TemplateError, match="unrecognized character in action: U\\+00A0"):
        expand("{{\u00a0}}", None, funcs)
    with pytest.raises(TemplateExecError, match="can't convert bool to float"):
        expand("{{ humanize true }}", None, funcs)
    with pytest.raises(
        TemplateExecError, match=re.escape('strconv.ParseFloat: parsing "abc": invalid syntax')
    ):
        expand('{{ humanize "abc" }}', None, funcs)
    with pytest.raises(TemplateExecError, match="error parsing regexp"):
        expand('{{ match "(" "x" }}', None, funcs)
    with pytest.raises(TemplateExecError, match="not a valid duration string"):
        expand('{{ parseDuration "1x" }}', None, funcs)
    with pytest.raises(TemplateExecError, match="value is NaN or Inf"):
        expand("{{ toTime .V }}", {"V": math.nan}, funcs)
    with pytest.raises(TemplateExecError, match="overflows int64"):
        expand("{{ humanizeTimestamp 1e20 }}", None, funcs)
    with pytest.raises(TemplateExecError, match="no query engine"):
        expand('{{ query "up" }}', None, prometheus_funcs())


@pytest.mark.parametrize(
    ("pattern", "repl", "text", "want"),
    [
        ("a*", "-", "baaac", "-b-c-"),
        ("x*", "-", "abc", "-a-b-c-"),
        ("(?P<host>[^:]+):(\\d+)", "${host} on $2", "web:80", "web on 80"),
        ("(\\w+)", "$1x", "ab", ""),  # $1x names group "1x": empty, as in Go
        ("(\\w+)", "${1}x", "ab", "abx"),
        ("b", "$$", "abc", "a$c"),
        ("^(.*)$", "<$1>", "héllo", "<héllo>"),
    ],
)
def test_re_replace_all_expands_like_go(pattern: str, repl: str, text: str, want: str) -> None:
    assert re_replace_all(pattern, repl, text) == want


@pytest.mark.parametrize(
    ("host_port", "port_stripped", "domain_stripped"),
    [
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("foo.example.com", "foo.example.com", "foo"),
        ("192.168.0.1:9090", "192.168.0.1", "192.168.0.1:9090"),
        ("[2001:db8::1]:80", "2001:db8::1", "[2001:db8::1]:80"),
        ("2001:db8::1", "2001:db8::1", "2001:db8::1"),
        ("localhost:", "localhost", "localhost"),
    ],
)
def test_strip_port_and_domain(host_port: str, port_stripped: str, domain_stripped: str) -> None:
    assert strip_port(host_port) == port_stripped
    assert strip_domain(host_port) == domain_stripped


def test_gotime_formats() -> None:
    t = GoTime(1435065584_128_000_000)
    assert t.Format("Mon Jan _2 15:04:05.000 MST 2006") == "Tue Jun 23 13:19:44.128 UTC 2015"
    assert t.Format("02/01/06 03:04PM .999 -07:00") == "23/06/15 01:19PM .128 +00:00"
    assert (t.Year(), t.Month(), t.Day(), t.UnixMilli()) == (2015, 6, 23, 1435065584128)


def _rule_data(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"Labels": labels, "ExternalLabels": {}, "ExternalURL": EXTERNAL_URL, "Value": value}


def _seed_annotations() -> list[tuple[str, str, str]]:
    found = []
    line_re = re.compile(
        r"^\s*(summary|description|title|text|legendFormat|\"legendFormat\"):\s*(.*)$"
    )
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(errors="replace").splitlines():
            m = line_re.match(line)
            if m and "{{" in m.group(2):
                value = m.group(2).strip().rstrip(",")
                if value[:1] in "'\"" and value[-1:] == value[:1]:
                    value = value[1:-1]
                found.append((path.name, m.group(1), value))
    return found


def test_seed_rule_annotations_expand() -> None:
    annotations = _seed_annotations()
    assert len(annotations) >= 15, annotations
    funcs = prometheus_funcs(external_url=EXTERNAL_URL)
    labels = {"alertname": "X", "job": "api", "queue": "emails", "mountpoint": "/data"}
    am_data = {
        "GroupLabels": {"alertname": "HighErrorRate"},
        "Alerts": [{"Annotations": {"description": "Error rate is 0.5 errors/sec"}}],
    }
    for seed, key, text in annotations:
        if ".Alerts" in text or ".GroupLabels" in text:
            out = expand(text, am_data, funcs, name=f"{seed}:{key}")
            assert out in ("HighErrorRate", "Error rate is 0.5 errors/sec"), (seed, text, out)
        elif "$" in text:
            t = Template(f"{seed}:{key}", funcs, missingkey="zero").parse(RULE_PREAMBLE + text)
            out = t.execute(_rule_data(labels, 0.0523))
            assert "{{" not in out, (seed, text, out)
            assert "<no value>" not in out, (seed, text, out)
        else:
            # Grafana legend formats ({{method}}) are not Go templates: Go rejects them too.
            with pytest.raises(TemplateError, match='function "method" not defined'):
                Template("legend", funcs).parse(text)


def test_seed_examples_give_prometheus_output() -> None:
    funcs = prometheus_funcs(external_url=EXTERNAL_URL)

    def rule(text: str, value: float, **labels: str) -> str:
        t = Template("rule", funcs, missingkey="zero").parse(RULE_PREAMBLE + text)
        return t.execute(_rule_data(labels, value))

    assert rule("Error rate is {{ $value }} errors/sec", 0.25) == "Error rate is 0.25 errors/sec"
    assert (
        rule("Only {{ $value | humanizePercentage }} remaining", 0.0523) == "Only 5.23% remaining"
    )
    assert rule("Service {{ $labels.job }} is down", 0, job="api") == "Service api is down"
    assert rule("Celery queue {{ $labels.queue }} has backlog", 1, queue="q1") == (
        "Celery queue q1 has backlog"
    )
    assert rule("{{ $value }} connections active", 1500000.0) == "1.5e+06 connections active"
    assert rule("Last ETL run was {{ $value }}s ago", 90061.0) == "Last ETL run was 90061s ago"
    assert rule("{{ $labels.nope }}|{{ $externalURL }}", 0) == "|" + EXTERNAL_URL
    assert (
        rule(
            "{{ $value | humanizeDuration }} on {{ $labels.instance | stripPort }}",
            90061,
            instance="h:1",
        )
        == "1d 1h 1m 1s on h"
    )
