"""The webhook integration against a real local HTTP(S) server."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path

import pytest

from vigil.model import Labels
from vigil.model.alert import Alert, fingerprint
from vigil.notify.receivers import DeliveryError, WebhookIntegration
from vigil.notify.receivers.config import BasicAuth, HTTPClientConfig, TLSConfig, WebhookConfig
from vigil.notify.templates import TemplateSet

from ._servers import Reply, free_port, http_server
from .conftest import GROUP_KEY, T0, context, firing, notify_once, resolved

pytestmark = pytest.mark.anyio


def _hex(labels: Labels) -> str:
    return f"{fingerprint(labels):016x}"


async def test_payload_is_alertmanagers_version_4(templates: TemplateSet) -> None:
    with http_server() as srv:
        hook = WebhookIntegration(WebhookConfig(url=srv.url("/hook")), templates)
        await notify_once(hook, context(), [firing(), resolved()])
    (req,) = srv.requests
    assert req.path == "/hook"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("Vigil/")
    assert req.body.endswith(b"}\n")
    payload = json.loads(req.body)
    assert payload == {
        "receiver": "team-api",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighLatency",
                    "instance": "10.0.0.1:9090",
                    "service": "api",
                    "severity": "critical",
                },
                "annotations": {"summary": "p99 > 1s"},
                "startsAt": "2023-11-14T22:08:20Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom:9090/graph?g0.expr=x",
                "fingerprint": _hex(firing().labels),
            },
            {
                "status": "resolved",
                "labels": {
                    "alertname": "HighLatency",
                    "instance": "10.0.0.2:9090",
                    "service": "api",
                    "severity": "critical",
                },
                "annotations": {"runbook": "https://runbooks/latency", "summary": "p99 > 1s"},
                "startsAt": "2023-11-14T22:08:19.75Z",
                "endsAt": "2023-11-14T22:13:10Z",
                "generatorURL": "",
                "fingerprint": _hex(resolved().labels),
            },
        ],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "service": "api", "severity": "critical"},
        "commonAnnotations": {"summary": "p99 > 1s"},
        "externalURL": "http://am.example:9093",
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
    }
    assert list(payload) == [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ]
    assert len(payload["alerts"][0]["fingerprint"]) == 16


async def test_json_escapes_markup_like_go(templates: TemplateSet) -> None:
    alert = Alert(Labels(alertname="X", q="<a&b>"), starts_at=T0 - 1)
    with http_server() as srv:
        await notify_once(
            WebhookIntegration(WebhookConfig(url=srv.url()), templates),
            context(group_labels=Labels()),
            [alert],
        )
    body = srv.requests[0].body
    assert b"\\u003ca\\u0026b\\u003e" in body
    assert json.loads(body)["commonLabels"]["q"] == "<a&b>"


async def test_max_alerts_truncates(templates: TemplateSet) -> None:
    with http_server() as srv:
        hook = WebhookIntegration(WebhookConfig(url=srv.url(), max_alerts=1), templates)
        await notify_once(hook, context(), [firing(), resolved()])
    payload = json.loads(srv.requests[0].body)
    assert payload["truncatedAlerts"] == 1
    assert [a["labels"]["instance"] for a in payload["alerts"]] == ["10.0.0.1:9090"]
    # the common labels are those of the alerts sent
    assert payload["commonLabels"]["instance"] == "10.0.0.1:9090"


@pytest.mark.parametrize(
    ("status", "retry", "reason"),
    [
        (500, True, "serverError"),
        (503, True, "serverError"),
        (429, True, "clientError"),
        (400, False, "clientError"),
        (404, False, "clientError"),
        (302, False, "other"),
    ],
)
async def test_status_handling(
    templates: TemplateSet, status: int, retry: bool, reason: str
) -> None:
    with http_server() as srv:
        srv.replies["/"] = Reply(status=status, body=b"secret-echo")
        hook = WebhookIntegration(WebhookConfig(url=srv.url("/?token=s3cret")), templates)
        with pytest.raises(DeliveryError) as info:
            await notify_once(hook, context(), [firing()])
    assert info.value.retry is retry
    assert info.value.reason == reason
    assert f"unexpected status code {status}" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert "secret-echo" not in str(info.value)


async def test_2xx_is_success(templates: TemplateSet) -> None:
    with http_server() as srv:
        srv.replies["/"] = Reply(status=204)
        await notify_once(
            WebhookIntegration(WebhookConfig(url=srv.url()), templates), context(), [firing()]
        )
    assert len(srv.requests) == 1


async def test_connection_refused_is_retryable(templates: TemplateSet) -> None:
    hook = WebhookIntegration(
        WebhookConfig(url=f"http://127.0.0.1:{free_port()}/x", timeout=5), templates
    )
    with pytest.raises(DeliveryError) as info:
        await notify_once(hook, context(), [firing()])
    assert info.value.retry is True


async def test_basic_auth_and_bearer(templates: TemplateSet, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("tok-from-file\n")
    url_file = tmp_path / "url"
    with http_server() as srv:
        url_file.write_text(srv.url("/from-file") + "\n")
        basic = HTTPClientConfig(basic_auth=BasicAuth(username="u", password="p w"))
        bearer = HTTPClientConfig(authorization_credentials_file=str(secret))
        await notify_once(
            WebhookIntegration(WebhookConfig(url=srv.url("/basic"), http_config=basic), templates),
            context(),
            [firing()],
        )
        await notify_once(
            WebhookIntegration(
                WebhookConfig(url_file=str(url_file), http_config=bearer), templates
            ),
            context(),
            [firing()],
        )
    first, second = srv.requests
    assert first.headers["authorization"] == "Basic " + base64.b64encode(b"u:p w").decode()
    assert second.path == "/from-file"
    assert second.headers["authorization"] == "Bearer tok-from-file"


async def test_tls_with_ca_file(
    templates: TemplateSet, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    with http_server(tls=server_tls) as srv:
        trusted = HTTPClientConfig(tls_config=TLSConfig(ca_file=ca_file))
        await notify_once(
            WebhookIntegration(WebhookConfig(url=srv.url("/tls"), http_config=trusted), templates),
            context(),
            [firing()],
        )
        assert [r.path for r in srv.requests] == ["/tls"]
        # the system CAs do not know the test CA: retryable (it may be a transient MITM)
        with pytest.raises(DeliveryError) as info:
            await notify_once(
                WebhookIntegration(WebhookConfig(url=srv.url("/x")), templates),
                context(),
                [firing()],
            )
        assert info.value.retry is True
        skip = HTTPClientConfig(tls_config=TLSConfig(insecure_skip_verify=True))
        await notify_once(
            WebhookIntegration(WebhookConfig(url=srv.url("/skip"), http_config=skip), templates),
            context(),
            [firing()],
        )
    assert [r.path for r in srv.requests] == ["/tls", "/skip"]


async def test_redirects_stay_on_the_same_host(templates: TemplateSet) -> None:
    with http_server() as srv, http_server() as other:
        srv.replies["/old"] = Reply(status=307, headers={"Location": "/new"})
        srv.replies["/away"] = Reply(status=308, headers={"Location": other.url("/stolen")})
        auth = HTTPClientConfig(authorization_credentials="t")
        await notify_once(
            WebhookIntegration(WebhookConfig(url=srv.url("/old"), http_config=auth), templates),
            context(),
            [firing()],
        )
        assert [r.path for r in srv.requests] == ["/old", "/new"]
        assert srv.requests[1].body == srv.requests[0].body
        with pytest.raises(DeliveryError, match="another host") as info:
            await notify_once(
                WebhookIntegration(
                    WebhookConfig(url=srv.url("/away"), http_config=auth), templates
                ),
                context(),
                [firing()],
            )
        assert info.value.retry is False
    assert other.requests == []
