"""Route templates: Flask and Django conversion tables, Starlette/FastAPI resolution."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Mount, Route
from starlette.staticfiles import StaticFiles

from vigil.agent.routes import UNMATCHED, StarletteRoutes, django_template, flask_template


@pytest.mark.parametrize(
    ("rule", "template"),
    [
        ("/", "/"),
        ("/users/<int:id>", "/users/{id}"),
        ("/users/<id>", "/users/{id}"),
        ("/files/<path:rest>", "/files/{rest}"),
        ("/a/<int:x>/b/<float:y>", "/a/{x}/b/{y}"),
        ("/any/<any(a,b):kind>", "/any/{kind}"),
        ("/u/<uuid:u>/", "/u/{u}/"),
    ],
)
def test_flask_template(rule: str, template: str) -> None:
    assert flask_template(rule) == template


@pytest.mark.parametrize(
    ("route", "template"),
    [
        ("", "/"),
        ("users/<int:pk>/", "/users/{pk}/"),
        ("users/<pk>/", "/users/{pk}/"),
        ("api/v1/items/<slug:slug>/<uuid:id>", "/api/v1/items/{slug}/{id}"),
        ("^articles/(?P<year>[0-9]{4})/$", "/articles/{year}/"),
        ("^a/(?P<x>(?:ab|cd)+)/b/(?P<y>[^/)]+)$", "/a/{x}/b/{y}"),
        ("^files/(?P<name>[a-z]+)\\.txt$", "/files/{name}.txt"),
        ("^legacy/\\Z", "/legacy/"),
        ("api/^v2/(?P<id>\\d+)/$", "/api/v2/{id}/"),
    ],
)
def test_django_template(route: str, template: str) -> None:
    assert django_template(route) == template


class _Capture:
    """Records what StarletteRoutes resolves for each request."""

    def __init__(self, app: Any, routes: StarletteRoutes) -> None:
        self.app = app
        self.routes = routes
        self.seen: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.seen.append(self.routes.resolve(scope))


def _resolve_all(app: Any, paths: list[str], *, bind: bool = True) -> list[str]:
    routes = StarletteRoutes(app if bind else None)
    captured: list[_Capture] = []

    def factory(inner: Any) -> _Capture:
        capture = _Capture(inner, routes)
        captured.append(capture)
        return capture

    app.add_middleware(factory)
    _get(app, paths)
    return captured[0].seen


def _get(app: Any, paths: list[str]) -> None:
    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for path in paths:
                await client.get(path)

    anyio.run(run)


def _text(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.mark.parametrize("bind", [True, False])
def test_starlette_routes(bind: bool, tmp_path: Any) -> None:
    (tmp_path / "a.css").write_text("x")
    app = Starlette(
        routes=[
            Route("/users/{id:int}", _text),
            Mount(
                "/tenants/{tenant}",
                routes=[
                    Route("/orders/{order}", _text),
                    Mount("/deep", routes=[Route("/{x}", _text)]),
                ],
            ),
            Mount("/static", app=StaticFiles(directory=tmp_path)),
            Host("api.example.com", app=Starlette(routes=[Route("/h/{id}", _text)])),
        ]
    )
    seen = _resolve_all(
        app,
        [
            "/users/1",
            "/users/x",
            "/tenants/acme/orders/9",
            "/tenants/b/deep/z",
            "/static/a.css",
            "/nope",
        ],
        bind=bind,
    )
    assert seen == [
        "/users/{id}",
        UNMATCHED,
        "/tenants/{tenant}/orders/{order}",
        "/tenants/{tenant}/deep/{x}",
        "/static/{path}",
        UNMATCHED,
    ]


def test_fastapi_routers_and_sub_apps() -> None:
    app = FastAPI()
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> int:
        return item_id

    app.include_router(router, prefix="/v1")
    app.include_router(router, prefix="/v2")  # the same route object under two prefixes
    outer = APIRouter(prefix="/outer")
    outer.include_router(router, prefix="/inner")
    app.include_router(outer)

    sub = FastAPI()
    sub.include_router(router, prefix="/r")

    @sub.get("/s/{s}")
    async def s(s: str) -> str:
        return s

    app.mount("/sub", sub)
    seen = _resolve_all(
        app,
        [
            "/v1/items/1",
            "/v2/items/2",
            "/outer/inner/items/3",
            "/sub/r/items/4",
            "/sub/s/x",
            "/v1/items/bad",
        ],
    )
    assert seen == [
        "/v1/items/{item_id}",
        "/v2/items/{item_id}",
        "/outer/inner/items/{item_id}",
        "/sub/r/items/{item_id}",
        "/sub/s/{s}",
        "/v1/items/{item_id}",  # validation error (422) still has its route
    ]


def test_route_added_after_first_request() -> None:
    app = Starlette(routes=[Route("/a", _text)])
    routes = StarletteRoutes(app)
    captured: list[_Capture] = []

    def factory(inner: Any) -> _Capture:
        captured.append(_Capture(inner, routes))
        return captured[-1]

    app.add_middleware(factory)
    _get(app, ["/a"])
    app.router.routes.append(Mount("/late", routes=[Route("/{n}", _text)]))
    _get(app, ["/late/5"])
    assert captured[0].seen == ["/a", "/late/{n}"]


def test_resolve_without_route_is_unmatched() -> None:
    assert StarletteRoutes().resolve({"type": "http", "path": "/x"}) == UNMATCHED
