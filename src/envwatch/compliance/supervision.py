"""The city's monthly full-coverage supervision plan (月度全覆盖监督检查计划, SX-22.3) and its results
against the on-site checklist (现场监督检查内容, SX-22.4).

SX-22.3: every month the city's ecology-environment bureau inspects, on site, *every* enterprise with
automatic monitoring equipment. A plan makes that duty a list:

- region: a city (4 digits) or a county (6 digits); a 6-digit code ending in 00 names its city (330100 is
  3301, as the registry's region filter reads it). The enterprises are those whose region code starts
  with it. A province (2 digits) is refused: the duty is the city's.
- population: the enterprises with at least one *monitored outlet* (an outlet with a registered device on
  it) at plan time, one item each, recording those outlet ids. Enterprises without one are not listed.
- once per region and month: making it again answers the plan made before (``already``) unless the
  population has grown since; then a *supplementary plan* is made holding only the enterprises no plan of
  that region and month lists yet (a monitored outlet added mid-month must still be inspected that month).
  An enterprise whose devices were removed stays on the plan it was listed on. ``population`` records the
  whole population counted at that time, so a supplement shows how the region grew.
- only the current month or a later one: a plan for a month that is over cannot be carried out.

Results (SX-22.4): per item, each of the nine checklist items answered ``ok`` / ``problem`` / ``na`` (a
problem needs a note saying what), the day visited (a China day of the plan's month, not after today),
the inspectors and a note. The outcome is derived: ``problems`` when any item is a problem, else ``ok``.
Results are appended, never changed: a correction is a new row naming the row it corrects
(``supersedes_id``, a result of the same item not corrected before); another visit is a new row without
it. The newest result of an item is the one that counts.

Coverage: items with a result / items, per plan, with the enterprises still outstanding listed.

Every plan, item and result is logged as evidence in the transaction that records it (kinds
``supervision_plan`` for the plan and its items, ``supervision_result``). Who may do what is the web layer's
(write kind ``supervision``: admin, regulator of the region).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, text

from envwatch.compliance.schema import supervision_plan_items, supervision_plans, supervision_results
from envwatch.compliance.supervision_checklist import KEYS, STATES
from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.inputs import text as checked_text
from envwatch.registry.schema import devices, enterprises, outlets
from envwatch.registry.service import region_prefix

_p = supervision_plans.c
_i = supervision_plan_items.c
_r = supervision_results.c
_e = enterprises.c
_o = outlets.c

OUTCOMES = ("ok", "problems")
NOTE_MAX = 4000


# ---- regions, months and locks (shared with the spot test) ----


def plan_region(code: str) -> str:
    """A city (4 digits) or county (6) as the prefix stored on plans and draws; InvalidInput otherwise."""
    prefix = region_prefix(code)
    if len(prefix) < 4:
        raise InvalidInput(
            f"region {code!r} is a province: give a city (4 digits, e.g. 3301) or a county (6 digits); "
            "the duty is the city's (SX-22.3, SX-23)"
        )
    return prefix


def region_within(region: str, viewer_region: str | None) -> bool:
    """Whether a plan's or draw's ``region`` lies within (or equals) a regulator's region."""
    if not viewer_region:
        return False
    try:
        return region.startswith(region_prefix(viewer_region))
    except InvalidInput:
        return False


def parse_month(value: str) -> date:
    """``YYYY-MM`` as the first day of that month."""
    try:
        year, month = value.strip().split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidInput(f"month {value!r} is not a month YYYY-MM (e.g. 2026-11)") from None


def month_text(month: date) -> str:
    return f"{month:%Y-%m}"


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def serialise(conn: Connection, *parts: object) -> None:
    """Serialise makers of the same list (on PostgreSQL a transaction-scoped advisory lock keyed by
    ``parts``; SQLite lets one writer in at a time anyway), so two simultaneous asks make one list."""
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def monitored_outlets(conn: Connection, region: str) -> dict[int, list[int]]:
    """The region's enterprises with their monitored outlets (an outlet with a registered device on it),
    by enterprise id, outlet ids ascending."""
    query = (
        select(_o.enterprise_id, _o.id)
        .join(enterprises, _e.id == _o.enterprise_id)
        .join(devices, devices.c.outlet_id == _o.id)
        .where(_e.region_code.startswith(region, autoescape=True))
        .distinct()
        .order_by(_o.enterprise_id, _o.id)
    )
    found: dict[int, list[int]] = defaultdict(list)
    for enterprise_id, outlet_id in conn.execute(query):
        found[int(enterprise_id)].append(int(outlet_id))
    return dict(found)


def percent(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


# ---- plans ----


def _plans_of(conn: Connection, region: str, month: str) -> list[int]:
    query = select(_p.id).where(_p.region_code == region, _p.month == month).order_by(_p.id)
    return [int(i) for i in conn.execute(query).scalars()]


def make_plan(conn: Connection, region: str, month: str, by: str, now: datetime) -> dict[str, Any]:
    """The plan of ``region`` for ``month`` (YYYY-MM): made now, a supplement for enterprises that came
    since, or the first plan made before (``"already": True``). Returns :func:`get_plan` of it."""
    region = plan_region(region)
    first = parse_month(month)
    month = month_text(first)
    this_month = to_china(now).date().replace(day=1)
    if first < this_month:
        raise InvalidInput(f"{month} is over: plan the current month ({this_month:%Y-%m}) or a later one")
    by = checked_text(by, "the person making the plan", required=True, limit=100)
    serialise(conn, "supervision_plan", region, month)
    population = monitored_outlets(conn, region)
    earlier = _plans_of(conn, region, month)
    listed: set[int] = set()
    if earlier:
        query = select(_i.enterprise_id).where(_i.plan_id.in_(earlier))
        listed = {int(e) for e in conn.execute(query).scalars()}
    new = {e: outs for e, outs in population.items() if e not in listed}
    if earlier and not new:
        return get_plan(conn, earlier[0]) | {"already": True}
    if not new:
        raise InvalidInput(
            f"region {region} has no enterprise with a monitored outlet (an outlet with a registered device): "
            "nothing to plan"
        )
    row = {
        "region_code": region,
        "month": month,
        "population": len(population),
        "created_by": by,
        "created_at": now,
    }
    plan_id = int(conn.execute(insert(supervision_plans).values(row).returning(_p.id)).scalar_one())
    submit_row(conn, supervision_plans, plan_id, kind="supervision_plan", now=now)
    for enterprise_id, outs in sorted(new.items()):
        values = {"plan_id": plan_id, "enterprise_id": enterprise_id, "outlets": outs}
        item_id = int(
            conn.execute(insert(supervision_plan_items).values(values).returning(_i.id)).scalar_one()
        )
        submit_row(conn, supervision_plan_items, item_id, kind="supervision_plan", now=now)
    return get_plan(conn, plan_id) | {"already": False}


def plan_row(conn: Connection, plan_id: int) -> dict[str, Any]:
    row = conn.execute(select(supervision_plans).where(_p.id == plan_id)).mappings().first()
    if row is None:
        raise NotFound(f"no supervision plan with id {plan_id}")
    return dict(row)


def results_of(conn: Connection, item_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """Every result of these items, oldest first (the last one counts)."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not item_ids:
        return found
    query = select(supervision_results).where(_r.item_id.in_(list(item_ids))).order_by(_r.id)
    for row in conn.execute(query).mappings():
        found[int(row["item_id"])].append(dict(row))
    return found


def _outlet_names(conn: Connection, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    query = select(_o.id, _o.code, _o.name, _o.kind).where(_o.id.in_(list(ids)))
    return {int(r.id): dict(r._mapping) for r in conn.execute(query)}


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any]:
    """The plan with its items (enterprise, outlets, results, the latest), coverage and related plans."""
    plan = plan_row(conn, plan_id)
    query = (
        select(_i.id, _i.enterprise_id, _i.outlets, _e.name.label("enterprise"), _e.region_code)
        .join(enterprises, _e.id == _i.enterprise_id)
        .where(_i.plan_id == plan_id)
        .order_by(_e.region_code, _e.name, _i.id)
    )
    items = [dict(r) for r in conn.execute(query).mappings()]
    history = results_of(conn, [i["id"] for i in items])
    names = _outlet_names(conn, {o for i in items for o in i["outlets"]})
    for item in items:
        item["outlets"] = [
            names.get(o, {"id": o, "code": "?", "name": "", "kind": ""}) for o in item["outlets"]
        ]
        item["results"] = history.get(item["id"], [])
        item["latest"] = item["results"][-1] if item["results"] else None
    related = [i for i in _plans_of(conn, plan["region_code"], plan["month"]) if i != plan_id]
    return plan | {
        "items": items,
        "coverage": coverage(items),
        "supplementary": any(i < plan_id for i in related),
        "related": related,
    }


def coverage(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Items with a result / items; the outstanding enterprises; the items whose latest result has problems."""
    done = [i for i in items if i["latest"] is not None]
    outstanding = [
        {"item_id": i["id"], "enterprise_id": i["enterprise_id"], "enterprise": i["enterprise"]}
        for i in items
        if i["latest"] is None
    ]
    problems = sum(1 for i in done if i["latest"]["outcome"] == "problems")
    return {
        "items": len(items),
        "done": len(done),
        "percent": percent(len(done), len(items)),
        "problems": problems,
        "outstanding": outstanding,
    }


def list_plans(
    conn: Connection, region: str | None = None, *, month: str | None = None
) -> list[dict[str, Any]]:
    """Plans newest month first (``region``: those within it), each with its coverage counts."""
    query = select(supervision_plans).order_by(_p.month.desc(), _p.region_code, _p.id)
    if region is not None:
        query = query.where(_p.region_code.startswith(region, autoescape=True))
    if month is not None:
        query = query.where(_p.month == month_text(parse_month(month)))
    plans = [dict(r) for r in conn.execute(query).mappings()]
    if not plans:
        return []
    items: dict[int, list[int]] = defaultdict(list)
    for row in conn.execute(select(_i.id, _i.plan_id).where(_i.plan_id.in_([p["id"] for p in plans]))):
        items[int(row.plan_id)].append(int(row.id))
    latest = {
        k: v[-1]["outcome"] for k, v in results_of(conn, [i for v in items.values() for i in v]).items()
    }
    for p in plans:
        mine = items[p["id"]]
        done = sum(1 for i in mine if i in latest)
        p["items"] = len(mine)
        p["done"] = done
        p["percent"] = percent(done, len(mine))
        p["problems"] = sum(1 for i in mine if latest.get(i) == "problems")
    return plans


# ---- results ----


@dataclass(frozen=True, slots=True)
class Answer:
    """One checklist item's answer: ``ok`` / ``problem`` / ``na``, with a note (required for a problem)."""

    state: str
    note: str = ""


def item_row(conn: Connection, item_id: int) -> dict[str, Any]:
    """The item with its plan's region and month (NotFound for an unknown one)."""
    query = (
        select(_i.id, _i.plan_id, _i.enterprise_id, _i.outlets, _p.region_code, _p.month)
        .join(supervision_plans, _p.id == _i.plan_id)
        .where(_i.id == item_id)
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no supervision plan item with id {item_id}")
    return dict(row)


def checked_checklist(answers: Mapping[str, Answer]) -> dict[str, dict[str, str]]:
    """The nine answers in checklist order, or InvalidInput naming what is wrong (SX-22.4)."""
    unknown = sorted(set(answers) - set(KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown checklist item(s) {', '.join(unknown)}: the SX-22.4 items are {', '.join(KEYS)}"
        )
    missing = [k for k in KEYS if k not in answers]
    if missing:
        raise InvalidInput(
            f"checklist item(s) {', '.join(missing)} not answered: answer each of the 9 SX-22.4 items "
            f"with {' / '.join(STATES)}"
        )
    out: dict[str, dict[str, str]] = {}
    for key in KEYS:
        answer = answers[key]
        if answer.state not in STATES:
            raise InvalidInput(f"checklist item {key}: {answer.state!r} is not one of {', '.join(STATES)}")
        note = checked_text(
            answer.note, f"the note of checklist item {key} (what the problem is)", required=answer.state == "problem",
            limit=NOTE_MAX,
        )  # fmt: skip
        out[key] = {"state": answer.state, "note": note}
    return out


def record_result(
    conn: Connection,
    item_id: int,
    *,
    visited_on: date,
    inspectors: str,
    checklist: Mapping[str, Answer],
    note: str = "",
    supersedes_id: int | None = None,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Append the on-site result of one plan item (a visit, or with ``supersedes_id`` the correction of
    an earlier result of the item) and log it as evidence; returns the result row."""
    item = item_row(conn, item_id)
    first = parse_month(item["month"])
    today = to_china(now).date()
    if not first <= visited_on < next_month(first):
        raise InvalidInput(
            f"visited on {visited_on.isoformat()} is outside the plan's month {item['month']}: "
            "give a day of that month"
        )
    if visited_on > today:
        raise InvalidInput(
            f"visited on {visited_on.isoformat()} is in the future (today is {today.isoformat()})"
        )
    answers = checked_checklist(checklist)
    inspectors = checked_text(inspectors, "the inspectors", required=True, limit=NOTE_MAX)
    note = checked_text(note, "the note", required=False, limit=NOTE_MAX)
    by = checked_text(by, "the person recording it", required=True, limit=100)
    if supersedes_id is not None:
        _check_supersedes(conn, item_id, supersedes_id)
    row: dict[str, Any] = {
        "item_id": item_id,
        "visited_on": visited_on,
        "inspectors": inspectors,
        "checklist": answers,
        "outcome": "problems" if any(a["state"] == "problem" for a in answers.values()) else "ok",
        "note": note,
        "supersedes_id": supersedes_id,
        "recorded_by": by,
        "recorded_at": now,
    }
    result_id = int(conn.execute(insert(supervision_results).values(row).returning(_r.id)).scalar_one())
    entry_id = submit_row(conn, supervision_results, result_id, kind="supervision_result", now=now)
    return row | {"id": result_id, "entry_id": entry_id}


def _check_supersedes(conn: Connection, item_id: int, supersedes_id: int) -> None:
    target = conn.execute(select(_r.item_id).where(_r.id == supersedes_id)).scalar()
    if target is None or int(target) != item_id:
        raise InvalidInput(
            f"result {supersedes_id} is not a result of plan item {item_id}: nothing to correct"
        )
    later = conn.execute(select(_r.id).where(_r.supersedes_id == supersedes_id).limit(1)).scalar()
    if later is not None:
        raise InvalidInput(
            f"result {supersedes_id} was already corrected by result {later}: correct that one instead"
        )
