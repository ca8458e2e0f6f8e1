"""The in-app inbox (站内消息): the in-app notifications addressed to one's scope.

In-app rows are addressed to scopes, not people (``enterprise:<id>``, ``operator:<id>``, ``region:<6-digit
code>``; see ``notify``), so a user created later still sees what concerned them before. A regulator of a
region prefix sees every ``region:`` row whose code starts with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, or_, select

from envwatch.alarms.notify_schema import notifications

_n = notifications.c


@dataclass(frozen=True)
class Mailbox:
    """Whose inbox: exact scopes and region prefixes; ``everything`` for the administrator."""

    scopes: tuple[str, ...] = ()
    region_prefixes: tuple[str, ...] = ()
    everything: bool = False


def _where(box: Mailbox) -> list[Any]:
    where: list[Any] = [_n.channel == "inapp"]
    if not box.everything:
        arms: list[Any] = [_n.recipient.in_(list(box.scopes))] if box.scopes else []
        arms += [_n.recipient.startswith(f"region:{p}", autoescape=True) for p in box.region_prefixes]
        where.append(or_(*arms) if arms else _n.id.is_(None))  # an empty mailbox holds nothing
    return where


def inbox(
    conn: Connection, box: Mailbox, *, topic: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """In-app notifications newest first, and how many there are."""
    where = _where(box)
    if topic is not None:
        where.append(_n.topic == topic)
    total = conn.execute(select(func.count()).select_from(notifications).where(*where)).scalar_one()
    rows = conn.execute(
        select(_n.id, _n.topic, _n.ref_id, _n.event, _n.recipient, _n.subject, _n.body, _n.created_at)
        .where(*where)
        .order_by(_n.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [dict(r) for r in rows], int(total)
