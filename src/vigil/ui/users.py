"""Users and API tokens of the web UI, kept in one JSON file in the data directory.

Passwords are hashed with scrypt (a slow, memory-hard hash) and a per-user
salt; API tokens are long random secrets, so a SHA-256 of each is enough to
store. The file is rewritten atomically (a temporary file, fsync, rename), so a
crash leaves either the old or the new version, never half of one.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.model import VigilError

__all__ = [
    "ApiToken",
    "PasswordHasher",
    "Role",
    "User",
    "UserError",
    "UserStore",
    "atomic_write",
    "ensure_admin",
]

ADMIN_PASSWORD_ENV = "VIGIL_ADMIN_PASSWORD"
TOKEN_PREFIX = "vigil_"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8


class UserError(VigilError):
    """A user or token operation that cannot be done (unknown name, weak password...)."""


class Role(enum.IntEnum):
    """What a signed-in user may do; each role can do everything the ones below it can."""

    VIEWER = 1  # read every page and API
    EDITOR = 2  # also silence alerts and edit dashboards
    ADMIN = 3  # also reload the config, run health checks, manage users and tokens

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.name.lower() for r in cls)
            raise UserError(f"role {text!r} is not one of {names}") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class PasswordHasher:
    """scrypt with a fresh 16-byte salt per hash; the parameters are stored with each hash."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(16)
        digest = self._derive(password, salt, self.n, self.r, self.p)
        return f"scrypt${self.n}${self.r}${self.p}${_b64(salt)}${_b64(digest)}"

    def verify(self, password: str, stored: str) -> bool:
        try:
            scheme, n, r, p, salt, digest = stored.split("$")
            if scheme != "scrypt":
                return False
            expected = _unb64(digest)
            got = self._derive(password, _unb64(salt), int(n), int(r), int(p))
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(got, expected)

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    created: float

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "role": str(self.role), "created": self.created}


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    role: Role
    secret_hash: str
    created: float
    created_by: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": str(self.role),
            "created": self.created,
            "createdBy": self.created_by,
        }


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write *data* to *path* through a temporary file and a rename (readable by the owner only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class UserStore:
    """Users and tokens, in memory and in *path* (JSON; None: memory only); changes write through."""

    def __init__(
        self,
        path: Path | None,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.hasher = hasher or PasswordHasher()
        self._clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._tokens: dict[str, ApiToken] = {}
        self._load()

    # -- persistence ------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_text())
            for u in doc.get("users", []):
                user = User(u["name"], Role.parse(u["role"]), u["password"], float(u["created"]))
                self._users[user.name] = user
            for t in doc.get("tokens", []):
                tok = ApiToken(
                    t["id"],
                    t["name"],
                    Role.parse(t["role"]),
                    t["hash"],
                    float(t["created"]),
                    t.get("createdBy", ""),
                )
                self._tokens[tok.id] = tok
        except (ValueError, KeyError, TypeError, UserError) as err:
            raise UserError(f"{self.path}: cannot read the users file: {err}") from None

    def _save(self) -> None:
        if self.path is None:
            return
        doc = {
            "users": [
                {
                    "name": u.name,
                    "role": str(u.role),
                    "password": u.password_hash,
                    "created": u.created,
                }
                for u in sorted(self._users.values(), key=lambda u: u.name)
            ],
            "tokens": [
                {
                    "id": t.id,
                    "name": t.name,
                    "role": str(t.role),
                    "hash": t.secret_hash,
                    "created": t.created,
                    "createdBy": t.created_by,
                }
                for t in sorted(self._tokens.values(), key=lambda t: t.created)
            ],
        }
        atomic_write(self.path, json.dumps(doc, indent=2).encode() + b"\n")

    # -- users ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._users)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.name)

    def add(self, name: str, password: str, role: Role) -> User:
        if not _NAME_RE.match(name):
            raise UserError(
                f"user name {name!r}: use 1 to 64 letters, digits or the characters _ . @ -"
            )
        _check_password(password)
        digest = self.hasher.hash(password)
        with self._lock:
            if name in self._users:
                raise UserError(f"user {name!r} already exists")
            user = User(name, role, digest, self._clock())
            self._users[name] = user
            self._save()
        return user

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        digest = self.hasher.hash(password)
        with self._lock:
            user = self._require(name)
            self._users[name] = User(user.name, user.role, digest, user.created)
            self._save()

    def set_role(self, name: str, role: Role) -> None:
        with self._lock:
            user = self._require(name)
            if user.role == Role.ADMIN and role != Role.ADMIN and self._admins() == 1:
                raise UserError(f"user {name!r} is the last admin and must stay one")
            self._users[name] = User(user.name, role, user.password_hash, user.created)
            self._save()

    def remove(self, name: str) -> None:
        with self._lock:
            user = self._require(name)
            if user.role == Role.ADMIN and self._admins() == 1:
                raise UserError(f"user {name!r} is the last admin and cannot be removed")
            del self._users[name]
            self._save()

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if *password* is theirs; None otherwise (slow either way)."""
        user = self._users.get(name)
        if user is None:
            # Spend the same time as a real check, so timing does not tell which names exist.
            self.hasher.hash(password)
            return None
        return user if self.hasher.verify(password, user.password_hash) else None

    def _require(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise UserError(f"no user named {name!r}")
        return user

    def _admins(self) -> int:
        return sum(1 for u in self._users.values() if u.role == Role.ADMIN)

    # -- tokens -----------------------------------------------------------------------------

    def tokens(self) -> list[ApiToken]:
        return sorted(self._tokens.values(), key=lambda t: t.created)

    def create_token(self, name: str, role: Role, created_by: str) -> tuple[ApiToken, str]:
        """A new token and its secret text (shown once: only its hash is kept)."""
        if not name or len(name) > 200:
            raise UserError("token name: give 1 to 200 characters")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        text = f"{TOKEN_PREFIX}{token_id}_{secret}"
        token = ApiToken(token_id, name, role, _sha256(secret), self._clock(), created_by)
        with self._lock:
            self._tokens[token_id] = token
            self._save()
        return token, text

    def revoke_token(self, token_id: str) -> None:
        with self._lock:
            if token_id not in self._tokens:
                raise UserError(f"no token with id {token_id!r}")
            del self._tokens[token_id]
            self._save()

    def check_token(self, text: str) -> ApiToken | None:
        if not text.startswith(TOKEN_PREFIX):
            return None
        token_id, sep, secret = text[len(TOKEN_PREFIX) :].partition("_")
        token = self._tokens.get(token_id)
        if not sep or token is None:
            return None
        return token if hmac.compare_digest(_sha256(secret), token.secret_hash) else None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: use at least {MIN_PASSWORD_LENGTH} characters")


def ensure_admin(
    users: UserStore, environ: Mapping[str, str], announce: Callable[[str], None]
) -> str | None:
    """First run: with no users, create ``admin`` (password from VIGIL_ADMIN_PASSWORD or random).

    A random password is announced once (it is stored only hashed); returns the
    password that was set, or None when users already existed.
    """
    if len(users):
        return None
    password = environ.get(ADMIN_PASSWORD_ENV, "")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(15)
    users.add("admin", password, Role.ADMIN)
    if generated:
        announce(f"sign in as admin with password {password} (change it)")
    else:
        announce(f"sign in as admin with the password in {ADMIN_PASSWORD_ENV}")
    return password
