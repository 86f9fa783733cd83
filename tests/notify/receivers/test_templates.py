"""The template data model, Alertmanager's functions, the default texts, user template files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigil.config.errors import ConfigError
from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.notify.templates import (
    KV,
    GoDuration,
    GoTime,
    TemplateRenderError,
    TemplateSet,
    go_format,
    rfc3339nano,
)

from .conftest import T0, firing, resolved


def _data(ts: TemplateSet, alerts: list[Alert], group: Labels, **kw: Any) -> Any:
    return ts.data(
        receiver="team-api",
        group_labels=group,
        alerts=alerts,
        now=T0,
        external_url="http://am.example:9093",
        **kw,
    )


def _alert(**labels: str) -> Alert:
    return Alert(Labels(**labels), starts_at=T0 - 60)


@pytest.mark.parametrize(
    ("alerts", "group", "subject"),
    [
        (
            [
                _alert(alertname="HighLatency", service="api", severity="critical", instance="a"),
                _alert(alertname="HighLatency", service="api", severity="critical", instance="b"),
            ],
            Labels(alertname="HighLatency"),
            "[FIRING:2] HighLatency (api critical)",
        ),
        # nothing common beyond the group labels: Alertmanager leaves a trailing space
        ([_alert(alertname="A", job="x")], Labels(alertname="A", job="x"), "[FIRING:1] A x "),
        # alertname sorts first among the group labels
        ([_alert(alertname="Z", a="1")], Labels(a="1", alertname="Z"), "[FIRING:1] Z 1 "),
        ([_alert(alertname="A", job="x")], Labels(), "[FIRING:1]  (A x)"),
        (
            [Alert(Labels(alertname="A", job="x"), starts_at=T0 - 60, ends_at=T0 - 1)],
            Labels(alertname="A"),
            "[RESOLVED] A (x)",
        ),
    ],
)
def test_subject(templates: TemplateSet, alerts: list[Alert], group: Labels, subject: str) -> None:
    data = _data(templates, alerts, group)
    assert templates.execute("__subject", data) == subject
    assert templates.expand('{{ template "email.default.subject" . }}', data) == subject
    assert templates.expand('{{ template "pagerduty.default.description" .}}', data) == subject


def test_default_slack_and_pagerduty_texts(templates: TemplateSet) -> None:
    data = _data(templates, [firing(), resolved()], Labels(alertname="HighLatency"))
    url = "http://am.example:9093/#/alerts?receiver=team-api"
    assert templates.execute("slack.default.titlelink", data) == url
    assert templates.execute("pagerduty.default.clientURL", data) == url
    assert templates.execute("slack.default.username", data) == "Alertmanager"
    assert templates.execute("pagerduty.default.client", data) == "Alertmanager"
    assert templates.execute("slack.default.fallback", data) == (
        f"[FIRING:1] HighLatency (api critical) | {url}"
    )
    for empty in ("text", "pretext", "callbackid", "iconemoji", "iconurl", "footer"):
        assert templates.execute(f"slack.default.{empty}", data) == ""
    assert templates.execute("__description", data) == ""
    assert templates.expand('{{ template "__text_alert_list" .Alerts.Resolved }}', data) == (
        "Labels:\n"
        " - alertname = HighLatency\n"
        " - instance = 10.0.0.2:9090\n"
        " - service = api\n"
        " - severity = critical\n"
        "Annotations:\n"
        " - runbook = https://runbooks/latency\n"
        " - summary = p99 > 1s\n"
        "Source: \n"
    )


def test_receiver_is_query_escaped_in_the_alertmanager_url(templates: TemplateSet) -> None:
    data = templates.data(
        receiver="a b&c", group_labels=Labels(), alerts=[firing()], now=T0, external_url="http://x"
    )
    assert templates.execute("__alertmanagerURL", data) == "http://x/#/alerts?receiver=a+b%26c"


def test_data_model(templates: TemplateSet) -> None:
    data = _data(templates, [firing(), resolved()], Labels(alertname="HighLatency"))
    assert data.Status == "firing"
    assert [a.Status for a in data.Alerts] == ["firing", "resolved"]
    assert len(data.Alerts.Firing()) == 1
    assert len(data.Alerts.Resolved()) == 1
    assert data.CommonLabels == {
        "alertname": "HighLatency",
        "service": "api",
        "severity": "critical",
    }
    assert data.CommonAnnotations == {"summary": "p99 > 1s"}
    assert data.CommonLabels.SortedPairs().Names() == ["alertname", "service", "severity"]
    assert data.CommonLabels.Remove(["alertname"]).Values() == ["api", "critical"]
    assert data.Alerts[0].EndsAt.IsZero()
    assert str(data.Alerts[1].EndsAt) == "2023-11-14 22:13:10 +0000 UTC"
    expand = templates.expand
    assert expand('{{ .CommonLabels.nope }}|{{ index .CommonLabels "nope" }}|', data) == "||"
    assert expand("{{ range .CommonLabels.SortedPairs }}{{ .Name }},{{ end }}", data) == (
        "alertname,service,severity,"
    )
    assert expand("{{ range .Alerts }}{{ .Labels.instance }} {{ end }}", data) == (
        "10.0.0.1:9090 10.0.0.2:9090 "
    )
    assert expand('{{ (index .Alerts 1).StartsAt.Format "15:04:05.000" }}', data) == "22:08:19.750"
    assert expand("{{ (index .Alerts 0).StartsAt.Unix }}", data) == str(int(T0 - 300))
    assert expand("{{ (index .Alerts 0).Fingerprint }}", data) == (f"{firing().fingerprint:016x}")


def test_kv_sorted_pairs_put_alertname_first() -> None:
    kv = KV({"b": "2", "alertname": "X", "a": "1"})
    assert kv.Names() == ["alertname", "a", "b"]
    assert kv.Values() == ["X", "1", "2"]


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ('{{ "abc" | toUpper }}', "ABC"),
        ('{{ "ABC" | toLower }}', "abc"),
        ('{{ "hello wORLD-foo_bar" | title }}', "Hello WORLD-Foo_bar"),
        ('{{ "  x \\n" | trimSpace }}', "x"),
        ('{{ stringSlice "a" "b" | join ", " }}', "a, b"),
        ('{{ match "^api-[0-9]+$" "api-12" }} {{ match "api" "xx" }}', "true false"),
        ('{{ reReplaceAll "(.*):.*" "$1" "host:9090" }}', "host"),
        ('{{ reReplaceAll "(?P<h>[a-z]+):(\\\\d+)" "${2}/${h}" "web:80" }}', "80/web"),
        ('{{ reReplaceAll "(a)" "$1x" "a" }}', ""),  # Go reads $1x as the group named "1x"
        ('{{ reReplaceAll "a*" "-" "baaac" }}', "-b-c-"),
        ('{{ reReplaceAll "x" "$$" "axb" }}', "a$b"),
        ('{{ "a%20b+c" | urlUnescape }}', "a b c"),
        ('{{ "<b>" | safeHtml }}', "<b>"),
        ('{{ "<b>" | html }}', "&lt;b&gt;"),
        ("{{ humanizeDuration 90061 }}", "1d 1h 1m 1s"),
        ("{{ humanizeDuration 3600 }}", "1h 0m 0s"),
        ("{{ humanizeDuration 61 }}", "1m 1s"),
        ("{{ humanizeDuration 1.5 }}", "1.5s"),
        ("{{ humanizeDuration 0.0012 }}", "1.2ms"),
        ("{{ humanizeDuration 0 }}", "0s"),
        ('{{ humanizeDuration "-90" }}', "-1m 30s"),
    ],
)
def test_functions(templates: TemplateSet, text: str, out: str) -> None:
    assert templates.expand(text, {}) == out


def test_time_functions(templates: TemplateSet) -> None:
    data = _data(templates, [firing()], Labels(alertname="HighLatency"))
    expand = templates.expand
    first = "(index .Alerts 0).StartsAt"
    assert expand(f'{{{{ date "2006-01-02 15:04:05 MST" {first} }}}}', data) == (
        "2023-11-14 22:08:20 UTC"
    )
    assert expand(f'{{{{ {first} | tz "Europe/Paris" | date "Jan 2 15:04 -07:00" }}}}', data) == (
        "Nov 14 23:08 +01:00"
    )
    assert expand(f'{{{{ (tz "Asia/Kolkata" {first}) }}}}', data) == (
        "2023-11-15 03:38:20 +0530 IST"
    )
    # since() measures against the set's clock (T0): the alert started 5 minutes before
    assert expand(f"{{{{ since {first} }}}}", data) == "5m0s"
    assert expand(f"{{{{ (since {first}).Seconds }}}}", data) == "300"
    assert expand(f"{{{{ since {first} | humanizeDuration }}}}", data) == "5m 0s"
    with pytest.raises(TemplateRenderError, match="unknown time zone Mars/Base"):
        expand(f'{{{{ tz "Mars/Base" {first} }}}}', data)


@pytest.mark.parametrize(
    ("layout", "out"),
    [
        ("2006-01-02T15:04:05Z07:00", "2023-11-14T22:08:19Z"),
        ("Mon Jan _2 3:04:05.000 PM 2006", "Tue Nov 14 10:08:19.750 PM 2023"),
        ("Monday, 02-Jan-06 15:04:05.999999 -0700", "Tuesday, 14-Nov-23 22:08:19.75 +0000"),
        ("January 2 002 pm", "November 14 318 pm"),
        ("15h04", "22h08"),
    ],
)
def test_go_layouts(layout: str, out: str) -> None:
    t = GoTime.from_unix(T0 - 300.25)
    assert t.Format(layout) == out
    assert go_format(t.dt, layout) == out


def test_go_time_and_duration_printing() -> None:
    assert rfc3339nano(GoTime.zero()) == "0001-01-01T00:00:00Z"
    assert rfc3339nano(GoTime.from_unix(T0 + 0.5)) == "2023-11-14T22:13:20.5Z"
    assert str(GoTime.zero()) == "0001-01-01 00:00:00 +0000 UTC"
    assert [str(GoDuration.from_seconds(s)) for s in (0, 0.0000005, 0.0015, 1.5, 61, 7200.25)] == [
        "0s",
        "500ns",
        "1.5ms",
        "1.5s",
        "1m1s",
        "2h0m0.25s",
    ]


def test_html_data_escapes_every_value(templates: TemplateSet) -> None:
    evil = Alert(
        Labels(alertname="<script>x</script>", team='"q"&'),
        {"summary": "<img src=x onerror=alert(1)>"},
        starts_at=T0 - 60,
        generator_url="javascript:alert(1)",
    )
    data = _data(templates, [evil], Labels(alertname="<script>x</script>"), html=True)
    out = templates.expand(
        "{{ .CommonLabels.alertname }} {{ .CommonLabels.team }} {{ .CommonAnnotations.summary }} "
        "{{ .CommonLabels.team | html }} {{ (index .Alerts 0).GeneratorURL }} "
        "{{ .CommonAnnotations.summary | safeHtml }}",
        data,
    )
    assert out == (
        "&lt;script&gt;x&lt;/script&gt; &quot;q&quot;&amp; &lt;img src=x onerror=alert(1)&gt; "
        "&quot;q&quot;&amp; #ZgotmplZ &lt;img src=x onerror=alert(1)&gt;"
    )
    page = templates.execute("email.default.html", data)
    assert "<script>" not in page
    assert "<img" not in page
    assert "javascript:" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page


def test_user_file_overrides_a_default(tmp_path: Path) -> None:
    (tmp_path / "a.tmpl").write_text(
        '{{ define "slack.default.title" }}{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}'
        "{{ end }}\n"
        '{{ define "my.extra" }}extra {{ len .Alerts }}{{ end }}\n'
    )
    (tmp_path / "ignored.txt").write_text("{{ oops")
    ts = TemplateSet.load(["*.tmpl"], base_dir=tmp_path, clock=lambda: T0)
    assert ts.files == (str(tmp_path / "a.tmpl"),)
    data = _data(ts, [firing()], Labels(alertname="HighLatency"))
    assert ts.expand('{{ template "slack.default.title" . }}', data) == "FIRING: HighLatency"
    assert ts.expand('{{ template "my.extra" . }}', data) == "extra 1"
    # the defaults that were not redefined are still there
    assert ts.execute("__subject", data) == "[FIRING:1] HighLatency (10.0.0.1:9090 api critical)"
    assert "my.extra" in ts.names()
    # a glob that matches nothing is fine, as in Alertmanager
    TemplateSet.load([str(tmp_path / "none" / "*.tmpl")])


def test_a_template_that_does_not_compile_names_file_and_position(tmp_path: Path) -> None:
    good = tmp_path / "good.tmpl"
    good.write_text('{{ define "x" }}x{{ end }}\n')
    bad = tmp_path / "bad.tmpl"
    bad.write_text('{{ define "y" }}\nline two {{ .Foo | nosuchfunc }}\n{{ end }}\n')
    with pytest.raises(ConfigError) as info:
        TemplateSet.load([str(tmp_path / "*.tmpl")])
    (problem,) = info.value.problems
    assert problem.source == str(bad)
    assert problem.position is not None
    assert problem.position.line == 2
    assert str(problem).startswith(f"{bad}:2:")
    assert "nosuchfunc" in str(problem)


def test_expand_errors_name_the_field(templates: TemplateSet) -> None:
    with pytest.raises(TemplateRenderError, match=r"^title: .*unclosed|^title: "):
        templates.expand("{{ .Status ", {}, field="title")
    with pytest.raises(TemplateRenderError, match="title"):
        templates.expand('{{ template "nope" . }}', {}, field="title")


def test_plain_text_is_returned_as_is(templates: TemplateSet) -> None:
    assert templates.expand("", {}) == ""
    assert templates.expand("#alerts", {}) == "#alerts"
