"""The ``vigil`` command line."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from vigil import __version__


def _env_default(name: str, default: str) -> str:
    return os.environ.get(name, default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Observability for Python services.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run an instrumented demo web app with a load generator",
        description=(
            "Run a FastAPI app instrumented with vigil (metrics, request IDs, JSON logs, "
            "health checks) and a load generator that calls it, so there is something to see."
        ),
    )
    demo.add_argument(
        "--host",
        default=_env_default("VIGIL_DEMO_HOST", "127.0.0.1"),
        help="address to listen on (env VIGIL_DEMO_HOST; default %(default)s)",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=int(_env_default("VIGIL_DEMO_PORT", "8000")),
        help="port to listen on (env VIGIL_DEMO_PORT; default %(default)s)",
    )
    demo.add_argument(
        "--rate",
        type=float,
        default=float(_env_default("VIGIL_DEMO_RATE", "20")),
        help="requests per second sent by the load generator; 0 turns it off (default %(default)s)",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds; 0 runs until interrupted (default %(default)s)",
    )
    demo.add_argument(
        "--server-listen",
        default=_env_default("VIGIL_DEMO_SERVER_LISTEN", "127.0.0.1:9090"),
        metavar="HOST:PORT",
        help=(
            "address of the vigil server that scrapes the demo and itself "
            "(env VIGIL_DEMO_SERVER_LISTEN; default %(default)s; port 0 picks one)"
        ),
    )
    demo.add_argument(
        "--no-server",
        action="store_true",
        help="run only the demo app and its load, without the vigil server",
    )
    demo.add_argument(
        "--data-dir",
        default=os.environ.get("VIGIL_DEMO_DATA_DIR") or None,
        metavar="DIR",
        help="keep the server's data here (env VIGIL_DEMO_DATA_DIR; default: a temporary dir)",
    )
    demo.add_argument(
        "--scrape-interval",
        default=_env_default("VIGIL_DEMO_SCRAPE_INTERVAL", "5s"),
        help="how often the server scrapes (default %(default)s)",
    )
    _add_server(sub)
    _add_import(sub)
    _add_check(sub)
    return parser


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="check rule files or an alertmanager.yml (like promtool / amtool check)",
        description="Validate files without running them; exit 1 when any file has a problem.",
    )
    what = check.add_subparsers(dest="check_what", metavar="WHAT", required=True)
    rules = what.add_parser(
        "rules",
        help="check Prometheus rule files",
        description="Check Prometheus rule files as `promtool check rules` does.",
    )
    rules.add_argument("files", nargs="+", metavar="FILE")
    rules.add_argument(
        "--lint",
        choices=("all", "duplicate-rules", "none"),
        default="duplicate-rules",
        help="extra checks: duplicate-rules warns about rules defined twice (default %(default)s)",
    )
    rules.add_argument(
        "--lint-fatal", action="store_true", help="exit 3 when a lint check finds something"
    )
    rules.add_argument(
        "--ignore-unknown-fields",
        action="store_true",
        help="accept fields this version does not know (default: they are errors)",
    )
    am = what.add_parser(
        "alertmanager",
        help="check an alertmanager.yml",
        description="Check Alertmanager configuration files as `amtool check-config` does.",
    )
    am.add_argument("files", nargs="+", metavar="FILE")
    test = sub.add_parser(
        "test",
        help="run unit tests of rules (promtool's test file format)",
        description="Run rule unit tests written for `promtool test rules`, unchanged.",
    )
    test_what = test.add_subparsers(dest="test_what", metavar="WHAT", required=True)
    test_rules = test_what.add_parser(
        "rules",
        help="run promtool-format rule unit-test files",
        description="Run promtool-format rule unit-test files; exit 1 when any test fails.",
    )
    test_rules.add_argument("files", nargs="+", metavar="FILE")
    test_rules.add_argument(
        "--ignore-unknown-fields",
        action="store_true",
        help="accept fields this version does not know in rule and test files",
    )
    test_rules.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="REGEX",
        help="run only the test groups whose name matches (repeatable)",
    )


def _add_server(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = sub.add_parser(
        "server",
        help="run the metrics server: scrape targets into an embedded time-series store",
        description=(
            "Scrape the targets of a Prometheus-style config into an embedded store, receive "
            "remote write and text imports, and serve the API. Without --config it scrapes "
            "itself every 15s. SIGHUP or POST /-/reload re-reads the config."
        ),
    )
    server.add_argument(
        "--config",
        default=os.environ.get("VIGIL_CONFIG") or None,
        metavar="FILE",
        help="vigil.yml or an unchanged prometheus.yml (env VIGIL_CONFIG; default: scrape itself)",
    )
    server.add_argument(
        "--data-dir",
        default=_env_default("VIGIL_DATA_DIR", "data"),
        metavar="DIR",
        help="where the store keeps its files (env VIGIL_DATA_DIR; default %(default)s)",
    )
    server.add_argument(
        "--listen",
        default=_env_default("VIGIL_LISTEN", "127.0.0.1:9090"),
        metavar="HOST:PORT",
        help="address of the HTTP API (env VIGIL_LISTEN; default %(default)s; port 0 picks one)",
    )
    server.add_argument(
        "--storage",
        choices=("tsdb", "memory"),
        default=_env_default("VIGIL_STORAGE", "tsdb"),
        help="tsdb keeps data in --data-dir; memory keeps nothing (env VIGIL_STORAGE)",
    )
    server.add_argument(
        "--notifier-config",
        default=os.environ.get("VIGIL_NOTIFIER_CONFIG") or None,
        metavar="FILE",
        help=(
            "an alertmanager.yml: route and send alerts with vigil's built-in notifier "
            "(env VIGIL_NOTIFIER_CONFIG; default: alerts are kept and shown, not sent)"
        ),
    )
    server.add_argument(
        "--default-rules",
        action="store_true",
        default=os.environ.get("VIGIL_DEFAULT_RULES", "") in ("1", "true", "yes"),
        help="also evaluate vigil's default alert rules (env VIGIL_DEFAULT_RULES=1)",
    )
    server.add_argument(
        "--public-read",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("VIGIL_PUBLIC_READ", "1") not in ("0", "false", "no"),
        help=(
            "serve /metrics and the query API without signing in, as Prometheus does "
            "(env VIGIL_PUBLIC_READ=0 to protect them; default: public)"
        ),
    )
    server.add_argument(
        "--public-ingest",
        action="store_true",
        default=os.environ.get("VIGIL_PUBLIC_INGEST", "") in ("1", "true", "yes"),
        help=(
            "accept remote write, imports and alerts without a token "
            "(env VIGIL_PUBLIC_INGEST=1; default: an editor's API token is needed)"
        ),
    )
    server.add_argument(
        "--health-admin-token",
        default=os.environ.get("VIGIL_HEALTH_ADMIN_TOKEN") or None,
        metavar="TOKEN",
        help=(
            "bearer token the Health page's 'run now' sends to targets' POST /health/<check>/run "
            "(env VIGIL_HEALTH_ADMIN_TOKEN; default: running checks from the UI is off)"
        ),
    )
    server.add_argument(
        "--dashboards-dir",
        default=os.environ.get("VIGIL_DASHBOARDS_DIR") or None,
        metavar="DIR",
        help="provision the dashboards (vigil or Grafana JSON) in DIR, read-only (env VIGIL_DASHBOARDS_DIR)",
    )
    server.add_argument(
        "--ui-base-path",
        default=os.environ.get("VIGIL_UI_BASE_PATH", ""),
        metavar="PATH",
        help="serve the web UI under PATH (e.g. /vigil) behind a reverse proxy (env VIGIL_UI_BASE_PATH)",
    )
    server.add_argument(
        "--log-level",
        default=os.environ.get("VIGIL_LOG_LEVEL") or "info",
        help="debug, info, warning or error (env VIGIL_LOG_LEVEL; default %(default)s)",
    )


def _add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser(
        "import",
        help="send a text exposition file with timestamps to a running server (backfill)",
        description=(
            "POST FILE to a vigil server's /api/v1/import/prometheus in chunks of whole "
            "lines. Each chunk is one transaction; the first failing chunk stops the import."
        ),
    )
    imp.add_argument("file", metavar="FILE", help="Prometheus text or OpenMetrics; - for stdin")
    imp.add_argument(
        "--url",
        default=_env_default("VIGIL_URL", "http://127.0.0.1:9090"),
        help="the server (env VIGIL_URL; default %(default)s)",
    )
    imp.add_argument(
        "--format",
        choices=("auto", "prometheus", "openmetrics"),
        default="auto",
        help="auto: OpenMetrics when the file ends with '# EOF' (default %(default)s)",
    )
    imp.add_argument(
        "--extra-label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add this label to every series (repeatable)",
    )
    imp.add_argument(
        "--token",
        default=os.environ.get("VIGIL_TOKEN") or None,
        help="an editor's API token, unless the server runs with --public-ingest (env VIGIL_TOKEN)",
    )
    imp.add_argument(
        "--chunk-bytes",
        type=int,
        default=16 * 1024 * 1024,
        help="bytes per request (default %(default)s)",
    )


def _run_server(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import asyncio

    from vigil.agent.logs import configure_logging
    from vigil.model import VigilError
    from vigil.server import Server, ServerSettings, parse_listen
    from vigil.storage import StorageError

    try:
        parse_listen(args.listen)
    except ValueError as exc:
        parser.error(f"--listen: {exc}")
    try:
        configure_logging(level=args.log_level, service_name="vigil-server")
    except ValueError as exc:
        parser.error(f"--log-level: {exc}")
    config = Path(args.config) if args.config else None
    if config is not None and not config.is_file():
        print(f"vigil server: --config {config}: no such file", file=sys.stderr)
        return 2
    from vigil.ui.templates import check_base_path

    try:
        check_base_path(args.ui_base_path)
    except ValueError as exc:
        parser.error(f"--ui-base-path: {exc}")
    notifier = Path(args.notifier_config) if args.notifier_config else None
    if notifier is not None and not notifier.is_file():
        print(f"vigil server: --notifier-config {notifier}: no such file", file=sys.stderr)
        return 2
    settings = ServerSettings(
        config_file=config,
        data_dir=Path(args.data_dir),
        listen=args.listen,
        storage=args.storage,
        notifier_config=notifier,
        default_rules=args.default_rules,
        public_read=args.public_read,
        public_ingest=args.public_ingest,
        health_admin_token=args.health_admin_token,
        dashboards_dir=Path(args.dashboards_dir) if args.dashboards_dir else None,
        ui_base_path=args.ui_base_path,
    )
    try:
        asyncio.run(Server(settings).serve_forever())
    except VigilError as exc:  # ConfigError, ScrapeSetupError: file:line:col: field: problem
        print(f"vigil server: invalid config, not starting:\n{exc.format()}", file=sys.stderr)
        return 2
    except (OSError, StorageError) as exc:
        print(f"vigil server: {exc}", file=sys.stderr)
        return 1
    return 0


def _chunks(f: BinaryIO, size: int, openmetrics: bool) -> Iterator[bytes]:
    """Whole lines read from *f*, about *size* bytes at a time (the file is never held
    whole); OpenMetrics chunks each end in ``# EOF`` (the file's own is dropped)."""
    rest = b""
    while True:
        block = f.read(size)
        data = rest + block
        end = data.rfind(b"\n") + 1 if block else len(data)
        chunk, rest = data[:end], data[end:]
        if openmetrics:
            chunk = chunk.rstrip()
            if chunk.endswith(b"# EOF") and (len(chunk) == 5 or chunk[-6:-5] == b"\n"):
                chunk = chunk[: -len(b"# EOF")]
        if chunk.strip():
            if openmetrics:
                chunk = chunk.rstrip(b"\n") + b"\n# EOF\n"
            yield chunk
        if not block:
            return


def _ends_with_eof(f: BinaryIO) -> bool:
    try:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - 64))
        tail = f.read()
        f.seek(0)
    except OSError:
        return False
    return tail.rstrip().endswith(b"# EOF")


def _run_import(
    file: str,
    *,
    url: str,
    fmt: str,
    extra_labels: Sequence[str],
    chunk_bytes: int,
    token: str | None = None,
) -> int:
    import httpx

    try:
        f: BinaryIO = io.BytesIO(sys.stdin.buffer.read()) if file == "-" else Path(file).open("rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        print(f"vigil import: {file}: {exc.strerror}", file=sys.stderr)
        return 2
    openmetrics = fmt == "openmetrics" or (fmt == "auto" and _ends_with_eof(f))
    ctype = (
        "application/openmetrics-text; version=1.0.0"
        if openmetrics
        else "text/plain; version=0.0.4"
    )
    endpoint = url.rstrip("/") + "/api/v1/import/prometheus"
    params = httpx.QueryParams([("extra_label", item) for item in extra_labels])
    sent = 0
    with f, httpx.Client(timeout=600) as client:
        for i, chunk in enumerate(_chunks(f, max(chunk_bytes, 1), openmetrics)):
            try:
                headers = {"Content-Type": ctype}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                r = client.post(endpoint, content=chunk, params=params, headers=headers)
            except httpx.HTTPError as exc:
                print(f"vigil import: {endpoint}: {exc}", file=sys.stderr)
                return 1
            if r.status_code != 204:
                try:
                    reason = r.json().get("error", r.text)
                except ValueError:
                    reason = r.text
                print(
                    f"vigil import: chunk {i + 1} (bytes {sent}-{sent + len(chunk)}): "
                    f"HTTP {r.status_code}: {reason}",
                    file=sys.stderr,
                )
                return 1
            sent += len(chunk)
    print(f"vigil import: sent {sent} bytes from {file} to {endpoint}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from vigil.demo.run import run_demo

        if not 0 < args.port < 65536:
            parser.error(f"--port: {args.port} is not a TCP port (1-65535)")
        if args.rate < 0:
            parser.error(f"--rate: {args.rate} is negative; use 0 to turn the load generator off")
        server_listen = None if args.no_server else args.server_listen
        if server_listen is not None:
            from vigil.server import parse_listen

            try:
                parse_listen(server_listen)
            except ValueError as exc:
                parser.error(f"--server-listen: {exc}")
        return run_demo(
            host=args.host,
            port=args.port,
            rate=args.rate,
            duration=args.duration,
            server_listen=server_listen,
            data_dir=Path(args.data_dir) if args.data_dir else None,
            scrape_interval=args.scrape_interval,
        )
    if args.command == "server":
        return _run_server(parser, args)
    if args.command == "check":
        if args.check_what == "rules":
            from vigil.rules.check import check_rules

            return check_rules(
                args.files,
                sys.stdout,
                lint=args.lint,
                lint_fatal=args.lint_fatal,
                ignore_unknown_fields=args.ignore_unknown_fields,
            )
        from vigil.notify.config import check_config

        return check_config(args.files, sys.stdout)
    if args.command == "test":
        from vigil.rules.unittest import run_test_files

        return run_test_files(
            args.files,
            sys.stdout,
            run=args.run,
            ignore_unknown_fields=args.ignore_unknown_fields,
        )
    if args.command == "import":
        return _run_import(
            args.file,
            url=args.url,
            fmt=args.format,
            extra_labels=args.extra_label,
            chunk_bytes=args.chunk_bytes,
            token=args.token,
        )
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
