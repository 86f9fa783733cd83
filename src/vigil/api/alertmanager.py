"""Alertmanager's v2 API over vigil's notifier, plus vigil's alert history.

Paths, parameters and JSON shapes follow Alertmanager's OpenAPI spec
(``api/v2/openapi.yaml``), so ``amtool``, Grafana's Alertmanager data source
and a Prometheus configured with ``alerting.alertmanagers`` work unchanged.
Errors are what Alertmanager answers: the message as a JSON string, with 400
for bad input and 404 for an unknown silence.

The history endpoints are vigil's own (``/api/vigil/v1/alerts/...``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil.api.errors import BadDataError
from vigil.api.query import parse_duration_param, parse_time_param
from vigil.model import Labels
from vigil.model.alert import Alert
from vigil.model.matchers import Matcher, MatchType
from vigil.notify.history import AlertHistory
from vigil.notify.matchers import MatcherError, parse_matcher
from vigil.notify.notifier import AlertView, Notifier
from vigil.notify.silence import Silence, SilenceError, SilenceNotFoundError

__all__ = ["AlertmanagerApi", "NotifierLike", "alertmanager_routes", "history_routes"]

Handler = Callable[[Request], Awaitable[Response]]
MAX_ALERTS_BODY = 16 * 1024 * 1024
ZERO_TIME = "0001-01-01T00:00:00.000Z"


NotifierLike: TypeAlias = Notifier
"""What the v2 handlers read: the notifier (its ``silences``, ``put_alerts``, ``alerts``, ``groups``)."""


class AlertmanagerApi:
    """The state the v2 handlers read: the notifier, the config text, the start time."""

    def __init__(
        self,
        notifier: Callable[[], NotifierLike],
        *,
        receivers: Callable[[], Sequence[str]],
        config_text: Callable[[], str],
        version: str,
        clock: Callable[[], float] = time.time,
        put_alerts: Callable[[list[Alert]], object] | None = None,
    ) -> None:
        self.notifier = notifier
        self.put_alerts = put_alerts or (lambda alerts: notifier().put_alerts(alerts))
        self.receivers = receivers
        self.config_text = config_text
        self.version = version
        self.clock = clock
        self.started = clock()


def format_time(t: float | None) -> str:
    if t is None or t <= 0:
        return ZERO_TIME
    dt = datetime.fromtimestamp(t, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_time(value: Any, field: str) -> float | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadDataError(f"{field}: expected an RFC 3339 time string, got {value!r}")
    try:
        t = parse_time_param(value)
    except ValueError as exc:
        raise BadDataError(f"{field}: {exc}") from None
    return None if value.startswith("0001-01-01") else t / 1000.0


def _fail(status: int, message: str) -> Response:
    return JSONResponse(message, status_code=status)


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "true").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadDataError(f"{name}: expected true or false, got {raw!r}")
    return raw in ("true", "1")


def _filters(request: Request) -> list[Matcher]:
    out: list[Matcher] = []
    for i, text in enumerate(request.query_params.getlist("filter")):
        try:
            out.append(parse_matcher(text))
        except (MatcherError, ValueError) as exc:
            raise BadDataError(f"filter[{i}] {text!r}: {exc}") from None
    return out


def _alert_json(view: AlertView) -> dict[str, Any]:
    a, s = view.alert, view.status
    return {
        "labels": a.labels.to_dict(),
        "annotations": dict(a.annotations),
        "startsAt": format_time(a.starts_at),
        "endsAt": format_time(a.ends_at),
        "updatedAt": format_time(a.updated_at),
        "generatorURL": a.generator_url,
        "fingerprint": view.fingerprint,
        "receivers": [{"name": r} for r in view.receivers],
        "status": {
            "state": s.state,
            "silencedBy": list(s.silenced_by),
            "inhibitedBy": list(s.inhibited_by),
        },
    }


def _silence_json(s: Silence, now: float) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": {"state": s.state(now)},
        "updatedAt": format_time(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "startsAt": format_time(s.starts_at),
        "endsAt": format_time(s.ends_at),
        "matchers": [
            {
                "name": m.name,
                "value": m.value,
                "isRegex": m.type in (MatchType.REGEX, MatchType.NOT_REGEX),
                "isEqual": m.type in (MatchType.EQUAL, MatchType.REGEX),
            }
            for m in s.matchers
        ],
    }


def _postable_alert(i: int, item: Any, now: float) -> Alert:
    where = f"alert {i}"
    if not isinstance(item, dict):
        raise BadDataError(f"{where}: expected an object, got {type(item).__name__}")
    labels_raw = item.get("labels")
    if not isinstance(labels_raw, dict) or not labels_raw:
        raise BadDataError(f"{where}: at least one label pair required")
    try:
        labels = Labels.from_pairs((str(k), str(v)) for k, v in labels_raw.items() if v != "")
    except ValueError as exc:
        raise BadDataError(f"{where}: labels: {exc}") from None
    if not labels:
        raise BadDataError(f"{where}: at least one label pair required")
    annotations = item.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise BadDataError(f"{where}: annotations: expected an object")
    starts = _parse_time(item.get("startsAt"), f"{where}: startsAt")
    ends = _parse_time(item.get("endsAt"), f"{where}: endsAt")
    if starts is None:
        starts = ends if ends is not None and ends < now else now
    if ends is not None and ends < starts:
        raise BadDataError(f"{where}: start time must be before end time")
    url = item.get("generatorURL") or ""
    if not isinstance(url, str):
        raise BadDataError(f"{where}: generatorURL: expected a string")
    return Alert(
        labels=labels,
        annotations={str(k): str(v) for k, v in annotations.items()},
        starts_at=starts,
        ends_at=ends,
        generator_url=url,
        updated_at=now,
    )


def _silence_matchers(raw: Any) -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not raw:
        raise SilenceError("at least one matcher required")
    out: list[Matcher] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise SilenceError(f"matcher {i}: expected an object with name, value, isRegex")
        regex = bool(m.get("isRegex", False))
        equal = bool(m.get("isEqual", True))
        kind = {
            (False, True): MatchType.EQUAL,
            (False, False): MatchType.NOT_EQUAL,
            (True, True): MatchType.REGEX,
            (True, False): MatchType.NOT_REGEX,
        }[(regex, equal)]
        try:
            out.append(Matcher(kind, m["name"], str(m.get("value", ""))))
        except ValueError as exc:
            raise SilenceError(f"matcher {i}: {exc}") from None
    return tuple(out)


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_ALERTS_BODY:
        raise BadDataError(f"body of {len(body)} bytes is over the limit of {MAX_ALERTS_BODY}")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadDataError(f"body is not valid JSON: {exc}") from None


def alertmanager_routes(api: AlertmanagerApi) -> list[Route]:
    """The ``/api/v2`` routes."""

    def v2(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except BadDataError as exc:
                return _fail(400, exc.message)
            except SilenceNotFoundError as exc:
                return _fail(404, exc.message)
            except SilenceError as exc:
                return _fail(400, exc.message)

        wrapped.__name__ = handler.__name__
        return wrapped

    async def post_alerts(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, list):
            raise BadDataError("expected a JSON list of alerts")
        now = api.clock()
        alerts = [_postable_alert(i, item, now) for i, item in enumerate(body)]
        api.put_alerts(alerts)
        return Response(status_code=200)

    async def get_alerts(request: Request) -> Response:
        views = api.notifier().alerts(
            _filters(request),
            active=_flag(request, "active"),
            silenced=_flag(request, "silenced"),
            inhibited=_flag(request, "inhibited"),
            unprocessed=_flag(request, "unprocessed"),
            receiver=request.query_params.get("receiver") or None,
        )
        return JSONResponse([_alert_json(v) for v in views])

    async def get_groups(request: Request) -> Response:
        groups = api.notifier().groups(
            _filters(request),
            active=_flag(request, "active"),
            silenced=_flag(request, "silenced"),
            inhibited=_flag(request, "inhibited"),
            receiver=request.query_params.get("receiver") or None,
        )
        return JSONResponse(
            [
                {
                    "labels": g.labels.to_dict(),
                    "receiver": {"name": g.receiver},
                    "alerts": [_alert_json(v) for v in g.alerts],
                }
                for g in groups
            ]
        )

    async def get_silences(request: Request) -> Response:
        silences = api.notifier().silences
        now = api.clock()
        wanted = _filters(request)
        found = silences.list(matchers=wanted)
        order = {"active": 0, "pending": 1, "expired": 2}

        def key(s: Silence) -> tuple[int, float]:
            state = s.state(now)
            # Active: ending soonest first; pending: starting soonest; expired: latest first.
            t = (
                s.ends_at
                if state == "active"
                else s.starts_at
                if state == "pending"
                else -s.ends_at
            )
            return order[state], t

        return JSONResponse([_silence_json(s, now) for s in sorted(found, key=key)])

    async def post_silence(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise BadDataError("expected a JSON object (a postable silence)")
        starts = _parse_time(body.get("startsAt"), "startsAt")
        ends = _parse_time(body.get("endsAt"), "endsAt")
        if starts is None or ends is None:
            raise BadDataError("startsAt and endsAt are required")
        now = api.clock()
        if ends < now:
            raise BadDataError("end time can't be in the past")
        silence = Silence(
            matchers=_silence_matchers(body.get("matchers")),
            starts_at=starts,
            ends_at=ends,
            created_by=str(body.get("createdBy", "")),
            comment=str(body.get("comment", "")),
            id=str(body.get("id") or ""),
        )
        if not silence.created_by:
            raise BadDataError("createdBy is required")
        if not silence.comment:
            raise BadDataError("comment is required")
        silence_id = api.notifier().silences.set(silence)
        return JSONResponse({"silenceID": silence_id})

    async def get_silence(request: Request) -> Response:
        s = api.notifier().silences.get(request.path_params["silence_id"])
        return JSONResponse(_silence_json(s, api.clock()))

    async def delete_silence(request: Request) -> Response:
        api.notifier().silences.expire(request.path_params["silence_id"])
        return Response(status_code=200)

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "cluster": {"status": "disabled", "peers": [], "name": ""},
                "versionInfo": {
                    "version": api.version,
                    "branch": "",
                    "revision": "",
                    "buildUser": "",
                    "buildDate": "",
                    "goVersion": "",
                },
                "config": {"original": api.config_text()},
                "uptime": format_time(api.started),
            }
        )

    async def receivers(request: Request) -> Response:
        return JSONResponse([{"name": n} for n in api.receivers()])

    return [
        Route("/api/v2/alerts", v2(post_alerts), methods=["POST"]),
        Route("/api/v2/alerts", v2(get_alerts), methods=["GET"]),
        Route("/api/v2/alerts/groups", v2(get_groups), methods=["GET"]),
        Route("/api/v2/silences", v2(get_silences), methods=["GET"]),
        Route("/api/v2/silences", v2(post_silence), methods=["POST"]),
        Route("/api/v2/silence/{silence_id}", v2(get_silence), methods=["GET"]),
        Route("/api/v2/silence/{silence_id}", v2(delete_silence), methods=["DELETE"]),
        Route("/api/v2/status", v2(status), methods=["GET"]),
        Route("/api/v2/receivers", v2(receivers), methods=["GET"]),
    ]


def history_routes(
    history: AlertHistory, wrap: Callable[[Handler], Handler], clock: Callable[[], float]
) -> list[Route]:
    """vigil's alert history: ``/api/vigil/v1/alerts/history`` and ``.../stats``."""

    def time_param(request: Request, name: str) -> float | None:
        text = request.query_params.get(name)
        if not text:
            return None
        try:
            return parse_time_param(text) / 1000.0
        except ValueError as exc:
            raise BadDataError(f"invalid parameter {name!r}: {exc}") from None

    def window(request: Request, default_span: float) -> tuple[float, float]:
        end = time_param(request, "end")
        end = clock() if end is None else end
        start = time_param(request, "start")
        start = end - default_span if start is None else start
        if end < start:
            raise BadDataError("end timestamp must not be before start time")
        return start, end

    async def events(request: Request) -> Response:
        q = request.query_params
        start, end = window(request, 7 * 86400.0)
        try:
            limit = int(q.get("limit", "1000"))
            found = history.query(
                start=start,
                end=end,
                alertname=q.get("alertname") or None,
                severity=q.get("severity") or None,
                kind=q.get("kind") or None,
                limit=limit,
            )
        except ValueError as exc:
            raise BadDataError(str(exc)) from None
        return JSONResponse({"status": "success", "data": [e.to_json() for e in found]})

    async def stats(request: Request) -> Response:
        q = request.query_params
        start, end = window(request, 86400.0)
        try:
            step = parse_duration_param(q["step"]) if q.get("step") else 3600.0
            s = history.stats(start=start, end=end, step=step, alertname=q.get("alertname") or None)
        except ValueError as exc:
            raise BadDataError(str(exc)) from None
        return JSONResponse({"status": "success", "data": s.to_json()})

    return [
        Route("/api/vigil/v1/alerts/history", wrap(events), methods=["GET"]),
        Route("/api/vigil/v1/alerts/stats", wrap(stats), methods=["GET"]),
    ]
