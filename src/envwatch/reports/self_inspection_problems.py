"""The problems found (发现的问题) of a quarterly self-inspection report, derived from its content.

Each problem names the clause it falls short of and, where it concerns one device, its MN. Pure: the
content is passed in. The texts are Chinese (the report goes to the local bureau, SX-18.7).

==========  ==================================================================================
clause      problem
==========  ==================================================================================
SX-20.3     inspection windows over without an inspection (巡检缺失)
HJ 75 §11   calibrations failed, drift beyond the pass criterion but not out of control
SX-20.8     calibrations out of control (校准失控), standard checks failed (标样核查不合格)
SX-18.6     comparison monitoring missing for a period (gas quarter, water month) or failed
SX-18.3     a fault not restored within the working days (late, overdue or still open); a fault
            longer than 24 h without a timely backup or manual monitoring
SX-24       alarms of the quarter still open when the report was made
CS-4.3.3    service tickets answered or attended late
SX-30.7     the quarter's effective transmission rate below ``rates_quarter_min_pct``
==========  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from envwatch.core.clock import to_china
from envwatch.reports.self_inspection_data import (
    AlarmCount,
    DeviceWork,
    FaultLine,
    Problem,
    RateLine,
    TicketLine,
)

LATE = ("breached", "overdue")


def china(moment: datetime) -> str:
    return f"{to_china(moment):%Y-%m-%d %H:%M}"


def _work_problems(work: DeviceWork) -> list[Problem]:
    out = []
    ins = work.inspections
    if ins.missed:
        spans = "、".join(f"{w.first:%m-%d}~{w.last:%m-%d}" for w in ins.missed)
        out.append(
            Problem(
                "SX-20.3",
                work.mn,
                f"巡检缺失：{len(ins.missed)} 个巡检周期内无巡检记录（{spans}）；应巡检 {ins.expected} 次，"
                f"实际 {ins.done} 次",
            )
        )
    drift = work.calibrations_failed - work.calibrations_out_of_control
    if drift > 0:
        out.append(Problem("HJ 75-2017 §11", work.mn, f"校准漂移超出合格范围 {drift} 次"))
    if work.calibrations_out_of_control:
        out.append(Problem("SX-20.8", work.mn, f"校准失控 {work.calibrations_out_of_control} 次"))
    if work.standard_checks_failed:
        out.append(Problem("SX-20.8", work.mn, f"标样核查不合格 {work.standard_checks_failed} 次"))
    missing = work.comparisons.missing
    if missing:
        rule = "每月至少一次" if work.kind == "water" else "每季度至少一次"
        periods = "、".join(p.label for p in missing)
        out.append(Problem("SX-18.6", work.mn, f"比对监测缺失：{periods} 无合格的比对监测（{rule}）"))
    if work.comparisons_failed:
        out.append(Problem("SX-18.6", work.mn, f"比对监测不合格 {work.comparisons_failed} 次"))
    return out


def _fault_problems(fault: FaultLine) -> list[Problem]:
    out = []
    due = china(fault.restore_due_at)
    if fault.restore_state == "breached" and fault.restored_at is not None:
        text = f"故障 #{fault.id} 恢复超时：应于 {due} 前恢复，实际 {china(fault.restored_at)} 恢复"
        out.append(Problem("SX-18.3", fault.mn, text))
    elif fault.restore_state == "overdue":
        out.append(Problem("SX-18.3", fault.mn, f"故障 #{fault.id} 逾期未恢复：应于 {due} 前恢复"))
    elif fault.restore_state == "running":
        out.append(Problem("SX-18.3", fault.mn, f"故障 #{fault.id} 尚未恢复（恢复期限 {due}）"))
    if fault.backup_required_state in LATE:
        text = f"故障 #{fault.id} 持续超过 24 小时，未及时启用备用设备或手工监测"
        out.append(Problem("SX-18.3", fault.mn, text))
    return out


def problems_of(
    work: Sequence[DeviceWork],
    faults: Sequence[FaultLine],
    alarms: Sequence[AlarmCount],
    tickets: Sequence[TicketLine],
    rates: Sequence[RateLine] | None,
    quarter_min_pct: Decimal,
) -> tuple[Problem, ...]:
    """Every problem: per device (work, then faults, then rates), then the enterprise-wide ones."""
    out: list[Problem] = []
    for w in work:
        out.extend(_work_problems(w))
    for fault in faults:
        out.extend(_fault_problems(fault))
    for rate in rates or ():
        if "SX-30.7" in rate.flags:
            text = f"季度有效传输率 {rate.effective_rate}% 低于 {quarter_min_pct}%"
            out.append(Problem("SX-30.7", rate.mn, text))
    still_open = sum(a.still_open for a in alarms)
    if still_open:
        out.append(Problem("SX-24", "", f"本季度报警中 {still_open} 条尚未关闭"))
    for ticket in tickets:
        if ticket.respond in LATE:
            out.append(Problem("CS-4.3.3", ticket.mn, f"服务工单 #{ticket.id} 响应超时"))
        if ticket.on_site in LATE:
            out.append(Problem("CS-4.3.3", ticket.mn, f"服务工单 #{ticket.id} 到场超时"))
    return tuple(out)
