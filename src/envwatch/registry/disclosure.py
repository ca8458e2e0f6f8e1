"""Public disclosure settings (信息公开设置, SX-7): who publishes, the contact, the statement, the history.

SX-7 makes publication a duty of the enterprise (如实、及时、完整地向社会公开自动监测数据，接受社会监督):

- an enterprise without any settings row is published, with an empty contact (the default is the duty);
- publication is all or nothing: there is no way to hide one outlet or factor (完整);
- only an administrator may withdraw an enterprise (``published`` false), and only with a reason (e.g. the
  enterprise has closed); only an administrator may publish it again;
- the enterprise itself (and an administrator) may change the contact and the statement.

Settings are append-only (``disclosure_settings``): a change is a new row with who and when, the newest row
of an enterprise is in force. Which enterprise a principal may reach is the caller's scope check; this
module checks what the role may change (:class:`~envwatch.core.errors.Forbidden`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, true

from envwatch.core.errors import Forbidden, InvalidInput, NotFound
from envwatch.registry.disclosure_schema import STATEMENT_MAX, disclosure_settings
from envwatch.registry.schema import enterprises
from envwatch.registry.service import get_enterprise, get_enterprise_by_credit_code, region_prefix

EDITORS = frozenset({"admin", "enterprise"})  # may change contact and statement (of a visible enterprise)
PUBLISHERS = frozenset({"admin"})  # may withdraw or republish (SX-7: publication is not the company's call)
CONTACT_MAX, PHONE_MAX, REASON_MAX = 100, 32, 500
_PHONE = re.compile(r"[0-9+() -]*")  # the same characters as the registry's phone numbers

_d = disclosure_settings.c
_FIELDS = ("published", "contact_name", "contact_phone", "statement", "reason")


@dataclass(frozen=True)
class DisclosureChange:
    """A requested change; ``published`` None keeps the state in force (what an enterprise sends)."""

    contact_name: str
    contact_phone: str
    statement: str
    published: bool | None = None
    reason: str = ""


def default_settings(enterprise_id: int) -> dict[str, Any]:
    """The settings of an enterprise that never changed them: published (SX-7), nothing else."""
    return {
        "id": None,
        "enterprise_id": enterprise_id,
        "published": True,
        "contact_name": "",
        "contact_phone": "",
        "statement": "",
        "reason": "",
        "changed_by": None,
        "changed_at": None,
    }


def _latest_ids() -> Any:
    """Subquery: the id of the row in force per enterprise (rows only grow, so the highest id)."""
    return select(_d.enterprise_id, func.max(_d.id).label("id")).group_by(_d.enterprise_id).subquery("latest")


def current_settings(conn: Connection, enterprise_id: int) -> dict[str, Any]:
    """The settings in force; NotFound for an unknown enterprise."""
    get_enterprise(conn, enterprise_id)
    row = (
        conn.execute(
            select(disclosure_settings)
            .where(_d.enterprise_id == enterprise_id)
            .order_by(_d.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return default_settings(enterprise_id) if row is None else _out(row)


def settings_history(conn: Connection, enterprise_id: int) -> list[dict[str, Any]]:
    """Every change of an enterprise's settings, newest first."""
    get_enterprise(conn, enterprise_id)
    query = select(disclosure_settings).where(_d.enterprise_id == enterprise_id).order_by(_d.id.desc())
    return [_out(r) for r in conn.execute(query).mappings()]


def _out(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["published"] = bool(out["published"])
    return out


def _clean(change: DisclosureChange) -> DisclosureChange:
    """Trimmed texts within their limits, or InvalidInput naming every problem."""
    name, phone = change.contact_name.strip(), change.contact_phone.strip()
    statement, reason = change.statement.strip(), change.reason.strip()
    problems = []
    if len(name) > CONTACT_MAX:
        problems.append(f"the contact name is longer than {CONTACT_MAX} characters")
    if len(phone) > PHONE_MAX or not _PHONE.fullmatch(phone):
        problems.append(f"the phone number may hold digits, + ( ) - and spaces, at most {PHONE_MAX}")
    if len(statement) > STATEMENT_MAX:
        problems.append(f"the statement has {len(statement)} characters, at most {STATEMENT_MAX} are allowed")
    if len(reason) > REASON_MAX:
        problems.append(f"the reason is longer than {REASON_MAX} characters")
    if problems:
        raise InvalidInput("; ".join(problems))
    return DisclosureChange(name, phone, statement, change.published, reason)


def change_settings(
    conn: Connection,
    enterprise_id: int,
    change: DisclosureChange,
    *,
    role: str,
    changed_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a change (a new row) and return the settings now in force; nothing is written when nothing
    changes. Forbidden for a role that may not make it, InvalidInput for bad values."""
    if role not in EDITORS:
        raise Forbidden(f"role {role} may not change disclosure settings")
    current = current_settings(conn, enterprise_id)
    clean = _clean(change)
    published = current["published"] if clean.published is None else clean.published
    if published != current["published"] and role not in PUBLISHERS:
        raise Forbidden(
            f"role {role} may not {'withdraw' if current['published'] else 'republish'} an enterprise: "
            "publication is a duty (SX-7), only an administrator decides an exception"
        )
    # a withdrawal keeps its reason while the enterprise edits its contact; publishing clears it
    reason = "" if published else (clean.reason or (current["reason"] if clean.published is None else ""))
    if not published and not reason:
        raise InvalidInput("give the reason why the enterprise is not published (e.g. it has closed)")
    values = {
        "published": published,
        "contact_name": clean.contact_name,
        "contact_phone": clean.contact_phone,
        "statement": clean.statement,
        "reason": reason,
    }
    if all(values[k] == current[k] for k in _FIELDS):
        return current
    conn.execute(
        insert(disclosure_settings).values(
            enterprise_id=enterprise_id, **values, changed_by=changed_by, changed_at=now
        )
    )
    return current_settings(conn, enterprise_id)


def _published_query(name: str | None, region: str | None) -> Any:
    latest = _latest_ids()
    joined = enterprises.outerjoin(latest, latest.c.enterprise_id == enterprises.c.id).outerjoin(
        disclosure_settings, _d.id == latest.c.id
    )
    # no row = published (SX-7 default)
    where = [or_(_d.id.is_(None), _d.published == true())]
    if name:
        where.append(enterprises.c.name.contains(name, autoescape=True))
    if region:
        where.append(enterprises.c.region_code.startswith(region_prefix(region), autoescape=True))
    return joined, and_(*where)


def published_enterprises(
    conn: Connection, *, name: str | None = None, region: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """One page of the published enterprises (by region, then name) and how many there are in all.
    InvalidInput for a region that is not 2, 4 or 6 digits."""
    joined, where = _published_query(name, region)
    e = enterprises.c
    total = int(conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one())
    query = (
        select(e.id, e.name, e.credit_code, e.region_code, e.address)
        .select_from(joined)
        .where(where)
        .order_by(e.region_code, e.name, e.id)
        .offset(offset)
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()], total


def published_enterprise(conn: Connection, credit_code: str) -> dict[str, Any]:
    """The enterprise with this credit code and its settings in force, when it is published; NotFound with
    the same message when it is unknown or withdrawn (a withdrawal is not announced to the public)."""
    hidden = NotFound(f"no published enterprise with credit code {credit_code}")
    try:
        enterprise = get_enterprise_by_credit_code(conn, credit_code)
    except NotFound:
        raise hidden from None
    settings = current_settings(conn, enterprise["id"])
    if not settings["published"]:
        raise hidden
    return {**enterprise, "disclosure": settings}
