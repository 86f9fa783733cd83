"""Built-in checks against the real PostgreSQL, MariaDB and Redis of this machine.

Failure cases use a closed port (connection refused: must fail at once) and a
"silent" server that accepts TCP connections but never answers (must fail
within the check's timeout).
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
import pytest
from prometheus_client import CollectorRegistry
from tests.conftest import MYSQL_URL, POSTGRES_DSN, REDIS_URL

from vigil.agent.health import checks
from vigil.agent.health.registry import CheckResult, HealthRegistry, Status
from vigil.agent.health.report import HealthReport

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def with_port(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener completes TCP handshakes but never reads or writes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def run(check: Any) -> CheckResult:
    """Call a built-in check as the registry would (sync ones in a thread)."""
    if inspect.iscoroutinefunction(check):
        result = await check()
    else:
        result = await asyncio.to_thread(check)
    assert isinstance(result, CheckResult)
    return result


def assert_response_time(result: CheckResult) -> None:
    assert result.measurement == "responseTime"
    assert result.observed_unit == "ms"
    assert isinstance(result.observed_value, float)
    assert result.observed_value >= 0


# -- PostgreSQL ----------------------------------------------------------------------


@pytest.mark.services
async def test_postgres_passes_with_version() -> None:
    result = await run(checks.postgres(POSTGRES_DSN))
    assert result.status is Status.PASS, result.output
    assert_response_time(result)
    assert result.component_type == "datastore"
    assert result.details["serverVersion"][0].isdigit()
    assert result.details["database"] == urllib.parse.urlsplit(POSTGRES_DSN).path.lstrip("/")


@pytest.mark.services
async def test_postgres_wrong_port_fails_fast_without_leaking_the_password() -> None:
    port = closed_port()
    dsn = with_port(POSTGRES_DSN, port).replace("postgres@", "postgres:s3cret@")
    start = time.perf_counter()
    result = await run(checks.postgres(dsn, timeout=3))
    assert time.perf_counter() - start < 1.5  # refused at once, not after the 3 s timeout
    assert result.status is Status.FAIL
    assert result.output.startswith(f"PostgreSQL at postgresql://postgres:***@127.0.0.1:{port}/")
    assert "Connection refused" in result.output
    assert "s3cret" not in result.output
    assert "s3cret" not in str(result.details)
    assert_response_time(result)


@pytest.mark.services
async def test_postgres_silent_server_fails_within_timeout(silent_port: int) -> None:
    start = time.perf_counter()
    result = await run(checks.postgres(with_port(POSTGRES_DSN, silent_port), timeout=0.5))
    elapsed = time.perf_counter() - start
    assert 0.5 <= elapsed < 1.5
    assert result.status is Status.FAIL
    assert result.output == (
        f"PostgreSQL at {with_port(POSTGRES_DSN, silent_port)} did not answer within 0.5 s"
    )


@pytest.mark.services
async def test_postgres_failing_query_is_reported() -> None:
    result = await run(checks.postgres(POSTGRES_DSN, query="SELECT * FROM no_such_table_vigil"))
    assert result.status is Status.FAIL
    assert 'relation "no_such_table_vigil" does not exist' in result.output


# -- MySQL / MariaDB ------------------------------------------------------------------


@pytest.mark.services
async def test_mysql_passes_with_version() -> None:
    result = await run(checks.mysql(MYSQL_URL))
    assert result.status is Status.PASS, result.output
    assert_response_time(result)
    assert result.details["flavor"] in ("MariaDB", "MySQL")
    assert result.details["serverVersion"]


@pytest.mark.services
async def test_mysql_accepts_parameters_instead_of_a_url() -> None:
    parts = urllib.parse.urlsplit(MYSQL_URL)
    check = checks.mysql(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.lstrip("/"),
    )
    assert (await run(check)).status is Status.PASS


@pytest.mark.services
async def test_mysql_wrong_port_fails_fast() -> None:
    port = closed_port()
    start = time.perf_counter()
    result = await run(checks.mysql(with_port(MYSQL_URL, port)))
    assert time.perf_counter() - start < 1.5  # refused at once, not after the 3 s timeout
    assert result.status is Status.FAIL
    assert result.output.startswith(f"MySQL at mysql://root@127.0.0.1:{port}/test")
    assert "Connection refused" in result.output


@pytest.mark.services
async def test_mysql_silent_server_fails_within_timeout(silent_port: int) -> None:
    start = time.perf_counter()
    result = await run(checks.mysql(with_port(MYSQL_URL, silent_port), timeout=0.5))
    assert time.perf_counter() - start < 1.5
    assert result.status is Status.FAIL
    assert "timed out" in result.output


@pytest.mark.services
async def test_mysql_bad_credentials_are_reported() -> None:
    url = MYSQL_URL.replace("root@", "vigil_no_such_user:pw@")
    result = await run(checks.mysql(url))
    assert result.status is Status.FAIL
    assert "Access denied" in result.output
    assert ":pw@" not in result.output


def test_mysql_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="must start with mysql:// or mariadb://"):
        checks.mysql("postgresql://root:pw@db/test")


# -- Redis ---------------------------------------------------------------------------


@pytest.mark.services
async def test_redis_passes_with_version() -> None:
    result = await run(checks.redis(REDIS_URL))
    assert result.status is Status.PASS, result.output
    assert_response_time(result)
    assert result.details["serverVersion"].count(".") == 2
    assert result.details["uptimeSeconds"] >= 0


@pytest.mark.services
async def test_redis_wrong_port_fails_fast() -> None:
    port = closed_port()
    start = time.perf_counter()
    result = await run(checks.redis(with_port(REDIS_URL, port)))
    assert time.perf_counter() - start < 1.5  # no retries, no waiting for the 3 s timeout
    assert result.status is Status.FAIL
    assert result.output.startswith(f"Redis at redis://127.0.0.1:{port}/0 is unreachable")


@pytest.mark.services
async def test_redis_silent_server_fails_within_timeout(silent_port: int) -> None:
    start = time.perf_counter()
    result = await run(checks.redis(with_port(REDIS_URL, silent_port), timeout=0.5))
    assert 0.5 <= time.perf_counter() - start < 1.5
    assert result.status is Status.FAIL
    assert "within 0.5 s" in result.output or "Timeout" in result.output


# -- HTTP and TCP --------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(1.0)
        code = {"/ok": 200, "/slow": 200, "/created": 201}.get(self.path, 500)
        body = b"hello"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_http_pass_and_wrong_status(http_base: str) -> None:
    ok = await run(checks.http(f"{http_base}/ok"))
    assert ok.status is Status.PASS
    assert ok.details["statusCode"] == 200
    assert_response_time(ok)

    bad = await run(checks.http(f"{http_base}/boom"))
    assert bad.status is Status.FAIL
    assert bad.output == f"GET {http_base}/boom returned HTTP 500, expected 200"

    created = await run(checks.http(f"{http_base}/created", expected_status=range(200, 300)))
    assert created.status is Status.PASS
    wanted = await run(checks.http(f"{http_base}/boom", expected_status=[200, 204]))
    assert wanted.output.endswith("returned HTTP 500, expected one of 200, 204")


async def test_http_redirects(http_base: str) -> None:
    followed = await run(checks.http(f"{http_base}/redirect"))
    assert followed.status is Status.PASS
    assert followed.details["finalUrl"] == f"{http_base}/ok"
    raw = await run(checks.http(f"{http_base}/redirect", 302, follow_redirects=False))
    assert raw.status is Status.PASS
    assert raw.details["statusCode"] == 302


async def test_http_timeout_and_refused(http_base: str) -> None:
    start = time.perf_counter()
    slow = await run(checks.http(f"{http_base}/slow", timeout=0.3))
    assert time.perf_counter() - start < 0.95  # the server answers after 1 s
    assert slow.output == f"GET {http_base}/slow did not answer within 0.3 s"
    port = closed_port()
    refused = await run(checks.http(f"http://127.0.0.1:{port}/"))
    assert refused.status is Status.FAIL
    assert refused.output.startswith(f"GET http://127.0.0.1:{port}/ failed:")
    assert "refused" in refused.output.lower()


def test_http_rejects_bad_urls() -> None:
    with pytest.raises(ValueError, match="is not an http:// or https:// URL"):
        checks.http("ftp://example.com/")
    with pytest.raises(ValueError, match="expected_status must not be empty"):
        checks.http("http://127.0.0.1/", expected_status=[])


async def test_tcp(silent_port: int) -> None:
    ok = await run(checks.tcp("127.0.0.1", silent_port))
    assert ok.status is Status.PASS
    assert ok.details["peer"] == f"127.0.0.1:{silent_port}"
    port = closed_port()
    start = time.perf_counter()
    refused = await run(checks.tcp("127.0.0.1", port))
    assert time.perf_counter() - start < 1.0
    assert refused.status is Status.FAIL
    assert refused.output.startswith(f"TCP connection to 127.0.0.1:{port} failed:")
    with pytest.raises(ValueError, match=r"port must be an integer in 1\.\.65535, got 0"):
        checks.tcp("127.0.0.1", 0)


# -- system resources ----------------------------------------------------------------------


def expected_status(percent: float, warn: float, fail: float) -> Status:
    return Status.FAIL if percent >= fail else Status.WARN if percent >= warn else Status.PASS


async def test_disk_reports_usage_and_applies_thresholds(tmp_path: Any) -> None:
    result = await run(checks.disk(str(tmp_path)))
    usage = psutil.disk_usage(str(tmp_path))
    assert result.measurement == "utilization"
    assert result.observed_unit == "percent"
    assert result.observed_value == pytest.approx(usage.percent, abs=1)
    assert result.details["totalBytes"] == usage.total
    assert result.status is expected_status(result.observed_value, 80, 90)
    # Thresholds below the current use: warn, then fail.
    used = usage.percent
    if used > 0.2:
        warned = await run(checks.disk(str(tmp_path), warn_percent=used / 2, fail_percent=100))
        assert warned.status is Status.WARN
        assert warned.output.startswith(f"disk {tmp_path} is at ")
        failed = await run(checks.disk(str(tmp_path), warn_percent=0.1, fail_percent=used / 2))
        assert failed.status is Status.FAIL
        assert "(fail threshold" in failed.output


async def test_disk_missing_path_fails_clearly(tmp_path: Any) -> None:
    missing = str(tmp_path / "nope")
    result = await run(checks.disk(missing))
    assert result.status is Status.FAIL
    assert result.output.startswith(f"cannot read disk usage of {missing!r}")


async def test_memory_and_cpu() -> None:
    mem = await run(checks.memory(warn_percent=85, fail_percent=95))
    assert 0 < mem.observed_value < 100
    assert mem.status is expected_status(mem.observed_value, 85, 95)
    assert mem.details["totalBytes"] > mem.details["availableBytes"] > 0
    everything = await run(checks.memory(warn_percent=0.01, fail_percent=0.02))
    assert everything.status is Status.FAIL
    assert everything.output.startswith("memory use is at ")

    cpu = await run(checks.cpu(sample_seconds=0.1))
    assert 0 <= cpu.observed_value <= 100
    assert cpu.status is expected_status(cpu.observed_value, 80, 95)
    assert cpu.details["cpuCount"] == psutil.cpu_count()


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (
            checks.disk,
            {"warn_percent": 95, "fail_percent": 90},
            "warn_percent \\(95\\) must not exceed",
        ),
        (checks.memory, {"warn_percent": 0}, "warn_percent must be a number in \\(0, 100\\]"),
        (checks.cpu, {"fail_percent": 150}, "fail_percent must be a number in \\(0, 100\\]"),
        (checks.cpu, {"sample_seconds": 0}, "sample_seconds must be in"),
        (checks.redis, {"timeout": 0}, "checks.redis: timeout must be a positive number"),
        (checks.postgres, {"dsn": "postgresql://x", "timeout": -1}, "checks.postgres: timeout"),
    ],
)
def test_factories_validate_arguments(factory: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://app:secret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://:secret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("host=db password=secret user=app", "host=db password=*** user=app"),
        ("host=db password='se cret' user=app", "host=db password=*** user=app"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert checks.redact_url(url) == redacted


# -- all together: one dependency down, the others still report ---------------------------


@pytest.mark.services
async def test_wrong_ports_fail_quickly_while_other_checks_report(
    registry: CollectorRegistry, silent_port: int
) -> None:
    health = HealthRegistry(registry)
    health.add("postgres", checks.postgres(POSTGRES_DSN))
    health.add("mysql", checks.mysql(MYSQL_URL))
    health.add("redis", checks.redis(REDIS_URL))
    health.add("disk", checks.disk("/", warn_percent=99.8, fail_percent=99.9))
    health.add(
        "postgres_down", checks.postgres(with_port(POSTGRES_DSN, closed_port())), critical=False
    )
    health.add("mysql_down", checks.mysql(with_port(MYSQL_URL, closed_port())), critical=False)
    health.add("redis_down", checks.redis(with_port(REDIS_URL, closed_port())), critical=False)
    health.add(
        "redis_hung",
        checks.redis(with_port(REDIS_URL, silent_port), timeout=2),
        critical=False,
        timeout=0.5,  # the registry's timeout cuts the check short
    )

    start = time.perf_counter()
    results = await health.run_all()
    elapsed = time.perf_counter() - start

    # Every check's own timeout is 3 s: finishing well before it shows that the
    # refused connections failed at once and the checks ran concurrently (run
    # one after another they would take 8 checks' worth). Margins allow a busy CI.
    assert elapsed < 2.8
    status = {name: r.status for name, r in results.items()}
    assert status == {
        "postgres": Status.PASS,
        "mysql": Status.PASS,
        "redis": Status.PASS,
        "disk": Status.PASS,
        "postgres_down": Status.FAIL,
        "mysql_down": Status.FAIL,
        "redis_down": Status.FAIL,
        "redis_hung": Status.FAIL,
    }
    assert results["redis_hung"].output == "check did not finish within its timeout of 0.5 s"
    for name in ("postgres_down", "mysql_down", "redis_down"):
        assert "refused" in results[name].output.lower(), results[name].output
        duration = results[name].duration_seconds
        assert duration is not None
        assert duration < 2.5  # refused at once, not cut by the 3 s timeout
    report = HealthReport.from_results(results.values())
    assert report.status is Status.WARN
    assert report.http_status == 200
    assert registry.get_sample_value("vigil_health_check_status", {"check": "postgres"}) == 1.0
    assert registry.get_sample_value("vigil_health_check_status", {"check": "redis_down"}) == 0.0
