"""Server-side sessions: a random id in the cookie, everything else on the server.

Sessions live in memory and in a JSON file (so a restart does not sign
everyone out). The file keys each session by the SHA-256 of its id, so reading
it does not give anyone a usable cookie. Each session carries its CSRF token
(the synchronizer pattern: pages send it back in ``X-CSRF-Token``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.ui.users import atomic_write

__all__ = ["DEFAULT_SESSION_TTL", "Session", "SessionStore"]

DEFAULT_SESSION_TTL = 12 * 3600.0


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    key: str  # SHA-256 of the cookie's id
    user: str
    csrf_token: str
    created: float
    expires: float

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.csrf_token)


class SessionStore:
    """Create, look up and end sessions; expired ones are dropped as they are met."""

    def __init__(
        self,
        path: Path | None,
        *,
        ttl: float = DEFAULT_SESSION_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        now = self._clock()
        with contextlib.suppress(ValueError, KeyError, TypeError):  # a bad file signs all out
            for s in json.loads(self.path.read_text()).get("sessions", []):
                session = Session(
                    s["key"], s["user"], s["csrf"], float(s["created"]), float(s["expires"])
                )
                if session.expires > now:
                    self._sessions[session.key] = session

    def _save(self) -> None:
        if self.path is None:
            return
        doc = {
            "sessions": [
                {
                    "key": s.key,
                    "user": s.user,
                    "csrf": s.csrf_token,
                    "created": s.created,
                    "expires": s.expires,
                }
                for s in self._sessions.values()
            ]
        }
        atomic_write(self.path, json.dumps(doc).encode())

    def create(self, user: str) -> tuple[str, Session]:
        """A new session for *user*: the id for the cookie, and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(_key(session_id), user, secrets.token_urlsafe(32), now, now + self.ttl)
        with self._lock:
            self._expire(now)
            self._sessions[session.key] = session
            self._save()
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(_key(session_id))
        if session is None:
            return None
        if session.expires <= self._clock():
            self.delete(session_id)
            return None
        return session

    def delete(self, session_id: str) -> None:
        with self._lock:
            if self._sessions.pop(_key(session_id), None) is not None:
                self._save()

    def delete_user(self, user: str) -> None:
        """End every session of *user* (removed, or their password changed)."""
        with self._lock:
            keys = [k for k, s in self._sessions.items() if s.user == user]
            for k in keys:
                del self._sessions[k]
            if keys:
                self._save()

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float) -> None:
        for k in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[k]
