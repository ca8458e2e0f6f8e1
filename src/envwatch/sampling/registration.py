"""Registering a sample: the on-site entry (现场录入, WZ-A2-6) or a self-delivered sample (自送样品, WZ-A2-4).

Either way the platform issues the sample's code in the same transaction as the sample row and its first
custody event, so a code exists only for a registered sample and every label printed later carries a code
already on record (WZ-A2-2). Refused entries store nothing and use no sequence number.

On site: the plan item names enterprise, point, item and container; the sampler must be on the plan's team,
active and hold a passed label-system training valid that day (WZ-A2-5); where and when the entry was made
is judged by :mod:`envwatch.sampling.entry`.

Self-delivered: the receiver (样品管理员) registers it at the hand-over with the seal and label check; a
sample whose seal or label is badly damaged or missing is not accepted (WZ-A2-9) and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.inputs import text
from envwatch.registry.agencies import get_agency, get_agency_staff, trained_on
from envwatch.registry.schema import enterprises
from envwatch.sampling.custody import ACCEPTING_CHECKS, Event, State, next_state
from envwatch.sampling.entry import EntryRules, Position, Window, judge_entry
from envwatch.sampling.issue import issue_code
from envwatch.sampling.journal import EventFacts, event_row
from envwatch.sampling.plans import plan_of_item
from envwatch.sampling.schema import custody_events, samples

# What a sample code stands for (样品唯一性标识), logged as evidence when the code is issued: every column but
# the custody projection (state, prints, needs_review, last_seq), which the logged custody events explain.
SAMPLE_IDENTITY = tuple(
    c.name for c in samples.columns if c.name not in ("state", "prints", "needs_review", "last_seq")
)


@dataclass(frozen=True, slots=True)
class OnSiteEntry:
    plan_item_id: int
    sampler_staff_id: int
    appearance: str  # 样品性状
    preservative: str  # 固定剂 added ("" when none)
    device_at: datetime
    position: Position | None
    offline: bool = False
    sampled_at: datetime | None = None
    seal_no: str | None = None
    photo_sha256: str | None = None
    note: str = ""
    entry_id: str | None = None  # the phone's id of the entry: sent again, it registers once


@dataclass(frozen=True, slots=True)
class SelfDelivered:
    agency_id: int
    receiver_staff_id: int
    point_name: str
    item: str
    check_result: str  # the seal and label check at hand-over
    enterprise_id: int | None = None
    client_name: str = ""
    container: str = ""
    appearance: str = ""
    preservative: str = ""
    sampled_at: datetime | None = None  # as the client declares it
    seal_no: str | None = None
    photo_sha256: str | None = None
    note: str = ""


def _staff_of(conn: Connection, staff_id: int, agency_id: int, role: str) -> dict[str, Any]:
    try:
        person = get_agency_staff(conn, staff_id)
    except NotFound:
        raise NotFound(f"no {role} with staff id {staff_id} at agency {agency_id}") from None
    if person["agency_id"] != agency_id:
        raise NotFound(f"no {role} with staff id {staff_id} at agency {agency_id}")
    if not person["active"]:
        raise InvalidInput(f"{person['name']} no longer works for the agency (inactive)")
    return person


def _insert(
    conn: Connection,
    agency: dict[str, Any],
    values: dict[str, Any],
    event: Event,
    facts: EventFacts,
    now: datetime,
    random_chars: int,
) -> dict[str, Any]:
    state: State = next_state(None, event)
    day = to_china(now).date()
    code = issue_code(conn, agency, day, random_chars)
    row = {
        "code": str(code),
        "agency_id": agency["id"],
        "issue_day": day,
        "seq": code.seq,
        "state": state,
        "prints": 0,
        "needs_review": bool(facts.flags),
        "last_seq": 1,
        "created_at": now,
        **values,
    }
    row["id"] = conn.execute(insert(samples).values(row).returning(samples.c.id)).scalar_one()
    first = conn.execute(
        insert(custody_events)
        .values(event_row(row["id"], 1, event, None, state, facts, now))
        .returning(custody_events.c.id)
    ).scalar_one()
    submit_row(conn, samples, row["id"], kind="sample_code", now=now, columns=SAMPLE_IDENTITY)
    submit_row(conn, custody_events, first, kind="custody_event", now=now)
    return row


def register_on_site(
    conn: Connection, entry: OnSiteEntry, *, actor: str, now: datetime, rules: EntryRules, random_chars: int
) -> dict[str, Any]:
    """The on-site entry of one sample; returns the new sample row (with its code).

    An entry whose ``entry_id`` was registered before returns that sample (``"already": True``) and stores
    nothing: a phone that lost the answer may send its queue again."""
    entry_id = text(entry.entry_id or "", "the entry id", limit=64, required=False) or None
    if entry_id is not None:
        before = conn.execute(select(samples).where(samples.c.entry_id == entry_id)).mappings().first()
        if before is not None:
            if before["plan_item_id"] != entry.plan_item_id:
                raise Conflict(
                    f"entry id {entry_id} was used for another plan item: each entry needs its own"
                )
            return dict(before) | {"already": True}
    plan, item = plan_of_item(conn, entry.plan_item_id)
    agency = get_agency(conn, plan["agency_id"])
    if not agency["active"]:
        raise InvalidInput(f"agency {agency['name']} is inactive")
    sampler = _staff_of(conn, entry.sampler_staff_id, agency["id"], "sampler")
    if sampler["id"] not in plan["team"]:
        raise Conflict(f"{sampler['name']} is not on the team of sampling plan {plan['id']}")
    verdict = judge_entry(
        now=now,
        device_at=entry.device_at,
        offline=entry.offline,
        position=entry.position,
        point=Position(plan["latitude"], plan["longitude"]),
        window=Window(plan["window_start"], plan["window_end"]),
        rules=rules,
        sampled_at=entry.sampled_at,
    )
    day = to_china(verdict.sampled_at).date()
    if not trained_on(conn, sampler["id"], day):
        raise Conflict(
            f"{sampler['name']} holds no passed label-system training valid on {day} (WZ-A2-5): "
            "record the training first"
        )
    assert entry.position is not None  # judge_entry refuses an entry without one
    facts = EventFacts(
        actor=actor,
        staff_id=sampler["id"],
        device_at=entry.device_at,
        latitude=entry.position.latitude,
        longitude=entry.position.longitude,
        distance_m=verdict.distance_m,
        offline=entry.offline,
        seal_no=text(entry.seal_no or "", "the seal number", limit=64, required=False) or None,
        flags=verdict.flags,
        photo_sha256=entry.photo_sha256,
        note=text(entry.note, "the note", limit=2000, required=False),
    )
    values = {
        "plan_id": plan["id"],
        "plan_item_id": item["id"],
        "self_delivered": False,
        "enterprise_id": plan["enterprise_id"],
        "client_name": "",
        "point_name": plan["point_name"],
        "item": item["item"],
        "container": item["container"],
        "sampled_at": verdict.sampled_at,
        "sampler_staff_id": sampler["id"],
        "appearance": text(entry.appearance, "the sample's appearance (样品性状)", limit=200, required=True),
        "preservative": text(entry.preservative, "the preservative (固定剂)", limit=200, required=False),
        "entry_id": entry_id,
    }
    return _insert(conn, agency, values, "register", facts, now, random_chars)


def register_self_delivered(
    conn: Connection, delivery: SelfDelivered, *, actor: str, now: datetime, random_chars: int
) -> dict[str, Any]:
    """A sample the client brought (WZ-A2-4), registered by the receiver at the hand-over."""
    agency = get_agency(conn, delivery.agency_id)
    if not agency["active"]:
        raise InvalidInput(f"agency {agency['name']} is inactive")
    receiver = _staff_of(conn, delivery.receiver_staff_id, agency["id"], "receiver")
    if delivery.check_result not in ACCEPTING_CHECKS:
        raise Conflict(
            f"seal or label {delivery.check_result}: the sample cannot be accepted (WZ-A2-9); give it back"
        )
    note = text(delivery.note, "the note", limit=2000, required=False)
    if delivery.check_result == "abnormal" and not (note and delivery.photo_sha256):
        raise InvalidInput("an abnormal seal or label needs a note and a photo of it (WZ-A2-9)")
    if (
        delivery.enterprise_id is not None
        and not conn.execute(
            select(enterprises.c.id).where(enterprises.c.id == delivery.enterprise_id)
        ).first()
    ):
        raise NotFound(f"no enterprise with id {delivery.enterprise_id}")
    client = text(
        delivery.client_name, "the client (送样单位)", limit=200, required=delivery.enterprise_id is None
    )
    if delivery.sampled_at is not None and (delivery.sampled_at.tzinfo is None or delivery.sampled_at > now):
        raise InvalidInput("the declared sampling time must carry a UTC offset and not lie in the future")
    facts = EventFacts(
        actor=actor,
        staff_id=receiver["id"],
        check_result=delivery.check_result,
        seal_no=text(delivery.seal_no or "", "the seal number", limit=64, required=False) or None,
        photo_sha256=delivery.photo_sha256,
        note=note,
    )
    values = {
        "plan_id": None,
        "plan_item_id": None,
        "self_delivered": True,
        "enterprise_id": delivery.enterprise_id,
        "client_name": client,
        "point_name": text(delivery.point_name, "the sampling point (点位)", limit=200, required=True),
        "item": text(delivery.item, "the monitoring item (监测项目)", limit=100, required=True),
        "container": text(delivery.container, "the container", limit=100, required=False),
        "sampled_at": delivery.sampled_at,
        "sampler_staff_id": None,
        "appearance": text(delivery.appearance, "the appearance", limit=200, required=False),
        "preservative": text(delivery.preservative, "the preservative", limit=200, required=False),
    }
    return _insert(conn, agency, values, "register_self_delivered", facts, now, random_chars)
