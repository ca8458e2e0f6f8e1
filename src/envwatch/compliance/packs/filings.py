"""Rule pack ``filings``: change and re-filing deadlines (变更备案时限, SX-14, SX-15).

A filing (``registry.filings``) records an event at an installation and its steps. The deadlines are the
registry's own (``registry.deadlines``), with the hours and working days as rule parameters, and the status
is judged the way ``registry.filings.compute_status`` judges it: the first recorded meeting step counts, a
step done after ``at`` is not known yet, a duty met late stays a finding, and a withdrawal (撤回) closes a
filing without a finding unless its deadline had already passed.

- **SX-14-168H** a major change (重大变更) not back (installed, debugged, accepted, filed and reconnected:
  the ``reconnected`` step, the last of them) within ``hours`` (168) of the change starting.
- **SX-14-72H** a replaced gas analyser core part (核心部件更换) without its debug test (``debug_tested``)
  within ``hours`` (72).
- **SX-15-5WD** filed content changed (备案内容变更) and not re-filed (``filed``) within ``workdays`` (5)
  working days (the working-day calendar of the settings).
- **SX-14-BEFORE** a major change recorded on the platform after it started (``created_at`` later than
  ``event_at`` by more than ``grace_minutes``): SX-14 asks for the filing *before* the change. A warning, as
  the record's creation is the only trace of when it was filed.

Not decidable, so not a rule: **SX-11** (connection within 2 months of going into operation, 6 months of
being listed as a key unit): the registry records neither date (docs/compliance/rules-duties-filings.md).

Only filings recorded by ``at`` are judged. Findings are about the enterprise (the filing duty is the
排污单位's) and name the outlet, the device and the operator in charge of the device on the event's day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from envwatch.compliance.rules import Found, Link, Param, Rule, RuleContext
from envwatch.compliance.subjects import DeviceInfo, fleet, operators_on
from envwatch.core.clock import to_china
from envwatch.core.workdays import CalendarNotCovered
from envwatch.registry.deadlines import (
    GAS_CORE_PART_DEBUG_HOURS,
    MAJOR_CHANGE_HOURS,
    REFILING_WORKDAYS,
    Deadline,
    DeadlineStatus,
    deadline_status,
    gas_core_part_debug_deadline,
    major_change_deadline,
    refiling_deadline,
)
from envwatch.registry.filings import KIND_RULES, STEPS, WITHDRAWN
from envwatch.registry.schema import filing_steps, filings

log = logging.getLogger(__name__)
_fi = filings.c


def _text(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M}"


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f}"


@dataclass(frozen=True, slots=True)
class Judged:
    """A filing's deadline as of ``at``: the status, the deadline, when it was met (None: not by ``at``)."""

    status: DeadlineStatus | str  # a DeadlineStatus, or "withdrawn"
    deadline: Deadline
    met_at: datetime | None
    met_step: int | None


def judge(deadline: Deadline, met_by: str, steps: list[dict[str, Any]], at: datetime) -> Judged:
    """``registry.filings.compute_status`` with a given deadline (the rule's parameters)."""
    ordered = sorted(steps, key=lambda s: s["id"])  # recording order: the first recorded counts
    withdrawn_at = next(
        (s["done_at"] for s in ordered if s["step"] == WITHDRAWN and s["done_at"] <= at), None
    )
    met = next((s for s in ordered if s["step"] == met_by), None)
    met_at = None if met is None else met["done_at"]
    status: DeadlineStatus | str = deadline_status(deadline, at, met_at)
    if withdrawn_at is not None and deadline_status(deadline, withdrawn_at, met_at) != DeadlineStatus.OVERDUE:
        status = "withdrawn"
    known = met_at is not None and met_at <= at
    return Judged(status, deadline, met_at if known else None, int(met["id"]) if known and met else None)


class _Filings:
    """Filings of some kinds recorded by ``at``, with their steps and who they are about."""

    def __init__(self, conn: Connection, kinds: tuple[str, ...], at: datetime) -> None:
        self.rows = [
            dict(r)
            for r in conn.execute(
                select(filings).where(_fi.kind.in_(kinds), _fi.created_at <= at).order_by(_fi.id)
            ).mappings()
        ]
        self.steps: dict[int, list[dict[str, Any]]] = defaultdict(list)
        ids = [r["id"] for r in self.rows]
        for chunk in range(0, len(ids), 500):  # bounded IN lists (SQLite's variable limit)
            query = select(filing_steps).where(filing_steps.c.filing_id.in_(ids[chunk : chunk + 500]))
            for step in conn.execute(query.order_by(filing_steps.c.id)).mappings():
                self.steps[step["filing_id"]].append(dict(step))
        self._conn = conn
        self._fleet = fleet(conn) if self.rows else {}
        self._operators: dict[Any, dict[int, int]] = {}

    def _device(self, row: dict[str, Any]) -> DeviceInfo | None:
        """The filing's device, else the first device on its outlet."""
        if row["device_id"] is not None:
            return self._fleet.get(row["device_id"])
        if row["outlet_id"] is not None:
            on_outlet = [d for d in self._fleet.values() if d.outlet_id == row["outlet_id"]]
            return on_outlet[0] if on_outlet else None
        return None

    def about(self, row: dict[str, Any]) -> dict[str, Any]:
        """The subject fields of a finding about the filing."""
        device = self._device(row)
        operator_id = None
        outlet_id = row["outlet_id"]
        if device is not None:
            outlet_id = outlet_id if outlet_id is not None else device.outlet_id
            day = to_china(row["event_at"]).date()
            if day not in self._operators:
                self._operators[day] = operators_on(self._conn, day, self._fleet)
            operator_id = self._operators[day].get(device.id)
        return {
            "subject_kind": "enterprise",
            "subject_id": row["enterprise_id"],
            "enterprise_id": row["enterprise_id"],
            "outlet_id": outlet_id,
            "device_id": row["device_id"],
            "operator_id": operator_id,
        }


def deadline_missed(
    ctx: RuleContext, kind: str, make: Callable[[datetime], Deadline], duty: str, term_zh: str
) -> Iterator[Found]:
    """A finding per filing of ``kind`` whose deadline was missed as of ``at`` (not met, or met late)."""
    met_by = KIND_RULES[kind].met_by
    assert met_by is not None
    found = _Filings(ctx.conn, (kind,), ctx.at)
    for row in found.rows:
        try:
            deadline = make(row["event_at"])
        except CalendarNotCovered as exc:  # undecidable for this filing, not for the others
            log.warning("filing %s: deadline not computed: %s", row["id"], exc.message)
            continue
        judged = judge(deadline, met_by, found.steps[row["id"]], ctx.at)
        if judged.status != DeadlineStatus.OVERDUE:
            continue
        step = STEPS[met_by]
        if judged.met_at is None:
            late = (
                f"not {met_by} ({step}) by {_text(ctx.at)}, "
                f"{_hours(ctx.at - row['event_at'])} h after {_text(row['event_at'])}"
            )
        else:
            late = f"{met_by} ({step}) only at {_text(judged.met_at)}, {_hours(judged.met_at - row['event_at'])} h after"
        evidence = [Link("filing", str(row["id"]), row["title"])]
        yield Found(
            key=f"filing:{row['id']}",
            message=f"{KIND_RULES[kind].label} filing {row['id']} ({row['title']}): {late}; {duty}, due by "
            f"{_text(deadline.due_at)} ({term_zh})",
            period_start=row["event_at"],
            period_end=deadline.due_at,
            evidence=tuple(evidence),
            **found.about(row),
        )


def major_change_late(ctx: RuleContext) -> Iterator[Found]:
    """SX-14-168H (module docstring)."""
    hours = int(ctx["hours"])
    return deadline_missed(
        ctx,
        "major_change",
        lambda at: major_change_deadline(at, hours=hours),
        f"everything must be back within {hours} h of the change starting",
        f"重大变更未在{hours}小时内完成安装调试、验收、备案及联网",
    )


def core_part_debug_late(ctx: RuleContext) -> Iterator[Found]:
    """SX-14-72H (module docstring)."""
    hours = int(ctx["hours"])
    return deadline_missed(
        ctx,
        "gas_core_part",
        lambda at: gas_core_part_debug_deadline(at, hours=hours),
        f"the debug test is due within {hours} h of the replacement",
        f"核心部件更换后未在{hours}小时内完成调试检测",
    )


def refiling_late(ctx: RuleContext) -> Iterator[Found]:
    """SX-15-5WD (module docstring)."""
    workdays = int(ctx["workdays"])
    return deadline_missed(
        ctx,
        "content_change",
        lambda at: refiling_deadline(at, ctx.calendar, workdays=workdays),
        f"re-filing is due within {workdays} working days after the change",
        f"备案内容变更后未在{workdays}个工作日内重新备案",
    )


def filed_after_start(ctx: RuleContext) -> Iterator[Found]:
    """SX-14-BEFORE (module docstring): withdrawn changes (called off) are not judged."""
    grace = timedelta(minutes=int(ctx["grace_minutes"]))
    found = _Filings(ctx.conn, ("major_change",), ctx.at)
    for row in found.rows:
        if any(s["step"] == WITHDRAWN and s["done_at"] <= ctx.at for s in found.steps[row["id"]]):
            continue
        if row["created_at"] - row["event_at"] <= grace:
            continue
        yield Found(
            key=f"filing:{row['id']}",
            message=f"major change filing {row['id']} ({row['title']}) was recorded at {_text(row['created_at'])}, "
            f"{_hours(row['created_at'] - row['event_at'])} h after the change started at {_text(row['event_at'])} "
            "(重大变更应事前备案)",
            period_start=row["event_at"],
            period_end=row["created_at"],
            evidence=(Link("filing", str(row["id"]), row["title"]),),
            severity="warning",
            **found.about(row),
        )


RULES: tuple[Rule, ...] = (
    Rule(
        id="SX-14-168H",
        requirement="SX-14",
        title="Major change finished and reconnected within 168 h",
        title_zh="重大变更168小时内完成安装调试、验收、备案及联网",
        subject="enterprise",
        inputs="filings of kind major_change and their steps (reconnected)",
        evaluate=major_change_late,
        params=(
            Param("hours", "hours from the change starting to reconnection", default=MAJOR_CHANGE_HOURS),
        ),
    ),
    Rule(
        id="SX-14-72H",
        requirement="SX-14",
        title="Replaced gas core part debug-tested within 72 h",
        title_zh="废气监测设备核心部件更换后72小时调试检测",
        subject="enterprise",
        inputs="filings of kind gas_core_part and their steps (debug_tested)",
        evaluate=core_part_debug_late,
        params=(
            Param(
                "hours",
                "hours from the replacement to the completed debug test [S]",
                default=GAS_CORE_PART_DEBUG_HOURS,
            ),
        ),
    ),
    Rule(
        id="SX-15-5WD",
        requirement="SX-15",
        title="Changed filed content re-filed within 5 working days",
        title_zh="备案内容变更后5个工作日内重新备案",
        subject="enterprise",
        inputs="filings of kind content_change and their steps (filed), working-day calendar",
        evaluate=refiling_late,
        params=(
            Param("workdays", "working days after the change day to re-file", default=REFILING_WORKDAYS),
        ),
    ),
    Rule(
        id="SX-14-BEFORE",
        requirement="SX-14",
        title="Major change filed before it starts",
        title_zh="重大变更事前备案",
        subject="enterprise",
        inputs="filings of kind major_change (event_at, created_at)",
        evaluate=filed_after_start,
        params=(Param("grace_minutes", "minutes a record may follow the change's start [P]", default=0),),
    ),
)
