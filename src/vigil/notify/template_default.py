"""Vigil's default notification templates: every name Alertmanager's ``default.tmpl`` defines.

Written for vigil, producing the texts Alertmanager's defaults produce, so
configs that reference them (or override them) work unchanged.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TEMPLATES"]

_HTML_CELL = "padding:12px 20px;border-top:1px solid #d8dee4;vertical-align:top;"

DEFAULT_TEMPLATES = (
    r"""
{{- /*
  Vigil's default notification templates. Every name Alertmanager's default.tmpl
  defines for webhook, Slack, PagerDuty and e-mail exists here and renders the
  same text, so configs that reference them (or override them) work unchanged.
*/ -}}

{{ define "__alertmanager" }}Alertmanager{{ end }}

{{ define "__alertmanagerURL" -}}
{{ .ExternalURL }}/#/alerts?receiver={{ urlquery .Receiver }}
{{- end }}

{{- /* "[FIRING:2] HighLatency (api critical)": the status, the group's label values, and
       in parentheses the values of the other labels all alerts share. */}}
{{ define "__subject" -}}
[{{ toUpper .Status }}{{ if eq .Status "firing" }}:{{ len .Alerts.Firing }}{{ end }}]
{{- " " }}{{ join " " .GroupLabels.Values }}{{ " " }}
{{- if gt (len .CommonLabels) (len .GroupLabels) -}}
  ({{ join " " (.CommonLabels.Remove .GroupLabels.Names).Values }})
{{- end }}
{{- end }}

{{ define "__description" }}{{ end }}

{{- /* One block per alert: its labels, its annotations, where it comes from. */}}
{{ define "__text_alert_list" -}}
{{ range . -}}
Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end -}}
Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end -}}
Source: {{ .GeneratorURL }}
{{ end -}}
{{ end }}

{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "slack.default.fallback" -}}
{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}
{{- end }}
{{ define "slack.default.callbackid" }}{{ end }}
{{ define "slack.default.pretext" }}{{ end }}
{{ define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "slack.default.iconemoji" }}{{ end }}
{{ define "slack.default.iconurl" }}{{ end }}
{{ define "slack.default.text" }}{{ end }}
{{ define "slack.default.footer" }}{{ end }}

{{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}

{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}

{{- /* The e-mail body. It is rendered over data whose every string is already
       HTML-escaped (TemplateSet.data(..., html=True)): values print as they are. */}}
{{ define "email.default.html" -}}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ template "__subject" . }}</title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;line-height:1.5;color:#1f2328;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border:1px solid #d8dee4;border-radius:6px;">
<tr><td style="padding:16px 20px;border-radius:6px 6px 0 0;color:#ffffff;font-size:16px;font-weight:600;background:{{ if eq .Status "firing" }}#cf222e{{ else }}#1a7f37{{ end }};">
{{ len .Alerts }} alert{{ if gt (len .Alerts) 1 }}s{{ end }} for {{ range $i, $p := .GroupLabels.SortedPairs }}{{ if $i }}, {{ end }}{{ $p.Name }}={{ $p.Value }}{{ end }}
</td></tr>
<tr><td style="padding:16px 20px;">
<a href="{{ template "__alertmanagerURL" . }}" style="display:inline-block;padding:8px 16px;border-radius:4px;background:#0969da;color:#ffffff;text-decoration:none;font-weight:600;">View in {{ template "__alertmanager" . }}</a>
</td></tr>
{{- if .Alerts.Firing }}
<tr><td style="padding:12px 20px 0;"><strong>[{{ len .Alerts.Firing }}] Firing</strong></td></tr>
{{- template "__email_html_alerts" .Alerts.Firing }}
{{- end }}
{{- if .Alerts.Resolved }}
<tr><td style="padding:12px 20px 0;"><strong>[{{ len .Alerts.Resolved }}] Resolved</strong></td></tr>
{{- template "__email_html_alerts" .Alerts.Resolved }}
{{- end }}
<tr><td style="padding:16px 20px;border-top:1px solid #d8dee4;color:#656d76;font-size:12px;text-align:center;">
<a href="{{ .ExternalURL }}" style="color:#656d76;">Sent by {{ template "__alertmanager" . }}</a>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
{{ end }}

{{ define "__email_html_alerts" -}}
{{ range . }}
<tr><td style="CELL">
<strong>Labels</strong><br>
{{- range .Labels.SortedPairs }}
{{ .Name }} = {{ .Value }}<br>
{{- end }}
{{- if .Annotations }}
<strong>Annotations</strong><br>
{{- range .Annotations.SortedPairs }}
{{ .Name }} = {{ .Value }}<br>
{{- end }}
{{- end }}
{{- if .GeneratorURL }}
<a href="{{ .GeneratorURL }}" style="color:#0969da;">Source</a>
{{- end }}
</td></tr>
{{- end }}
{{- end }}
"""
).replace("CELL", _HTML_CELL)
"""The default templates, parsed before the user's files (which may redefine any of them)."""
