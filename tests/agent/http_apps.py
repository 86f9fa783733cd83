"""Instrumented applications served by real uvicorn and gunicorn processes in the HTTP tests.

Each factory builds the same small API on one framework and calls
``vigil.agent.setup.instrument`` with JSON logging at INFO on stderr, so the
tests read the access log lines from the server's output.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from flask import Flask, Response, abort, request
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from vigil.agent.context import get_request_id
from vigil.agent.health.registry import CheckResult
from vigil.agent.setup import instrument

ADMIN_TOKEN = "s3cret-token"


def _health_checks(obs: Any) -> None:
    obs.health.add("always", lambda: CheckResult.passed("fine"))
    obs.health.add("ticker", lambda: True, interval=0.2, critical=False)


def fastapi_app() -> Any:
    app = FastAPI()
    items = APIRouter()

    @items.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "request_id": get_request_id()}

    app.include_router(items, prefix="/api")

    @app.get("/users/{user_id}")
    def user(user_id: int) -> dict[str, Any]:  # sync: runs in the thread pool
        return {"id": user_id, "request_id": get_request_id()}

    @app.post("/echo")
    async def echo(request: Request) -> PlainTextResponse:
        body = await request.body()
        return PlainTextResponse(body.decode() * 2)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("boom on purpose")

    @app.get("/missing/{name}")
    async def missing(name: str) -> None:
        raise HTTPException(status_code=404, detail=f"no {name}")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for _ in range(5):
                yield b"x" * 1000
                await asyncio.sleep(0)

        return StreamingResponse(chunks())

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.5)
        return {"slow": True}

    sub = FastAPI()

    @sub.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    app.mount("/sub", sub)

    obs = instrument(app, admin_token=ADMIN_TOKEN, log_level="INFO", service_name="fastapi-test")
    _health_checks(obs)
    return app


def starlette_app() -> Any:
    async def user(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["user_id"]})

    async def file(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["rest"])

    async def boom(request: Request) -> PlainTextResponse:
        raise KeyError("missing")

    app = Starlette(
        routes=[
            Route("/users/{user_id:int}", user),
            Route("/boom", boom),
            Mount("/v1", routes=[Route("/files/{rest:path}", file)]),
        ]
    )
    obs = instrument(app, log_level="INFO", service_name="starlette-test")
    _health_checks(obs)
    return app


def flask_app() -> Any:
    app = Flask(__name__)

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "request_id": get_request_id(), "pid": os.getpid()}

    @app.post("/echo")
    def echo() -> str:
        return request.get_data(as_text=True) * 2

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom on purpose")

    @app.get("/missing/<name>")
    def missing(name: str) -> str:
        abort(404)

    @app.get("/stream")
    def stream() -> Response:
        return Response(b"y" * 100 for _ in range(10))

    obs = instrument(app, admin_token=ADMIN_TOKEN, log_level="INFO", service_name="flask-test")
    _health_checks(obs)
    return app
