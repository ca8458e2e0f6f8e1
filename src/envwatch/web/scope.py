"""Scopes (数据权限): what a principal may see and change, decided in this one place for every API route.

A :class:`Scope` is resolved once per request from the :class:`~envwatch.web.auth.Principal` and the
registry (dependency :data:`CurrentScope`); routers ask it and never look at the role themselves.

Visibility (None = everything, admin only):

==============  ===========================================================================================
role            enterprises / outlets / devices it sees
==============  ===========================================================================================
admin           everything, including devices not yet on an outlet and frames from unknown MNs
regulator       enterprises whose region code starts with its region (省 2 digits ⊃ 市 4 ⊃ 县 6; a code
                ending in 00 names the province or city itself, as in the registry's region filter),
                every outlet of those, every device on those outlets
enterprise      itself, its outlets, their devices
operator,       the outlets of its contracts in force today (China date): a contract without an outlet
field_staff     covers every outlet of the enterprise; the enterprises of those outlets (read)
auditor         the same for one operator, over the contracts in force on any day of its period; data
                (measurements, packets, marks, commands, filings, rates) only inside the period
agency          no monitoring data at all; its own agency, staff, plans and samples (sampling)
==============  ===========================================================================================

Testing agencies and samples (sampling, WZ-A2): admin all; a regulator the agencies seated in its region and
every sample of those agencies or taken at an enterprise it sees; an agency itself; an enterprise the samples
taken at it (read). Operators, field staff and auditors see none.

Writes (:meth:`Scope.require_write`), always on something visible:

- ``registry`` (master data: enterprises, outlets, limits, devices' outlets and factors, operators,
  contracts): admin only;
- ``mark`` (create, supersede, withdraw, attach): admin, enterprise, operator, field_staff (SX-18.5: the
  enterprise and its operator mark; regulators review instead);
- ``mark_review`` (审核): admin, regulator;
- ``filing`` (备案 records, steps, attachments): admin, enterprise (filing is the enterprise's duty, SX-11);
- ``command`` (downlink to a data logger): admin, operator, field_staff (they run the devices; a time or
  interval change by anyone else would be an unfiled parameter change, SX-29);
- ``alarm`` (acknowledge, handle, assign, comment, close, attach; SX-24/25): admin, enterprise, operator,
  field_staff — the parties that answer for the data; regulators supervise through orders instead;
- ``order`` (issue, accept, return supervision orders, 电子督办): admin, regulator;
- ``order_response`` (respond to an order addressed to one's enterprise or operator): admin, enterprise,
  operator;
- ``audit_day`` (sign off a day of data, CS-4.3.2.2): admin, operator, auditor — the auditor writes nothing
  else; a misconfigured principal (role without its id) sees nothing;
- ``agency_registry`` (create or change testing agencies): admin; ``agency_staff`` (an agency's people and
  their label-system trainings, WZ-A2-5): admin, agency; ``sampling`` (plans, on-site entries, labels,
  custody steps): admin, agency; ``sampling_review`` (review entries flagged as offline or mistimed): admin,
  regulator.

Out of scope answers: an object that is not visible is "not found" with exactly the message a missing one
gets (404, existence is not revealed); lists are filtered; a write on something visible but not allowed is
403 naming the role; an auditor asking for data outside its period gets 403 naming the period (an explicit
refusal rather than a silently empty answer).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Connection, select

from envwatch.core.clock import CHINA_TZ, to_china, utcnow
from envwatch.core.errors import NotFound
from envwatch.monitoring.marks_schema import marks
from envwatch.registry.agencies_schema import agencies
from envwatch.registry.schema import contracts, devices, enterprises, filings, outlets
from envwatch.registry.service import region_prefix
from envwatch.registry.service_operators import contracted_outlets
from envwatch.web.api.common import engine_of
from envwatch.web.auth import CurrentPrincipal, Principal

WriteKind = Literal[
    "registry",
    "mark",
    "mark_review",
    "filing",
    "command",
    "alarm",
    "order",
    "order_response",
    "audit_day",
    "field_record",
    "om_register",
    "fault",
    "production_stop",
    "production_stop_review",
    "ticket_request",
    "ticket_service",
    "staff",
    "ledger",
    "self_inspection",
    "agency_registry",
    "agency_staff",
    "sampling",
    "sampling_review",
    "video",
    "video_self_inspection",
    "evidence_admin",
    "compliance_run",
    "finding_waive",
    "assessment",
    "credit",
    "supervision",
    "report",
]

WRITERS: dict[str, frozenset[str]] = {
    "registry": frozenset({"admin"}),
    "mark": frozenset({"admin", "enterprise", "operator", "field_staff"}),
    "mark_review": frozenset({"admin", "regulator"}),
    "filing": frozenset({"admin", "enterprise"}),
    "command": frozenset({"admin", "operator", "field_staff"}),
    "alarm": frozenset({"admin", "enterprise", "operator", "field_staff"}),
    "order": frozenset({"admin", "regulator"}),
    "order_response": frozenset({"admin", "enterprise", "operator"}),
    "audit_day": frozenset({"admin", "operator", "auditor"}),
    # O&M (issue 6)
    "field_record": frozenset({"admin", "operator", "field_staff"}),
    "om_register": frozenset({"admin", "operator"}),
    "fault": frozenset({"admin", "operator", "field_staff"}),
    "production_stop": frozenset({"admin", "enterprise"}),
    "production_stop_review": frozenset({"admin", "regulator"}),
    "ticket_request": frozenset({"admin", "enterprise"}),
    "ticket_service": frozenset({"admin", "operator", "field_staff"}),
    "staff": frozenset({"admin", "operator"}),
    "ledger": frozenset({"admin", "operator", "field_staff"}),
    "self_inspection": frozenset({"admin", "enterprise", "operator"}),
    # sampling (issue 7)
    "agency_registry": frozenset({"admin"}),
    "agency_staff": frozenset({"admin", "agency"}),
    "sampling": frozenset({"admin", "agency"}),
    "sampling_review": frozenset({"admin", "regulator"}),
    # evidence (issue 8)
    "video": frozenset({"admin", "agency"}),
    "video_self_inspection": frozenset({"admin", "agency"}),
    "evidence_admin": frozenset({"admin"}),
    # compliance (issue 9)
    "compliance_run": frozenset({"admin", "regulator"}),
    "finding_waive": frozenset({"admin", "regulator"}),
    "assessment": frozenset({"admin", "regulator"}),
    "credit": frozenset({"admin", "regulator"}),
    "supervision": frozenset({"admin", "regulator"}),
    "report": frozenset({"admin", "regulator", "enterprise", "operator"}),
}
_WHAT = {
    "registry": "change registry master data (enterprises, outlets, devices, operators, contracts)",
    "mark": "create, correct or withdraw marks",
    "mark_review": "review marks",
    "filing": "record filings, their steps or attachments",
    "command": "send commands to devices",
    "alarm": "work on alarms (acknowledge, handle, assign, comment, close)",
    "order": "issue, accept or return supervision orders",
    "order_response": "respond to supervision orders",
    "audit_day": "sign off a day of data",
    "field_record": "record O&M field work (inspections, calibrations, comparisons, ...)",
    "om_register": "record operator registrations or reference-material certificates",
    "fault": "open or update device faults",
    "production_stop": "report production stops",
    "production_stop_review": "approve or reject production stops",
    "ticket_request": "request service, confirm, reject or rate a fix",
    "ticket_service": "respond to, attend or resolve service tickets",
    "staff": "manage staff, certificates and trainings",
    "ledger": "record equipment, spare parts, emergency plans and drills",
    "self_inspection": "submit quarterly self-inspection reports",
    "agency_registry": "create or change testing agencies",
    "agency_staff": "manage an agency's staff and their trainings",
    "sampling": "record sampling plans, on-site entries, labels or custody steps",
    "sampling_review": "review flagged sampling entries",
    "video": "upload video records or annotate them",
    "video_self_inspection": "draw or review the monthly self-inspection of video records",
    "evidence_admin": "make checkpoints or run verification of the evidence log",
    "compliance_run": "run the compliance rules",
    "finding_waive": "waive findings or withdraw a waiver",
    "assessment": "publish quarterly operator assessments",
    "credit": "record operator credit events or change the blacklist",
    "supervision": "make supervision plans or spot-test lists, or record their results",
    "report": "generate periodic reports",
}
# Roles that see samples and sampling plans (sampling, WZ-A2); see sees_sample.
SAMPLE_READERS = frozenset({"admin", "regulator", "enterprise", "agency"})
# Roles whose scope this module knows; any other role is refused outright.
SCOPED_ROLES = frozenset({"admin", "regulator", "enterprise", "operator", "field_staff", "auditor", "agency"})

Ids = frozenset[int]


@dataclass(frozen=True)
class Scope:
    """What one principal sees: id sets (None = everything) and the auditor's period."""

    principal: Principal
    enterprise_ids: Ids | None
    # enterprises seen with every outlet (a regulator's or the enterprise itself; an operator's only when
    # a contract covers the whole enterprise): their enterprise-wide records (filings) are visible too
    whole_enterprise_ids: Ids | None
    outlet_ids: Ids | None
    device_ids: Ids | None
    operator_ids: Ids | None
    period: tuple[date, date] | None = None
    agency_ids: Ids | None = frozenset()  # testing agencies (sampling); None = every one (admin)

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def everything(self) -> bool:
        return self.device_ids is None

    # ---- visibility ----

    def sees_enterprise(self, enterprise_id: int | None) -> bool:
        return self.enterprise_ids is None or enterprise_id in self.enterprise_ids

    def sees_outlet(self, outlet_id: int | None) -> bool:
        return self.outlet_ids is None or outlet_id in self.outlet_ids

    def sees_device(self, device_id: int | None) -> bool:
        return self.device_ids is None or device_id in self.device_ids

    def sees_operator(self, operator_id: int | None) -> bool:
        return self.operator_ids is None or operator_id in self.operator_ids

    def sees_agency(self, agency_id: int | None) -> bool:
        return self.agency_ids is None or agency_id in self.agency_ids

    def sees_sample(self, row: dict[str, Any]) -> bool:
        """A sample (or plan) of a visible agency, or taken at a visible enterprise (regulator, enterprise).
        Operators, their field staff and auditors see none, whatever enterprises their contracts cover."""
        if self.role not in SAMPLE_READERS:
            return False
        if self.sees_agency(row["agency_id"]):
            return True
        # a plan is not shown to the enterprise it samples before its window opens: a supervisory
        # sampling may be unannounced (a sample exists only once taken, so it is always past that point)
        if self.role == "enterprise" and "window_start" in row and row["window_start"] > utcnow():
            return False
        return row["enterprise_id"] is not None and self.sees_enterprise(row["enterprise_id"])

    def sees_video(self, row: dict[str, Any]) -> bool:
        """A video record (视频记录, WZ-A1): seen like a sample, by its agency and by whoever sees the
        enterprise it was filmed at (``agency_id``, ``enterprise_id``)."""
        return self.sees_sample(row)

    def sees_finding(self, row: dict[str, Any]) -> bool:
        """A compliance finding (合规问题, issue 9), by what it is about: an agency its own; an operator, its
        staff and its auditor those naming the operator (the auditor only those touching its period); an
        enterprise those at itself; a regulator those at an enterprise or agency of its region, and the
        operator-wide ones of the operators working there."""
        if self.everything and self.agency_ids is None:
            return True
        if self.role == "agency":
            return row["agency_id"] is not None and self.sees_agency(row["agency_id"])
        if self.role in ("operator", "field_staff", "auditor"):
            if row["operator_id"] is None or row["operator_id"] != self.principal.operator_id:
                return False
            start = row["period_start"] or row["first_seen"]
            end = row["period_end"] or row["last_seen"]
            return self.overlaps_period(start, max(end, start + timedelta(seconds=1)))
        if self.role == "enterprise":
            return row["enterprise_id"] is not None and self.sees_enterprise(row["enterprise_id"])
        if row["enterprise_id"] is not None:
            return self.sees_enterprise(row["enterprise_id"])
        if row["agency_id"] is not None:
            return self.sees_agency(row["agency_id"])
        return row["operator_id"] is not None and self.sees_operator(row["operator_id"])

    def sees_contract(self, row: dict[str, Any]) -> bool:
        """An operator (and its staff, its auditor) sees its own contracts; the others the contracts of
        the enterprises they see."""
        if self.everything:
            return True
        if self.role in ("operator", "field_staff", "auditor"):
            return bool(row["operator_id"] == self.principal.operator_id)
        return self.sees_enterprise(row["enterprise_id"])

    def sees_filing(self, row: dict[str, Any]) -> bool:
        """A filing on a visible outlet or device, or an enterprise-wide one of a wholly visible
        enterprise; for the auditor only those whose event lies in its period."""
        if self.everything:
            return True
        if not self.sees_enterprise(row["enterprise_id"]):
            return False
        if not self.in_period(row["event_at"]):
            return False
        if self.whole_enterprise_ids is not None and row["enterprise_id"] in self.whole_enterprise_ids:
            return True
        return (row["outlet_id"] is not None and self.sees_outlet(row["outlet_id"])) or (
            row["device_id"] is not None and self.sees_device(row["device_id"])
        )

    # ---- the period (auditor) ----

    def period_bounds(self) -> tuple[datetime, datetime] | None:
        """The auditor's period as UTC instants [start, end), None for everyone else."""
        return self._bounds()

    def _bounds(self) -> tuple[datetime, datetime] | None:
        if self.period is None:
            return None
        first, last = self.period
        return _china_midnight(first), _china_midnight(last + timedelta(days=1))

    def in_period(self, moment: datetime) -> bool:
        bounds = self._bounds()
        return bounds is None or bounds[0] <= moment < bounds[1]

    def overlaps_period(self, start: datetime, end: datetime) -> bool:
        bounds = self._bounds()
        return bounds is None or (start < bounds[1] and end > bounds[0])

    def require_period(self, start: datetime | None, end: datetime | None) -> None:
        """403 unless [start, end) lies inside the auditor's period (no-op for everyone else)."""
        bounds = self._bounds()
        if bounds is None:
            return
        if start is None or end is None or start < bounds[0] or end > bounds[1]:
            raise HTTPException(403, self._period_message())

    def require_days(self, first: date, last: date) -> None:
        """403 unless the China days first..last lie inside the auditor's period."""
        if self.period is not None and (first < self.period[0] or last > self.period[1]):
            raise HTTPException(403, self._period_message())

    def _period_message(self) -> str:
        assert self.period is not None
        return (
            f"role auditor may read data of {self.period[0].isoformat()}..{self.period[1].isoformat()} "
            "only: ask with from/to inside that period"
        )

    # ---- writes ----

    def can_write(self, kind: WriteKind) -> bool:
        return self.role in WRITERS[kind]

    def require_write(self, kind: WriteKind) -> None:
        if not self.can_write(kind):
            raise HTTPException(403, f"role {self.role} may not {_WHAT[kind]}")

    # ---- objects by id: 404 exactly as for a missing one ----

    def device_id(self, conn: Connection, mn: str) -> int:
        device_id: int | None = conn.execute(select(devices.c.id).where(devices.c.mn == mn)).scalar()
        if device_id is None or not self.sees_device(device_id):
            raise HTTPException(404, f"no device with MN {mn}")
        return device_id

    def require_mark(self, conn: Connection, mark_id: int) -> None:
        """404 for a mark outside the scope (its device, and for an auditor its period), with the message a
        missing mark gets."""
        if self.everything:
            return
        row = conn.execute(
            select(marks.c.device_id, marks.c.start_at, marks.c.end_at).where(marks.c.id == mark_id)
        ).first()
        if (
            row is None
            or not self.sees_device(row.device_id)
            or not self.overlaps_period(row.start_at, row.end_at)
        ):
            raise NotFound(f"no mark with id {mark_id}")

    def require_device_id(self, device_id: int) -> None:
        if not self.sees_device(device_id):
            raise NotFound(f"no device with id {device_id}")

    def require_enterprise(self, enterprise_id: int) -> None:
        if not self.sees_enterprise(enterprise_id):
            raise NotFound(f"no enterprise with id {enterprise_id}")

    def require_outlet(self, outlet_id: int) -> None:
        if not self.sees_outlet(outlet_id):
            raise NotFound(f"no outlet with id {outlet_id}")

    def require_agency(self, agency_id: int) -> None:
        if not self.sees_agency(agency_id):
            raise NotFound(f"no testing agency with id {agency_id}")

    def require_operator(self, operator_id: int) -> None:
        if not self.sees_operator(operator_id):
            raise NotFound(f"no operator with id {operator_id}")

    def require_contract(self, conn: Connection, contract_id: int) -> None:
        if self.everything:
            return
        row = conn.execute(select(contracts).where(contracts.c.id == contract_id)).mappings().first()
        if row is None or not self.sees_contract(dict(row)):
            raise NotFound(f"no contract with id {contract_id}")

    def require_filing(self, conn: Connection, filing_id: int) -> None:
        if self.everything:
            return
        row = conn.execute(select(filings).where(filings.c.id == filing_id)).mappings().first()
        if row is None or not self.sees_filing(dict(row)):
            raise NotFound(f"no filing with id {filing_id}")

    def filter(self, rows: Iterable[dict[str, Any]], key: str, visible: Ids | None) -> list[dict[str, Any]]:
        """The rows whose ``key`` is in ``visible`` (all of them when it is None)."""
        return [r for r in rows if visible is None or r[key] in visible]


def china_today() -> date:
    return to_china(utcnow()).date()


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def _enterprises_of(conn: Connection, outlet_ids: Collection[int]) -> Ids:
    if not outlet_ids:
        return frozenset()
    query = select(outlets.c.enterprise_id).where(outlets.c.id.in_(list(outlet_ids))).distinct()
    return frozenset(conn.execute(query).scalars())


def _outlets_of(conn: Connection, enterprise_ids: Collection[int]) -> Ids:
    if not enterprise_ids:
        return frozenset()
    query = select(outlets.c.id).where(outlets.c.enterprise_id.in_(list(enterprise_ids)))
    return frozenset(conn.execute(query).scalars())


def _devices_on(conn: Connection, outlet_ids: Collection[int]) -> Ids:
    if not outlet_ids:
        return frozenset()
    query = select(devices.c.id).where(devices.c.outlet_id.in_(list(outlet_ids)))
    return frozenset(conn.execute(query).scalars())


def _operators_of(conn: Connection, enterprise_ids: Collection[int]) -> Ids:
    """Operators with a contract (at any time) with one of these enterprises."""
    if not enterprise_ids:
        return frozenset()
    query = select(contracts.c.operator_id).where(contracts.c.enterprise_id.in_(list(enterprise_ids)))
    return frozenset(conn.execute(query.distinct()).scalars())


def _agencies_in(conn: Connection, region_code: str | None) -> Ids:
    """Testing agencies seated in a regulator's region."""
    if not region_code:
        return frozenset()
    prefix = region_prefix(region_code)
    query = select(agencies.c.id).where(agencies.c.region_code.startswith(prefix, autoescape=True))
    return frozenset(conn.execute(query).scalars())


def resolve_scope(conn: Connection, principal: Principal, today: date) -> Scope:
    """The scope of ``principal`` on China day ``today`` (contracts in force that day for operators).

    Raises 403 for an unknown role: fail closed."""
    role = principal.role
    if role not in SCOPED_ROLES:
        raise HTTPException(
            403, f"role {role} is unknown: no access (roles: {', '.join(sorted(SCOPED_ROLES))})"
        )
    if role == "admin":
        return Scope(principal, None, None, None, None, None, None, None)
    empty: Ids = frozenset()
    period: tuple[date, date] | None = None
    if role == "agency":  # its own agency; no monitoring data
        own = frozenset({principal.agency_id}) if principal.agency_id is not None else empty
        return Scope(principal, empty, empty, empty, empty, empty, None, own)
    agency_ids: Ids = empty
    if role == "regulator":
        ents: Ids = empty
        if principal.region_code:
            prefix = region_prefix(principal.region_code)
            query = select(enterprises.c.id).where(
                enterprises.c.region_code.startswith(prefix, autoescape=True)
            )
            ents = frozenset(conn.execute(query).scalars())
        outs = _outlets_of(conn, ents)
        whole, ops = ents, _operators_of(conn, ents)
        agency_ids = _agencies_in(conn, principal.region_code)
    elif role == "enterprise":
        ents = empty
        if principal.enterprise_id is not None:
            query = select(enterprises.c.id).where(enterprises.c.id == principal.enterprise_id)
            ents = frozenset(conn.execute(query).scalars())
        outs = _outlets_of(conn, ents)
        whole, ops = ents, _operators_of(conn, ents)
    else:  # operator, field_staff, auditor
        first, last = today, today
        if role == "auditor":
            period = principal.period
            first, last = period or (today, today)
        # an auditor without a period, or any of these without an operator, sees nothing (fail closed)
        if principal.operator_id is None or (role == "auditor" and period is None) or first > last:
            outs, whole = empty, empty
        else:
            outs, whole = contracted_outlets(conn, principal.operator_id, first, last)
        ents = _enterprises_of(conn, outs)
        ops = frozenset({principal.operator_id}) if principal.operator_id is not None else empty
    return Scope(principal, ents, whole, outs, _devices_on(conn, outs), ops, period, agency_ids)


def current_scope(request: Request, who: CurrentPrincipal) -> Scope:
    """FastAPI dependency: the scope of the request's principal, resolved once per request."""
    with engine_of(request).connect() as conn:
        return resolve_scope(conn, who, china_today())


CurrentScope = Annotated[Scope, Depends(current_scope)]
