"""The monthly self-inspection of an agency's video records (视频记录自查, WZ-A1-14).

Each month an agency draws a random sample of its video records of a China month and reviews them; the
outcome of each review is recorded. The draw must be fair and checkable, so it is reproducible:

- population: the agency's video records whose ``recorded_start`` lies in the China month and that were
  archived by the time of the draw (``archived_at <= drawn_at``), their ids in ascending order;
- size: ``max(self_inspection_min, ceil(self_inspection_share × n))``, all of them when fewer;
- the draw: ``random.Random(seed).sample(ids, k)`` (Python's Mersenne Twister seeded with the seed text),
  sorted; ``seed`` is ``secrets.token_hex(16)``, stored with the draw. Anyone holding the seed and the list
  of ids can redo it (:func:`pick`, :func:`redo`); ``population`` records ``n`` so a changed population shows.

One draw per agency and month (a second ask returns the first draw, unchanged); only past and current months
(a future month has nothing to draw yet); a month without records is refused (nothing to inspect; the
draw, once made, could not be redone later with records that arrive afterwards).

Outcomes (``ok`` or ``problem`` with a note) are appended, never changed: a later outcome of the same item
supersedes an earlier one for display and both are kept; each is logged as evidence
(``self_inspection_outcome``). Who may do what is the web layer's (``video_self_inspection``).
"""

from __future__ import annotations

import math
import random
import secrets
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.inputs import text
from envwatch.core.settings import Settings
from envwatch.evidence.schema import (
    self_inspection_draws,
    self_inspection_items,
    self_inspection_outcomes,
    video_records,
)
from envwatch.registry.agencies import get_agency
from envwatch.sampling.stats import month_of

OUTCOMES: Final = ("ok", "problem")

_d = self_inspection_draws.c
_i = self_inspection_items.c
_o = self_inspection_outcomes.c
_v = video_records.c


def first_of(month: date) -> date:
    return month.replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    p = month_of(month)
    return datetime.combine(p.first, time(), CHINA_TZ), datetime.combine(p.end, time(), CHINA_TZ)


def sample_size(n: int, settings: Settings) -> int:
    return min(n, max(settings.self_inspection_min, math.ceil(settings.self_inspection_share * n)))


def pick(seed: str, ids: Sequence[int], k: int) -> list[int]:
    """The draw itself: ``k`` of ``ids`` (ascending) chosen by ``random.Random(seed)``, sorted."""
    return sorted(random.Random(seed).sample(sorted(ids), k))


def population(conn: Connection, agency_id: int, month: date, until: datetime) -> list[int]:
    start, end = month_bounds(month)
    query = (
        select(_v.id)
        .where(
            _v.agency_id == agency_id,
            _v.recorded_start >= start,
            _v.recorded_start < end,
            _v.archived_at <= until,
        )
        .order_by(_v.id)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def _existing(conn: Connection, agency_id: int, month: date) -> dict[str, Any] | None:
    row = (
        conn.execute(select(self_inspection_draws).where(_d.agency_id == agency_id, _d.month == month))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def draw(
    conn: Connection, agency_id: int, month: date, settings: Settings, by: str, now: datetime
) -> dict[str, Any]:
    """The draw of ``agency_id`` for ``month`` (any day of it): made now, or the one made before
    (``"already": True``). Returns the draw row with ``item_ids``."""
    month = first_of(month)
    get_agency(conn, agency_id)  # NotFound for an unknown agency
    if month > to_china(now).date().replace(day=1):
        raise InvalidInput(f"{month:%Y-%m} has not begun: draw a past or the current month")
    before = _existing(conn, agency_id, month)
    if before is not None:
        return get_draw(conn, int(before["id"])) | {"already": True}
    ids = population(conn, agency_id, month, now)
    if not ids:
        raise InvalidInput(f"agency {agency_id} has no video records of {month:%Y-%m} yet: nothing to draw")
    seed = secrets.token_hex(16)
    chosen = pick(seed, ids, sample_size(len(ids), settings))
    row = {
        "agency_id": agency_id,
        "month": month,
        "seed": seed,
        "population": len(ids),
        "drawn_by": by,
        "drawn_at": now,
    }
    try:
        with conn.begin_nested():  # another draw of the same month at the same time: theirs stands
            draw_id = conn.execute(insert(self_inspection_draws).values(row).returning(_d.id)).scalar_one()
            conn.execute(insert(self_inspection_items), [{"draw_id": draw_id, "video_id": v} for v in chosen])
    except IntegrityError:
        again = _existing(conn, agency_id, month)
        if again is None:
            raise
        return get_draw(conn, int(again["id"])) | {"already": True}
    return get_draw(conn, int(draw_id)) | {"already": False}


@dataclass(frozen=True, slots=True)
class Redo:
    ids: list[int]  # what the seed draws from today's population
    drawn: list[int]  # what was drawn
    population: int  # today's population (records archived by the draw's time)

    @property
    def same(self) -> bool:
        return self.ids == self.drawn


def redo(conn: Connection, draw_id: int) -> Redo:
    """Redo a draw from its seed over the population as it stands (records archived by the draw time)."""
    d = get_draw(conn, draw_id)
    ids = population(conn, d["agency_id"], d["month"], d["drawn_at"])
    k = len(d["item_ids"])
    return Redo(pick(d["seed"], ids, min(k, len(ids))), d["item_ids"], len(ids))


def get_draw(conn: Connection, draw_id: int) -> dict[str, Any]:
    row = conn.execute(select(self_inspection_draws).where(_d.id == draw_id)).mappings().first()
    if row is None:
        raise NotFound(f"no self-inspection draw with id {draw_id}")
    ids = conn.execute(select(_i.video_id).where(_i.draw_id == draw_id).order_by(_i.video_id)).scalars()
    return dict(row) | {"item_ids": [int(i) for i in ids]}


def outcomes_of(conn: Connection, item_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """Every outcome of these items, oldest first (the last one is the one shown)."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not item_ids:
        return found
    query = (
        select(self_inspection_outcomes).where(_o.item_id.in_(list(item_ids))).order_by(_o.reviewed_at, _o.id)
    )
    for row in conn.execute(query).mappings():
        found[int(row["item_id"])].append(dict(row))
    return found


def draw_items(conn: Connection, draw_id: int) -> list[dict[str, Any]]:
    """The drawn videos with their record's summary, outcome history and latest outcome."""
    query = (
        select(
            _i.id,
            _i.video_id,
            _v.file_name,
            _v.stage,
            _v.enterprise_id,
            _v.plan_id,
            _v.recorded_start,
            _v.recorded_end,
            _v.archived_at,
        )
        .join(video_records, _v.id == _i.video_id)
        .where(_i.draw_id == draw_id)
        .order_by(_i.video_id)
    )
    items = [dict(r) for r in conn.execute(query).mappings()]
    history = outcomes_of(conn, [i["id"] for i in items])
    for item in items:
        item["outcomes"] = history.get(item["id"], [])
        item["latest"] = item["outcomes"][-1] if item["outcomes"] else None
    return items


def list_draws(
    conn: Connection, agency_ids: Collection[int] | None, *, month: date | None = None
) -> list[dict[str, Any]]:
    """Draws newest month first, with counts: items, reviewed (any outcome), problems (latest outcome)."""
    query = select(self_inspection_draws).order_by(_d.month.desc(), _d.agency_id)
    if agency_ids is not None:
        query = query.where(_d.agency_id.in_(list(agency_ids)))
    if month is not None:
        query = query.where(_d.month == first_of(month))
    draws = [dict(r) for r in conn.execute(query).mappings()]
    if not draws:
        return []
    ids = [d["id"] for d in draws]
    items: dict[int, list[int]] = defaultdict(list)
    for row in conn.execute(select(_i.id, _i.draw_id).where(_i.draw_id.in_(ids))):
        items[int(row.draw_id)].append(int(row.id))
    latest: dict[int, str] = {}
    for item_id, rows in outcomes_of(conn, [i for v in items.values() for i in v]).items():
        latest[item_id] = rows[-1]["outcome"]
    for d in draws:
        mine = items[d["id"]]
        d["items"] = len(mine)
        d["reviewed"] = sum(1 for i in mine if i in latest)
        d["problems"] = sum(1 for i in mine if latest.get(i) == "problem")
    return draws


def item_row(conn: Connection, item_id: int) -> dict[str, Any]:
    """The item with its draw's agency and month (NotFound for an unknown one)."""
    row = (
        conn.execute(
            select(_i.id, _i.draw_id, _i.video_id, _d.agency_id, _d.month)
            .join(self_inspection_draws, _d.id == _i.draw_id)
            .where(_i.id == item_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no self-inspection item with id {item_id}")
    return dict(row)


def record_outcome(
    conn: Connection, item_id: int, outcome: str, note: str, by: str, now: datetime
) -> dict[str, Any]:
    """Append the review outcome of one drawn video and log it as evidence; returns the outcome row."""
    item_row(conn, item_id)
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    note = text(note, "the note (what is wrong)", limit=4000, required=outcome == "problem")
    row: dict[str, Any] = {
        "item_id": item_id,
        "outcome": outcome,
        "note": note,
        "reviewed_by": by,
        "reviewed_at": now,
    }
    outcome_id = int(conn.execute(insert(self_inspection_outcomes).values(row).returning(_o.id)).scalar_one())
    entry_id = submit_row(conn, self_inspection_outcomes, outcome_id, kind="self_inspection_outcome", now=now)
    return row | {"id": outcome_id, "entry_id": entry_id}


def draws_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(self_inspection_draws)).scalar_one())
