"""Rule pack ``rates``: the effective transmission rate (有效传输率) against the regulations' lines.

Three rules, each judging the last *complete* China calendar period before ``at`` with the platform's one
rate computation (``monitoring.rates.compute_rates``: hours, marks, exemptions and fault marks counted as
on the rates page), so that a finding and the rates page never disagree about the figure:

- ``SX-30.7-Q`` (SX-30.7): a device's quarterly effective rate below ``rates_quarter_min_pct`` (90 %).
- ``SX-30.6-M`` (SX-30.6): a device's monthly effective rate below ``rates_month_min_pct`` (90 %) in a month
  with at least ``rates_month_min_faults`` (3) faults: "not guaranteeing normal operation" (未保证正常运行).
  The faults counted are the **recorded faults** (``faults`` table) whose period overlaps the month, each
  once whatever its factors; the rates page counts fault *marks* (one per factor and per 31-day piece),
  which would count a two-factor fault twice.
- ``CS-4.3.2.1-95`` (CS-4.3.2.1): an operator's quarterly effective rate over the devices it ran (the
  contract in force on the quarter's last day, the rates' operator grouping) below
  ``rates_operator_min_pct`` (95 %).

Only what was owed is judged: a device (or operator) with no expected hours in the period (everything
exempt, e.g. an approved production stop over the whole quarter) has no rate and no finding; devices on no
outlet are not judged (no site answers for them). A device's operator is the one in charge on the period's
last day (``compliance.subjects.operators_on``), the same day the rates group by.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, or_, select

from envwatch.compliance.rules import (
    Found,
    Link,
    Param,
    Rule,
    RuleContext,
    last_month,
    last_quarter,
    month_before,
    quarter_before,
)
from envwatch.compliance.subjects import DeviceInfo, about_device, fleet, operators_on
from envwatch.monitoring.day_counts import day_start
from envwatch.monitoring.rates import OPERATOR_GROUP, RateQuery, compute_rates
from envwatch.operations.faults_schema import faults
from envwatch.operations.ticket_stats import quarter_name
from envwatch.registry.schema import devices

DAY = timedelta(days=1)


# ---- periods ----


def _rate_ref(kind: str, ident: object, first: date, last: date) -> str:
    return f"{kind}:{ident}:{first.isoformat()}..{last.isoformat()}"


def registered_before(conn: Connection, first: date) -> set[int]:
    """The devices registered before the China day ``first`` began: only they owe the whole period. The
    rates count every hour of a period as expected (应收), so a device connected within it would be judged
    on hours before it existed; it is judged from its first complete period on."""
    query = select(devices.c.id).where(devices.c.created_at <= day_start(first))
    return {int(i) for i in conn.execute(query).scalars()}


def _device_rows(ctx: RuleContext, first: date, last: date) -> list[tuple[dict[str, Any], Decimal]]:
    """(rate row, effective rate) of every device registered before ``first`` with expected hours in
    [first, last]."""
    judged = registered_before(ctx.conn, first)
    query = RateQuery(first, last, group="device", device_ids=judged)
    rows = compute_rates(ctx.engine, ctx.settings, query, ctx.at)
    return [(r, r["effective_rate"]) for r in rows if r["expected"] > 0 and r["effective_rate"] is not None]


def _devices_by_mn(conn: Connection) -> dict[str, DeviceInfo]:
    return {d.mn: d for d in fleet(conn).values() if d.outlet_id is not None}


def _figures(row: dict[str, Any]) -> str:
    return f"{row['valid']} valid of {row['expected']} expected hours"


# ---- SX-30.7 ----


def _quarter_rate(ctx: RuleContext) -> Iterable[Found]:
    first, last = quarter_before(ctx.at)
    line: Decimal = ctx["min_pct"]
    rows = _device_rows(ctx, first, last)
    devices = _devices_by_mn(ctx.conn)
    operators = operators_on(ctx.conn, last, fleet(ctx.conn))
    name = quarter_name(first)
    out: list[Found] = []
    for row, rate in rows:
        device = devices.get(row["mn"])
        if device is None or rate >= line:
            continue
        out.append(
            Found(
                key=f"device:{device.id}:{name}",
                message=(
                    f"device {device.mn} effective transmission rate {rate} % in {name} ({_figures(row)}) "
                    f"< {line} % (季度有效传输率低于{line}%)"
                ),
                period_start=day_start(first),
                period_end=day_start(last + DAY),
                evidence=(Link("rate", _rate_ref("device", device.mn, first, last), f"{rate} %"),),
                **about_device(device, operators.get(device.id)),
            )
        )
    return sorted(out, key=lambda f: f.key)


# ---- SX-30.6 ----


def _recorded_faults(conn: Connection, start: datetime, end: datetime) -> dict[int, list[int]]:
    """Device id → ids of its recorded faults whose period overlaps [start, end) (open ones included)."""
    f = faults.c
    query = (
        select(f.device_id, f.id)
        .where(f.started_at < end, or_(f.restored_at.is_(None), f.restored_at > start))
        .order_by(f.device_id, f.id)
    )
    out: dict[int, list[int]] = {}
    for device_id, fault_id in conn.execute(query):
        out.setdefault(int(device_id), []).append(int(fault_id))
    return out


def _month_rate(ctx: RuleContext) -> Iterable[Found]:
    first, last = month_before(ctx.at)
    line: Decimal = ctx["min_pct"]
    min_faults: int = ctx["min_faults"]
    rows = _device_rows(ctx, first, last)
    start, end = day_start(first), day_start(last + DAY)
    devices = _devices_by_mn(ctx.conn)
    operators = operators_on(ctx.conn, last, fleet(ctx.conn))
    recorded = _recorded_faults(ctx.conn, start, end)
    month = f"{first:%Y-%m}"
    out: list[Found] = []
    for row, rate in rows:
        device = devices.get(row["mn"])
        if device is None or rate >= line:
            continue
        fault_ids = recorded.get(device.id, [])
        if len(fault_ids) < min_faults:
            continue
        out.append(
            Found(
                key=f"device:{device.id}:{month}",
                message=(
                    f"device {device.mn} effective transmission rate {rate} % in {month} ({_figures(row)}) "
                    f"< {line} % with {len(fault_ids)} faults (≥ {min_faults}): not guaranteeing normal "
                    "operation (未保证正常运行)"
                ),
                period_start=start,
                period_end=end,
                evidence=(
                    Link("rate", _rate_ref("device", device.mn, first, last), f"{rate} %"),
                    *(Link("fault", str(i)) for i in fault_ids),
                ),
                **about_device(device, operators.get(device.id)),
            )
        )
    return sorted(out, key=lambda f: f.key)


# ---- CS-4.3.2.1 ----


def _operator_rate(ctx: RuleContext) -> Iterable[Found]:
    first, last = quarter_before(ctx.at)
    line: Decimal = ctx["min_pct"]
    query = RateQuery(first, last, group=OPERATOR_GROUP, device_ids=registered_before(ctx.conn, first))
    rows = compute_rates(ctx.engine, ctx.settings, query, ctx.at)
    name = quarter_name(first)
    out: list[Found] = []
    for row in rows:
        rate, operator_id = row["effective_rate"], row["operator_id"]
        if operator_id is None or row["expected"] == 0 or rate is None or rate >= line:
            continue
        out.append(
            Found(
                key=f"operator:{operator_id}:{name}",
                subject_kind="operator",
                subject_id=int(operator_id),
                operator_id=int(operator_id),
                message=(
                    f"operator {row['operator']} effective transmission rate {rate} % in {name} over the "
                    f"devices it runs ({_figures(row)}) < {line} % (运维有效传输率低于认证要求{line}%)"
                ),
                period_start=day_start(first),
                period_end=day_start(last + DAY),
                evidence=(
                    Link("operator", str(operator_id), str(row["operator"])),
                    Link("rate", _rate_ref("operator", operator_id, first, last), f"{rate} %"),
                ),
            )
        )
    return sorted(out, key=lambda f: f.key)


RULES: tuple[Rule, ...] = (
    Rule(
        id="SX-30.7-Q",
        requirement="SX-30.7",
        title="Quarterly effective transmission rate of a device below the line",
        title_zh="季度有效传输率不足",
        subject="device",
        inputs="hourly records per factor, marks (monitoring.rates), last complete quarter",
        evaluate=_quarter_rate,
        params=(
            Param(
                "min_pct", "lowest quarterly effective transmission rate, %", setting="rates_quarter_min_pct"
            ),
        ),
        judges=last_quarter,
    ),
    Rule(
        id="SX-30.6-M",
        requirement="SX-30.6",
        title="Monthly effective transmission rate below the line with frequent faults",
        title_zh="月有效传输率不足且故障频繁（未保证正常运行）",
        subject="device",
        inputs="hourly records per factor, marks (monitoring.rates), recorded faults, last complete month",
        evaluate=_month_rate,
        params=(
            Param("min_pct", "lowest monthly effective transmission rate, %", setting="rates_month_min_pct"),
            Param(
                "min_faults",
                "recorded faults in the month that, with a low rate, make the finding",
                setting="rates_month_min_faults",
            ),
        ),
        judges=last_month,
    ),
    Rule(
        id="CS-4.3.2.1-95",
        requirement="CS-4.3.2.1",
        title="Operator's quarterly effective transmission rate below the certification line",
        title_zh="运维单位有效传输率低于认证要求",
        subject="operator",
        inputs="hourly records of the devices an operator runs (monitoring.rates, operator group)",
        evaluate=_operator_rate,
        params=(
            Param(
                "min_pct",
                "lowest quarterly effective rate over the operator's devices, %",
                setting="rates_operator_min_pct",
            ),
        ),
        judges=last_quarter,
    ),
)
