"""The API's closed set of errors and the one function that renders them.

Every error answer has Prometheus's envelope::

    {"status": "error", "errorType": "bad_data", "error": "what went wrong, and where"}

Handlers raise an :class:`ApiError` subclass; :func:`error_response` is the
only place that turns one into an HTTP response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from starlette.responses import JSONResponse

__all__ = [
    "ApiError",
    "BadDataError",
    "ExecutionError",
    "InternalError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QueryCanceledError",
    "QueryTimeoutError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "error_response",
]


class ApiError(Exception):
    """Base of the taxonomy: an HTTP status, a Prometheus ``errorType`` and a message."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "internal"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadDataError(ApiError):
    """The request itself is wrong; retrying it unchanged fails again."""

    status = 400
    error_type = "bad_data"


class PayloadTooLargeError(BadDataError):
    """The body (compressed or not) is over the configured limit."""

    status = 413


class UnsupportedMediaTypeError(BadDataError):
    status = 415


class NotFoundError(ApiError):
    status = 404
    error_type = "not_found"


class MethodNotAllowedError(ApiError):
    status = 405
    error_type = "bad_data"


class UnavailableError(ApiError):
    """The server can't take this now (starting, shutting down, store not writable)."""

    status = 503
    error_type = "unavailable"


class ExecutionError(ApiError):
    """The query parsed but its evaluation failed (many-to-many matching, too many samples...)."""

    status = 422
    error_type = "execution"


class QueryTimeoutError(ApiError):
    status = 503
    error_type = "timeout"


class QueryCanceledError(ApiError):
    status = 499  # Prometheus's "client closed connection"
    error_type = "canceled"


class InternalError(ApiError):
    status = 500
    error_type = "internal"


def error_response(err: ApiError) -> JSONResponse:
    body = {"status": "error", "errorType": err.error_type, "error": err.message}
    return JSONResponse(body, status_code=err.status, headers=err.headers)
