"""Server-side sessions: the browser holds a random token in an HttpOnly cookie, the database its SHA-256.

A session ends at the first of: logout, ``session_idle_timeout_s`` without use, ``session_absolute_timeout_s``
after login, the user's deactivation or password change. Sessions are working state, not evidence: ending
one deletes its row (logins and logouts are in the audit trail).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from envwatch.core.settings import Settings
from envwatch.web.accounts.schema import sessions, users
from envwatch.web.accounts.tokens import digest, new_secret

# last_seen_at is written at most this often (not on every request), so a session may end up to this
# much early after its last use: far below any sensible idle timeout, and it errs on the safe side
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            timedelta(seconds=settings.session_idle_timeout_s),
            timedelta(seconds=settings.session_absolute_timeout_s),
        )


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie; never stored
    csrf_token: str
    expires_at: datetime


def create_session(
    conn: Connection,
    user_id: int,
    now: datetime,
    policy: SessionPolicy,
    *,
    ip: str = "",
    user_agent: str = "",
) -> NewSession:
    token = new_secret()
    csrf = secrets.token_urlsafe(32)
    expires = now + policy.absolute
    conn.execute(
        insert(sessions).values(
            token_hash=digest(token),
            user_id=user_id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    return NewSession(token, csrf, expires)


def session_user(
    conn: Connection, token: str, now: datetime, policy: SessionPolicy
) -> tuple[dict[str, Any], str] | None:
    """The active user of a live session and the session's CSRF token; None when there is no such
    session or it has run out (an expired session is deleted on the way)."""
    row = conn.execute(
        select(
            users,
            sessions.c.id.label("session_id"),
            sessions.c.csrf_token,
            sessions.c.last_seen_at,
            sessions.c.expires_at,
        )
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    found = dict(row._mapping)
    session_id = found.pop("session_id")
    csrf = found.pop("csrf_token")
    last_seen: datetime = found.pop("last_seen_at")
    expires: datetime = found.pop("expires_at")
    if now >= expires or now - last_seen >= policy.idle or not found["active"]:
        conn.execute(delete(sessions).where(sessions.c.id == session_id))
        return None
    if now - last_seen >= _TOUCH_EVERY:
        conn.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=now))
    return found, csrf


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.token_hash == digest(token)))


def end_user_sessions(conn: Connection, user_id: int, *, keep_token: str | None = None) -> None:
    """End every session of a user (deactivation, password change), optionally but the caller's own."""
    query = delete(sessions).where(sessions.c.user_id == user_id)
    if keep_token is not None:
        query = query.where(sessions.c.token_hash != digest(keep_token))
    conn.execute(query)


def purge_expired(conn: Connection, now: datetime, policy: SessionPolicy) -> int:
    """Delete sessions past either timeout (run at login, so the table does not grow without bound)."""
    result = conn.execute(
        delete(sessions).where(
            (sessions.c.expires_at <= now) | (sessions.c.last_seen_at <= now - policy.idle)
        )
    )
    return result.rowcount
