"""Secrets handed to clients (session cookies, API tokens) and the per-user API tokens.

Only a SHA-256 of each secret is stored. A fast hash is right here, unlike for passwords: the secrets
are 256-bit random, so there is nothing to brute-force, and lookups happen on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.web.accounts.schema import api_tokens, users

API_TOKEN_PREFIX = "ewt_"  # recognisable in logs and by secret scanners
# last_used_at is for people ("is this script still running?"): minute precision spares a write per call
_TOUCH_EVERY = timedelta(minutes=1)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(conn: Connection, user_id: int, name: str, now: datetime) -> tuple[dict[str, Any], str]:
    """A new token for the user: its row (without the hash) and the plain token, shown this once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("token name: 1 to 100 characters saying what uses it, e.g. 'nightly export'")
    token = API_TOKEN_PREFIX + new_secret()
    token_id = conn.execute(
        insert(api_tokens)
        .values(token_hash=digest(token), user_id=user_id, name=name, created_at=now)
        .returning(api_tokens.c.id)
    ).scalar_one()
    return get_api_token(conn, user_id, token_id), token


_PUBLIC = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.created_at,
    api_tokens.c.last_used_at,
    api_tokens.c.revoked_at,
)


def list_api_tokens(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(*_PUBLIC).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id))
    return [dict(r._mapping) for r in rows]


def get_api_token(conn: Connection, user_id: int, token_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(*_PUBLIC).where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
    ).first()
    if row is None:
        raise NotFound(f"you have no API token with id {token_id}")
    return dict(row._mapping)


def revoke_api_token(conn: Connection, user_id: int, token_id: int, now: datetime) -> dict[str, Any]:
    """Revoke one of the user's tokens (kept, with revoked_at, so the list shows what existed)."""
    get_api_token(conn, user_id, token_id)
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return get_api_token(conn, user_id, token_id)


def user_of_api_token(conn: Connection, token: str, now: datetime) -> dict[str, Any] | None:
    """The active user a live token belongs to, or None (unknown, revoked, or user deactivated)."""
    row = conn.execute(
        select(users, api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(
            api_tokens.c.token_hash == digest(token),
            api_tokens.c.revoked_at.is_(None),
            users.c.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    found = dict(row._mapping)
    if found["last_used_at"] is None or now - found["last_used_at"] >= _TOUCH_EVERY:
        conn.execute(update(api_tokens).where(api_tokens.c.id == found["token_id"]).values(last_used_at=now))
    for key in ("token_id", "last_used_at"):
        found.pop(key)
    return found
