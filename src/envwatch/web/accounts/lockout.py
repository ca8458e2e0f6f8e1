"""Login lockout: ``failures_before_lockout`` failed logins for one username within ``lockout_window_s``
refuse that username for ``lockout_s`` after the last failure, even with the right password.

Failures are counted per username as typed, whether or not such a user exists, so that a locked answer
does not reveal which usernames are real. (Locking per username lets an attacker keep a known user
locked out; the admin token and other admins still work, and the audit trail shows the attempts.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from envwatch.core.settings import Settings
from envwatch.web.accounts.schema import login_failures


@dataclass(frozen=True)
class LockoutPolicy:
    failures: int
    window: timedelta
    lockout: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> LockoutPolicy:
        return cls(
            settings.failures_before_lockout,
            timedelta(seconds=settings.lockout_window_s),
            timedelta(seconds=settings.lockout_s),
        )


def locked_for(conn: Connection, username: str, now: datetime, policy: LockoutPolicy) -> timedelta | None:
    """How much longer the username is locked, or None when it is not."""
    recent = [
        at
        for (at,) in conn.execute(
            select(login_failures.c.at)
            .where(login_failures.c.username == username)
            .order_by(login_failures.c.at.desc())
            .limit(policy.failures)
        )
    ]
    if len(recent) < policy.failures:
        return None
    newest, oldest = recent[0], recent[-1]
    if newest - oldest > policy.window:
        return None
    remaining = newest + policy.lockout - now
    return remaining if remaining > timedelta(0) else None


def record_failure(conn: Connection, username: str, now: datetime, policy: LockoutPolicy) -> None:
    conn.execute(insert(login_failures).values(username=username, at=now))
    # rows older than window + lockout can no longer lock anyone: keep the table small
    conn.execute(
        delete(login_failures).where(
            login_failures.c.username == username,
            login_failures.c.at < now - policy.window - policy.lockout,
        )
    )


def clear_failures(conn: Connection, username: str) -> None:
    """A successful login starts the count afresh."""
    conn.execute(delete(login_failures).where(login_failures.c.username == username))
