"""Password login, shared by the API (``POST /api/v1/auth/login``) and the login page (``POST /login``).

One implementation of the order that matters: lockout first (a locked username is refused even with the
right password), then the password (unknown users burn the same hashing time), the failure committed
before refusing (so it counts), and on success the failures cleared, the hash upgraded if due and a
server-side session created. The callers only translate the outcome into JSON or a page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from sqlalchemy import Engine

from envwatch.core import clock
from envwatch.core.settings import Settings
from envwatch.web.accounts import passwords, store
from envwatch.web.accounts.lockout import LockoutPolicy, clear_failures, locked_for, record_failure
from envwatch.web.accounts.sessions import NewSession, SessionPolicy, create_session, purge_expired

WRONG_CREDENTIALS = "wrong username or password"  # the same for unknown users, so names cannot be probed


class LoginLocked(Exception):
    """The username is locked out for ``seconds`` more (whatever the password)."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins for this username: try again in {seconds} s")
        self.seconds = seconds


class LoginFailed(Exception):
    """Wrong password, unknown or deactivated user: one answer for all three."""

    def __init__(self) -> None:
        super().__init__(WRONG_CREDENTIALS)


@dataclass(frozen=True)
class LoggedIn:
    user: dict[str, Any]
    session: NewSession


def login_username(typed: str) -> str:
    """The username as the lockout counts it and the audit trail records it."""
    return store.normalize_username(typed)[:64]


def attempt_login(
    engine: Engine, settings: Settings, typed_username: str, password: str, *, ip: str, user_agent: str
) -> LoggedIn:
    """Check the password and open a session; raises :class:`LoginLocked` or :class:`LoginFailed`."""
    username = login_username(typed_username)
    lockout = LockoutPolicy.from_settings(settings)
    now = clock.utcnow()
    with engine.begin() as conn:
        remaining = locked_for(conn, username, now, lockout)
    if remaining is not None:
        raise LoginLocked(math.ceil(remaining.total_seconds()))
    with engine.connect() as conn:
        user = store.user_for_login(conn, username)
    rehash = None
    if user is None:
        passwords.burn_verification(password)
        ok = False
    else:
        ok, rehash = passwords.verify_password(user["password_hash"], password)
        ok = ok and bool(user["active"])  # a deactivated user gets the same answer as a wrong password
    if user is None or not ok:
        with engine.begin() as conn:  # committed before refusing: the failure must count
            record_failure(conn, username, now, lockout)
        raise LoginFailed()
    policy = SessionPolicy.from_settings(settings)
    with engine.begin() as conn:
        clear_failures(conn, username)
        if rehash is not None:
            store.set_password_hash(conn, user["id"], rehash, now)
        purge_expired(conn, now, policy)
        new = create_session(conn, user["id"], now, policy, ip=ip, user_agent=user_agent)
    return LoggedIn(user, new)


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """The session cookie, with the same flags whichever route logged in."""
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=int(SessionPolicy.from_settings(settings).absolute.total_seconds()),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,  # page scripts (and so injected scripts) cannot read it
        samesite="lax",  # not sent on cross-site POSTs; the CSRF token covers the rest
    )
