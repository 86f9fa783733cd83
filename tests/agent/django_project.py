"""A one-module Django project (settings, URLs, views) served by gunicorn and uvicorn in tests.

``DJANGO_SETTINGS_MODULE=django_project``; ``django_project:wsgi()`` and
``django_project:asgi`` (factory) build the applications.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import include, path, re_path

from vigil.agent.context import get_request_id
from vigil.agent.health.registry import CheckResult, HealthRegistry

# ------------------------------------------------------------------ settings

DEBUG = False
SECRET_KEY = "test-only"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "django_project"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, Any] = {}
USE_TZ = True
MIDDLEWARE = ["vigil.agent.django.VigilDjangoMiddleware"]
LOGGING_CONFIG = None  # vigil configures logging

HEALTH = HealthRegistry()
HEALTH.add("always", lambda: CheckResult.passed("fine"))

VIGIL = {"health": "django_project.HEALTH", "admin_token": "tok"}

# ------------------------------------------------------------------ views


def user(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"id": pk, "request_id": get_request_id()})


async def async_user(request: HttpRequest, pk: int) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse({"id": pk, "request_id": get_request_id()})


def article(request: HttpRequest, year: str) -> HttpResponse:
    return HttpResponse(year)


def boom(request: HttpRequest) -> HttpResponse:
    raise KeyError("boom on purpose")


def echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.body * 2)


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(b"z" * 100 for _ in range(7))


api = [path("users/<int:pk>/", user), path("async-users/<int:pk>/", async_user)]

urlpatterns = [
    path("api/", include(api)),
    re_path(r"^articles/(?P<year>[0-9]{4})/$", article),
    path("boom/", boom),
    path("echo/", echo),
    path("stream/", stream),
]

# ------------------------------------------------------------------ applications


def wsgi() -> Any:
    from django.core.wsgi import get_wsgi_application

    from vigil.agent.logs import configure_logging

    configure_logging(level="INFO")
    return get_wsgi_application()


def asgi() -> Any:
    from django.core.asgi import get_asgi_application

    from vigil.agent.logs import configure_logging

    configure_logging(level="INFO")
    return get_asgi_application()
