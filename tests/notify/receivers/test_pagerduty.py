"""The PagerDuty integration (Events API v2, and v1) against a real local HTTP server."""

from __future__ import annotations

import hashlib
import json

import pytest

from vigil.notify.receivers import DeliveryError, PagerdutyIntegration
from vigil.notify.receivers.config import PagerdutyConfig, PagerdutyImage, PagerdutyLink
from vigil.notify.templates import TemplateSet

from ._servers import Reply, http_server
from .conftest import GROUP_KEY, context, firing, notify_once, resolved

pytestmark = pytest.mark.anyio

URL = "http://am.example:9093/#/alerts?receiver=team-api"
FIRING_TEXT = (
    "Labels:\n"
    " - alertname = HighLatency\n"
    " - instance = 10.0.0.1:9090\n"
    " - service = api\n"
    " - severity = critical\n"
    "Annotations:\n"
    " - summary = p99 > 1s\n"
    "Source: http://prom:9090/graph?g0.expr=x\n"
)


async def test_trigger_event(templates: TemplateSet) -> None:
    with http_server() as srv:
        srv.replies["/v2/enqueue"] = Reply(status=202, body=b'{"status":"success"}')
        pd = PagerdutyIntegration(
            PagerdutyConfig(routing_key="rk-1", url=srv.url("/v2/enqueue")), templates
        )
        await notify_once(pd, context(), [firing()])
    (req,) = srv.requests
    msg = json.loads(req.body)
    assert msg == {
        "routing_key": "rk-1",
        "dedup_key": hashlib.sha256(GROUP_KEY.encode()).hexdigest(),
        "event_action": "trigger",
        "payload": {
            "summary": "[FIRING:1] HighLatency (10.0.0.1:9090 api critical)",
            "source": "Alertmanager",
            "severity": "error",
            "custom_details": {
                "firing": FIRING_TEXT,
                "resolved": "",
                "num_firing": "1",
                "num_resolved": "0",
            },
        },
        "client": "Alertmanager",
        "client_url": URL,
    }
    assert list(msg) == [
        "routing_key",
        "dedup_key",
        "event_action",
        "payload",
        "client",
        "client_url",
    ]


async def test_resolve_event_and_options(templates: TemplateSet) -> None:
    config = PagerdutyConfig(
        routing_key="{{ .CommonLabels.service }}-key",
        severity="{{ .CommonLabels.severity }}",
        source="{{ .CommonLabels.instance }}",
        class_="latency",
        component="api",
        group="prod",
        details=(("runbook", "{{ .CommonAnnotations.runbook }}"),),
        images=(PagerdutyImage(src="https://img/{{ .Status }}.png", alt="graph"), PagerdutyImage()),
        links=(PagerdutyLink(href="https://dash", text="dashboard"), PagerdutyLink(text="no href")),
    )
    msg = PagerdutyIntegration(config, templates).payload(context(), [resolved()])
    assert msg["event_action"] == "resolve"
    assert msg["routing_key"] == "api-key"
    assert msg["payload"] == {
        "summary": "[RESOLVED] HighLatency (10.0.0.2:9090 api critical)",
        "source": "10.0.0.2:9090",
        "severity": "critical",
        "class": "latency",
        "component": "api",
        "group": "prod",
        "custom_details": {"runbook": "https://runbooks/latency"},
    }
    assert msg["images"] == [{"src": "https://img/resolved.png", "alt": "graph", "href": ""}]
    assert msg["links"] == [{"href": "https://dash", "text": "dashboard"}]


async def test_summary_truncated_and_huge_details_dropped(templates: TemplateSet) -> None:
    config = PagerdutyConfig(
        routing_key="rk", description="x" * 2000, details=(("big", "y" * 600_000),)
    )
    pd = PagerdutyIntegration(config, templates)
    msg = pd.payload(context(), [firing()])
    assert len(msg["payload"]["summary"]) == 1024
    assert msg["payload"]["summary"].endswith("x…")
    body = json.loads(pd.encode(msg))
    assert body["payload"]["custom_details"] == {
        "error": "Custom details have been removed because the original event exceeds "
        "the maximum size of 512KB"
    }


@pytest.mark.parametrize(
    ("reply", "retry", "needle"),
    [
        (
            Reply(
                status=400,
                body=b'{"status":"invalid event","message":"Event object is invalid",'
                b'"errors":["Length of \'routing_key\' is incorrect"]}',
            ),
            False,
            "400: Event object is invalid: Length of 'routing_key' is incorrect",
        ),
        (Reply(status=429), True, "unexpected status code 429"),
        (Reply(status=502), True, "unexpected status code 502"),
        (Reply(status=403), False, "unexpected status code 403"),
    ],
)
async def test_responses(templates: TemplateSet, reply: Reply, retry: bool, needle: str) -> None:
    with http_server() as srv:
        srv.replies["/"] = reply
        pd = PagerdutyIntegration(PagerdutyConfig(routing_key="rk", url=srv.url("/")), templates)
        with pytest.raises(DeliveryError) as info:
            await notify_once(pd, context(), [firing()])
    assert info.value.retry is retry
    assert needle in str(info.value)


async def test_empty_routing_key_is_an_error(templates: TemplateSet) -> None:
    pd = PagerdutyIntegration(PagerdutyConfig(routing_key="{{ .CommonLabels.nope }}"), templates)
    with pytest.raises(DeliveryError, match="routing key cannot be empty") as info:
        await notify_once(pd, context(), [firing()])
    assert info.value.retry is False


async def test_v1_service_key(templates: TemplateSet) -> None:
    with http_server() as srv:
        srv.replies["/"] = Reply(status=403)
        pd = PagerdutyIntegration(PagerdutyConfig(service_key="sk", url=srv.url("/")), templates)
        with pytest.raises(DeliveryError) as info:
            await notify_once(pd, context(), [firing()])
    assert info.value.retry is True  # v1 rate-limits with 403
    msg = json.loads(srv.requests[0].body)
    assert msg["service_key"] == "sk"
    assert msg["event_type"] == "trigger"
    assert msg["incident_key"] == hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert msg["description"] == "[FIRING:1] HighLatency (10.0.0.1:9090 api critical)"
    assert msg["client"] == "Alertmanager"
    assert msg["details"]["num_firing"] == "1"
