"""vigil's health API: the health checks of every scrape target, and running one now.

``GET /api/vigil/v1/health`` asks each active scrape target's ``/health``
(``application/health+json``, as :mod:`vigil.agent` serves it) for its checks,
concurrently and with a short timeout. Only the addresses of the server's own
targets are ever fetched: the scheme and ``host:port`` of each target's scrape
URL, with the path ``/health``; no URL comes from the request (no SSRF).
When a target's endpoint does not answer with a health document, the scraped
``vigil_health_check_status`` and ``vigil_health_check_duration_seconds``
samples stand in for it (``source: "metrics"``).

``POST /api/vigil/v1/health/{job}/{instance}/{check}/run`` forwards to that
target's ``POST /health/{check}/run`` with the configured admin token
(``health_admin_token``); without one, running checks is disabled (403).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil.api.errors import ApiError, BadDataError, NotFoundError
from vigil.api.targets import ActiveTarget, TargetsSource
from vigil.model.matchers import Matcher
from vigil.storage import Queryable

__all__ = [
    "HEALTH_PATH",
    "HealthCheck",
    "RunDisabledError",
    "TargetHealth",
    "UpstreamError",
    "health_routes",
    "parse_health_document",
]

Handler = Callable[[Request], Awaitable[Response]]

HEALTH_PATH = "/health"
STATUS_METRIC = "vigil_health_check_status"
DURATION_METRIC = "vigil_health_check_duration_seconds"
MAX_HEALTH_BODY = 1024 * 1024
MAX_CHECK_NAME = 200
_STATUS_OF_VALUE = {1.0: "pass", 0.5: "warn", 0.0: "fail"}


class UpstreamError(ApiError):
    """The target could not be reached, or answered something that is not a health document."""

    status = 502
    error_type = "unavailable"


class RunDisabledError(ApiError):
    """No ``health_admin_token`` is configured: checks cannot be run on demand."""

    status = 403
    error_type = "forbidden"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One check of one target, as the UI shows it."""

    name: str
    status: str  # pass, warn, fail or unknown
    measurement: str = ""
    output: str = ""
    duration_ms: float | None = None
    time: str = ""  # RFC 3339, when the check last ran
    critical: bool | None = None
    observed_value: Any = None
    observed_unit: str = ""
    component_type: str = ""
    details: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "measurement": self.measurement,
            "output": self.output,
            "durationMs": self.duration_ms,
            "time": self.time,
            "critical": self.critical,
            "observedValue": self.observed_value,
            "observedUnit": self.observed_unit,
            "componentType": self.component_type,
            "details": dict(self.details or {}),
        }


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """The checks of one target, and where they came from."""

    job: str
    instance: str
    url: str  # the target's health endpoint
    scrape_health: str  # the target's scrape state: up, down, unknown
    source: str  # "endpoint" (its /health), "metrics" (scraped samples) or "none"
    status: str  # the target's overall status: pass, warn, fail or unknown
    checks: tuple[HealthCheck, ...] = ()
    output: str = ""
    error: str = ""  # why the endpoint gave no health document
    service_id: str = ""
    fetched_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "instance": self.instance,
            "url": self.url,
            "scrapeHealth": self.scrape_health,
            "source": self.source,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "serviceId": self.service_id,
            "fetchedAt": _rfc3339(self.fetched_at),
            "checks": [c.to_json() for c in self.checks],
        }


def _rfc3339(t: float) -> str:
    dt = datetime.fromtimestamp(t, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _health_url(target: ActiveTarget, path: str = HEALTH_PATH) -> str | None:
    """The target's own scheme and address with *path*; never anything the request chose."""
    parts = urlsplit(target.scrape_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{path}"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_health_document(doc: Any) -> tuple[str, str, str, tuple[HealthCheck, ...]]:
    """(status, output, serviceId, checks) of an ``application/health+json`` document.

    Raises ValueError when *doc* is not one.
    """
    if not isinstance(doc, dict) or doc.get("status") not in ("pass", "warn", "fail"):
        raise ValueError("not a health document (no status pass, warn or fail)")
    raw_checks = doc.get("checks", {})
    if not isinstance(raw_checks, dict):
        raise ValueError("not a health document (checks is not an object)")
    checks: list[HealthCheck] = []
    for key, entries in raw_checks.items():
        name, _, measurement = str(key).rpartition(":")
        if not name:
            name, measurement = str(key), ""
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict):
                continue
            status = entry.get("status")
            details = entry.get("details")
            checks.append(
                HealthCheck(
                    name=name,
                    status=status if status in ("pass", "warn", "fail") else "unknown",
                    measurement=measurement,
                    output=str(entry.get("output") or ""),
                    duration_ms=_num(entry.get("durationMs")),
                    time=str(entry.get("time") or ""),
                    critical=entry.get("critical")
                    if isinstance(entry.get("critical"), bool)
                    else None,
                    observed_value=entry.get("observedValue"),
                    observed_unit=str(entry.get("observedUnit") or ""),
                    component_type=str(entry.get("componentType") or ""),
                    details=details if isinstance(details, dict) else None,
                )
            )
    return (
        str(doc["status"]),
        str(doc.get("output") or ""),
        str(doc.get("serviceId") or ""),
        tuple(checks),
    )


async def _read_limited(resp: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ValueError(f"the answer is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    return str(exc) or type(exc).__name__


def _last_finite(ts: Sequence[int], vs: Sequence[float]) -> tuple[int, float] | None:
    for i in range(len(vs) - 1, -1, -1):
        if not math.isnan(vs[i]):
            return int(ts[i]), float(vs[i])
    return None


def _from_metrics(
    queryable: Queryable, job: str, instance: str, now: float, lookback_s: float
) -> tuple[HealthCheck, ...]:
    """The checks of a target from its scraped ``vigil_health_check_*`` samples."""
    maxt = int(now * 1000)
    q = queryable.querier(maxt - int(lookback_s * 1000), maxt)
    try:

        def select(name: str) -> dict[str, tuple[int, float, int, float] | None]:
            out: dict[str, tuple[int, float, int, float] | None] = {}
            for s in q.select(
                [
                    Matcher.equal("__name__", name),
                    Matcher.equal("job", job),
                    Matcher.equal("instance", instance),
                ]
            ):
                check = s.labels.get("check") or ""
                ts, vs = list(s.timestamps), list(s.values)
                last = _last_finite(ts, vs)
                prev = _last_finite(ts[:-1], vs[:-1]) if last is not None else None
                out[check] = (
                    (last[0], last[1], *(prev if prev is not None else (0, math.nan)))
                    if last is not None
                    else None
                )
            return out

        statuses = select(STATUS_METRIC)
        sums = select(DURATION_METRIC + "_sum")
        counts = select(DURATION_METRIC + "_count")
    finally:
        q.close()
    checks: list[HealthCheck] = []
    for name in sorted(statuses):
        got = statuses[name]
        if got is None:
            continue
        t, v = got[0], got[1]
        duration: float | None = None
        s, c = sums.get(name), counts.get(name)
        if s is not None and c is not None:
            ds, dc = s[1] - s[3], c[1] - c[3]
            if not math.isnan(dc) and dc > 0:
                duration = ds / dc * 1000
            elif c[1] > 0:
                duration = s[1] / c[1] * 1000
        checks.append(
            HealthCheck(
                name=name,
                status=_STATUS_OF_VALUE.get(v, "unknown"),
                output="" if v == 1.0 else f"{STATUS_METRIC} is {v:g}",
                duration_ms=round(duration, 3) if duration is not None else None,
                time=_rfc3339(t / 1000),
            )
        )
    return tuple(checks)


def _overall(checks: Sequence[HealthCheck]) -> str:
    if not checks:
        return "unknown"
    states = {c.status for c in checks}
    for s in ("fail", "warn", "unknown"):
        if s in states:
            return s
    return "pass"


def health_routes(
    targets: TargetsSource,
    wrap: Callable[[Handler], Handler],
    *,
    queryable: Queryable | None = None,
    admin_token: str | None = None,
    timeout_s: float = 2.0,
    lookback_s: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> list[Route]:
    """``GET /api/vigil/v1/health`` and ``POST /api/vigil/v1/health/{job}/{instance}/{check}/run``.

    *targets* are the server's active scrape targets (the only hosts ever
    contacted); *queryable* gives the scraped fallback; *admin_token* is sent
    to the targets to run a check (None: running is disabled).
    """
    token = admin_token.strip() if admin_token and admin_token.strip() else None

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)

    async def fetch(c: httpx.AsyncClient, t: ActiveTarget) -> TargetHealth:
        job, instance = t.labels.get("job", ""), t.labels.get("instance", "")
        url = _health_url(t) or ""
        status, output, service, error = "unknown", "", "", ""
        checks: tuple[HealthCheck, ...] = ()
        source = "none"
        if not url:
            error = f"scrape URL {t.scrape_url!r} has no http(s) address"
        else:
            try:
                req = c.build_request("GET", url, headers={"Accept": "application/health+json"})
                resp = await c.send(req, stream=True)
                try:
                    body = await _read_limited(resp, MAX_HEALTH_BODY)
                finally:
                    await resp.aclose()
                if resp.status_code not in (200, 503):
                    raise ValueError(f"HTTP {resp.status_code}")
                status, output, service, checks = parse_health_document(orjson.loads(body))
                source = "endpoint"
            except (httpx.HTTPError, ValueError) as exc:  # orjson's error is a ValueError
                error = f"GET {url}: {_describe(exc)}"
        if source == "none" and queryable is not None:
            checks = await run_in_threadpool(
                _from_metrics, queryable, job, instance, clock(), lookback_s
            )
            if checks:
                source, status = "metrics", _overall(checks)
        return TargetHealth(
            job=job,
            instance=instance,
            url=url,
            scrape_health=t.health,
            source=source,
            status=status,
            checks=checks,
            output=output,
            error=error,
            service_id=service,
            fetched_at=clock(),
        )

    async def overview(request: Request) -> Response:
        want_job = request.query_params.get("job", "")
        found = [
            t
            for t in targets.active_targets()
            if not want_job or t.labels.get("job", "") == want_job
        ]
        async with client() as c:
            results = await asyncio.gather(*(fetch(c, t) for t in found))
        results.sort(key=lambda r: (r.job, r.instance))
        body = {
            "status": "success",
            "data": {"runEnabled": token is not None, "targets": [r.to_json() for r in results]},
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def run(request: Request) -> Response:
        job = request.path_params["job"]
        instance = request.path_params["instance"]
        check = request.path_params["check"]
        if not check or len(check) > MAX_CHECK_NAME:
            raise BadDataError(f"check name must be 1 to {MAX_CHECK_NAME} characters")
        if token is None:
            raise RunDisabledError(
                "running health checks is disabled: set the server setting health_admin_token "
                "to the admin token the instrumented apps were given"
            )
        target = next(
            (
                t
                for t in targets.active_targets()
                if t.labels.get("job", "") == job and t.labels.get("instance", "") == instance
            ),
            None,
        )
        if target is None:
            raise NotFoundError(f"no active scrape target with job={job!r} instance={instance!r}")
        url = _health_url(target, f"{HEALTH_PATH}/{quote(check, safe='')}/run")
        if url is None:
            raise BadDataError(f"target {instance!r} has no http(s) address")
        try:
            async with client() as c:
                req = c.build_request(
                    "POST",
                    url,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
                resp = await c.send(req, stream=True)
                try:
                    body = await _read_limited(resp, MAX_HEALTH_BODY)
                finally:
                    await resp.aclose()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(f"POST {url}: {_describe(exc)}") from None
        try:
            doc = orjson.loads(body)
        except ValueError:
            doc = None
        if resp.status_code in (200, 503):
            try:
                status, output, _, checks = parse_health_document(doc)
            except ValueError as exc:
                raise UpstreamError(f"POST {url}: {exc}") from None
            data = {
                "job": job,
                "instance": instance,
                "check": check,
                "status": status,
                "output": output,
                "checks": [c.to_json() for c in checks],
            }
            return JSONResponse({"status": "success", "data": data})
        message = doc.get("error") if isinstance(doc, dict) else None
        reason = str(message) if message else f"HTTP {resp.status_code}"
        if resp.status_code == 404:
            raise NotFoundError(f"POST {url}: {reason}")
        if resp.status_code in (401, 403):
            raise UpstreamError(
                f"POST {url}: the target refused the admin token ({reason}); "
                "check health_admin_token against the app's admin_token"
            )
        raise UpstreamError(f"POST {url}: {reason}")

    return [
        Route("/api/vigil/v1/health", wrap(overview), methods=["GET"]),
        Route(
            "/api/vigil/v1/health/{job}/{instance}/{check}/run",
            wrap(run),
            methods=["POST"],
        ),
    ]
