"""The Slack integration against a real local HTTP server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.notify.receivers import DeliveryError, SlackIntegration
from vigil.notify.receivers.config import SlackConfig, SlackField
from vigil.notify.templates import TemplateSet

from ._servers import Reply, http_server
from .conftest import T0, context, firing, notify_once, resolved

pytestmark = pytest.mark.anyio

URL = "http://am.example:9093/#/alerts?receiver=team-api"


async def test_default_message(templates: TemplateSet) -> None:
    with http_server() as srv:
        srv.replies["/services/T/B/X"] = Reply(body=b"ok")
        slack = SlackIntegration(
            SlackConfig(api_url=srv.url("/services/T/B/X"), channel="#alerts"), templates
        )
        await notify_once(slack, context(), [firing(), resolved()])
    (req,) = srv.requests
    assert req.headers["content-type"] == "application/json"
    msg = json.loads(req.body)
    assert msg == {
        "channel": "#alerts",
        "username": "Alertmanager",
        "attachments": [
            {
                "title": "[FIRING:1] HighLatency (api critical)",
                "title_link": URL,
                "text": "",
                "fallback": f"[FIRING:1] HighLatency (api critical) | {URL}",
                "callback_id": "",
                "footer": "",
                "color": "danger",
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }
        ],
    }


async def test_templated_fields_and_resolved_color(templates: TemplateSet) -> None:
    config = SlackConfig(
        api_url="http://unused",
        channel="#{{ .CommonLabels.service }}",
        title="{{ .Status | title }}: {{ .CommonLabels.alertname }}",
        text="{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
        icon_emoji=":fire:",
        footer="vigil",
        link_names=True,
        short_fields=True,
        fields=(
            SlackField("Severity", "{{ .CommonLabels.severity }}"),
            SlackField("Count", "{{ len .Alerts }}", short=False),
        ),
    )
    slack = SlackIntegration(config, templates)
    msg = slack.payload(context(), [resolved()])
    att = msg["attachments"][0]
    assert msg["channel"] == "#api"
    assert msg["icon_emoji"] == ":fire:"
    assert msg["link_names"] is True
    assert att["title"] == "Resolved: HighLatency"
    assert att["text"] == "p99 > 1s\n"
    assert att["color"] == "good"
    assert att["footer"] == "vigil"
    assert att["fields"] == [
        {"title": "Severity", "value": "critical", "short": True},
        {"title": "Count", "value": "1", "short": False},
    ]


async def test_title_is_truncated_to_1024_characters(templates: TemplateSet) -> None:
    slack = SlackIntegration(SlackConfig(api_url="http://x", title="é" * 2000), templates)
    title = slack.payload(context(), [firing()])["attachments"][0]["title"]
    assert len(title) == 1024
    assert title.endswith("é…")


@pytest.mark.parametrize(
    ("reply", "retry", "needle"),
    [
        (Reply(body=b"invalid_token"), False, "invalid_token"),
        (Reply(status=404, body=b"no_service"), False, "unexpected status code 404"),
        (Reply(status=500, body=b"oops"), True, "unexpected status code 500"),
        (
            Reply(
                body=b'{"ok":false,"error":"channel_not_found"}', content_type="application/json"
            ),
            False,
            "channel_not_found",
        ),
        (Reply(body=b"{not json", content_type="application/json"), True, "could not parse"),
    ],
)
async def test_error_responses(
    templates: TemplateSet, reply: Reply, retry: bool, needle: str
) -> None:
    with http_server() as srv:
        srv.replies["/"] = reply
        slack = SlackIntegration(SlackConfig(api_url=srv.url("/"), channel="#c"), templates)
        with pytest.raises(DeliveryError) as info:
            await notify_once(slack, context(), [firing()])
    assert info.value.retry is retry
    assert needle in str(info.value)
    assert "'#c'" in str(info.value)


async def test_json_ok_and_api_url_file(templates: TemplateSet, tmp_path: Path) -> None:
    with http_server() as srv:
        srv.replies["/api/chat.postMessage"] = Reply(
            body=b'{"ok":true,"ts":"1.2"}', content_type="application/json; charset=utf-8"
        )
        path = tmp_path / "url"
        path.write_text(srv.url("/api/chat.postMessage") + "\n")
        await notify_once(
            SlackIntegration(SlackConfig(api_url_file=str(path)), templates), context(), [firing()]
        )
    assert len(srv.requests) == 1


async def test_template_error_is_not_retryable(templates: TemplateSet) -> None:
    slack = SlackIntegration(SlackConfig(api_url="http://x", text="{{ .Nope.Deeper }}"), templates)
    with pytest.raises(DeliveryError, match="rendering text") as info:
        await notify_once(slack, context(now=T0), [firing()])
    assert info.value.retry is False
