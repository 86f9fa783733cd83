"""Sessions: random ids, server-side state with expiry, a file holding only hashes of the ids."""

from __future__ import annotations

from pathlib import Path

from vigil.ui.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_expire(tmp_path: Path) -> None:
    clock = Clock()
    store = SessionStore(tmp_path / "s.json", ttl=60, clock=clock)
    sid, session = store.create("ann")
    assert store.get(sid) == session
    assert store.get("not-a-session") is None
    assert store.get("") is None
    clock.now += 59
    assert store.get(sid) is not None
    clock.now += 2
    assert store.get(sid) is None
    assert len(store) == 0


def test_sessions_survive_a_restart_and_the_file_has_no_ids(tmp_path: Path) -> None:
    clock = Clock()
    store = SessionStore(tmp_path / "s.json", clock=clock)
    sid, session = store.create("ann")
    assert sid not in (tmp_path / "s.json").read_text()
    again = SessionStore(tmp_path / "s.json", clock=clock)
    found = again.get(sid)
    assert found is not None
    assert found.user == "ann"
    assert found.csrf_token == session.csrf_token
    assert session.csrf_ok(session.csrf_token)
    assert not session.csrf_ok(None)
    assert not session.csrf_ok("")
    assert not session.csrf_ok("x")


def test_logout_and_signing_a_user_out_everywhere(tmp_path: Path) -> None:
    store = SessionStore(None)
    a, _ = store.create("ann")
    b, _ = store.create("ann")
    c, _ = store.create("bob")
    assert len({a, b, c}) == 3
    store.delete(a)
    assert store.get(a) is None
    assert store.get(b) is not None
    store.delete_user("ann")
    assert store.get(b) is None
    assert store.get(c) is not None
