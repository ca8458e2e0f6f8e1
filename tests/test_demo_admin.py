"""``make demo`` gives a page login: user admin, password kept in the data directory, made once."""

from __future__ import annotations

from sqlalchemy import Engine

from envwatch.cli import _demo_admin
from envwatch.core.settings import Settings
from envwatch.web.accounts.passwords import verify_password
from envwatch.web.accounts.store import user_for_login


def test_the_demo_admin_is_made_once_and_its_password_works(
    settings: Settings, sqlite_engine: Engine
) -> None:
    first = _demo_admin(sqlite_engine, settings)
    assert _demo_admin(sqlite_engine, settings) == first  # a second demo run keeps it
    path = settings.data_dir / "demo-admin-password"
    assert path.read_text().strip() == first and path.stat().st_mode & 0o777 == 0o600
    with sqlite_engine.connect() as conn:
        user = user_for_login(conn, "admin")
    assert user is not None and user["role"] == "admin"
    assert verify_password(user["password_hash"], first)[0]
    assert not verify_password(user["password_hash"], first + "x")[0]
