"""Users: create, read, update (never delete: the audit trail points at them; deactivate instead).

Every role needs exactly its scope (REQUIREMENTS, top): regulator a region code (province 2 digits ⊃ city
4 ⊃ county 6), enterprise its enterprise, operator and field staff their operator, agency its agency,
auditor an operator and a period. A scope field that does not belong to the role is refused rather than
kept silently, so what a user may see is never decided by a leftover value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from envwatch.core import inputs
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry.agencies_schema import agencies
from envwatch.registry.schema import enterprises, operators
from envwatch.web.accounts.passwords import check_policy, hash_password
from envwatch.web.accounts.schema import users
from envwatch.web.accounts.sessions import end_user_sessions
from envwatch.web.auth import ROLES

USERNAME = inputs.USERNAME  # one rule for accounts and the personnel files that link them
SCOPE_FIELDS = ("region_code", "enterprise_id", "operator_id", "agency_id", "period_from", "period_to")
# which scope fields each role needs (all of them) and may have (only these)
ROLE_SCOPE: dict[str, tuple[str, ...]] = {
    "admin": (),
    "regulator": ("region_code",),
    "enterprise": ("enterprise_id",),
    "operator": ("operator_id",),
    "field_staff": ("operator_id",),
    "agency": ("agency_id",),
    "auditor": ("operator_id", "period_from", "period_to"),
}
EDITABLE = ("display_name", "role", "active", *SCOPE_FIELDS)
PUBLIC = [c for c in users.c if c.name != "password_hash"]


def normalize_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME.fullmatch(name):
        raise InvalidInput(
            f"username {username!r}: 2 to 64 characters, letters, digits and _ . @ - (stored in lower case), "
            "starting with a letter or digit"
        )
    return name


def check_scope(conn: Connection, values: dict[str, Any]) -> None:
    """Raise InvalidInput when the role and its scope fields do not fit together."""
    role = values.get("role")
    if role not in ROLE_SCOPE:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}")
    needed = ROLE_SCOPE[role]
    missing = [f for f in needed if values.get(f) is None]
    if missing:
        raise InvalidInput(f"role {role} needs {', '.join(missing)}")
    extra = [f for f in SCOPE_FIELDS if f not in needed and values.get(f) is not None]
    if extra:
        raise InvalidInput(f"role {role} takes no {', '.join(extra)} (clear them when changing the role)")
    region = values.get("region_code")
    if region is not None and not (region.isascii() and region.isdigit() and len(region) in (2, 4, 6)):
        raise InvalidInput(
            f"region_code {region!r}: 2 digits (province), 4 (city) or 6 (county), a prefix of GB/T 2260"
        )
    period_from: date | None = values.get("period_from")
    period_to: date | None = values.get("period_to")
    if period_from is not None and period_to is not None and period_to < period_from:
        raise InvalidInput(f"period_to {period_to} is before period_from {period_from}")
    for field, table, what in (
        ("enterprise_id", enterprises, "enterprise"),
        ("operator_id", operators, "operator"),
        ("agency_id", agencies, "testing agency"),
    ):
        if values.get(field) is not None and (
            conn.execute(select(table.c.id).where(table.c.id == values[field])).first() is None
        ):
            raise InvalidInput(f"{field}: no {what} with id {values[field]} in the registry")


def create_user(
    conn: Connection,
    username: str,
    password: str,
    fields: dict[str, Any],
    now: datetime,
    *,
    min_password_length: int,
) -> dict[str, Any]:
    """A new active user; ``fields`` holds role, display_name and the scope fields."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"unknown user fields: {', '.join(sorted(unknown))}")
    name = check_username(username)
    values = {"display_name": "", "active": True, **{f: None for f in SCOPE_FIELDS}, **fields}
    check_scope(conn, values)
    check_policy(password, username=name, min_length=min_password_length)
    if user_for_login(conn, name) is not None:
        raise Conflict(f"username {name!r} is taken")
    try:
        user_id = conn.execute(
            insert(users)
            .values(
                username=name, password_hash=hash_password(password), created_at=now, updated_at=now, **values
            )
            .returning(users.c.id)
        ).scalar_one()
    except IntegrityError:  # a concurrent creation of the same name won the race
        raise Conflict(f"username {name!r} is taken") from None
    return get_user(conn, user_id)


def get_user(conn: Connection, user_id: int) -> dict[str, Any]:
    row = conn.execute(select(*PUBLIC).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return dict(row._mapping)


def list_users(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(*PUBLIC).order_by(users.c.username))]


def user_for_login(conn: Connection, username: str) -> dict[str, Any] | None:
    """The full row, password hash included (for login only)."""
    row = conn.execute(select(users).where(users.c.username == normalize_username(username))).first()
    return None if row is None else dict(row._mapping)


def update_user(
    conn: Connection,
    user_id: int,
    changes: dict[str, Any],
    now: datetime,
    *,
    min_password_length: int,
    password: str | None = None,
    keep_session: str | None = None,
) -> dict[str, Any]:
    """Change role, scope, display name, active, and/or reset the password. Deactivating a user or
    setting their password ends their sessions (a reset is what an admin does after a suspected leak), but
    ``keep_session``, the session of a user changing their own password."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"unknown user fields: {', '.join(sorted(unknown))}")
    current = get_user(conn, user_id)
    merged = {**current, **changes}
    check_scope(conn, merged)
    values = dict(changes)
    if password is not None:
        check_policy(password, username=current["username"], min_length=min_password_length)
        values["password_hash"] = hash_password(password)
    conn.execute(update(users).where(users.c.id == user_id).values(**values, updated_at=now))
    if password is not None or changes.get("active") is False:
        end_user_sessions(conn, user_id, keep_token=keep_session)
    return get_user(conn, user_id)


def set_password_hash(conn: Connection, user_id: int, password_hash: str, now: datetime) -> None:
    """Store a rehash (stronger parameters) found at login; the password itself is unchanged."""
    conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash, updated_at=now)
    )
