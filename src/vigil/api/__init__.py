"""The HTTP API: one JSON envelope and error taxonomy over small protocols.

:func:`create_app` builds the Starlette application the server mounts; it is
given values (a store's :class:`~vigil.storage.Appendable`, a
:class:`TargetsSource`, readiness and reload callables), never managers.
"""

from vigil.api.app import ApiOptions, create_app
from vigil.api.errors import (
    ApiError,
    BadDataError,
    InternalError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)
from vigil.api.targets import ActiveTarget, DroppedTarget, TargetsSource

__all__ = [
    "ActiveTarget",
    "ApiError",
    "ApiOptions",
    "BadDataError",
    "DroppedTarget",
    "InternalError",
    "NotFoundError",
    "PayloadTooLargeError",
    "TargetsSource",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "create_app",
]
