"""The ``vigil`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from vigil.demo.run import run_demo

        if not 0 < args.port < 65536:
            parser.error(f"--port: {args.port} is not a TCP port (1-65535)")
        if args.rate < 0:
            parser.error(f"--rate: {args.rate} is negative; use 0 to turn the load generator off")
        return run_demo(host=args.host, port=args.port, rate=args.rate, duration=args.duration)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
