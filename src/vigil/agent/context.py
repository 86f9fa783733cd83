"""Per-request context shared by the middleware and the log formatter.

The request ID lives in a :class:`contextvars.ContextVar`, so it follows the
request through ``await`` points and into threads started with
``contextvars.copy_context()``.  Trace and span IDs come from OpenTelemetry
when it is installed and a span is active.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Longest request ID accepted from a client; longer ones are replaced.
MAX_REQUEST_ID_LENGTH = 128

# Safe characters only: no spaces, quotes, angle brackets or control characters,
# so an ID can go into a header, a log line or an HTML page without escaping.
_REQUEST_ID_RE = re.compile(rf"[A-Za-z0-9._:+/=@-]{{1,{MAX_REQUEST_ID_LENGTH}}}")

request_id_var: ContextVar[str | None] = ContextVar("vigil_request_id", default=None)


def sanitize_request_id(value: str | None) -> str | None:
    """Return *value* when it is a well-formed request ID, else ``None``."""
    if value is None or not _REQUEST_ID_RE.fullmatch(value):
        return None
    return value


def new_request_id() -> str:
    """A fresh random request ID: 32 hex digits (128 random bits, a quarter the cost of uuid4)."""
    return os.urandom(16).hex()


def get_request_id() -> str | None:
    """The request ID of the request being handled, if any."""
    return request_id_var.get()


@contextmanager
def request_id_scope(value: str) -> Iterator[str]:
    """Bind *value* as the current request ID for the ``with`` block."""
    token = request_id_var.set(value)
    try:
        yield value
    finally:
        request_id_var.reset(token)


def current_trace_ids() -> tuple[str | None, str | None]:
    """``(trace_id, span_id)`` of the active OpenTelemetry span, as hex, or ``(None, None)``."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None, None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
