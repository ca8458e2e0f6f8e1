"""What the quarterly self-inspection report (季度自查报告, SX-18.7) holds, as plain typed data.

Built by ``reports.self_inspection.gather_self_inspection``; rendered by ``self_inspection_pdf`` and
``self_inspection_xlsx``. Times are aware UTC (shown in China time), measured values exact ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from envwatch.reports.quarters import Quarter
from envwatch.reports.self_inspection_checks import ComparisonCount, InspectionCount

# field_records.kind, in the order of the report, with the Chinese names of SX-18.2
RECORD_KINDS: dict[str, str] = {
    "inspection": "巡检",
    "calibration": "校准",
    "standard_check": "标样核查",
    "comparison": "比对监测",
    "consumable": "耗材试剂更换",
    "repair": "维修",
    "parameter_change": "参数变更",
    "waste_liquid": "废液处置",
}
VERDICTS = {"pass": "合格", "fail": "不合格", "none": "—"}


@dataclass(frozen=True, slots=True)
class EnterpriseInfo:
    id: int
    name: str
    credit_code: str
    region_code: str
    address: str


@dataclass(frozen=True, slots=True)
class OutletInfo:
    id: int
    code: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: int
    mn: str
    name: str
    kind: str  # gas | water
    outlet_code: str
    outlet_name: str
    model: str
    serial: str


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    """An operator under contract with the enterprise on some day of the quarter."""

    id: int
    name: str
    credit_code: str
    contract_no: str
    valid_from: date
    valid_to: date | None
    outlet_code: str  # "" = every outlet of the enterprise


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One current field record (运维记录): not superseded by a correction."""

    id: int
    kind: str
    mn: str
    performed_at: datetime
    staff: str
    operator: str
    verdict: str  # pass | fail | none
    on_site: str  # yes | no | unknown
    details: str  # the payload, as "key: value" pairs
    out_of_control: bool  # 失控 (SX-20.8): as judged into the payload; a failed check or comparison is one
    note: str
    corrects: int | None  # the record it superseded


@dataclass(frozen=True, slots=True)
class ParameterChange:
    record_id: int
    mn: str
    performed_at: datetime
    parameter: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class DeviceWork:
    """Per device: inspections, calibrations and checks, comparisons (SX-20.3, SX-20.8, SX-18.6)."""

    mn: str
    kind: str
    inspections: InspectionCount
    calibrations: int
    calibrations_failed: int  # drift beyond the pass criterion (HJ 75-2017 §11)
    calibrations_out_of_control: int  # beyond the loss-of-control threshold (失控, SX-20.8)
    standard_checks: int
    standard_checks_failed: int  # a failed check is out of control
    comparisons: ComparisonCount
    comparisons_failed: int


@dataclass(frozen=True, slots=True)
class FaultLine:
    id: int
    mn: str
    factors: str
    description: str
    state: str
    started_at: datetime
    restored_at: datetime | None
    restore_due_at: datetime
    restore_state: str  # met | breached | running | overdue (operations.fault_clocks)
    backup_kind: str | None
    backup_started_at: datetime | None
    backup_required_state: str


@dataclass(frozen=True, slots=True)
class ManualResultLine:
    fault_id: int
    mn: str
    factor: str
    sampled_at: datetime
    value: Decimal
    unit: str
    agency: str
    report_no: str


@dataclass(frozen=True, slots=True)
class StopLine:
    id: int
    outlet_code: str
    start_at: datetime
    end_at: datetime
    state: str
    reason: str
    restarted_at: datetime | None


@dataclass(frozen=True, slots=True)
class MarkCount:
    mn: str
    code: str
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class MarkLine:
    id: int
    mn: str
    factor: str
    start_at: datetime
    end_at: datetime
    code: str
    name: str
    reason: str
    source: str
    late: bool


@dataclass(frozen=True, slots=True)
class AlarmCount:
    kind: str
    total: int
    still_open: int


@dataclass(frozen=True, slots=True)
class TicketLine:
    id: int
    mn: str
    subject: str
    zone: str
    state: str
    requested_at: datetime
    responded_at: datetime | None
    arrived_at: datetime | None
    respond: str  # clock state: met | breached | running | overdue | not_applicable
    on_site: str
    score: int | None


@dataclass(frozen=True, slots=True)
class TicketSummary:
    total: int
    responded_on_time: int
    respond_late: int  # breached or overdue
    on_site_on_time: int
    on_site_late: int
    surveys: int
    satisfied: int
    satisfaction_percent: Decimal | None


@dataclass(frozen=True, slots=True)
class RateLine:
    """The device's effective transmission rate (有效传输率) over the quarter (so far), from
    ``monitoring.rates.compute_rates``."""

    mn: str
    expected: int
    received: int
    valid: int
    effective_rate: Decimal | None
    flags: tuple[str, ...]  # requirement ids the rate misses (SX-30.7, CS-4.3.2.1)


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem found (发现的问题), with the clause it falls short of; ``mn`` empty when enterprise-wide."""

    clause: str
    mn: str
    text: str


@dataclass(frozen=True, slots=True)
class SelfInspection:
    enterprise: EnterpriseInfo
    quarter: Quarter
    generated_at: datetime
    complete: bool  # False: the quarter was not over when generated (a preview so far)
    inspection_every_days: int  # SX-20.3 as configured (om_inspection_every_days)
    operators: tuple[OperatorInfo, ...]
    outlets: tuple[OutletInfo, ...]
    devices: tuple[DeviceInfo, ...]
    work: tuple[DeviceWork, ...]
    records: tuple[RecordLine, ...]
    parameter_changes: tuple[ParameterChange, ...]
    faults: tuple[FaultLine, ...]
    manual_results: tuple[ManualResultLine, ...]
    stops: tuple[StopLine, ...]
    mark_counts: tuple[MarkCount, ...]
    marks: tuple[MarkLine, ...]
    alarms: tuple[AlarmCount, ...]
    tickets: tuple[TicketLine, ...]
    ticket_summary: TicketSummary
    rates: tuple[RateLine, ...] | None  # None: not computed (see rates_note)
    rates_note: str
    problems: tuple[Problem, ...]
