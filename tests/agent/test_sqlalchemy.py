"""SQLAlchemy hooks against the real PostgreSQL and MariaDB of this machine."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from prometheus_client import CollectorRegistry
from tests.conftest import MYSQL_URL, POSTGRES_DSN

from vigil.agent.sqlalchemy import instrument_sqlalchemy, sql_operation
from vigil.agent.testing import capture_logs, sample_value

pytestmark = pytest.mark.services

ENGINE_URLS = {
    "postgresql": POSTGRES_DSN.replace("postgresql://", "postgresql+psycopg://", 1),
    "mariadb": MYSQL_URL.replace("mysql://", "mysql+pymysql://", 1),
}
SLEEP_SQL = {"postgresql": "SELECT pg_sleep(0.06)", "mysql": "SELECT SLEEP(0.06)"}  # by dialect


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("SELECT 1", "select"),
        ("  select * from t", "select"),
        ("\n\tInsert INTO t VALUES (1)", "insert"),
        ("UPDATE t SET a = 1", "update"),
        ("delete from t", "delete"),
        ("-- a comment\nSELECT 1", "select"),
        ("# mysql comment\nDELETE FROM t", "delete"),
        ("/* multi\nline */ UPDATE t SET a=1", "update"),
        ("(SELECT 1) UNION (SELECT 2)", "select"),
        ("WITH x AS (SELECT 1 AS a) SELECT a FROM x", "select"),
        (
            "WITH RECURSIVE x(n) AS (SELECT 1 UNION SELECT n+1 FROM x) INSERT INTO t SELECT n FROM x",
            "insert",
        ),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d", "select"),
        ('with "select" as (select 1) update t set a = 1', "update"),
        ("CREATE TABLE t (a int)", "other"),
        ("BEGIN", "other"),
        ("EXPLAIN SELECT 1", "other"),
        ("SAVEPOINT sa_1", "other"),
        ("", "other"),
        (";", "other"),
        ("(VALUES (1))", "other"),
    ],
)
def test_sql_operation(statement: str, operation: str) -> None:
    assert sql_operation(statement) == operation


@pytest.fixture(params=sorted(ENGINE_URLS))
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    engine = sa.create_engine(ENGINE_URLS[request.param], pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def table(engine: sa.Engine) -> Iterator[str]:
    name = f"vigil_sa_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, secret VARCHAR(50))")
    yield name
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def count(registry: CollectorRegistry, operation: str, database: str = "test") -> float:
    value = sample_value(
        registry,
        "vigil_db_query_duration_seconds_count",
        {"database": database, "operation": operation},
    )
    return value or 0.0


def test_queries_are_timed_by_operation(
    engine: sa.Engine, table: str, registry: CollectorRegistry
) -> None:
    instrument_sqlalchemy(engine, registry=registry)
    t = sa.table(table, sa.column("id"), sa.column("secret"))
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"id": 1, "secret": "a"}])
        conn.execute(
            t.insert(), [{"id": 2, "secret": "b"}, {"id": 3, "secret": "c"}]
        )  # executemany
        conn.execute(t.update().where(t.c.id == 1).values(secret="z"))
        rows = conn.execute(sa.select(t.c.id).order_by(t.c.id)).scalars().all()
        conn.execute(t.delete().where(t.c.id == 3))
        conn.execute(sa.text(f"WITH x AS (SELECT id FROM {table}) SELECT count(*) FROM x"))
    assert rows == [1, 2, 3]
    assert count(registry, "insert") >= 2  # drivers may batch executemany differently
    assert count(registry, "update") == 1
    assert count(registry, "select") == 2
    assert count(registry, "delete") == 1
    total = sample_value(
        registry, "vigil_db_query_duration_seconds_sum", {"database": "test", "operation": "select"}
    )
    assert total is not None
    assert 0 < total < 5


def test_errors_are_counted_by_sqlalchemy_class(
    engine: sa.Engine, table: str, registry: CollectorRegistry
) -> None:
    instrument_sqlalchemy(engine, registry=registry)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {table} (id, secret) VALUES (1, 'x')")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {table} (id, secret) VALUES (1, 'x')")
    with pytest.raises(sa.exc.ProgrammingError), engine.connect() as conn:
        conn.exec_driver_sql("SELECT * FROM vigil_no_such_table_anywhere")
    errors = "vigil_db_query_errors_total"
    labels = {"database": "test"}
    assert (
        sample_value(
            registry, errors, {**labels, "operation": "insert", "exception": "IntegrityError"}
        )
        == 1
    )
    assert (
        sample_value(
            registry, errors, {**labels, "operation": "select", "exception": "ProgrammingError"}
        )
        == 1
    )
    # failed statements are timed too
    assert count(registry, "insert") == 2


def test_slow_queries_are_logged_without_parameters(
    engine: sa.Engine, registry: CollectorRegistry
) -> None:
    instrument_sqlalchemy(
        engine, registry=registry, slow_query_seconds=0.05, max_statement_length=40
    )
    with capture_logs("vigil.agent.sqlalchemy") as logs, engine.connect() as conn:
        conn.execute(sa.text("SELECT :secret AS s"), {"secret": "hunter2-password"})
        conn.exec_driver_sql(
            SLEEP_SQL[engine.dialect.name] + "  ,   'padding padding padding padding'"
        )
    slow = [entry for entry in logs if entry["message"].startswith("slow query")]
    assert len(slow) == 1, logs
    entry = slow[0]
    assert entry["level"] == "WARNING"
    assert entry["operation"] == "select"
    assert entry["database"] == "test"
    assert entry["duration_ms"] >= 50
    assert entry["statement"].startswith("SELECT ")
    assert entry["statement"].endswith("...")
    assert len(entry["statement"]) == 40
    assert "  " not in entry["statement"]
    assert "hunter2" not in str(logs)
    assert (
        sample_value(
            registry, "vigil_db_slow_queries_total", {"database": "test", "operation": "select"}
        )
        == 1
    )


def test_slow_query_logging_can_be_turned_off(
    engine: sa.Engine, registry: CollectorRegistry
) -> None:
    instrument_sqlalchemy(engine, registry=registry, slow_query_seconds=None)
    with capture_logs("vigil.agent.sqlalchemy") as logs, engine.connect() as conn:
        conn.exec_driver_sql(SLEEP_SQL[engine.dialect.name])
    assert logs == []
    assert count(registry, "select") == 1


def test_custom_database_label_and_orm_session(
    engine: sa.Engine, table: str, registry: CollectorRegistry
) -> None:
    instrument_sqlalchemy(engine, registry=registry, database="orders")
    with sa.orm.Session(engine) as session:
        session.execute(sa.text(f"INSERT INTO {table} (id, secret) VALUES (5, 'x')"))
        session.commit()
        assert session.execute(sa.text(f"SELECT id FROM {table}")).scalar_one() == 5
    assert count(registry, "insert", database="orders") == 1
    assert count(registry, "select", database="orders") == 1
    assert count(registry, "select") == 0


def test_instrumenting_twice_does_not_double_count(
    engine: sa.Engine, registry: CollectorRegistry
) -> None:
    first = instrument_sqlalchemy(engine, registry=registry)
    assert instrument_sqlalchemy(engine, registry=registry) is first
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert count(registry, "select") == 1
    with pytest.raises(ValueError, match="already instrumented by vigil with other options"):
        instrument_sqlalchemy(engine, registry=registry, slow_query_seconds=3)
    first.remove()
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert count(registry, "select") == 1  # removed: no longer recorded
    again = instrument_sqlalchemy(engine, registry=registry, slow_query_seconds=3)
    assert again is not first


def test_two_engines_share_one_registry(registry: CollectorRegistry) -> None:
    engines = [sa.create_engine(url) for url in ENGINE_URLS.values()]
    try:
        instrument_sqlalchemy(engines[0], registry=registry, database="pg")
        instrument_sqlalchemy(engines[1], registry=registry, database="maria")
        for engine in engines:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        assert count(registry, "select", database="pg") == 1
        assert count(registry, "select", database="maria") == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_connection_failure_is_not_a_query_error(registry: CollectorRegistry) -> None:
    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    instrument_sqlalchemy(engine, registry=registry)
    with pytest.raises(sa.exc.OperationalError), engine.connect():
        pass
    assert list(_samples(registry, "vigil_db_query_errors_total")) == []
    engine.dispose()


def _samples(registry: CollectorRegistry, name: str) -> list[float]:
    return [s.value for m in registry.collect() for s in m.samples if s.name == name]


def test_rejects_what_is_not_an_engine(registry: CollectorRegistry) -> None:
    with pytest.raises(TypeError, match="needs a SQLAlchemy Engine or AsyncEngine, got str"):
        instrument_sqlalchemy("postgresql://", registry=registry)
    engine = sa.create_engine("sqlite://")
    with pytest.raises(ValueError, match="slow_query_seconds must be >= 0"):
        instrument_sqlalchemy(engine, registry=registry, slow_query_seconds=-1)


def test_sqlite_database_label_falls_back_to_dialect(registry: CollectorRegistry) -> None:
    engine = sa.create_engine("sqlite://")
    instrument_sqlalchemy(engine, registry=registry)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert count(registry, "select", database="sqlite") == 1


def test_slow_query_logger_can_be_replaced(engine: sa.Engine, registry: CollectorRegistry) -> None:
    mine = logging.getLogger("test.sqlalchemy.mine")
    instrument_sqlalchemy(engine, registry=registry, slow_query_seconds=0, logger=mine)
    with capture_logs(mine) as logs, engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert [entry["logger"] for entry in logs] == ["test.sqlalchemy.mine"]
