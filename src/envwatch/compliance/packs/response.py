"""Rule pack ``response``: marking in time (SX-18.5) and fast response to alarms (SX-20.9/20.10).

- **SX-18.5-LATE** (标记未及时上传): a mark entered after its marking deadline (``marks.late``: the marks
  store judges it against the deadline rule in force when it is entered, ``monitoring.marking``) is a
  finding, one per mark, about the device and the operator in charge on the marked period's first day.
  Withdrawals are not judged (withdrawing a wrong mark late is not the duty this clause sets). Judged over
  the marks entered in the last ``lookback_days``.
- **SX-20.9-ACK** (异常响应不及时): an alarm (offline, missing hour data, exceedance, anomaly) that nobody
  acknowledged by its deadline (``alarms.ack_due_at``, set from ``ALARM_ACK_DUE_S`` when it opened) is a
  finding, one per alarm: acknowledged late, or still unacknowledged at ``at`` while its deadline has passed.
  Starting to handle it or closing it counts as the answer as well. Judged over the alarms opened in the
  last ``lookback_days``.

Both read only their own tables and the registry; both name the operator in charge, so that the finding
reaches the operator and its assessment (``compliance.assessment``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, or_, select

from envwatch.alarms.schema import alarm_events, alarms
from envwatch.compliance.rules import Found, Link, Param, Rule, RuleContext, lookback
from envwatch.compliance.subjects import about_device, fleet, operators_on
from envwatch.core.clock import to_china
from envwatch.monitoring.marks_schema import marks

# the alarm events that answer it: from then on somebody is on it (alarms.lifecycle)
ANSWERS: Final = ("acknowledge", "start_handling", "close")
LOOKBACK: Final = Param(
    "lookback_days", "entered (marks) or opened (alarms) this many days before the run", default=92
)


def _text(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M}"


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def late_marks(ctx: RuleContext) -> Iterable[Found]:
    """SX-18.5-LATE (module docstring)."""
    m = marks.c
    since = ctx.at - timedelta(days=float(ctx["lookback_days"]))
    query = (
        select(m.id, m.device_id, m.factor, m.code, m.start_at, m.end_at, m.created_at, m.created_by)
        .where(m.action == "mark", m.late.is_(True), m.created_at > since, m.created_at <= ctx.at)
        .order_by(m.id)
    )
    rows = ctx.conn.execute(query).all()
    if not rows:
        return []
    devices = fleet(ctx.conn)
    out: list[Found] = []
    by_day: dict[object, dict[int, int]] = {}
    for r in rows:
        device = devices.get(r.device_id)
        if device is None:
            continue
        day = to_china(r.start_at).date()
        if day not in by_day:
            by_day[day] = operators_on(ctx.conn, day, devices)
        factor = f" {r.factor}" if r.factor else ""
        out.append(
            Found(
                key=f"mark:{r.id}",
                message=(
                    f"mark {r.id} ({r.code}) of device {device.mn}{factor} for {_text(r.start_at)}–"
                    f"{_text(r.end_at)} was entered on {_text(r.created_at)} by {r.created_by}, after its "
                    "marking deadline (标记未及时上传)"
                ),
                period_start=r.start_at,
                period_end=r.end_at,
                evidence=(Link("mark", str(r.id), r.code),),
                **about_device(device, by_day[day].get(device.id)),
            )
        )
    return out


def late_acknowledgements(ctx: RuleContext) -> Iterable[Found]:
    """SX-20.9-ACK (module docstring)."""
    a, e = alarms.c, alarm_events.c
    since = ctx.at - timedelta(days=float(ctx["lookback_days"]))
    answered = (
        select(e.alarm_id, func.min(e.at).label("answered_at"))
        .where(e.event.in_(ANSWERS), e.at <= ctx.at)
        .group_by(e.alarm_id)
        .subquery()
    )
    query = (
        select(
            a.id, a.device_id, a.kind, a.factor, a.summary, a.opened_at, a.ack_due_at, answered.c.answered_at
        )
        .outerjoin(answered, answered.c.alarm_id == a.id)
        .where(
            a.opened_at > since,
            a.opened_at <= ctx.at,
            a.ack_due_at.is_not(None),
            a.ack_due_at < ctx.at,
            # late: answered after the deadline, or not answered by the moment judged
            or_(answered.c.answered_at.is_(None), answered.c.answered_at > a.ack_due_at),
        )
        .order_by(a.id)
    )
    rows = ctx.conn.execute(query).all()
    if not rows:
        return []
    devices = fleet(ctx.conn)
    out: list[Found] = []
    by_day: dict[object, dict[int, int]] = {}
    for r in rows:
        device = devices.get(r.device_id)
        if device is None:
            continue
        day = to_china(r.opened_at).date()
        if day not in by_day:
            by_day[day] = operators_on(ctx.conn, day, devices)
        if r.answered_at is None:
            how = f"not acknowledged by {_text(ctx.at)} ({_hours(ctx.at - r.ack_due_at)} past its deadline)"
        else:
            how = f"acknowledged on {_text(r.answered_at)}, {_hours(r.answered_at - r.ack_due_at)} late"
        out.append(
            Found(
                key=f"alarm:{r.id}",
                message=(
                    f"alarm {r.id} ({r.kind}{' ' + r.factor if r.factor else ''}) of device {device.mn} opened "
                    f"{_text(r.opened_at)}, due to be acknowledged by {_text(r.ack_due_at)}: {how} "
                    "(异常响应不及时)"
                ),
                period_start=r.opened_at,  # the moment the lookback judges by
                evidence=(Link("alarm", str(r.id), r.summary or r.kind),),
                **about_device(device, by_day[day].get(device.id)),
            )
        )
    return out


RULES: tuple[Rule, ...] = (
    Rule(
        id="SX-18.5-LATE",
        requirement="SX-18.5",
        title="Abnormal or missing periods marked in time",
        title_zh="异常时段及时标记上传",
        subject="device",
        inputs="marks (entered after the marking deadline: marks.late)",
        evaluate=late_marks,
        params=(LOOKBACK,),
        judges=lookback("lookback_days"),
    ),
    Rule(
        id="SX-20.9-ACK",
        requirement="SX-20.9",
        title="Alarms acknowledged by their deadline",
        title_zh="异常报警及时响应",
        subject="device",
        inputs="alarms (ack_due_at) and their journal (acknowledge, start_handling, close)",
        evaluate=late_acknowledgements,
        params=(LOOKBACK,),
        judges=lookback("lookback_days"),
    ),
)
