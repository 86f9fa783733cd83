"""Query metrics and slow-query logs for SQLAlchemy engines.

::

    engine = create_engine("postgresql+psycopg://...")
    instrument_sqlalchemy(engine)

records, from the engine's ``before_cursor_execute``/``after_cursor_execute``
and ``handle_error`` events:

* ``vigil_db_query_duration_seconds{database,operation}`` histogram;
* ``vigil_db_query_errors_total{database,operation,exception}``, where
  ``exception`` is SQLAlchemy's portable class name (``IntegrityError``,
  ``OperationalError``...);
* ``vigil_db_slow_queries_total{database,operation}``, and one ``WARNING`` on the
  logger ``vigil.agent.sqlalchemy`` per query slower than *slow_query_seconds*
  with the statement (whitespace collapsed, truncated; parameters are never
  logged), its duration and operation.

``operation`` is the statement's first SQL keyword, one of ``select``,
``insert``, ``update``, ``delete`` or ``other``; leading comments and
parentheses are skipped, and for ``WITH`` the keyword of the main statement
after the CTEs is used.  ``database`` defaults to the URL's database name (the
dialect name when there is none).

An engine is instrumented once: a second call with the same options returns the
same handle, with other options it raises :class:`ValueError`.  Async engines
are accepted (their ``sync_engine`` is instrumented).
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext

from vigil.agent.decorators import DB_BUCKETS, counter_family, histogram_family

__all__ = ["SQLAlchemyInstrumentation", "instrument_sqlalchemy", "sql_operation"]

OPERATIONS = frozenset({"select", "insert", "update", "delete"})
DEFAULT_LOGGER = logging.getLogger("vigil.agent.sqlalchemy")
_START_ATTR = "_vigil_query_start"
_INFO_KEY = "vigil_query_starts"

# Comments, quoted strings/identifiers, parentheses and words: enough to find the
# statement's keyword without parsing SQL.
_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<line_comment>--[^\n]*|\#[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<quoted>'(?:[^']|'')*'?|"(?:[^"]|"")*"?|`[^`]*`?)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@lru_cache(maxsize=2048)
def sql_operation(statement: str) -> str:
    """The operation label of *statement*: ``select``, ``insert``, ``update``, ``delete`` or ``other``."""
    depth = 0
    in_with = False
    for match in _TOKEN_RE.finditer(statement):
        kind = match.lastgroup
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind == "word":
            word = match.group().lower()
            if not in_with:
                if depth > 0 and word not in OPERATIONS and word != "with":
                    return "other"  # "(VALUES ...)" and the like
                if word == "with":
                    in_with = True
                    continue
                return word if word in OPERATIONS else "other"
            if depth == 0 and word in OPERATIONS:
                return word
        elif kind == "other" and not in_with:
            return "other"
    return "other"


def _one_line(statement: str, limit: int) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


@dataclass(eq=False)
class SQLAlchemyInstrumentation:
    """The hooks installed on one engine; :meth:`remove` takes them off again."""

    engine: Engine
    database: str
    registry: CollectorRegistry
    slow_query_seconds: float | None
    logger: logging.Logger
    max_statement_length: int
    clock: Callable[[], float]
    _hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._duration = histogram_family(
            self.registry,
            "vigil_db_query_duration_seconds",
            "Duration of SQL statements run through SQLAlchemy, in seconds.",
            ["database", "operation"],
            DB_BUCKETS,
        )
        self._errors = counter_family(
            self.registry,
            "vigil_db_query_errors",
            "SQL statements that raised, by SQLAlchemy exception class.",
            ["database", "operation", "exception"],
        )
        self._slow = counter_family(
            self.registry,
            "vigil_db_slow_queries",
            "SQL statements slower than the slow-query threshold.",
            ["database", "operation"],
        )
        self._children: dict[str, Any] = {}

    # -- event handlers ----------------------------------------------------------

    def _before(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        start = self.clock()
        if context is not None:
            setattr(context, _START_ATTR, start)
        else:
            conn.info.setdefault(_INFO_KEY, []).append(start)

    def _take_start(self, conn: Connection | None, context: Any) -> float | None:
        if context is not None:
            start = getattr(context, _START_ATTR, None)
            if start is not None:
                setattr(context, _START_ATTR, None)
            return start
        if conn is not None:
            starts = conn.info.get(_INFO_KEY)
            if starts:
                return float(starts.pop())
        return None

    def _after(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        start = self._take_start(conn, context)
        if start is None:
            return
        elapsed = max(self.clock() - start, 0.0)
        operation = sql_operation(statement)
        child = self._children.get(operation)
        if child is None:
            child = self._children[operation] = self._duration.labels(self.database, operation)
        child.observe(elapsed)
        if self.slow_query_seconds is not None and elapsed >= self.slow_query_seconds:
            self._slow.labels(self.database, operation).inc()
            self.logger.warning(
                "slow query: %.3f s %s on %s",
                elapsed,
                operation,
                self.database,
                extra={
                    "duration_ms": round(elapsed * 1000, 3),
                    "database": self.database,
                    "operation": operation,
                    "statement": _one_line(statement, self.max_statement_length),
                    "executemany": executemany,
                },
            )

    def _error(self, ctx: ExceptionContext) -> None:
        if ctx.statement is None and ctx.execution_context is None:
            return  # not a statement error (connect failure, pool...): not a query
        statement = ctx.statement or ""
        operation = sql_operation(statement)
        start = self._take_start(ctx.connection, ctx.execution_context)
        if start is not None:
            self._duration.labels(self.database, operation).observe(max(self.clock() - start, 0.0))
        exc = ctx.sqlalchemy_exception or ctx.original_exception
        self._errors.labels(self.database, operation, type(exc).__name__).inc()

    # -- installation -----------------------------------------------------------

    def _install(self) -> None:
        self._hooks = [
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._error),
        ]
        for name, hook in self._hooks:
            event.listen(self.engine, name, hook)

    def remove(self) -> None:
        """Take the hooks off the engine (metrics already recorded stay)."""
        for name, hook in self._hooks:
            if event.contains(self.engine, name, hook):
                event.remove(self.engine, name, hook)
        self._hooks = []
        _instrumented.pop(self.engine, None)

    def _options(self) -> tuple[object, ...]:
        return (
            self.database,
            self.registry,
            self.slow_query_seconds,
            self.logger,
            self.max_statement_length,
            self.clock,
        )


# Which engines carry hooks, weakly, so instrumenting twice can't double-count.
_instrumented: weakref.WeakKeyDictionary[Engine, SQLAlchemyInstrumentation] = (
    weakref.WeakKeyDictionary()
)


def instrument_sqlalchemy(
    engine: Any,
    *,
    registry: CollectorRegistry = REGISTRY,
    slow_query_seconds: float | None = 0.5,
    logger: logging.Logger = DEFAULT_LOGGER,
    database: str | None = None,
    max_statement_length: int = 500,
    clock: Callable[[], float] = time.perf_counter,
) -> SQLAlchemyInstrumentation:
    """Record query durations, errors and slow queries of *engine* (sync or async).

    *slow_query_seconds* ``None`` turns slow-query logging off.
    """
    sync_engine = getattr(engine, "sync_engine", engine)
    if not isinstance(sync_engine, Engine):
        raise TypeError(
            f"instrument_sqlalchemy() needs a SQLAlchemy Engine or AsyncEngine, got {type(engine).__name__}"
        )
    if slow_query_seconds is not None and slow_query_seconds < 0:
        raise ValueError(f"slow_query_seconds must be >= 0 or None, got {slow_query_seconds}")
    if max_statement_length < 10:
        raise ValueError(f"max_statement_length must be >= 10, got {max_statement_length}")
    db = database or sync_engine.url.database or sync_engine.dialect.name
    instrumentation = SQLAlchemyInstrumentation(
        engine=sync_engine,
        database=db,
        registry=registry,
        slow_query_seconds=slow_query_seconds,
        logger=logger,
        max_statement_length=max_statement_length,
        clock=clock,
    )
    existing = _instrumented.get(sync_engine)
    if existing is not None:
        if existing._options() == instrumentation._options():
            return existing
        raise ValueError(
            f"engine {sync_engine.url.render_as_string(hide_password=True)} is already "
            "instrumented by vigil with other options; call .remove() on the first handle first"
        )
    instrumentation._install()
    _instrumented[sync_engine] = instrumentation
    return instrumentation
