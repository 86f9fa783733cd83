"""Structured logging: one call configures stdlib logging to write JSON lines.

``configure_logging()`` installs one handler on the root logger (stderr by
default, plus a rotating file when asked) with :class:`JsonFormatter` or
:class:`TextFormatter`.  Every argument left as ``None`` falls back to its
environment twin, then to the default:

==============  ==================  =========================================
argument        environment         default
==============  ==================  =========================================
``level``       ``VIGIL_LOG_LEVEL``  ``INFO`` (name or number, any case)
``fmt``         ``VIGIL_LOG_FORMAT`` ``json`` (``json`` or ``text``)
``file``        ``VIGIL_LOG_FILE``   none (stream only)
==============  ==================  =========================================

A JSON line holds, in this order: ``timestamp`` (UTC, ISO 8601, milliseconds,
``Z``), ``level`` (``INFO``...), ``logger``, ``message``, ``module``,
``function``, ``line``, then ``request_id``, ``trace_id`` and ``span_id`` when
known, the static fields (such as ``service``), every ``extra=`` field, and
``exception`` (``{type, message, stack}``) and ``stack_info`` when present.

Rules:

* An ``extra=`` field never replaces a core field (``timestamp``, ``level``,
  ``logger``, ``message``, ``module``, ``function``, ``line``, ``exception``,
  ``stack_info``): it is written as ``extra_<name>``.  An ``extra=`` field
  named ``request_id``, ``trace_id`` or ``span_id`` wins over the context.
* Values JSON can't encode are written as their ``repr``; ``datetime``,
  ``date``, ``time``, ``UUID``, ``Decimal`` and paths as ``str``; sets as lists;
  NaN and infinities as strings.
* Formatting never raises into the application: a broken ``%`` format gives the
  raw message plus a ``log_error`` field, and any other failure gives a minimal
  line with ``formatter_error``.
* Calling :func:`configure_logging` again replaces the handlers it installed
  before (never duplicates them) and leaves other handlers alone.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import logging
import logging.handlers
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import IO, Any

from vigil.agent.context import current_trace_ids, get_request_id

__all__ = [
    "CORE_FIELDS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "record_to_dict",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 5

#: Fields a log line always has; ``extra=`` fields can't overwrite them.
CORE_FIELDS = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "message",
        "module",
        "function",
        "line",
        "exception",
        "stack_info",
    }
)
_CONTEXT_FIELDS = ("request_id", "trace_id", "span_id")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
# ``color_message`` is uvicorn's ANSI-coloured copy of the message: noise in JSON.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__} object>"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return _safe_repr(value)


def _format_timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _to_jsonable(value: Any, depth: int = 0) -> Any:
    """*value* as plain JSON types; anything unknown becomes its repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth > 20:
        return _safe_repr(value)
    if isinstance(value, Mapping):
        try:
            return {
                k if isinstance(k, str) else _safe_str(k): _to_jsonable(v, depth + 1)
                for k, v in value.items()
            }
        except Exception:
            return _safe_repr(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=_safe_repr) if isinstance(value, set | frozenset) else value
        return [_to_jsonable(v, depth + 1) for v in items]
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal | PurePath):
        return str(value)
    if isinstance(value, BaseException):
        return f"{type(value).__qualname__}: {_safe_str(value)}"
    return _safe_repr(value)


def _exception_fields(exc_info: Any) -> dict[str, str] | None:
    if not exc_info or exc_info is True:
        return None
    exc_type, exc, tb = exc_info
    if exc_type is None:
        return None
    try:
        stack = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip("\n")
    except Exception:
        stack = "<traceback unavailable>"
    name = exc_type.__qualname__
    module = getattr(exc_type, "__module__", "builtins")
    return {
        "type": name if module == "builtins" else f"{module}.{name}",
        "message": _safe_str(exc),
        "stack": stack,
    }


def record_to_dict(
    record: logging.LogRecord, static_fields: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The structured form of *record*, as :class:`JsonFormatter` writes it (JSON-safe values)."""
    out: dict[str, Any] = {
        "timestamp": _format_timestamp(record.created),
        "level": record.levelname,
        "logger": record.name,
    }
    try:
        out["message"] = record.getMessage()
    except Exception as exc:  # bad %-format args: keep the raw text, say why
        out["message"] = _safe_str(record.msg)
        out["log_error"] = (
            f"can't format message with args {_safe_repr(record.args)}: "
            f"{type(exc).__name__}: {_safe_str(exc)}"
        )
    out["module"] = record.module
    out["function"] = record.funcName
    out["line"] = record.lineno

    request_id = get_request_id()
    if request_id is not None:
        out["request_id"] = request_id
    trace_id, span_id = current_trace_ids()
    if trace_id is not None:
        out["trace_id"] = trace_id
        out["span_id"] = span_id

    if static_fields:
        for key, value in static_fields.items():
            out[key] = _to_jsonable(value)

    for key, value in record.__dict__.items():
        if key in _RECORD_ATTRS or key.startswith("_"):
            continue
        out_key = f"extra_{key}" if key in CORE_FIELDS else key
        out[out_key] = _to_jsonable(value)

    exception = _exception_fields(record.exc_info)
    if exception is not None:
        out["exception"] = exception
    elif record.exc_text:  # a record that was formatted elsewhere and pickled
        out["exception"] = {"type": "", "message": "", "stack": record.exc_text}
    if record.stack_info:
        out["stack_info"] = record.stack_info
    return out


def _check_static_fields(static_fields: Mapping[str, Any] | None) -> dict[str, Any]:
    fields = dict(static_fields or {})
    for key in fields:
        if not isinstance(key, str) or not key:
            raise ValueError(f"static log field names must be non-empty strings, got {key!r}")
        if key in CORE_FIELDS or key in _CONTEXT_FIELDS or key == "log_error":
            raise ValueError(
                f"static log field {key!r} would replace a field vigil writes itself; rename it"
            )
    return fields


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object on one line (see the module docs for the fields)."""

    def __init__(
        self,
        static_fields: Mapping[str, Any] | None = None,
        *,
        ensure_ascii: bool = False,
    ) -> None:
        super().__init__()
        self.static_fields = _check_static_fields(static_fields)
        self._ensure_ascii = ensure_ascii

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        return record_to_dict(record, self.static_fields)

    def format(self, record: logging.LogRecord) -> str:
        try:
            return json.dumps(
                self.to_dict(record), ensure_ascii=self._ensure_ascii, default=_safe_repr
            )
        except Exception as exc:  # never raise into the application
            return self._fallback(record, exc)

    def _fallback(self, record: logging.LogRecord, exc: BaseException) -> str:
        try:
            line = {
                "timestamp": _format_timestamp(getattr(record, "created", time.time())),
                "level": _safe_str(getattr(record, "levelname", "ERROR")),
                "logger": _safe_str(getattr(record, "name", "?")),
                "message": _safe_str(getattr(record, "msg", "")),
                "formatter_error": f"{type(exc).__name__}: {_safe_str(exc)}",
            }
            return json.dumps(line, default=_safe_repr)
        except Exception:
            return '{"message": "<unformattable log record>", "formatter_error": "fallback failed"}'


class TextFormatter(logging.Formatter):
    """Human-readable lines: ``<timestamp> <LEVEL> <logger>: <message> key=value...``.

    The key=value tail holds request/trace ids, static fields and ``extra=``
    fields; an exception's stack follows on the next lines.
    """

    def __init__(self, static_fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.static_fields = _check_static_fields(static_fields)

    def format(self, record: logging.LogRecord) -> str:
        try:
            data = record_to_dict(record, self.static_fields)
            head = f"{data.pop('timestamp')} {data.pop('level'):<8} {data.pop('logger')}: {data.pop('message')}"
            for key in ("module", "function", "line"):
                data.pop(key)
            exception = data.pop("exception", None)
            stack_info = data.pop("stack_info", None)
            tail = " ".join(f"{k}={self._value(v)}" for k, v in data.items())
            text = f"{head} {tail}" if tail else head
            if exception:
                text += "\n" + exception["stack"]
            if stack_info:
                text += "\n" + stack_info
            return text
        except Exception as exc:  # never raise into the application
            return f"{_safe_str(getattr(record, 'msg', ''))} formatter_error={type(exc).__name__}: {_safe_str(exc)}"

    @staticmethod
    def _value(value: Any) -> str:
        if isinstance(value, str) and value and not any(c in value for c in ' "=\n\t'):
            return value
        return json.dumps(value, ensure_ascii=False, default=_safe_repr)


# ---------------------------------------------------------------------------
# configure_logging
# ---------------------------------------------------------------------------


class _VigilStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the stream handler installed by configure_logging (so a second call replaces it)."""


class _VigilFileHandler(logging.handlers.RotatingFileHandler):
    """Marks the file handler installed by configure_logging."""


_LEVEL_NAMES = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")


def _resolve_level(level: int | str | None) -> int:
    source = "level"
    if level is None:
        env = os.environ.get("VIGIL_LOG_LEVEL")
        if env is None or not env.strip():
            return logging.INFO
        level, source = env, "VIGIL_LOG_LEVEL"
    if isinstance(level, bool):
        raise TypeError(f"{source}: expected a level name or number, got {level!r}")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"{source}: log level must be >= 0, got {level}")
        return level
    text = str(level).strip()
    if text.isdigit():
        return int(text)
    upper = "WARNING" if text.upper() == "WARN" else text.upper()
    if upper in _LEVEL_NAMES:
        return int(getattr(logging, upper))
    raise ValueError(
        f"{source}: unknown log level {text!r}; expected one of {', '.join(_LEVEL_NAMES)} or a number"
    )


def _resolve_format(fmt: str | None) -> str:
    source = "fmt"
    if fmt is None:
        env = os.environ.get("VIGIL_LOG_FORMAT")
        if env is None or not env.strip():
            return "json"
        fmt, source = env, "VIGIL_LOG_FORMAT"
    value = fmt.strip().lower()
    if value not in ("json", "text"):
        raise ValueError(f"{source}: unknown log format {fmt!r}; expected 'json' or 'text'")
    return value


def _resolve_file(file: str | os.PathLike[str] | None) -> tuple[Path | None, str]:
    if file is not None:
        return Path(file), "file"
    env = os.environ.get("VIGIL_LOG_FILE")
    if env is None or not env.strip():
        return None, ""
    return Path(env.strip()), "VIGIL_LOG_FILE"


def configure_logging(
    level: int | str | None = None,
    fmt: str | None = None,
    file: str | os.PathLike[str] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUP_COUNT,
    stream: IO[str] | None = None,
    static_fields: Mapping[str, Any] | None = None,
    service_name: str | None = None,
) -> None:
    """Configure the root logger for structured output.

    Writes to *stream* (default ``sys.stderr``) and, when *file* (or
    ``VIGIL_LOG_FILE``) is set, also to a rotating file (*max_bytes* per file,
    *backup_count* old files kept; parent directories are created).
    *service_name* is a shortcut for ``static_fields={"service": ...}``.
    Raises :class:`ValueError` naming the argument or environment variable
    when a level, format or file is invalid; in that case nothing changes.
    """
    resolved_level = _resolve_level(level)
    resolved_fmt = _resolve_format(fmt)
    path, path_source = _resolve_file(file)
    fields = dict(static_fields or {})
    if service_name is not None:
        fields["service"] = service_name
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0 (0 disables rotation), got {max_bytes}")
    if backup_count < 0:
        raise ValueError(f"backup_count must be >= 0, got {backup_count}")

    formatter: logging.Formatter = (
        JsonFormatter(fields) if resolved_fmt == "json" else TextFormatter(fields)
    )
    handlers: list[logging.Handler] = [_VigilStreamHandler(stream or sys.stderr)]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                _VigilFileHandler(
                    path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
                )
            )
        except OSError as exc:
            raise ValueError(f"{path_source}: can't open log file {str(path)!r}: {exc}") from exc

    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _VigilStreamHandler | _VigilFileHandler):
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(resolved_level)
