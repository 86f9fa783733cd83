"""Built-in health checks.

Each function here is a factory: it validates its arguments at once (so a
typo fails at start-up, not at the first probe) and returns a check callable
for :meth:`vigil.agent.health.HealthRegistry.add`::

    health.add("postgres", checks.postgres("postgresql://app@db/app"))
    health.add("redis", checks.redis("redis://cache:6379/0"), critical=False)
    health.add("disk", checks.disk("/var/lib/app", warn_percent=80, fail_percent=95))

Every check reports a measurement (``responseTime`` in ms for dependencies,
``utilization`` in percent for disk, memory and CPU) and useful details
(server version, byte counts, ...), and fails with a message naming the
target when the dependency is down, on the wrong port or too slow.  Each
check's own ``timeout`` (default 3 s) should stay below the registry's
timeout for the check (default 5 s), so the failure says what was slow.
Passwords in URLs are never shown: targets print as
``postgresql://app:***@db:5432/app``.

The database drivers are optional extras and are imported when the factory
is called: ``pip install 'vigil[postgres]'`` (psycopg 3), ``'vigil[mysql]'``
(PyMySQL), ``'vigil[redis]'`` (redis-py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import psutil

from vigil.agent.health.registry import CheckResult, Status

__all__ = [
    "cpu",
    "disk",
    "http",
    "memory",
    "mysql",
    "postgres",
    "redact_url",
    "redis",
    "tcp",
]

AsyncCheck = Callable[[], Awaitable[CheckResult]]
SyncCheck = Callable[[], CheckResult]

DATASTORE = "datastore"
COMPONENT = "component"
SYSTEM = "system"


def redact_url(url: str) -> str:
    """*url* with its password replaced by ``***`` (for messages and details)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        # key=value DSNs ("host=db password=secret") are redacted too.
        return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _oneline(exc: BaseException, limit: int = 300) -> str:
    """*exc* as one line, with the OS reason of its cause when the driver's
    message lacks it (redis-py says "Error 111 connecting", not "refused")."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            reason = os.strerror(cause.errno)
            if reason.lower() not in text.lower():
                text = f"{text} ({reason})"
            break
        cause = cause.__cause__ or cause.__context__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _check_timeout(timeout: float, factory: str) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"checks.{factory}: timeout must be a positive number, got {timeout!r}")
    if not math.isfinite(timeout):
        raise ValueError(f"checks.{factory}: timeout must be finite, got {timeout!r}")
    return float(timeout)


def _check_thresholds(warn_percent: float, fail_percent: float, factory: str) -> None:
    for label, value in (("warn_percent", warn_percent), ("fail_percent", fail_percent)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
            raise ValueError(
                f"checks.{factory}: {label} must be a number in (0, 100], got {value!r}"
            )
    if warn_percent > fail_percent:
        raise ValueError(
            f"checks.{factory}: warn_percent ({warn_percent}) must not exceed "
            f"fail_percent ({fail_percent})"
        )


def _missing_driver(factory: str, module: str, extra: str) -> ImportError:
    return ImportError(
        f"checks.{factory} needs the {module!r} package: pip install 'vigil[{extra}]'"
    )


# -- PostgreSQL ---------------------------------------------------------------


def postgres(dsn: str, *, query: str = "SELECT 1", timeout: float = 3.0) -> AsyncCheck:
    """Connect to PostgreSQL with psycopg 3 (async), run *query*, close.

    Reports the connect-and-query time and the server version.
    """
    timeout = _check_timeout(timeout, "postgres")
    try:
        import psycopg
    except ImportError:
        raise _missing_driver("postgres", "psycopg", "postgres") from None
    target = redact_url(dsn)

    async def check_postgres() -> CheckResult:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                conn = await psycopg.AsyncConnection.connect(
                    dsn,
                    autocommit=True,
                    connect_timeout=max(2, math.ceil(timeout)),  # libpq's minimum is 2
                )
                try:
                    async with conn.cursor() as cur:
                        await cur.execute(query.encode())
                        if cur.description is not None:
                            await cur.fetchone()
                    info = conn.info
                    details: dict[str, Any] = {
                        "serverVersion": info.parameter_status("server_version")
                        or str(info.server_version),
                        "host": info.host,
                        "port": info.port,
                        "database": info.dbname,
                    }
                finally:
                    await conn.close()
        except TimeoutError:
            return _failed_datastore(
                f"PostgreSQL at {target} did not answer within {timeout:g} s", start, target
            )
        except Exception as exc:
            return _failed_datastore(
                f"PostgreSQL at {target} is unreachable or failing: {_oneline(exc)}",
                start,
                target,
            )
        return _passed_datastore(start, details)

    return check_postgres


# -- MySQL / MariaDB -----------------------------------------------------------


def mysql(
    url: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 3306,
    user: str = "root",
    password: str = "",
    database: str | None = None,
    query: str = "SELECT 1",
    timeout: float = 3.0,
) -> SyncCheck:
    """Connect to MySQL or MariaDB with PyMySQL, run *query*, close.

    Give either a URL (``mysql://user:password@host:3306/db``; the schemes
    ``mysql+pymysql``, ``mariadb`` and ``mariadb+pymysql`` are accepted) or
    the connection parameters.  The check is sync (PyMySQL has no async API)
    and runs in its own thread.
    """
    timeout = _check_timeout(timeout, "mysql")
    try:
        import pymysql
    except ImportError:
        raise _missing_driver("mysql", "PyMySQL", "mysql") from None
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in ("mysql", "mariadb"):
            raise ValueError(
                f"checks.mysql: URL {redact_url(url)!r} must start with mysql:// or mariadb://"
            )
        host = parts.hostname or host
        try:
            port = parts.port or port
        except ValueError:
            raise ValueError(f"checks.mysql: URL {redact_url(url)!r} has an invalid port") from None
        user = urllib.parse.unquote(parts.username) if parts.username else user
        password = urllib.parse.unquote(parts.password) if parts.password else password
        database = parts.path.lstrip("/") or database
        target = redact_url(url)
    else:
        auth = f"{user}:***@" if password else f"{user}@"
        target = f"mysql://{auth}{host}:{port}/{database or ''}"

    def check_mysql() -> CheckResult:
        start = time.perf_counter()
        try:
            conn = pymysql.connect(
                host=host,
                port=port,
                user=user,
                password=password,
                database=database,
                connect_timeout=timeout,
                read_timeout=timeout,
                write_timeout=timeout,
            )
            try:
                with conn.cursor() as cur:
                    cur.execute(query)
                    cur.fetchone()
                version = str(conn.get_server_info())  # type: ignore[no-untyped-call]
            finally:
                conn.close()
        except Exception as exc:
            return _failed_datastore(
                f"MySQL at {target} is unreachable or failing: {_oneline(exc)}", start, target
            )
        details = {
            "serverVersion": version,
            "flavor": "MariaDB" if "mariadb" in version.lower() else "MySQL",
            "host": host,
            "port": port,
            "database": database,
        }
        return _passed_datastore(start, details)

    return check_mysql


# -- Redis ---------------------------------------------------------------------


def redis(url: str = "redis://127.0.0.1:6379/0", *, timeout: float = 3.0) -> AsyncCheck:
    """PING Redis (redis-py asyncio, no retries) and read its server info."""
    timeout = _check_timeout(timeout, "redis")
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise _missing_driver("redis", "redis", "redis") from None
    target = redact_url(url)

    async def check_redis() -> CheckResult:
        start = time.perf_counter()
        client = Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            async with asyncio.timeout(timeout):
                pong = await client.ping()
                server = await client.info("server")
        except TimeoutError:
            return _failed_datastore(
                f"Redis at {target} did not answer within {timeout:g} s", start, target
            )
        except Exception as exc:
            return _failed_datastore(
                f"Redis at {target} is unreachable or failing: {_oneline(exc)}", start, target
            )
        finally:
            await client.aclose()
        if not pong:
            return _failed_datastore(f"Redis at {target} did not answer PING", start, target)
        details = {
            "serverVersion": server.get("redis_version"),
            "mode": server.get("redis_mode"),
            "uptimeSeconds": server.get("uptime_in_seconds"),
        }
        return _passed_datastore(start, details)

    return check_redis


def _passed_datastore(start: float, details: Mapping[str, Any]) -> CheckResult:
    return CheckResult(
        Status.PASS,
        details=details,
        observed_value=_ms(time.perf_counter() - start),
        observed_unit="ms",
        measurement="responseTime",
        component_type=DATASTORE,
    )


def _failed_datastore(output: str, start: float, target: str) -> CheckResult:
    return CheckResult(
        Status.FAIL,
        output,
        details={"target": target},
        observed_value=_ms(time.perf_counter() - start),
        observed_unit="ms",
        measurement="responseTime",
        component_type=DATASTORE,
    )


# -- HTTP and TCP ----------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http(
    url: str,
    expected_status: int | Collection[int] = 200,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 3.0,
    follow_redirects: bool = True,
) -> SyncCheck:
    """Request *url* and compare the response status with *expected_status*
    (one code, or a collection such as ``range(200, 300)``)."""
    timeout = _check_timeout(timeout, "http")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"checks.http: {redact_url(url)!r} is not an http:// or https:// URL")
    expected = (
        frozenset({expected_status})
        if isinstance(expected_status, int)
        else frozenset(expected_status)
    )
    if not expected:
        raise ValueError("checks.http: expected_status must not be empty")
    target = redact_url(url)
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if not follow_redirects:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    request_headers = {"User-Agent": "vigil-health-check", **(headers or {})}
    wanted = (
        str(next(iter(expected)))
        if len(expected) == 1
        else f"one of {', '.join(map(str, sorted(expected)))}"
    )

    def check_http() -> CheckResult:
        start = time.perf_counter()
        request = urllib.request.Request(url, method=method.upper(), headers=request_headers)
        final_url = url
        try:
            with opener.open(request, timeout=timeout) as response:
                status = response.status
                final_url = response.geturl()
                response.read(65536)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except Exception as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError | socket.timeout):
                output = f"{method.upper()} {target} did not answer within {timeout:g} s"
            else:
                output = f"{method.upper()} {target} failed: {_oneline(reason)}"  # type: ignore[arg-type]
            return _result(Status.FAIL, output, start, COMPONENT, {"url": target})
        details: dict[str, Any] = {"url": target, "statusCode": status}
        if final_url != url:
            details["finalUrl"] = redact_url(final_url)
        if status not in expected:
            output = f"{method.upper()} {target} returned HTTP {status}, expected {wanted}"
            return _result(Status.FAIL, output, start, COMPONENT, details)
        return _result(Status.PASS, "", start, COMPONENT, details)

    return check_http


def tcp(host: str, port: int, *, timeout: float = 3.0) -> AsyncCheck:
    """Open a TCP connection to *host*:*port* and close it."""
    timeout = _check_timeout(timeout, "tcp")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"checks.tcp: port must be an integer in 1..65535, got {port!r}")
    target = f"{host}:{port}"

    async def check_tcp() -> CheckResult:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                _reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return _result(
                Status.FAIL,
                f"TCP connection to {target} did not complete within {timeout:g} s",
                start,
                COMPONENT,
                {"host": host, "port": port},
            )
        except OSError as exc:
            return _result(
                Status.FAIL,
                f"TCP connection to {target} failed: {_oneline(exc)}",
                start,
                COMPONENT,
                {"host": host, "port": port},
            )
        peer = writer.get_extra_info("peername")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        details = {"host": host, "port": port, "peer": f"{peer[0]}:{peer[1]}" if peer else None}
        return _result(Status.PASS, "", start, COMPONENT, details)

    return check_tcp


def _result(
    status: Status, output: str, start: float, component_type: str, details: Mapping[str, Any]
) -> CheckResult:
    return CheckResult(
        status,
        output,
        details=details,
        observed_value=_ms(time.perf_counter() - start),
        observed_unit="ms",
        measurement="responseTime",
        component_type=component_type,
    )


# -- system resources ------------------------------------------------------------


def _utilization(
    percent: float,
    warn_percent: float,
    fail_percent: float,
    what: str,
    details: Mapping[str, Any],
    component_id: str | None = None,
) -> CheckResult:
    percent = round(percent, 1)
    if percent >= fail_percent:
        status = Status.FAIL
        output = f"{what} is at {percent}% (fail threshold {fail_percent:g}%)"
    elif percent >= warn_percent:
        status = Status.WARN
        output = f"{what} is at {percent}% (warn threshold {warn_percent:g}%)"
    else:
        status, output = Status.PASS, ""
    return CheckResult(
        status,
        output,
        details=details,
        observed_value=percent,
        observed_unit="percent",
        measurement="utilization",
        component_type=SYSTEM,
        component_id=component_id,
    )


def disk(path: str = "/", warn_percent: float = 80.0, fail_percent: float = 90.0) -> SyncCheck:
    """Used space of the file system holding *path*."""
    _check_thresholds(warn_percent, fail_percent, "disk")
    path = os.fspath(path)

    def check_disk() -> CheckResult:
        try:
            usage = psutil.disk_usage(path)
        except OSError as exc:
            return CheckResult.failed(
                f"cannot read disk usage of {path!r}: {_oneline(exc)}",
                component_type=SYSTEM,
                component_id=path,
            )
        details = {
            "path": path,
            "totalBytes": usage.total,
            "usedBytes": usage.used,
            "freeBytes": usage.free,
        }
        return _utilization(
            usage.percent, warn_percent, fail_percent, f"disk {path}", details, component_id=path
        )

    return check_disk


def memory(warn_percent: float = 85.0, fail_percent: float = 95.0) -> SyncCheck:
    """Used system memory (``psutil.virtual_memory().percent``)."""
    _check_thresholds(warn_percent, fail_percent, "memory")

    def check_memory() -> CheckResult:
        vm = psutil.virtual_memory()
        details = {
            "totalBytes": vm.total,
            "availableBytes": vm.available,
            "processRssBytes": psutil.Process().memory_info().rss,
        }
        return _utilization(vm.percent, warn_percent, fail_percent, "memory use", details)

    return check_memory


def cpu(
    warn_percent: float = 80.0, fail_percent: float = 95.0, *, sample_seconds: float = 0.2
) -> SyncCheck:
    """System-wide CPU utilisation sampled over *sample_seconds* (in the check's thread)."""
    _check_thresholds(warn_percent, fail_percent, "cpu")
    if not 0 < sample_seconds <= 10:
        raise ValueError(f"checks.cpu: sample_seconds must be in (0, 10], got {sample_seconds!r}")

    def check_cpu() -> CheckResult:
        # Own sampling rather than psutil.cpu_percent(), which keeps module-level
        # state that the application may rely on.
        busy1, total1 = _cpu_busy_total()
        time.sleep(sample_seconds)
        busy2, total2 = _cpu_busy_total()
        elapsed = total2 - total1
        percent = 100.0 * (busy2 - busy1) / elapsed if elapsed > 0 else 0.0
        percent = min(max(percent, 0.0), 100.0)
        details: dict[str, Any] = {"cpuCount": psutil.cpu_count(), "sampleSeconds": sample_seconds}
        with contextlib.suppress(OSError):  # not available on every platform
            details["loadAverage"] = [round(x, 2) for x in os.getloadavg()]
        return _utilization(percent, warn_percent, fail_percent, "CPU use", details)

    return check_cpu


def _cpu_busy_total() -> tuple[float, float]:
    times = psutil.cpu_times()
    # Linux counts guest time inside user time; do not count it twice.
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total
