"""The server's HTTP application: ingest, targets, self-metrics and lifecycle endpoints.

:func:`create_app` takes everything it serves as small values (an
:class:`~vigil.storage.Appendable`, a :class:`~vigil.api.targets.TargetsSource`,
callables for readiness and reload); it never builds or starts a component.
Handlers return results or raise :class:`~vigil.api.errors.ApiError`; one
wrapper renders errors in Prometheus's envelope.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from vigil.api.errors import (
    ApiError,
    BadDataError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
    error_response,
)
from vigil.api.importer import DEFAULT_MAX_IMPORT_BYTES, Importer, gunzip, parse_extra_labels
from vigil.api.query import QueryOptions, query_routes
from vigil.api.status import StatusOptions, status_routes
from vigil.api.targets import TargetsSource, targets_data
from vigil.api.write import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    IngestMetrics,
    RemoteWriteReceiver,
)
from vigil.storage import Appendable

__all__ = ["ApiOptions", "create_app", "read_body"]

log = logging.getLogger("vigil.api")

Handler = Callable[[Request], Awaitable[Response]]


class _NoTargets:
    def active_targets(self) -> list[Any]:
        return []

    def dropped_targets(self) -> list[Any]:
        return []


@dataclass
class ApiOptions:
    """What the app serves; every field but *appendable* has a harmless default."""

    appendable: Appendable
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    targets: TargetsSource = field(default_factory=_NoTargets)
    ready: Callable[[], bool] = lambda: True
    reload: Callable[[], Awaitable[None]] | None = None
    clock: Callable[[], float] = time.time
    max_write_body_bytes: int = 16 * 1024 * 1024  # compressed
    max_write_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    max_import_bytes: int = DEFAULT_MAX_IMPORT_BYTES
    query: QueryOptions | None = None  # the PromQL query API (/api/v1/query...), if served
    status: StatusOptions = field(default_factory=StatusOptions)
    # More routes (alerting, UI): each callable gets the error-rendering wrapper.
    routes: Sequence[Callable[[Callable[[Handler], Handler]], list[BaseRoute]]] = ()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed *limit* bytes."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise BadDataError(f"Content-Length {length!r} is not a number") from None
        if n > limit:
            raise PayloadTooLargeError(f"body of {n} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _success(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _api(handler: Handler) -> Handler:
    """Render ApiErrors (and unexpected exceptions, as ``internal``) in the envelope."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err)
        except Exception as exc:
            log.exception("unexpected error", extra={"path": request.url.path})
            return error_response(InternalError(f"{type(exc).__name__}: {exc}"))

    wrapped.__name__ = handler.__name__
    return wrapped


def create_app(opts: ApiOptions) -> Starlette:
    metrics = IngestMetrics(opts.registry)
    receiver = RemoteWriteReceiver(
        opts.appendable,
        metrics=metrics,
        clock=opts.clock,
        max_decompressed_bytes=opts.max_write_decompressed_bytes,
    )
    importer = Importer(
        opts.appendable, metrics=metrics, clock=opts.clock, max_bytes=opts.max_import_bytes
    )

    def require_ready() -> None:
        if not opts.ready():
            raise UnavailableError(
                "the server is starting or stopping", headers={"Retry-After": "5"}
            )

    async def remote_write(request: Request) -> Response:
        code = 500
        try:
            require_ready()
            encoding = request.headers.get("content-encoding", "snappy").strip().lower()
            if encoding not in ("snappy", ""):
                raise UnsupportedMediaTypeError(
                    f"Content-Encoding {encoding!r} is not supported: remote write 1.0 uses snappy"
                )
            ctype = request.headers.get("content-type", "application/x-protobuf")
            media, _, params = ctype.partition(";")
            if media.strip().lower() != "application/x-protobuf":
                raise UnsupportedMediaTypeError(
                    f"Content-Type {ctype!r} is not supported: expected application/x-protobuf"
                )
            if "proto=io.prometheus.write.v2" in params.replace(" ", ""):
                raise UnsupportedMediaTypeError(
                    "remote write 2.0 is not supported: configure the sender for 1.0 "
                    "(protobuf_message: prometheus.WriteRequest)"
                )
            body = await read_body(request, opts.max_write_body_bytes)
            await run_in_threadpool(receiver.handle, body)
            code = 204
            return Response(status_code=204)
        except ApiError as err:
            code = err.status
            if err.status >= 500:
                log.error("remote write failed", extra={"error": err.message})
            raise
        finally:
            metrics.requests.labels(receiver.endpoint, str(code)).inc()

    async def import_prometheus(request: Request) -> Response:
        code = 500
        try:
            require_ready()
            extra = parse_extra_labels(request.query_params.getlist("extra_label"))
            default_ts: int | None = None
            if ts := request.query_params.get("timestamp"):
                try:
                    default_ts = int(float(ts) * 1000)
                except ValueError:
                    raise BadDataError(f"timestamp {ts!r}: expected Unix seconds") from None
            encoding = request.headers.get("content-encoding", "").strip().lower()
            body = await read_body(request, opts.max_import_bytes)
            if encoding in ("gzip", "x-gzip", "deflate"):
                body = gunzip(body, opts.max_import_bytes)
            elif encoding not in ("", "identity"):
                raise UnsupportedMediaTypeError(
                    f"Content-Encoding {encoding!r} is not supported (use gzip or none)"
                )
            await run_in_threadpool(
                importer.import_text,
                body,
                request.headers.get("content-type"),
                extra_labels=extra,
                default_timestamp_ms=default_ts,
            )
            code = 204
            return Response(status_code=204)
        except ApiError as err:
            code = err.status
            raise
        finally:
            metrics.requests.labels(importer.endpoint, str(code)).inc()

    async def targets(request: Request) -> Response:
        q = request.query_params
        return _success(targets_data(opts.targets, q.get("state", "any"), q.get("scrapePool", "")))

    async def self_metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        body = await run_in_threadpool(encoder, opts.registry)
        return Response(body, media_type=content_type)

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("Vigil Server is Healthy.\n")

    async def ready(request: Request) -> Response:
        if opts.ready():
            return PlainTextResponse("Vigil Server is Ready.\n")
        return PlainTextResponse("Service UnavailableError\n", status_code=503)

    async def reload(request: Request) -> Response:
        if opts.reload is None:
            raise NotFoundError("reload is not available in this server")
        try:
            await opts.reload()
        except ApiError:
            raise
        except Exception as exc:  # the reloader's message already names file:line:col
            raise BadDataError(f"failed to reload config: {exc}") from None
        return _success({"reloaded": True})

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return error_response(MethodNotAllowedError(f"{request.method} is not allowed here"))
        return error_response(NotFoundError(f"no such endpoint: {request.url.path}"))

    routes: list[BaseRoute] = [
        Route("/api/v1/write", _api(remote_write), methods=["POST"]),
        Route("/api/v1/import/prometheus", _api(import_prometheus), methods=["POST"]),
        Route("/api/v1/targets", _api(targets), methods=["GET"]),
        Route("/metrics", self_metrics, methods=["GET"]),
        Route("/-/healthy", healthy, methods=["GET", "HEAD"]),
        Route("/-/ready", ready, methods=["GET", "HEAD"]),
        Route("/-/reload", _api(reload), methods=["POST", "PUT"]),
        *status_routes(opts.status, _api),
    ]
    if opts.query is not None:
        routes += query_routes(opts.query, _api, opts.clock)
    for more in opts.routes:
        routes += more(_api)
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
