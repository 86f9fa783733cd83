"""The access-control API: who am I, change my password, and (admins) users and tokens.

``/api/v1/auth/...`` answers in the API's envelope; the policy in
:mod:`vigil.ui.auth` decides who may call each endpoint (``me`` and
``password``: any signed-in user; the rest: admins).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vigil.api.errors import ApiError, BadDataError, InternalError, NotFoundError, error_response
from vigil.ui.auth import SESSION_COOKIE, ForbiddenError, principal_of
from vigil.ui.sessions import SessionStore
from vigil.ui.users import Role, UserError, UserStore

__all__ = ["account_routes"]

Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY = 64 * 1024


def _ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data}, status_code=status)


def _wrap(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err)
        except UserError as err:
            text = str(err)
            return error_response(
                NotFoundError(text) if text.startswith("no ") else BadDataError(text)
            )
        except Exception as exc:  # pragma: no cover - a bug; rendered in the envelope
            return error_response(InternalError(f"{type(exc).__name__}: {exc}"))

    wrapped.__name__ = handler.__name__
    return wrapped


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadDataError(f"body is over the limit of {MAX_BODY} bytes")
    try:
        doc = json.loads(body or b"{}")
    except ValueError as err:
        raise BadDataError(f"body is not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise BadDataError("body must be a JSON object")
    return doc


def _str(doc: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadDataError(f'field "{name}": expected a non-empty string')
    return value


def account_routes(
    users: UserStore,
    sessions: SessionStore,
    *,
    secure_cookies: bool | None = None,
    base_path: str = "",
) -> list[Route]:
    async def me(request: Request) -> Response:
        p = principal_of(request)
        data: dict[str, Any] = {"name": p.name, "role": str(p.role or ""), "via": p.via}
        if p.session is not None:
            data["csrfToken"] = p.session.csrf_token
        return _ok(data)

    async def password(request: Request) -> Response:
        p = principal_of(request)
        if p.via != "session":
            raise ForbiddenError("only a signed-in user can change their password")
        doc = await _json(request)
        current, new = _str(doc, "current"), _str(doc, "new")
        if await run_in_threadpool(users.authenticate, p.name, current) is None:
            raise BadDataError('field "current": the current password is wrong')
        await run_in_threadpool(users.set_password, p.name, new)
        sessions.delete_user(p.name)  # sign out everywhere else
        session_id, _ = sessions.create(p.name)
        resp = _ok({"changed": True})
        resp.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(sessions.ttl),
            path=base_path or "/",
            httponly=True,
            samesite="strict",
            secure=secure_cookies if secure_cookies is not None else request.url.scheme == "https",
        )
        return resp

    async def list_users(request: Request) -> Response:
        return _ok([u.public() for u in users.users()])

    async def add_user(request: Request) -> Response:
        doc = await _json(request)
        role = Role.parse(_str(doc, "role"))
        user = await run_in_threadpool(users.add, _str(doc, "name"), _str(doc, "password"), role)
        return _ok(user.public(), 201)

    async def change_user(request: Request) -> Response:
        name = request.path_params["name"]
        doc = await _json(request)
        if users.get(name) is None:
            raise NotFoundError(f"no user named {name!r}")
        if "role" in doc:
            users.set_role(name, Role.parse(_str(doc, "role")))
        if "password" in doc:
            await run_in_threadpool(users.set_password, name, _str(doc, "password"))
            sessions.delete_user(name)
        user = users.get(name)
        assert user is not None
        return _ok(user.public())

    async def remove_user(request: Request) -> Response:
        name = request.path_params["name"]
        users.remove(name)
        sessions.delete_user(name)
        return _ok({"removed": name})

    async def list_tokens(request: Request) -> Response:
        return _ok([t.public() for t in users.tokens()])

    async def add_token(request: Request) -> Response:
        doc = await _json(request)
        role = Role.parse(_str(doc, "role"))
        token, text = users.create_token(_str(doc, "name"), role, principal_of(request).name)
        return _ok({**token.public(), "token": text}, 201)

    async def revoke_token(request: Request) -> Response:
        token_id = request.path_params["id"]
        users.revoke_token(token_id)
        return _ok({"revoked": token_id})

    return [
        Route("/api/v1/auth/me", _wrap(me), methods=["GET"]),
        Route("/api/v1/auth/password", _wrap(password), methods=["POST"]),
        Route("/api/v1/auth/users", _wrap(list_users), methods=["GET"]),
        Route("/api/v1/auth/users", _wrap(add_user), methods=["POST"]),
        Route("/api/v1/auth/users/{name}", _wrap(change_user), methods=["PATCH", "PUT"]),
        Route("/api/v1/auth/users/{name}", _wrap(remove_user), methods=["DELETE"]),
        Route("/api/v1/auth/tokens", _wrap(list_tokens), methods=["GET"]),
        Route("/api/v1/auth/tokens", _wrap(add_token), methods=["POST"]),
        Route("/api/v1/auth/tokens/{id}", _wrap(revoke_token), methods=["DELETE"]),
    ]
