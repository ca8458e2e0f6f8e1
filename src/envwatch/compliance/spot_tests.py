"""The yearly manual spot test of monitoring points (手工抽测, 测管联动, SX-23).

SX-23: the city tests by hand, each year, at least 10 % of the automatic monitoring points and compares
with what the automatic equipment reported. A draw makes the list, fair and checkable:

- region: a city (4 digits) or county (6), as for the supervision plan (:func:`supervision.plan_region`);
- population: the region's *monitoring points*, outlets with a registered device on them, ids ascending;
- size: ``ceil(population × spot_test_share_percent / 100)``, at least 1 (the setting, 10 % by default);
- the draw: ``random.Random(seed).sample(ids, k)`` sorted, ``seed`` = ``secrets.token_hex(16)`` stored with
  the draw: the same seed over the same population redoes the same list (:func:`pick`, :func:`redo`);
  ``population`` records ``n``, so a population that changed since shows;
- one draw per region and year (a second ask answers the first, ``already``), for the current year or the
  next; a region without monitoring points is refused (nothing to draw).

The list is unannounced: only admin and the region's regulators see it (the web layer's).

Results per drawn point: the day tested (in the draw's year, not after today), the agency that tested, its
report number and the values ``[{factor, manual, automatic, unit, relative_error_pct, pass}]``. ``automatic``
may be left out: it is then the platform's valid daily value (日均值, :func:`monitoring.daily_view.device_days`)
of the outlet's device reporting that factor on that day (``automatic_source`` says which). A value passes
when ``|automatic − manual| / manual × 100 <= spot_test_max_error_pct`` (setting, 20 % [P]) (a manual 0 passes only an automatic
0); the outcome is ``fail`` when any value fails. Appended, never changed; a correction names the result it
corrects (``supersedes_id``), the newest counts. Each draw, item and result is logged as evidence
(``spot_test_draw``, ``spot_test_result``).

Coverage: tested items / drawn items, and the share of the population actually tested against the target.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from envwatch.compliance.schema import spot_test_draws, spot_test_items, spot_test_results
from envwatch.compliance.supervision import percent, plan_region, serialise
from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.core.inputs import text as checked_text
from envwatch.core.settings import Settings
from envwatch.monitoring.daily_view import device_days
from envwatch.registry.schema import device_factors, devices, enterprises, outlets

# [P] the relative error a manual spot test allows between the manual and the automatic value, in % of
# the manual value. Not in the regulation's text; it should become a setting (spot_test_max_error_pct).

OUTCOMES: Final = ("pass", "fail")
NOTE_MAX: Final = 4000

_d = spot_test_draws.c
_i = spot_test_items.c
_r = spot_test_results.c
_o = outlets.c
_e = enterprises.c


# ---- the draw ----


def monitoring_points(conn: Connection, region: str) -> list[int]:
    """The region's outlets with a registered device on them (监测点位), ids ascending."""
    query = (
        select(_o.id)
        .join(enterprises, _e.id == _o.enterprise_id)
        .join(devices, devices.c.outlet_id == _o.id)
        .where(_e.region_code.startswith(region, autoescape=True))
        .distinct()
        .order_by(_o.id)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def sample_size(n: int, share_percent: Decimal) -> int:
    """``ceil(n × share / 100)``, at least 1 when there is anything (SX-23), at most n."""
    if n <= 0:
        return 0
    return min(n, max(1, math.ceil(Decimal(n) * share_percent / 100)))


def pick(seed: str, ids: Sequence[int], k: int) -> list[int]:
    """The draw itself: ``k`` of ``ids`` (ascending) chosen by ``random.Random(seed)``, sorted."""
    return sorted(random.Random(seed).sample(sorted(ids), k))


def _draw_of(conn: Connection, region: str, year: int) -> int | None:
    query = select(_d.id).where(_d.region_code == region, _d.year == year).order_by(_d.id).limit(1)
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def draw(
    conn: Connection, region: str, year: int, settings: Settings, by: str, now: datetime
) -> dict[str, Any]:
    """The spot-test list of ``region`` for ``year``: drawn now, or the one drawn before
    (``"already": True``). Returns :func:`get_draw` of it."""
    region = plan_region(region)
    this_year = to_china(now).year
    if year not in (this_year, this_year + 1):
        raise InvalidInput(f"year {year}: draw the current year ({this_year}) or the next one")
    by = checked_text(by, "the person drawing", required=True, limit=100)
    serialise(conn, "spot_test_draw", region, year)
    before = _draw_of(conn, region, year)
    if before is not None:
        return get_draw(conn, before) | {"already": True}
    ids = monitoring_points(conn, region)
    if not ids:
        raise InvalidInput(
            f"region {region} has no monitoring point (an outlet with a registered device): nothing to draw"
        )
    share = settings.spot_test_share_percent
    seed = secrets.token_hex(16)
    chosen = pick(seed, ids, sample_size(len(ids), share))
    row = {
        "region_code": region,
        "year": year,
        "seed": seed,
        "share": share,
        "population": len(ids),
        "drawn_by": by,
        "drawn_at": now,
    }
    draw_id = int(conn.execute(insert(spot_test_draws).values(row).returning(_d.id)).scalar_one())
    submit_row(conn, spot_test_draws, draw_id, kind="spot_test_draw", now=now)
    for outlet_id in chosen:
        item_id = int(
            conn.execute(
                insert(spot_test_items).values(draw_id=draw_id, outlet_id=outlet_id).returning(_i.id)
            ).scalar_one()
        )
        submit_row(conn, spot_test_items, item_id, kind="spot_test_draw", now=now)
    return get_draw(conn, draw_id) | {"already": False}


@dataclass(frozen=True, slots=True)
class Redo:
    ids: list[int]  # what the seed draws from today's population
    drawn: list[int]  # what was drawn
    population: int  # today's population

    @property
    def same(self) -> bool:
        return self.ids == self.drawn


def redo(conn: Connection, draw_id: int) -> Redo:
    """Redo a draw from its seed over the region's monitoring points as they stand now."""
    d = draw_row(conn, draw_id)
    ids = monitoring_points(conn, d["region_code"])
    drawn = [
        int(i)
        for i in conn.execute(
            select(_i.outlet_id).where(_i.draw_id == draw_id).order_by(_i.outlet_id)
        ).scalars()
    ]
    return Redo(pick(d["seed"], ids, min(len(drawn), len(ids))), drawn, len(ids))


def draw_row(conn: Connection, draw_id: int) -> dict[str, Any]:
    row = conn.execute(select(spot_test_draws).where(_d.id == draw_id)).mappings().first()
    if row is None:
        raise NotFound(f"no spot-test draw with id {draw_id}")
    return dict(row)


def results_of(conn: Connection, item_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """Every result of these items, oldest first (the last one counts)."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not item_ids:
        return found
    query = select(spot_test_results).where(_r.item_id.in_(list(item_ids))).order_by(_r.id)
    for row in conn.execute(query).mappings():
        found[int(row["item_id"])].append(dict(row))
    return found


def get_draw(conn: Connection, draw_id: int) -> dict[str, Any]:
    """The draw with its items (outlet, enterprise, results, the latest) and coverage."""
    d = draw_row(conn, draw_id)
    query = (
        select(
            _i.id,
            _i.outlet_id,
            _o.code.label("outlet_code"),
            _o.name.label("outlet"),
            _o.kind,
            _o.enterprise_id,
            _e.name.label("enterprise"),
            _e.region_code,
        )
        .join(outlets, _o.id == _i.outlet_id)
        .join(enterprises, _e.id == _o.enterprise_id)
        .where(_i.draw_id == draw_id)
        .order_by(_i.outlet_id)
    )
    items = [dict(r) for r in conn.execute(query).mappings()]
    history = results_of(conn, [i["id"] for i in items])
    for item in items:
        item["results"] = history.get(item["id"], [])
        item["latest"] = item["results"][-1] if item["results"] else None
    return d | {"items": items, "coverage": coverage(d, items)}


def coverage(d: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """Tested / drawn, and the share of the population tested against the target (SX-23)."""
    tested = [i for i in items if i["latest"] is not None]
    share = percent(len(tested), d["population"])
    return {
        "items": len(items),
        "tested": len(tested),
        "percent": percent(len(tested), len(items)),
        "failed": sum(1 for i in tested if i["latest"]["outcome"] == "fail"),
        "population": d["population"],
        "population_share": share,
        "target_share": d["share"],
        "target_met": share is not None and share >= d["share"],
        "outstanding": [
            {"item_id": i["id"], "outlet_id": i["outlet_id"], "outlet_code": i["outlet_code"], "enterprise": i["enterprise"]}
            for i in items
            if i["latest"] is None
        ],
    }  # fmt: skip


def list_draws(
    conn: Connection, region: str | None = None, *, year: int | None = None
) -> list[dict[str, Any]]:
    """Draws newest year first (``region``: those within it), with their coverage counts."""
    query = select(spot_test_draws).order_by(_d.year.desc(), _d.region_code, _d.id)
    if region is not None:
        query = query.where(_d.region_code.startswith(region, autoescape=True))
    if year is not None:
        query = query.where(_d.year == year)
    draws = [dict(r) for r in conn.execute(query).mappings()]
    if not draws:
        return []
    items: dict[int, list[int]] = defaultdict(list)
    for row in conn.execute(select(_i.id, _i.draw_id).where(_i.draw_id.in_([d["id"] for d in draws]))):
        items[int(row.draw_id)].append(int(row.id))
    latest = {
        k: v[-1]["outcome"] for k, v in results_of(conn, [i for v in items.values() for i in v]).items()
    }
    for d in draws:
        mine = items[d["id"]]
        tested = sum(1 for i in mine if i in latest)
        d["items"] = len(mine)
        d["tested"] = tested
        d["percent"] = percent(tested, len(mine))
        d["population_share"] = percent(tested, d["population"])
        d["failed"] = sum(1 for i in mine if latest.get(i) == "fail")
    return draws


# ---- results ----


@dataclass(frozen=True, slots=True)
class Value:
    """One factor tested by hand: ``manual`` (the lab's value), ``automatic`` (None: the platform's daily
    value of the day), ``unit`` ("" : the device's unit of the factor)."""

    factor: str
    manual: Decimal
    automatic: Decimal | None = None
    unit: str = ""


def decimal_of(value: str, what: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidInput(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidInput(f"{what} {value!r} is not a number")
    return number


def item_row(conn: Connection, item_id: int) -> dict[str, Any]:
    query = (
        select(_i.id, _i.draw_id, _i.outlet_id, _d.region_code, _d.year)
        .join(spot_test_draws, _d.id == _i.draw_id)
        .where(_i.id == item_id)
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no spot-test item with id {item_id}")
    return dict(row)


def platform_daily(
    conn: Connection, settings: Settings, outlet_id: int, factor: str, day: date, now: datetime
) -> tuple[Decimal | None, str]:
    """The valid daily value of ``factor`` on ``day`` from the outlet's device reporting it, with its unit;
    (None, unit) when the day is not complete or has no valid value."""
    query = (
        select(device_factors.c.device_id, device_factors.c.unit)
        .join(devices, devices.c.id == device_factors.c.device_id)
        .where(devices.c.outlet_id == outlet_id, device_factors.c.factor == factor)
        .order_by(device_factors.c.device_id)
    )
    unit = ""
    for device_id, device_unit in conn.execute(query).all():
        unit = unit or device_unit
        (found,) = device_days(conn, settings, int(device_id), factor, day, day, now)
        if found["complete"] and found["valid"] and found["value"] is not None:
            return Decimal(found["value"]), device_unit
    return None, unit


def judge(manual: Decimal, automatic: Decimal, limit_pct: Decimal) -> tuple[Decimal | None, bool]:
    """The relative error (% of the manual value) and whether it is within ``limit_pct``."""
    if manual == 0:
        return None, automatic == 0
    error = (abs(automatic - manual) * 100 / abs(manual)).quantize(Decimal("0.01"))
    return error, error <= limit_pct


def record_result(
    conn: Connection,
    settings: Settings,
    item_id: int,
    *,
    tested_on: date,
    agency: str,
    report_no: str,
    values: Sequence[Value],
    note: str = "",
    supersedes_id: int | None = None,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Append the result of the manual test of one drawn point and log it as evidence."""
    item = item_row(conn, item_id)
    today = to_china(now).date()
    if tested_on.year != item["year"]:
        raise InvalidInput(f"tested on {tested_on.isoformat()} is outside the draw's year {item['year']}")
    if tested_on > today:
        raise InvalidInput(
            f"tested on {tested_on.isoformat()} is in the future (today is {today.isoformat()})"
        )
    agency = checked_text(agency, "the agency that tested", required=True, limit=NOTE_MAX)
    report_no = checked_text(report_no, "the report number", required=True, limit=100)
    note = checked_text(note, "the note", required=False, limit=NOTE_MAX)
    by = checked_text(by, "the person recording it", required=True, limit=100)
    if not values:
        raise InvalidInput("give at least one tested value (factor, manual value)")
    factors = [v.factor.strip() for v in values]
    if any(not f for f in factors):
        raise InvalidInput("each value needs its factor (HJ 212 code, e.g. a21026)")
    if len(set(factors)) != len(factors):
        raise InvalidInput("a factor is given twice: give each factor once")
    judged = []
    for v in values:
        automatic, unit, source = v.automatic, v.unit.strip(), "given"
        if automatic is None:
            automatic, platform_unit = platform_daily(
                conn, settings, item["outlet_id"], v.factor.strip(), tested_on, now
            )
            unit = unit or platform_unit
            source = "platform"
            if automatic is None:
                raise InvalidInput(
                    f"factor {v.factor}: the platform has no valid daily value for {tested_on.isoformat()} "
                    "at this outlet: give the automatic value"
                )
        error, passed = judge(v.manual, automatic, settings.spot_test_max_error_pct)
        judged.append(
            {
                "factor": v.factor.strip(), "manual": str(v.manual), "automatic": str(automatic),
                "automatic_source": source, "unit": unit,
                "relative_error_pct": None if error is None else str(error), "pass": passed,
            }
        )  # fmt: skip
    if supersedes_id is not None:
        _check_supersedes(conn, item_id, supersedes_id)
    row: dict[str, Any] = {
        "item_id": item_id,
        "tested_on": tested_on,
        "agency": agency,
        "report_no": report_no,
        "values": judged,
        "outcome": "pass" if all(j["pass"] for j in judged) else "fail",
        "note": note,
        "supersedes_id": supersedes_id,
        "recorded_by": by,
        "recorded_at": now,
    }
    result_id = int(conn.execute(insert(spot_test_results).values(row).returning(_r.id)).scalar_one())
    entry_id = submit_row(conn, spot_test_results, result_id, kind="spot_test_result", now=now)
    return row | {"id": result_id, "entry_id": entry_id, "limit_pct": settings.spot_test_max_error_pct}


def _check_supersedes(conn: Connection, item_id: int, supersedes_id: int) -> None:
    target = conn.execute(select(_r.item_id).where(_r.id == supersedes_id)).scalar()
    if target is None or int(target) != item_id:
        raise InvalidInput(
            f"result {supersedes_id} is not a result of spot-test item {item_id}: nothing to correct"
        )
    later = conn.execute(select(_r.id).where(_r.supersedes_id == supersedes_id).limit(1)).scalar()
    if later is not None:
        raise InvalidInput(
            f"result {supersedes_id} was already corrected by result {later}: correct that one instead"
        )
