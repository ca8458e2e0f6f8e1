"""Announcing (通知): who hears of an alarm, an order or an audit, and the outbox rows that tell them.

Theory of operation
-------------------
CS-4.3.2.2/3: an anomaly or an exceedance is notified at once to the enterprise and the local bureau
(属地生态环境部门); the operator under contract looks after the device, so it is told too. The registry says
who these are for a device on a day (:func:`audience_for_device`): the enterprise owning the device's outlet,
the operators whose contract covers that outlet that day (the rule of
``registry.service_operators.contracted_outlets``) and the enterprise's region, whose regulators see what
happens in it.

:func:`announce` writes the outbox rows in the caller's transaction (the outbox pattern, DESIGN
convention 7): they commit together with the alarm or order change that caused them, or not at all. The
dispatcher (``alarms.dispatch``) delivers them later, with retries.

- In-app rows are addressed to a scope, not a user (users live in ``web``, above this layer):
  ``enterprise:<id>``, ``operator:<id>``, ``region:<the enterprise's 6-digit code>``. The inbox shows a
  user the rows of their scope; a regulator's are those whose region starts with their region prefix.
- One row per active :mod:`notify target <envwatch.alarms.notify_targets>` that matches: the enterprise's,
  an operator's in the audience, or a region's whose prefix starts the enterprise's region code; and whose
  topics include this one. An address matched twice (registered by two parties) gets one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, or_, select

from envwatch.alarms.notify_schema import notifications, notify_targets
from envwatch.alarms.notify_targets import TOPICS, topics_of
from envwatch.registry.schema import contracts, devices, enterprises, outlets
from envwatch.registry.service_operators import contracted_outlets

SUBJECT_MAX: Final = 300  # notifications.subject
EVENT_MAX: Final = 24  # notifications.event


@dataclass(frozen=True)
class Audience:
    """Who is told: an enterprise, operators, and the regulators of a region (a 6-digit code)."""

    enterprise_id: int | None
    operator_ids: tuple[int, ...] = ()
    region_code: str | None = None

    def scopes(self) -> list[str]:
        """The in-app recipients: ``enterprise:<id>``, ``operator:<id>`` …, ``region:<code>``."""
        out = [] if self.enterprise_id is None else [f"enterprise:{self.enterprise_id}"]
        out += [f"operator:{op}" for op in sorted(set(self.operator_ids))]
        if self.region_code:
            out.append(f"region:{self.region_code}")
        return out


NOBODY: Final = Audience(None, (), None)


def audience_for_enterprise(
    conn: Connection, enterprise_id: int, at: date, outlet_id: int | None = None
) -> Audience:
    """The enterprise, its region, and the operators whose contract covers ``outlet_id`` on day ``at``
    (with no outlet: whose contract covers any outlet of the enterprise that day)."""
    region = conn.execute(
        select(enterprises.c.region_code).where(enterprises.c.id == enterprise_id)
    ).scalar_one_or_none()
    if region is None:
        return NOBODY
    # the candidates are the operators with any contract with the enterprise; which of them covers the
    # outlet that day is decided by the registry's one rule, not a second copy of it here
    candidates = conn.execute(
        select(contracts.c.operator_id).where(contracts.c.enterprise_id == enterprise_id).distinct()
    ).scalars()
    covering: list[int] = []
    for operator_id in candidates:
        scope, whole = contracted_outlets(conn, operator_id, at, at)
        if outlet_id is not None:
            covers = outlet_id in scope
        else:
            covers = enterprise_id in whole or _any_of(conn, scope, enterprise_id)
        if covers:
            covering.append(operator_id)
    return Audience(enterprise_id, tuple(sorted(covering)), region)


def _any_of(conn: Connection, outlet_ids: frozenset[int], enterprise_id: int) -> bool:
    if not outlet_ids:
        return False
    found = conn.execute(
        select(outlets.c.id)
        .where(outlets.c.id.in_(outlet_ids), outlets.c.enterprise_id == enterprise_id)
        .limit(1)
    ).first()
    return found is not None


def audience_for_device(conn: Connection, device_id: int, at: date) -> Audience:
    """Who hears of the device on day ``at`` (China calendar day): its outlet's enterprise, the operators
    under contract for that outlet that day, and the enterprise's region. A device on no outlet (not yet
    placed in the registry) has nobody: :data:`NOBODY`."""
    row = conn.execute(
        select(outlets.c.id, outlets.c.enterprise_id)
        .select_from(devices.join(outlets, devices.c.outlet_id == outlets.c.id))
        .where(devices.c.id == device_id)
    ).first()
    if row is None:
        return NOBODY
    return audience_for_enterprise(conn, row.enterprise_id, at, outlet_id=row.id)


def _region_prefix_matches(target_region: str, region_code: str) -> bool:
    # a region target is stored as its prefix (3501); a row written as a 6-digit code (350100) means the
    # same, so trailing 00 pairs are dropped here as registry.service.region_prefix does
    prefix = target_region.strip()
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return bool(prefix) and region_code.startswith(prefix)


def _is_for(target: Any, audience: Audience) -> bool:
    if target.enterprise_id is not None:
        return bool(target.enterprise_id == audience.enterprise_id)
    if target.operator_id is not None:
        return target.operator_id in audience.operator_ids
    return bool(
        target.region_code
        and audience.region_code
        and _region_prefix_matches(target.region_code, audience.region_code)
    )


def matching_targets(conn: Connection, topic: str, audience: Audience) -> list[tuple[str, str]]:
    """The (channel, address) pairs of the active targets that receive ``topic`` for ``audience``,
    each pair once, in target id order."""
    t = notify_targets.c
    parties = []
    if audience.enterprise_id is not None:
        parties.append(t.enterprise_id == audience.enterprise_id)
    if audience.operator_ids:
        parties.append(t.operator_id.in_(audience.operator_ids))
    if audience.region_code:
        # narrowed to the province in SQL; the exact prefix rule is applied below
        parties.append(t.region_code.startswith(audience.region_code[:2], autoescape=True))
    if not parties:
        return []
    rows = conn.execute(
        select(t.enterprise_id, t.operator_id, t.region_code, t.channel, t.address, t.topics)
        .where(t.active.is_(True), or_(*parties))
        .order_by(t.id)
    ).all()
    found: dict[tuple[str, str], None] = {}
    for row in rows:
        if topic in topics_of(row.topics) and _is_for(row, audience):
            found.setdefault((row.channel, row.address), None)
    return list(found)


def announce(
    conn: Connection,
    *,
    topic: str,
    ref_id: int,
    event: str,
    subject: str,
    body: str,
    payload: Mapping[str, Any],
    audience: Audience,
    now: datetime,
) -> int:
    """Queue the notifications of one event in the caller's transaction; the number of rows written.

    One in-app row per scope of ``audience`` and one row per matching target, all ``pending`` and due at
    ``now``. ``payload`` must be JSON (the webhook receives it as ``data``); a subject longer than the
    column is cut with an ellipsis.
    """
    if topic not in TOPICS:
        raise ValueError(f"topic {topic!r} is not one of {', '.join(TOPICS)}")
    if not event or len(event) > EVENT_MAX:
        raise ValueError(f"event {event!r} must be 1 to {EVENT_MAX} characters")
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    recipients = [("inapp", scope) for scope in audience.scopes()]
    recipients += matching_targets(conn, topic, audience)
    if not recipients:
        return 0
    common = {
        "topic": topic,
        "ref_id": ref_id,
        "event": event,
        "subject": subject,
        "body": body,
        "payload": dict(payload),
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_until": None,
        "created_at": now,
        "sent_at": None,
        "read_at": None,
        "last_error": None,
    }
    conn.execute(insert(notifications), [{**common, "channel": ch, "recipient": to} for ch, to in recipients])
    return len(recipients)
