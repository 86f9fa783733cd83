"""Users and tokens: slow salted hashes, an atomically written file, the first admin."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from vigil.ui.users import TOKEN_PREFIX, PasswordHasher, Role, UserError, UserStore, ensure_admin

FAST = PasswordHasher(n=2**10)


def test_passwords_are_salted_scrypt_hashes(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json", hasher=FAST)
    users.add("ann", "correct horse", Role.EDITOR)
    users.add("bob", "correct horse", Role.VIEWER)
    doc = json.loads((tmp_path / "users.json").read_text())
    hashes = [u["password"] for u in doc["users"]]
    assert all(h.startswith("scrypt$1024$8$1$") for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salts
    assert "correct horse" not in (tmp_path / "users.json").read_text()
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    assert users.authenticate("ann", "correct horse") is not None
    assert users.authenticate("ann", "wrong horse") is None
    assert users.authenticate("nobody", "correct horse") is None
    assert PasswordHasher().hash("x").startswith("scrypt$16384$8$1$")


def test_the_file_survives_a_restart_and_no_temporary_files_remain(tmp_path: Path) -> None:
    path = tmp_path / "ui" / "users.json"
    users = UserStore(path, hasher=FAST)
    users.add("ann", "password1", Role.ADMIN)
    _, text = users.create_token("ci", Role.EDITOR, "ann")
    again = UserStore(path, hasher=FAST)
    user = again.get("ann")
    assert user is not None
    assert user.role == Role.ADMIN
    assert again.authenticate("ann", "password1") is not None
    token = again.check_token(text)
    assert token is not None
    assert token.role == Role.EDITOR
    assert token.created_by == "ann"
    assert [p.name for p in path.parent.iterdir()] == ["users.json"]
    # Only the token's hash is kept. (The secret is everything after the id: it may hold "_" itself.)
    secret = text.removeprefix(TOKEN_PREFIX).partition("_")[2]
    assert len(secret) >= 40
    assert secret not in path.read_text()


def test_tokens_can_be_revoked_and_mistyped_ones_fail(tmp_path: Path) -> None:
    users = UserStore(None, hasher=FAST)
    token, text = users.create_token("script", Role.VIEWER, "admin")
    assert users.check_token(text) == token
    assert users.check_token(text + "x") is None
    assert users.check_token("vigil_nope_x") is None
    assert users.check_token("Bearer") is None
    users.revoke_token(token.id)
    assert users.check_token(text) is None
    with pytest.raises(UserError, match="no token"):
        users.revoke_token(token.id)


def test_rules_for_names_passwords_and_the_last_admin() -> None:
    users = UserStore(None, hasher=FAST)
    with pytest.raises(UserError, match="at least 8"):
        users.add("ann", "short", Role.ADMIN)
    with pytest.raises(UserError, match="user name"):
        users.add("a b", "long enough", Role.ADMIN)
    users.add("ann", "long enough", Role.ADMIN)
    with pytest.raises(UserError, match="already exists"):
        users.add("ann", "long enough", Role.ADMIN)
    with pytest.raises(UserError, match="last admin"):
        users.remove("ann")
    with pytest.raises(UserError, match="last admin"):
        users.set_role("ann", Role.VIEWER)
    users.set_password("ann", "another one")
    assert users.authenticate("ann", "another one") is not None
    with pytest.raises(UserError, match="not one of"):
        Role.parse("root")
    assert Role.parse(" Editor ") == Role.EDITOR


def test_first_run_creates_admin_with_a_random_password_announced_once(tmp_path: Path) -> None:
    said: list[str] = []
    users = UserStore(tmp_path / "users.json", hasher=FAST)
    password = ensure_admin(users, {}, said.append)
    assert password
    assert len(password) >= 16
    assert said == [f"sign in as admin with password {password} (change it)"]
    assert users.authenticate("admin", password) is not None
    # Second run: users exist, nothing is created or told.
    again = UserStore(tmp_path / "users.json", hasher=FAST)
    assert ensure_admin(again, {}, said.append) is None
    assert len(said) == 1


def test_first_run_password_from_the_environment() -> None:
    said: list[str] = []
    users = UserStore(None, hasher=FAST)
    ensure_admin(users, {"VIGIL_ADMIN_PASSWORD": "from-the-env"}, said.append)
    assert users.authenticate("admin", "from-the-env") is not None
    assert "from-the-env" not in said[0]


def test_a_damaged_users_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text('{"users": [{"name": "x"}]}')
    with pytest.raises(UserError, match=r"users\.json: cannot read the users file"):
        UserStore(path)
