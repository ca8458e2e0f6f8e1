"""Notification targets (通知地址): the e-mail addresses, SMS phones and webhook URLs beyond the in-app inbox.

A target belongs to exactly one party: an enterprise (排污单位), an operator (运维单位) or a regulator's
region (行政区划, stored as its code prefix: 35 = 福建省, 3501 = 福州市, 350102 = 鼓楼区, the rule of
``registry.service.region_prefix``). It receives the topics listed (``alarm``, ``order``, ``audit``; none
listed = all). Targets are never deleted, only deactivated, so the outbox rows sent to them keep their
meaning. Addresses are checked when they are added, so a typo is found by the person typing it and not
by the dispatcher at the next alarm.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, insert, select, update

from envwatch.alarms.notify_schema import notify_targets
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.registry.service import as_dict, get_enterprise, get_row, region_prefix
from envwatch.registry.service_operators import get_operator

TOPICS: Final = ("alarm", "order", "audit")
TARGET_CHANNELS: Final = ("email", "webhook", "sms")
ADDRESS_MAX: Final = 300  # notify_targets.address and notifications.recipient
CREATED_BY_MAX: Final = 64

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")
_PHONE_SEPARATORS = re.compile(r"[\s()-]")
_PHONE = re.compile(r"\+?[0-9]{6,15}")  # E.164 has at most 15 digits


def check_email(address: str) -> str:
    """An e-mail address as SMTP takes it (ASCII ``local@domain.tld``), or InvalidInput saying why not."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    labels = domain.split(".")
    if not at or not local or "@" in local:
        raise InvalidInput(f"e-mail address {address!r} must be one name@domain, e.g. duty@example.com")
    if len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        raise InvalidInput(
            f"e-mail address {address!r}: the part before @ may hold letters, digits and . _ - + only "
            "(no spaces, no dot at either end, no two dots together)"
        )
    if (
        len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(x) for x in labels)
        or not _TLD.fullmatch(labels[-1])
    ):
        raise InvalidInput(
            f"e-mail address {address!r}: the domain {domain!r} is not a host name like example.com "
            "(write an internationalised domain in its xn-- form)"
        )
    return address


def check_url(address: str) -> str:
    """A webhook URL: http or https, with a host; InvalidInput otherwise."""
    address = address.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in address):
        raise InvalidInput(
            f"webhook URL {address!r} contains spaces or control characters: percent-encode them"
        )
    try:
        parts = urllib.parse.urlsplit(address)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise InvalidInput(f"webhook URL {address!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"webhook URL {address!r} must start with https:// (or http://)")
    if not parts.hostname:
        raise InvalidInput(f"webhook URL {address!r} has no host name")
    return address


def check_phone(address: str) -> str:
    """A phone number for SMS: 6-15 digits, optionally after +; spaces, hyphens and brackets are dropped."""
    phone = _PHONE_SEPARATORS.sub("", address)
    if not _PHONE.fullmatch(phone):
        raise InvalidInput(
            f"phone {address!r} must be 6 to 15 digits, optionally after + (e.g. 13800138000 or "
            "+8613800138000); spaces and hyphens are ignored"
        )
    return phone


def check_address(channel: str, address: str) -> str:
    """The address in its stored form for ``channel``; InvalidInput names what is wrong."""
    checks = {"email": check_email, "webhook": check_url, "sms": check_phone}
    if channel not in checks:
        raise InvalidInput(f"channel {channel!r} is not one of {', '.join(TARGET_CHANNELS)}")
    stored = checks[channel](address)
    if len(stored) > ADDRESS_MAX:
        raise InvalidInput(
            f"{channel} address is {len(stored)} characters long; at most {ADDRESS_MAX} are kept"
        )
    return stored


def check_topics(topics: Iterable[str] | str) -> str:
    """Topics as stored: sorted, comma-separated; empty means every topic."""
    items = topics.split(",") if isinstance(topics, str) else list(topics)
    chosen = {t.strip() for t in items if t.strip()}
    unknown = sorted(chosen - set(TOPICS))
    if unknown:
        raise InvalidInput(f"unknown topic(s) {', '.join(unknown)}: choose from {', '.join(TOPICS)}")
    return ",".join(t for t in TOPICS if t in chosen)


def topics_of(stored: str) -> frozenset[str]:
    """The topics a stored target receives (an empty text: all of them)."""
    chosen = frozenset(t.strip() for t in stored.split(",") if t.strip())
    return chosen or frozenset(TOPICS)


def _out(row: Any) -> dict[str, Any]:
    out = as_dict(row)
    out["topics"] = [t for t in out["topics"].split(",") if t]
    return out


def get_target(conn: Connection, target_id: int) -> dict[str, Any]:
    """One target; ``topics`` as a list (empty = every topic)."""
    row = get_row(conn, notify_targets, target_id, "notification target")
    row["topics"] = [t for t in row["topics"].split(",") if t]
    return row


def add_target(
    conn: Connection,
    *,
    channel: str,
    address: str,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    region_code: str | None = None,
    topics: Iterable[str] | str = (),
    created_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Register an address for exactly one party; an active duplicate (same party, channel and address)
    is a Conflict. The region is stored as its prefix (350100 → 3501)."""
    owners = [x for x in (enterprise_id, operator_id, region_code) if x not in (None, "")]
    if len(owners) != 1:
        raise InvalidInput(
            "a notification target belongs to exactly one of: an enterprise, an operator, a region; "
            f"got {len(owners)}"
        )
    if enterprise_id is not None:
        get_enterprise(conn, enterprise_id)
    if operator_id is not None:
        get_operator(conn, operator_id)
    region = region_prefix(region_code) if region_code else None
    stored = check_address(channel, address)
    topic_text = check_topics(topics)
    created_by = created_by.strip()
    if not created_by or len(created_by) > CREATED_BY_MAX:
        raise InvalidInput(f"created_by must be a user name of 1 to {CREATED_BY_MAX} characters")
    t = notify_targets.c
    duplicate = conn.execute(
        select(t.id).where(
            t.active.is_(True),
            t.channel == channel,
            t.address == stored,
            t.enterprise_id.is_(None) if enterprise_id is None else t.enterprise_id == enterprise_id,
            t.operator_id.is_(None) if operator_id is None else t.operator_id == operator_id,
            t.region_code.is_(None) if region is None else t.region_code == region,
        )
    ).first()
    if duplicate is not None:
        raise Conflict(f"{channel} {stored} is already registered for this party (target {duplicate.id})")
    new_id = conn.execute(
        insert(notify_targets).values(
            enterprise_id=enterprise_id,
            operator_id=operator_id,
            region_code=region,
            channel=channel,
            address=stored,
            topics=topic_text,
            active=True,
            created_by=created_by,
            created_at=now,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    return get_target(conn, new_id)


def deactivate_target(conn: Connection, target_id: int) -> dict[str, Any]:
    """Stop sending to a target (kept for the record); deactivating an inactive target changes nothing."""
    get_target(conn, target_id)
    conn.execute(update(notify_targets).where(notify_targets.c.id == target_id).values(active=False))
    return get_target(conn, target_id)


def list_targets(
    conn: Connection,
    *,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    region: str | None = None,
    include_inactive: bool = False,
) -> list[dict[str, Any]]:
    """Targets in id order, filtered by party; ``region`` (2, 4 or 6 digits) finds the region targets at
    or under it (3501 finds 3501 and 350102, not 35)."""
    t = notify_targets.c
    query = select(notify_targets).order_by(t.id)
    if enterprise_id is not None:
        query = query.where(t.enterprise_id == enterprise_id)
    if operator_id is not None:
        query = query.where(t.operator_id == operator_id)
    if region:
        query = query.where(t.region_code.startswith(region_prefix(region), autoescape=True))
    if not include_inactive:
        query = query.where(t.active.is_(True))
    return [_out(r) for r in conn.execute(query)]
