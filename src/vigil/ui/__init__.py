"""The web UI: pages over the JSON API, behind a login.

:func:`create_ui` builds it; :meth:`UI.wrap` puts the pages in front of the
server's API app and the whole under :class:`AccessControl`.
"""

from __future__ import annotations

from vigil.ui.app import STATIC_DIR, UI, BasePath, UIOptions, create_ui
from vigil.ui.auth import (
    Access,
    AccessControl,
    LoginRateLimiter,
    Policy,
    Principal,
    Requirement,
    Rule,
    principal_of,
)
from vigil.ui.sessions import Session, SessionStore
from vigil.ui.templates import Page
from vigil.ui.users import ApiToken, PasswordHasher, Role, User, UserError, UserStore

__all__ = [
    "STATIC_DIR",
    "UI",
    "Access",
    "AccessControl",
    "ApiToken",
    "BasePath",
    "LoginRateLimiter",
    "Page",
    "PasswordHasher",
    "Policy",
    "Principal",
    "Requirement",
    "Role",
    "Rule",
    "Session",
    "SessionStore",
    "UIOptions",
    "User",
    "UserError",
    "UserStore",
    "create_ui",
    "principal_of",
]
