"""What the quarterly operator assessment (运维单位季度考核, SX-26) is computed from, per operator.

Each input comes from the service another page already shows it with, so the assessment's figure is the
figure people see there for the same operator, quarter and region:

- **effective_rate** (有效传输率): ``monitoring.rates.compute_rates`` grouped by operator (the operator in
  charge on the quarter's last day), over the region's devices: valid / expected hours, as on the rates page;
- **response** (响应/到场及时率, CS-4.3.3): ``operations.ticket_stats.sla_statistics`` over the tickets
  requested in the quarter at the region's enterprises: the share of decided clocks met, both clocks pooled
  (respond within 1 h, on site within 4 h / 8 h); running and not-applicable clocks count on neither side;
- **inspection** (巡检完整率, SX-20.3): the quarter is cut into windows of ``om_inspection_every_days`` (7)
  days from its first day (a remainder shorter than that at the end is not judged, nor a window not over yet
  at ``now``); a device counts for a window when the operator ran it on the window's first and last day
  (``subjects.operators_on``), and the window is complete when a current (not corrected) inspection record
  of that operator on that device was performed in it. The share of complete device-windows;
- **findings** (违规问题): violations naming the operator, first seen in the quarter and not waived, per
  device it runs (the rates' devices of the operator); in a region ranking the findings of the region and
  the operator-wide ones (without a region);
- **satisfaction** (满意度): ``operations.ticket_stats.satisfaction`` of the surveys recorded in the
  quarter at the region's enterprises.

Which operators: those with a contract in force on any day of the quarter with an enterprise of the region
('' = every region). A region is a code prefix (``registry.service.region_prefix``).

Nothing here reads a clock: ``now`` is given (the rates and the ticket clocks are judged as of it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, or_, select

from envwatch.compliance.schema import findings
from envwatch.compliance.subjects import DeviceInfo, fleet, operators_on
from envwatch.core.clock import to_china
from envwatch.core.settings import Settings
from envwatch.monitoring.rates import OPERATOR_GROUP, RateQuery, compute_rates
from envwatch.operations.records_schema import field_records
from envwatch.operations.ticket_sla import SlaRules
from envwatch.operations.ticket_stats import satisfaction, sla_statistics
from envwatch.operations.tickets import china_midnight
from envwatch.registry.schema import contracts, enterprises, operators

_later = field_records.alias("later_inspection")


@dataclass
class OperatorInputs:
    """One operator's inputs for a quarter: ``values`` feed the formula (None: no data), ``detail`` shows
    the counts behind each (the page and the stored components)."""

    operator_id: int
    name: str
    values: dict[str, Decimal | None] = field(default_factory=dict)
    detail: dict[str, dict[str, Any]] = field(default_factory=dict)


def region_enterprises(conn: Connection, region: str) -> frozenset[int] | None:
    """The enterprises of a region prefix; None for '' (every enterprise)."""
    if not region:
        return None
    query = select(enterprises.c.id).where(enterprises.c.region_code.startswith(region, autoescape=True))
    return frozenset(int(i) for i in conn.execute(query).scalars())


def operators_in(
    conn: Connection, first: date, last: date, enterprise_ids: Collection[int] | None
) -> dict[int, str]:
    """Operator id → name: those with a contract in force on a day of first..last with one of the
    enterprises (every one when None)."""
    c = contracts.c
    query = (
        select(operators.c.id, operators.c.name)
        .join(contracts, c.operator_id == operators.c.id)
        .where(c.valid_from <= last, or_(c.valid_to.is_(None), c.valid_to >= first))
        .distinct()
    )
    if enterprise_ids is not None:
        query = query.where(c.enterprise_id.in_(sorted(enterprise_ids)))
    return {int(r.id): r.name for r in conn.execute(query)}


def _percent(part: int, whole: int) -> Decimal | None:
    """Exact percent (the formula rounds once, at the end); None without a whole."""
    return None if whole == 0 else Decimal(100) * part / whole


def inspection_windows(first: date, last: date, every_days: int, today: date) -> list[tuple[date, date]]:
    """The judged windows of a quarter (module docstring): whole ``every_days`` windows from ``first``
    ending on or before ``last`` and before ``today`` (the window's last day is over)."""
    out = []
    start = first
    while (end := start + timedelta(days=every_days - 1)) <= last and end < today:
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def _inspections(
    conn: Connection, device_ids: Collection[int], first: date, last: date
) -> dict[tuple[int, int], list[datetime]]:
    """Current inspection records performed in first..last, per (device, operator)."""
    f = field_records.c
    query = select(f.device_id, f.operator_id, f.performed_at).where(
        f.kind == "inspection",
        f.performed_at >= china_midnight(first),
        f.performed_at < china_midnight(last + timedelta(days=1)),
        ~exists().where(_later.c.supersedes_id == f.id),
    )
    if device_ids:
        query = query.where(f.device_id.in_(sorted(device_ids)))
    out: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    for row in conn.execute(query):
        out[(int(row.device_id), int(row.operator_id))].append(row.performed_at)
    return out


def inspection_completeness(
    conn: Connection,
    devices: dict[int, DeviceInfo],
    first: date,
    last: date,
    every_days: int,
    now: datetime,
) -> dict[int, tuple[int, int]]:
    """Operator id → (complete device-windows, judged device-windows) over ``devices``."""
    windows = inspection_windows(first, last, every_days, to_china(now).date())
    if not windows or not devices:
        return {}
    done = _inspections(conn, list(devices), first, last)
    counted: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    on_day: dict[date, dict[int, int]] = {}
    for start, end in windows:
        for day in (start, end):
            if day not in on_day:
                on_day[day] = operators_on(conn, day, devices)
        lo, hi = china_midnight(start), china_midnight(end + timedelta(days=1))
        for device_id in devices:
            op = on_day[start].get(device_id)
            if op is None or on_day[end].get(device_id) != op:
                continue
            counted[op][1] += 1
            if any(lo <= at < hi for at in done.get((device_id, op), ())):
                counted[op][0] += 1
    return {op: (c[0], c[1]) for op, c in counted.items()}


def violations(
    conn: Connection, operator_ids: Collection[int], first: date, last: date, region: str
) -> dict[int, int]:
    """Operator id → violations naming it, first seen in first..last, not waived (module docstring)."""
    f = findings.c
    query = (
        select(f.operator_id, func.count())
        .where(
            f.operator_id.in_(sorted(operator_ids)),
            f.severity == "violation",
            f.state != "waived",
            f.first_seen >= china_midnight(first),
            f.first_seen < china_midnight(last + timedelta(days=1)),
        )
        .group_by(f.operator_id)
    )
    if region:
        query = query.where(or_(f.region_code.startswith(region, autoescape=True), f.region_code.is_(None)))
    return {int(op): int(n) for op, n in conn.execute(query)}


def gather(
    engine: Engine, settings: Settings, first: date, last: date, region: str, now: datetime
) -> list[OperatorInputs]:
    """Every operator of the region and quarter with its inputs, ordered by name then id."""
    rules = SlaRules.from_settings(settings)
    with engine.connect() as conn:
        ents = region_enterprises(conn, region)
        names = operators_in(conn, first, last, ents)
        devices = {
            d.id: d
            for d in fleet(conn).values()
            if d.enterprise_id is not None and (ents is None or d.enterprise_id in ents)
        }
    if not names:
        return []
    device_ids = None if ents is None else sorted(devices)
    rates = {
        row["operator_id"]: row
        for row in compute_rates(
            engine, settings, RateQuery(first, last, group=OPERATOR_GROUP, device_ids=device_ids), now
        )
        if row["operator_id"] is not None
    }
    out = []
    with engine.connect() as conn:
        run_by = operators_on(conn, last, devices)
        runs: dict[int, int] = defaultdict(int)
        for op in run_by.values():
            runs[op] += 1
        inspected = inspection_completeness(
            conn, devices, first, last, settings.om_inspection_every_days, now
        )
        found = violations(conn, names, first, last, region)
        for op, name in sorted(names.items(), key=lambda item: (item[1], item[0])):
            one = OperatorInputs(op, name)
            rate = rates.get(op)
            expected, valid = (rate["expected"], rate["valid"]) if rate else (0, 0)
            one.values["effective_rate"] = _percent(valid, expected)
            one.detail["effective_rate"] = {
                "effective_rate": rate["effective_rate"] if rate else None,
                "expected": expected,
                "valid": valid,
            }
            stats = sla_statistics(conn, op, first, last, now, rules, enterprise_ids=ents)
            met = sum(s.met for s in stats.clocks.values())
            decided = met + sum(s.late for s in stats.clocks.values())
            one.values["response"] = _percent(met, decided)
            one.detail["response"] = {
                "tickets": stats.tickets,
                "met": met,
                "decided": decided,
                **{f"{name}_percent": s.percent for name, s in stats.clocks.items()},
            }
            complete, judged = inspected.get(op, (0, 0))
            one.values["inspection"] = _percent(complete, judged)
            one.detail["inspection"] = {"complete": complete, "windows": judged}
            n_found, n_devices = found.get(op, 0), runs.get(op, 0)
            one.values["findings"] = None if n_devices == 0 else Decimal(n_found) / n_devices
            one.detail["findings"] = {"violations": n_found, "devices": n_devices}
            sat = satisfaction(conn, op, first, last, rules, enterprise_ids=ents)
            one.values["satisfaction"] = _percent(sat.rate.satisfied, sat.rate.n)
            one.detail["satisfaction"] = {
                "surveys": sat.rate.n,
                "satisfied": sat.rate.satisfied,
                "percent": sat.rate.percent,
            }
            out.append(one)
    return out
