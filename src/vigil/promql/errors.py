"""Errors of query evaluation, each with Prometheus's API ``errorType``.

=====================  ==============  =====================================
class                  ``error_type``  when
=====================  ==============  =====================================
:class:`BadDataError`  ``bad_data``    the query does not parse or cannot run
                                       as asked (wrong type for a range query)
:class:`EvalError`     ``execution``   evaluation failed (duplicate label
                                       sets, many-to-many matching...)
:class:`TooManySamplesError` ``execution`` the sample limit was passed
:class:`QueryTimeoutError`   ``timeout``   the query ran past its timeout
:class:`QueryCanceledError`  ``canceled``  the query was canceled
=====================  ==============  =====================================
"""

from __future__ import annotations

from vigil.model.errors import VigilError
from vigil.promql.parser.errors import ParseError

__all__ = [
    "BadDataError",
    "EvalError",
    "PromQLError",
    "QueryCanceledError",
    "QueryTimeoutError",
    "TooManySamplesError",
    "error_type",
]


class PromQLError(VigilError):
    """Any error a query can end with; ``error_type`` is the API's ``errorType``."""

    error_type = "execution"


class BadDataError(PromQLError):
    """The query is malformed (a parse error) or not valid for the kind of query."""

    error_type = "bad_data"


class EvalError(PromQLError):
    """Evaluation failed; the message is Prometheus's."""

    error_type = "execution"


class TooManySamplesError(EvalError):
    def __init__(self, env: str = "query execution") -> None:
        super().__init__(f"query processing would load too many samples into memory in {env}")


class QueryTimeoutError(PromQLError):
    error_type = "timeout"

    def __init__(self, env: str = "expression evaluation") -> None:
        super().__init__(f"query timed out in {env}")


class QueryCanceledError(PromQLError):
    error_type = "canceled"

    def __init__(self, env: str = "expression evaluation") -> None:
        super().__init__(f"query was canceled in {env}")


def error_type(exc: BaseException) -> str:
    """The API ``errorType`` of an exception raised by a query."""
    if isinstance(exc, PromQLError):
        return exc.error_type
    if isinstance(exc, ParseError):
        return "bad_data"
    return "internal"
