"""Rule pack ``fraud``: the SX-29 fraud indicators (弄虚作假线索) the platform's data supports.

The anomaly detectors (``alarms.detectors``) already raise alarms with a kind; these rules pick the kinds
that point at one of the SX-29 behaviours and make each such alarm a finding about the device, its outlet,
its enterprise and the operator in charge on the day the condition began (``subjects.operators_on``):

- **SX-29-MARK** (虚假标记, marks contradicted by the data): ``shutdown_mark_with_flow`` (a 停运/停产 mark
  over hours whose flow is normal), and ``marked_exceedance`` *only* where the marked slots carry a stop
  mark (the source claimed to be stopped yet the data show an exceedance). A ``marked_exceedance`` under a
  maintenance, calibration or fault mark is expected (a span gas reads high) and no contradiction. The stop
  codes are the detectors' own (``ENVWATCH_DETECTORS`` ``shutdown_mark_codes``). Each finding links the
  alarm and the marks in force over the periods the detections name.
- **SX-29-PARAM** (未备案的参数修改): a ``parameter_changed`` alarm (a reported instrument parameter differs
  from the registered one) with no O&M record of kind ``parameter_change`` (参数变更,
  ``operations.field_kinds``) for that device within ± ``window_h`` of the moment the change was first
  seen. The alarm lifecycle does not link records, so the record is looked for by device and time. An
  alarm is judged once its window has passed (a record may still come until then).
- **SX-29-SIM** (疑似模拟数据): ``constant`` and ``near_detection_limit`` alarms not closed — closing needs
  the cause and the action (原因, 处理措施, SX-24/25), which is how the operator explains a flat line — more
  than ``explain_within_h`` after they opened. Closed alarms are explained; a regulator who doubts the
  explanation reads it on the alarm.
- **SX-29-DILUTION** (稀释/旁路): ``o2_dilution``, ``flow_inconsistent``, ``power_inconsistent``; severity
  ``warning``: each has honest causes too (a leak, a stopped fan), so they ask for a look, not a verdict.

MARK, PARAM and DILUTION judge the alarms opened in the ``lookback_days`` before ``at``; SIM judges every
alarm still unexplained. The key is the alarm (``alarm:<id>``): one alarm, one finding.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from envwatch.alarms.detect_run import detector_thresholds
from envwatch.alarms.schema import alarm_events, alarms
from envwatch.compliance.rules import Found, Link, Param, Rule, RuleContext, Severity, lookback
from envwatch.compliance.subjects import DeviceInfo, about_device, fleet, operators_on
from envwatch.core.clock import to_china
from envwatch.monitoring.marks_store import effective_marks
from envwatch.operations.records_schema import field_records

_a = alarms.c
MARK_KINDS = ("shutdown_mark_with_flow", "marked_exceedance")
SIM_KINDS = ("constant", "near_detection_limit")
DILUTION_KINDS = ("o2_dilution", "flow_inconsistent", "power_inconsistent")


class _Subjects:
    """The device fields of a finding, with the operator in charge on a China day (read once per day)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.devices: dict[int, DeviceInfo] = fleet(conn)
        self._days: dict[date, dict[int, int]] = {}

    def of(self, device_id: int, moment: datetime) -> dict[str, Any]:
        day = to_china(moment).date()
        if day not in self._days:
            self._days[day] = operators_on(self.conn, day, self.devices)
        return dict(about_device(self.devices[device_id], self._days[day].get(device_id)))

    def name(self, device_id: int) -> str:
        d = self.devices[device_id]
        return f"{d.enterprise} {d.outlet} {d.name}".strip()


def _alarms(
    conn: Connection, kinds: Collection[str], *, opened_after: datetime | None, at: datetime
) -> list[dict[str, Any]]:
    query = select(alarms).where(_a.kind.in_(list(kinds)), _a.opened_at <= at)
    if opened_after is not None:
        query = query.where(_a.opened_at > opened_after)
    return [dict(r) for r in conn.execute(query.order_by(_a.opened_at, _a.id)).mappings()]


def _since(ctx: RuleContext) -> datetime:
    return ctx.at - timedelta(days=int(ctx["lookback_days"]))


def _china(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M}"


def _found(
    subjects: _Subjects,
    alarm: dict[str, Any],
    message: str,
    *,
    links: tuple[Link, ...] = (),
    severity: Severity = "violation",
) -> Found:
    return Found(
        key=f"alarm:{alarm['id']}",
        message=message,
        period_start=alarm["started_at"],
        period_end=alarm["ended_at"],
        evidence=(Link("alarm", str(alarm["id"]), alarm["kind"]), *links),
        severity=severity,
        **subjects.of(int(alarm["device_id"]), alarm["started_at"]),
    )


def _what(subjects: _Subjects, alarm: dict[str, Any]) -> str:
    return (
        f"alarm {alarm['id']} ({alarm['kind']}) on {subjects.name(int(alarm['device_id']))} from "
        f"{_china(alarm['started_at'])} China time: {alarm['summary']}"
    )


# ---- SX-29-MARK ----


def _excluded(conn: Connection, alarm_id: int, at: datetime) -> list[tuple[datetime, datetime, str]]:
    """The marked periods (start, end, code) the alarm's detections name, as known at ``at``."""
    rows = conn.execute(
        select(alarm_events.c.data)
        .where(
            alarm_events.c.alarm_id == alarm_id,
            alarm_events.c.event.in_(["opened", "repeat"]),
            alarm_events.c.at <= at,
        )
        .order_by(alarm_events.c.id)
    ).scalars()
    out: set[tuple[datetime, datetime, str]] = set()
    for data in rows:
        for start, end, code in (data or {}).get("excluded", []):
            out.add((datetime.fromisoformat(start), datetime.fromisoformat(end), str(code)))
    return sorted(out)


def _mark_links(
    conn: Connection, alarm: dict[str, Any], periods: list[tuple[datetime, datetime, str]], at: datetime
) -> tuple[Link, ...]:
    """The marks in force (as of ``at``) behind the named periods: same device, code, and factor (or the
    whole device)."""
    ids: dict[int, str] = {}
    for start, end, code in periods:
        for span in effective_marks(conn, [int(alarm["device_id"])], start, end, as_of=at):
            if span.code == code and span.factor in (None, alarm["factor"]):
                ids[span.mark_id] = span.code
    return tuple(Link("mark", str(i), code) for i, code in sorted(ids.items()))


def contradicted_marks(ctx: RuleContext) -> Iterator[Found]:
    """SX-29-MARK: stop marks contradicted by flow or by an exceedance (module docstring)."""
    stop_codes = detector_thresholds(ctx.settings).shutdown_mark_codes
    subjects = _Subjects(ctx.conn)
    for alarm in _alarms(ctx.conn, MARK_KINDS, opened_after=_since(ctx), at=ctx.at):
        periods = _excluded(ctx.conn, int(alarm["id"]), ctx.at)
        if alarm["kind"] == "marked_exceedance":
            periods = [p for p in periods if p[2] in stop_codes]
            if not periods:
                continue  # an exceedance under a maintenance/calibration/fault mark contradicts nothing
            said = "the data exceed the limit under a stop mark"
        else:
            said = "the flow is normal under a stop mark"
        codes = ", ".join(sorted({p[2] for p in periods})) or "stop"
        yield _found(
            subjects,
            alarm,
            f"{_what(subjects, alarm)}; {said} ({codes}) (标记与监测数据矛盾, 疑似虚假标记)",
            links=_mark_links(ctx.conn, alarm, periods, ctx.at),
        )


# ---- SX-29-PARAM ----


def unfiled_parameter_changes(ctx: RuleContext) -> Iterator[Found]:
    """SX-29-PARAM: parameter changes without a parameter-change record near them (module docstring)."""
    window = timedelta(hours=float(ctx["window_h"]))
    subjects = _Subjects(ctx.conn)
    r = field_records.c
    for alarm in _alarms(ctx.conn, ("parameter_changed",), opened_after=_since(ctx), at=ctx.at):
        seen = alarm["started_at"]
        if seen + window > ctx.at:
            continue  # the record may still come
        record = ctx.conn.execute(
            select(r.id)
            .where(
                r.device_id == alarm["device_id"],
                r.kind == "parameter_change",
                r.performed_at >= seen - window,
                r.performed_at <= seen + window,
                r.recorded_at <= ctx.at,
            )
            .limit(1)
        ).first()
        if record is not None:
            continue
        yield _found(
            subjects,
            alarm,
            f"{_what(subjects, alarm)}; no parameter-change record (参数变更) of this device within "
            f"± {float(ctx['window_h']):g} h of {_china(seen)} China time (未备案的参数修改)",
        )


# ---- SX-29-SIM ----


def unexplained_flat_data(ctx: RuleContext) -> Iterator[Found]:
    """SX-29-SIM: constant / near-detection-limit alarms still not closed with a cause (module docstring)."""
    grace = timedelta(hours=float(ctx["explain_within_h"]))
    subjects = _Subjects(ctx.conn)
    query = (
        select(alarms)
        .where(
            _a.kind.in_(list(SIM_KINDS)),
            _a.opened_at <= ctx.at - grace,
            or_(_a.closed_at.is_(None), _a.closed_at > ctx.at),
        )
        .order_by(_a.opened_at, _a.id)
    )
    for alarm in (dict(a) for a in ctx.conn.execute(query).mappings()):
        yield _found(
            subjects,
            alarm,
            f"{_what(subjects, alarm)}; not closed with a cause {float(ctx['explain_within_h']):g} h after it "
            f"opened on {_china(alarm['opened_at'])} (疑似模拟数据, 未说明原因)",
        )


# ---- SX-29-DILUTION ----


def dilution_signs(ctx: RuleContext) -> Iterator[Found]:
    """SX-29-DILUTION: dilution and bypass signs (module docstring)."""
    subjects = _Subjects(ctx.conn)
    for alarm in _alarms(ctx.conn, DILUTION_KINDS, opened_after=_since(ctx), at=ctx.at):
        yield _found(
            subjects,
            alarm,
            f"{_what(subjects, alarm)} (疑似稀释或旁路排放)",
            severity="warning",
        )


LOOKBACK = Param("lookback_days", "alarms opened in this many days before the run", default=92)

RULES: tuple[Rule, ...] = (
    Rule(
        id="SX-29-MARK",
        requirement="SX-29",
        title="Marks contradicted by the data",
        title_zh="标记与监测数据矛盾（虚假标记）",
        subject="device",
        inputs="alarms shutdown_mark_with_flow and marked_exceedance (stop marks), marks",
        evaluate=contradicted_marks,
        params=(LOOKBACK,),
        judges=lookback("lookback_days"),
    ),
    Rule(
        id="SX-29-PARAM",
        requirement="SX-29",
        title="Instrument parameter changes filed",
        title_zh="参数修改须有运维记录",
        subject="device",
        inputs="alarms parameter_changed, O&M records of kind parameter_change",
        evaluate=unfiled_parameter_changes,
        params=(
            LOOKBACK,
            Param("window_h", "a parameter-change record within this many hours either side", default=24.0),
        ),
        judges=lookback("lookback_days"),
    ),
    Rule(
        id="SX-29-SIM",
        requirement="SX-29",
        title="Flat or near-detection-limit data explained",
        title_zh="疑似模拟数据须说明原因",
        subject="device",
        inputs="alarms constant and near_detection_limit, their state",
        evaluate=unexplained_flat_data,
        params=(
            Param("explain_within_h", "hours after the alarm opened to close it with a cause", default=72.0),
        ),
    ),
    Rule(
        id="SX-29-DILUTION",
        requirement="SX-29",
        title="No signs of dilution or bypass",
        title_zh="疑似稀释、旁路排放",
        subject="device",
        inputs="alarms o2_dilution, flow_inconsistent, power_inconsistent",
        evaluate=dilution_signs,
        params=(LOOKBACK,),
        judges=lookback("lookback_days"),
    ),
)
