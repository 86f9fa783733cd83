from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from vigil.agent import context
from vigil.agent.logs import JsonFormatter, TextFormatter, configure_logging

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def root_state() -> Iterator[logging.Logger]:
    """Restore the root logger's handlers and level after a test that configures it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("VIGIL_LOG_LEVEL", "VIGIL_LOG_FORMAT", "VIGIL_LOG_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def make_logger(
    formatter: logging.Formatter, name: str = "test.logs"
) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.Logger(name, logging.DEBUG)  # not registered: no global state
    logger.addHandler(handler)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_core_fields() -> None:
    logger, stream = make_logger(JsonFormatter())
    logger.info("hello %s", "world")
    [line] = lines(stream)
    assert list(line)[:7] == [
        "timestamp",
        "level",
        "logger",
        "message",
        "module",
        "function",
        "line",
    ]
    assert TIMESTAMP_RE.match(line["timestamp"])
    stamp = dt.datetime.strptime(line["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 5
    assert line["level"] == "INFO"
    assert line["logger"] == "test.logs"
    assert line["message"] == "hello world"
    assert line["module"] == "test_logs"
    assert line["function"] == "test_core_fields"
    assert isinstance(line["line"], int)
    for absent in ("request_id", "trace_id", "span_id", "exception", "stack_info"):
        assert absent not in line


def test_timestamp_is_utc_with_milliseconds() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.created = 1_700_000_000.0429  # 2023-11-14T22:13:20.042Z
    record.msecs = 42.9
    line = json.loads(JsonFormatter().format(record))
    assert line["timestamp"] == "2023-11-14T22:13:20.042Z"


def test_extra_fields_and_collisions() -> None:
    logger, stream = make_logger(JsonFormatter())
    logger.info(
        "order placed",
        extra={"order_id": 42, "amount": 9.5, "tags": ["a", "b"], "level": "mine", "line": "x"},
    )
    [line] = lines(stream)
    assert line["order_id"] == 42
    assert line["amount"] == 9.5
    assert line["tags"] == ["a", "b"]
    assert line["level"] == "INFO"  # core fields are never replaced...
    assert line["extra_level"] == "mine"  # ...the extra is renamed
    assert line["extra_line"] == "x"


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def test_unencodable_values_are_written_as_repr() -> None:
    logger, stream = make_logger(JsonFormatter())
    ident = uuid.UUID(int=7)
    logger.info(
        "values",
        extra={
            "opaque": Opaque(),
            "broken": BrokenRepr(),
            "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "ident": ident,
            "price": Decimal("1.10"),
            "path": Path("/tmp/x"),
            "nan": float("nan"),
            "inf": float("-inf"),
            "raw": b"\x00\xff",
            "nested": {"a": {1: Opaque()}, "s": {3, 1, 2}},
            "exc": ValueError("bad"),
        },
    )
    [line] = lines(stream)
    assert line["opaque"] == "<Opaque thing>"
    assert line["broken"] == "<unrepresentable BrokenRepr object>"
    assert line["when"] == "2024-01-02T03:04:05+00:00"
    assert line["ident"] == str(ident)
    assert line["price"] == "1.10"
    assert line["path"] == "/tmp/x"
    assert line["nan"] == "nan"
    assert line["inf"] == "-inf"
    assert line["raw"] == repr(b"\x00\xff")
    assert line["nested"] == {"a": {"1": "<Opaque thing>"}, "s": [1, 2, 3]}
    assert line["exc"] == "ValueError: bad"


def test_circular_structure_does_not_break_logging() -> None:
    logger, stream = make_logger(JsonFormatter())
    loop: list[Any] = []
    loop.append(loop)
    logger.info("loop", extra={"loop": loop})
    [line] = lines(stream)
    assert line["message"] == "loop"
    assert "[...]" in json.dumps(line["loop"])


def test_exception_fields() -> None:
    logger, stream = make_logger(JsonFormatter())
    try:
        raise KeyError("missing-key")
    except KeyError:
        logger.exception("lookup failed")
    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exception"]["type"] == "KeyError"
    assert line["exception"]["message"] == "'missing-key'"
    assert line["exception"]["stack"].startswith("Traceback (most recent call last):")
    assert 'raise KeyError("missing-key")' in line["exception"]["stack"]


def test_custom_exception_type_is_qualified() -> None:
    class PaymentDeclinedError(Exception):
        pass

    logger, stream = make_logger(JsonFormatter())
    try:
        raise PaymentDeclinedError("card 4242")
    except PaymentDeclinedError:
        logger.error("payment", exc_info=True)
    [line] = lines(stream)
    assert line["exception"]["type"] == f"{__name__}.{PaymentDeclinedError.__qualname__}"
    assert line["exception"]["message"] == "card 4242"


def test_exc_info_true_outside_an_exception_adds_nothing() -> None:
    logger, stream = make_logger(JsonFormatter())
    logger.error("no exception here", exc_info=True)
    [line] = lines(stream)
    assert "exception" not in line


def test_stack_info() -> None:
    logger, stream = make_logger(JsonFormatter())
    logger.info("where am I", stack_info=True)
    [line] = lines(stream)
    assert "test_stack_info" in line["stack_info"]


def test_request_id_from_context() -> None:
    logger, stream = make_logger(JsonFormatter())
    with context.request_id_scope("req-123"):
        logger.info("inside")
    logger.info("outside")
    inside, outside = lines(stream)
    assert inside["request_id"] == "req-123"
    assert "request_id" not in outside


def test_extra_request_id_wins_over_context() -> None:
    logger, stream = make_logger(JsonFormatter())
    with context.request_id_scope("from-context"):
        logger.info("explicit", extra={"request_id": "from-extra"})
    [line] = lines(stream)
    assert line["request_id"] == "from-extra"


def test_trace_and_span_ids_from_opentelemetry() -> None:
    logger, stream = make_logger(JsonFormatter())
    span_context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(span_context)):
        logger.info("traced")
    logger.info("untraced")
    traced, untraced = lines(stream)
    assert traced["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert traced["span_id"] == "00f067aa0ba902b7"
    assert "trace_id" not in untraced
    assert "span_id" not in untraced


def test_static_fields() -> None:
    logger, stream = make_logger(JsonFormatter({"service": "shop", "env": "prod"}))
    logger.info("hi")
    [line] = lines(stream)
    assert line["service"] == "shop"
    assert line["env"] == "prod"


@pytest.mark.parametrize("name", ["level", "message", "request_id", ""])
def test_static_fields_cannot_shadow_core_fields(name: str) -> None:
    with pytest.raises(ValueError, match="static log field"):
        JsonFormatter({name: "x"})


def test_bad_format_args_never_raise() -> None:
    logger, stream = make_logger(JsonFormatter())
    logger.info("two %s %s", "only-one")
    [line] = lines(stream)
    assert line["message"] == "two %s %s"
    assert "can't format message" in line["log_error"]
    assert "only-one" in line["log_error"]


def test_formatter_failure_falls_back_to_a_minimal_line(monkeypatch: pytest.MonkeyPatch) -> None:
    formatter = JsonFormatter()

    def explode(record: logging.LogRecord) -> dict[str, Any]:
        raise RuntimeError("boom inside formatter")

    monkeypatch.setattr(formatter, "to_dict", explode)
    logger, stream = make_logger(formatter)
    logger.warning("still logged")
    [line] = lines(stream)
    assert line["message"] == "still logged"
    assert line["level"] == "WARNING"
    assert line["formatter_error"] == "RuntimeError: boom inside formatter"


def test_text_formatter() -> None:
    logger, stream = make_logger(TextFormatter({"service": "shop"}))
    with context.request_id_scope("r1"):
        logger.warning("slow %s", "thing", extra={"duration_ms": 12.5, "note": "two words"})
    text = stream.getvalue().strip()
    assert re.match(r"^\S+Z WARNING  test\.logs: slow thing ", text), text
    assert "request_id=r1" in text
    assert "service=shop" in text
    assert "duration_ms=12.5" in text
    assert 'note="two words"' in text


def test_text_formatter_exception() -> None:
    logger, stream = make_logger(TextFormatter())
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("math")
    text = stream.getvalue()
    assert text.splitlines()[0].endswith("math")
    assert "ZeroDivisionError: division by zero" in text


# -- configure_logging --------------------------------------------------------------


def test_configure_logging_writes_json_to_the_stream(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, service_name="shop")
    logging.getLogger("app.module").info("configured", extra={"user": "ann"})
    logging.getLogger("app.module").debug("hidden at INFO")
    [line] = lines(stream)
    assert line["message"] == "configured"
    assert line["service"] == "shop"
    assert line["user"] == "ann"
    assert root_state.level == logging.INFO


def test_configure_logging_is_idempotent(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch
) -> None:
    before = len(root_state.handlers)
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second, level="debug")
    assert len(root_state.handlers) == before + 1
    logging.getLogger("app").debug("once")
    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["once"]


def test_configure_logging_keeps_foreign_handlers(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch
) -> None:
    foreign = logging.NullHandler()
    root_state.addHandler(foreign)
    configure_logging(stream=io.StringIO())
    configure_logging(stream=io.StringIO())
    assert foreign in root_state.handlers


def test_environment_twins(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log_file = tmp_path / "nested" / "app.log"
    clean_env.setenv("VIGIL_LOG_LEVEL", "warning")
    clean_env.setenv("VIGIL_LOG_FORMAT", "text")
    clean_env.setenv("VIGIL_LOG_FILE", str(log_file))
    stream = io.StringIO()
    configure_logging(stream=stream)
    logging.getLogger("app").info("dropped")
    logging.getLogger("app").warning("kept")
    assert root_state.level == logging.WARNING
    assert "kept" in stream.getvalue()
    assert "dropped" not in stream.getvalue()
    assert not stream.getvalue().startswith("{")  # text format
    for handler in root_state.handlers:
        handler.flush()
    assert "kept" in log_file.read_text()


def test_arguments_win_over_environment(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("VIGIL_LOG_LEVEL", "error")
    clean_env.setenv("VIGIL_LOG_FORMAT", "text")
    stream = io.StringIO()
    configure_logging(level=logging.DEBUG, fmt="json", stream=stream)
    logging.getLogger("app").debug("debug line")
    assert lines(stream)[0]["message"] == "debug line"


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"level": "verbose"}, {}, "level: unknown log level 'verbose'"),
        ({}, {"VIGIL_LOG_LEVEL": "loud"}, "VIGIL_LOG_LEVEL: unknown log level 'loud'"),
        ({"fmt": "xml"}, {}, "fmt: unknown log format 'xml'"),
        ({}, {"VIGIL_LOG_FORMAT": "yaml"}, "VIGIL_LOG_FORMAT: unknown log format 'yaml'"),
        ({"max_bytes": -1}, {}, "max_bytes must be >= 0"),
    ],
)
def test_bad_settings_say_what_and_where(
    root_state: logging.Logger,
    clean_env: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    env: dict[str, str],
    message: str,
) -> None:
    for key, value in env.items():
        clean_env.setenv(key, value)
    before = list(root_state.handlers)
    with pytest.raises(ValueError, match=re.escape(message)):
        configure_logging(stream=io.StringIO(), **kwargs)
    assert root_state.handlers == before  # nothing changed


def test_unwritable_log_file_names_the_path(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"file: can't open log file .*file/app\.log"):
        configure_logging(file=blocker / "app.log", stream=io.StringIO())


def test_file_rotation(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log_file = tmp_path / "app.log"
    configure_logging(file=log_file, stream=io.StringIO(), max_bytes=2000, backup_count=2)
    log = logging.getLogger("rotate")
    for i in range(100):
        log.info("line %d %s", i, "x" * 50)
    for handler in root_state.handlers:
        handler.flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2000
        for text in path.read_text().splitlines():
            json.loads(text)  # every line stays whole JSON across rotation
    assert json.loads(log_file.read_text().splitlines()[-1])["message"].startswith("line 99 ")


def test_a_message_whose_str_and_repr_raise_is_still_logged() -> None:
    # (through a private logger: pytest's own capture handler would choke on it)
    class BadStr:
        def __str__(self) -> str:
            raise RuntimeError("bad str")

        def __repr__(self) -> str:
            raise RuntimeError("bad repr")

    logger, stream = make_logger(JsonFormatter())
    logger.error(BadStr())
    [line] = lines(stream)
    assert line["message"] == "<unrepresentable " + BadStr.__qualname__ + " object>"


def test_default_stream_is_stderr(
    root_state: logging.Logger, clean_env: pytest.MonkeyPatch
) -> None:
    configure_logging()
    ours = [h for h in root_state.handlers if type(h).__name__ == "_VigilStreamHandler"]
    assert len(ours) == 1
    assert ours[0].stream is sys.stderr  # type: ignore[attr-defined]


def test_uvicorn_color_message_is_not_copied_into_json() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, "m.py", 1, "Started %d", (7,), None)
    record.color_message = "Started \x1b[36m%d\x1b[0m"
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "Started 7"
    assert "color_message" not in out
