"""O&M API (issue 6): faults (故障, SX-18.3), manual monitoring results and production stops (停产, SX-18.4).

Who sees what (404 otherwise, exactly as a missing one): a fault whoever sees its device (an auditor: a
fault overlapping its period); a production stop whoever sees its outlet (an auditor: overlapping its
period). Who writes (``web.scope`` kinds): ``fault`` (open, events, manual results: admin, and the operator
and its field staff whose contract covers the device today, which is what they see); ``production_stop``
(report, withdraw, restart: admin and the enterprise itself); ``production_stop_review`` (approve or
reject: admin and the regulators whose region holds the enterprise — a regulator of another region does
not see the report, so it gets 404). The order of the checks: visibility (404), the role (403), the input
(422), the store (422 / 409).

A wrong manual result is corrected, or withdrawn, by a new row (``POST .../manual-results/{id}/corrections``,
``operations.manual_results.correct_manual_result``, the ``fault`` write), also after the backup ended:
the fields not given keep the corrected row's values; the fault's ``manual_results`` are the current rows,
``manual_result_history`` every row with who corrected it, when and why.

Times are ISO 8601; a time without offset is China time; answers are in China time. Clocks carry their
``remaining`` in seconds (negative when late).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.workdays import CalendarNotCovered, WorkdayCalendar
from envwatch.monitoring.marks import MarkPolicy
from envwatch.operations import faults as store
from envwatch.operations import production_stops as stops
from envwatch.operations.fault_clocks import Clock, FaultRules
from envwatch.registry.schema import outlets
from envwatch.web.api.alarms import require_alarm
from envwatch.web.api.common import engine_of, jsonable, parse_time, settings_of, time_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/om", tags=["om-faults"])

CSV_MAX_BYTES = 2 * 1024 * 1024  # an upload of manual results (5,000 rows fit easily)


# ---- settings-derived rules ----


def fault_rules(request: Request) -> FaultRules:
    return FaultRules.from_settings(settings_of(request))


def workday_calendar(request: Request) -> WorkdayCalendar:
    return WorkdayCalendar.from_settings(settings_of(request))


def mark_policy(request: Request) -> MarkPolicy:
    return MarkPolicy.from_settings(settings_of(request))


# ---- visibility ----


def sees_fault(scope: Scope, row: dict[str, Any]) -> bool:
    end = row["restored_at"] or utcnow()
    return scope.sees_device(row["device_id"]) and scope.overlaps_period(
        row["started_at"], max(end, row["started_at"])
    )


def require_fault(conn: Connection, scope: Scope, fault_id: int) -> dict[str, Any]:
    """The fault, or 404 exactly as for a missing one when the scope does not see it."""
    try:
        row = store.get_fault(conn, fault_id)
    except NotFound:
        row = None
    if row is None or not sees_fault(scope, row):
        raise NotFound(f"no fault with id {fault_id}")
    return row


def sees_stop(scope: Scope, row: dict[str, Any]) -> bool:
    return scope.sees_outlet(row["outlet_id"]) and scope.overlaps_period(row["start_at"], row["end_at"])


def require_stop(conn: Connection, scope: Scope, stop_id: int) -> dict[str, Any]:
    """The production stop, or 404 exactly as for a missing one when the scope does not see it."""
    try:
        row = stops.get_stop(conn, stop_id)
    except NotFound:
        row = None
    if row is None or not sees_stop(scope, row):
        raise NotFound(f"no production stop with id {stop_id}")
    return row


# ---- answers ----


def clock_out(c: Clock) -> dict[str, Any]:
    return {
        "name": c.name,
        "clause": c.clause,
        "state": c.state,
        "due_at": time_out(c.due_at),
        "met_at": time_out(c.met_at),
        "remaining_s": None if c.remaining is None else int(c.remaining.total_seconds()),
    }


def clocks_or_none(
    row: dict[str, Any], now: datetime, rules: FaultRules, calendar: WorkdayCalendar
) -> list[Clock] | None:
    try:
        return store.clocks_of(row, now, rules, calendar)
    except CalendarNotCovered:
        return None


def fault_out(row: dict[str, Any], clocks: Sequence[Clock] | None) -> dict[str, Any]:
    out = jsonable(row)
    out["factors"] = store.factors_of(row)
    out["clocks"] = None if clocks is None else [clock_out(c) for c in clocks]
    return out


def history_out(row: dict[str, Any]) -> dict[str, Any]:
    out = jsonable(row)
    out["correction"] = None if row["correction"] is None else jsonable(row["correction"])
    return out


# ---- faults ----


class FaultIn(BaseModel):
    mn: str | None = Field(default=None, description="the device (数采仪) MN; or give alarm_id")
    alarm_id: int | None = Field(default=None, description="the alarm the fault is opened from")
    started_at: str = Field(description="when the fault began; ISO 8601, no offset = China time")
    description: str = Field(description="故障现象: what is wrong")
    factors: list[str] = Field(default_factory=list, description="the factors down; empty = the whole device")


class FaultEventIn(BaseModel):
    event: Literal["backup_started", "backup_checked", "backup_ended", "restored", "commented"]
    at: str | None = Field(default=None, description="when it happened (default now); no offset = China time")
    comment: str = ""
    kind: Literal["backup_device", "manual"] | None = Field(
        default=None, description="backup_started: a backup device (备机) or manual monitoring (手工监测)"
    )
    data: dict[str, Any] = Field(default_factory=dict, description="more facts (a backup's serial, ...)")


@router.get("/faults", summary="Faults (故障), open ones first, as the caller may see them")
def list_faults(
    request: Request,
    scope: CurrentScope,
    mn: Annotated[str | None, Query(description="one device")] = None,
    enterprise_id: int | None = None,
    operator_id: int | None = None,
    state: Annotated[list[str] | None, Query(description="open | on_backup | restored")] = None,
    overdue: Annotated[bool, Query(description="only faults with an overdue SX-18.3 clock")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    now = utcnow()
    rules, calendar = fault_rules(request), workday_calendar(request)
    with engine_of(request).connect() as conn:
        device_id = scope.device_id(conn, mn) if mn is not None else None
        q = store.FaultQuery(
            device_ids=scope.device_ids,
            device_id=device_id,
            enterprise_id=enterprise_id,
            operator_id=operator_id,
            states=state or None,
            overdue_at=now if overdue else None,
            limit=limit,
            offset=offset,
        )
        rows, total = store.list_faults(conn, q, rules=rules, calendar=calendar)
    rows = [r for r in rows if sees_fault(scope, r)]  # an auditor's period (devices are filtered above)
    out = [fault_out(r, clocks_or_none(r, now, rules, calendar)) for r in rows]
    return {"total": total, "limit": limit, "offset": offset, "rows": out}


@router.post("/faults", status_code=201, summary="Open a fault of a device, by hand or from an alarm")
def open_fault(request: Request, body: FaultIn, scope: CurrentScope) -> dict[str, Any]:
    now = utcnow()
    with engine_of(request).connect() as conn:  # 404 first for what the caller does not see
        device_id = scope.device_id(conn, body.mn) if body.mn is not None else None
        if body.alarm_id is not None:
            alarm = require_alarm(conn, scope, body.alarm_id)
            device_id = alarm["device_id"] if device_id is None else device_id
    scope.require_write("fault")
    if device_id is None:
        raise HTTPException(422, "give the device (mn) or the alarm (alarm_id) the fault is on")
    started = parse_time("started_at", body.started_at)
    if started is None:
        raise HTTPException(422, "started_at is required")
    with engine_of(request).begin() as conn:
        row = store.open_fault(
            conn,
            device_id=device_id,
            started_at=started,
            description=body.description,
            factors=body.factors,
            alarm_id=body.alarm_id,
            opened_by=scope.principal.name,
            now=now,
        )
    return fault_out(row, clocks_or_none(row, now, fault_rules(request), workday_calendar(request)))


@router.get("/faults/{fault_id}", summary="One fault with its journal, manual results and SX-18.3 clocks")
def get_fault(request: Request, fault_id: int, scope: CurrentScope) -> dict[str, Any]:
    now = utcnow()
    with engine_of(request).connect() as conn:
        require_fault(conn, scope, fault_id)
        view = store.fault_view(conn, fault_id, now, fault_rules(request), workday_calendar(request))
    out = fault_out(view["fault"], view["clocks"])
    out["clock_error"] = view["clock_error"]
    out["events"] = [jsonable(e) for e in view["events"]]
    out["manual_results"] = [jsonable(r) for r in view["manual_results"]]
    out["manual_result_history"] = [history_out(r) for r in view["manual_result_history"]]
    return out


@router.post("/faults/{fault_id}/events", summary="Record what happened: backup, check, restore, comment")
def record_event(request: Request, fault_id: int, body: FaultEventIn, scope: CurrentScope) -> dict[str, Any]:
    now = utcnow()
    with engine_of(request).connect() as conn:
        require_fault(conn, scope, fault_id)
    scope.require_write("fault")
    at = parse_time("at", body.at) or now
    data = dict(body.data)
    if body.kind is not None:
        data["kind"] = body.kind
    with engine_of(request).begin() as conn:
        row = store.record_event(
            conn,
            fault_id,
            event=body.event,
            at=at,
            comment=body.comment,
            data=data,
            by=scope.principal.name,
            now=now,
            policy=mark_policy(request),
        )
    return fault_out(row, clocks_or_none(row, now, fault_rules(request), workday_calendar(request)))


def _json_rows(raw: bytes) -> list[store.ManualResultIn]:
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=lambda c: c)
    except ValueError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, list):
        raise InvalidInput("send a JSON list of results, or a CSV file")
    rows = []
    for n, item in enumerate(body, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(
                f"row {n}: expected an object with factor, sampled_at, value, unit, agency, report_no"
            )
        missing = [
            k for k in ("factor", "sampled_at", "value", "unit", "agency", "report_no") if k not in item
        ]
        if missing:
            raise InvalidInput(f"row {n}: {', '.join(missing)} missing")
        try:
            sampled = parse_time("sampled_at", str(item["sampled_at"]))
        except HTTPException as exc:
            raise InvalidInput(f"row {n}: {exc.detail}") from None
        value = item["value"]
        rows.append(
            store.ManualResultIn(
                factor=str(item["factor"]),
                sampled_at=sampled,  # type: ignore[arg-type]  # parse_time gives None only for ""
                value=str(value) if isinstance(value, int) and not isinstance(value, bool) else value,
                unit=str(item["unit"]),
                agency=str(item["agency"]),
                report_no=str(item["report_no"]),
            )
        )
    return rows


def _visible_writable_fault(request: Request, scope: Scope, fault_id: int) -> None:
    with engine_of(request).connect() as conn:
        require_fault(conn, scope, fault_id)
    scope.require_write("fault")


def _store_results(
    request: Request, scope: Scope, fault_id: int, rows: list[store.ManualResultIn]
) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        added = store.add_manual_results(conn, fault_id, rows, by=scope.principal.name, now=utcnow())
    return {"added": len(added), "rows": [jsonable(r) for r in added]}


_RESULT_SCHEMA = {
    "type": "object",
    "required": ["factor", "sampled_at", "value", "unit", "agency", "report_no"],
    "properties": {
        "factor": {"type": "string", "example": "a21026"},
        "sampled_at": {"type": "string", "description": "ISO 8601; no offset = China time"},
        "value": {"type": "string", "description": 'an exact decimal, e.g. "12.30"'},
        "unit": {"type": "string"},
        "agency": {"type": "string", "description": "the licensed testing agency (检测机构)"},
        "report_no": {"type": "string", "description": "检测报告编号"},
    },
}
_RESULTS_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": _RESULT_SCHEMA}},
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "header factor,sampled_at,value,unit,agency,report_no",
                }
            },
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    }
}


@router.post(
    "/faults/{fault_id}/manual-results",
    status_code=201,
    summary="Upload manual monitoring results (手工监测) while a manual backup runs: JSON list or CSV",
    openapi_extra=_RESULTS_DOC,
)
async def add_manual_results(request: Request, fault_id: int, scope: CurrentScope) -> dict[str, Any]:
    await run_in_threadpool(_visible_writable_fault, request, scope, fault_id)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > CSV_MAX_BYTES + 64 * 1024:
        raise HTTPException(413, f"the upload is larger than {CSV_MAX_BYTES} bytes; split it")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=5) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("send the CSV as the form field 'file'")
            raw = await upload.read(CSV_MAX_BYTES + 1)
        kind = "text/csv"
    else:
        raw = await request.body()
    if len(raw) > CSV_MAX_BYTES:
        raise HTTPException(413, f"the upload is larger than {CSV_MAX_BYTES} bytes; split it")
    if kind in ("text/csv", "text/plain", "application/csv"):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the CSV file is not UTF-8 text: save it as CSV UTF-8") from None
        rows = store.parse_manual_csv(text)
    else:
        rows = _json_rows(raw)
    return await run_in_threadpool(_store_results, request, scope, fault_id, rows)


class ResultCorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="what was wrong in the row corrected (required)")
    withdraw: bool = Field(
        default=False, description="true: withdraw the row (not a result of this fault), no replacement"
    )
    factor: str | None = Field(default=None, description="the right value; not given: the row's own")
    sampled_at: str | None = Field(default=None, description="ISO 8601; no offset = China time")
    value: str | int | float | None = Field(
        default=None, description='an exact decimal as text, e.g. "12.30"'
    )
    unit: str | None = None
    agency: str | None = None
    report_no: str | None = None


def require_result(conn: Connection, fault_id: int, result_id: int) -> dict[str, Any]:
    """A manual result row of that fault (the fault already found visible), else 404."""
    try:
        row = store.manual_result_row(conn, result_id)
    except NotFound:
        row = None
    if row is None or row["fault_id"] != fault_id:
        raise NotFound(f"no manual result with id {result_id} on fault {fault_id}")
    return row


def result_draft(row: dict[str, Any], body: ResultCorrectionIn) -> store.ManualResultIn:
    """The corrected result: the fields given, the corrected row's values for the rest."""
    sampled = parse_time("sampled_at", body.sampled_at) if body.sampled_at is not None else None
    value: Any = row["value"] if body.value is None else body.value
    return store.ManualResultIn(
        factor=row["factor"] if body.factor is None else body.factor,
        sampled_at=row["sampled_at"] if sampled is None else sampled,
        value=str(value) if isinstance(value, int) and not isinstance(value, bool) else value,
        unit=row["unit"] if body.unit is None else body.unit,
        agency=row["agency"] if body.agency is None else body.agency,
        report_no=row["report_no"] if body.report_no is None else body.report_no,
    )


@router.post(
    "/faults/{fault_id}/manual-results/{result_id}/corrections",
    status_code=201,
    summary="Correct a manual result (or withdraw it) by a new row; fields not given stay",
)
def correct_manual_result(
    request: Request, fault_id: int, result_id: int, body: ResultCorrectionIn, scope: CurrentScope
) -> dict[str, Any]:
    given = sorted(body.model_dump(exclude={"reason", "withdraw"}, exclude_none=True))
    with engine_of(request).begin() as conn:
        require_fault(conn, scope, fault_id)
        row = require_result(conn, fault_id, result_id)
        scope.require_write("fault")
        if body.withdraw and given:
            raise InvalidInput(
                f"a withdrawal replaces the row by nothing: give no result fields ({', '.join(given)})"
            )
        if not body.withdraw and not given:
            raise InvalidInput(
                "give the fields to correct (factor, sampled_at, value, unit, agency, report_no), or withdraw"
            )
        draft = None if body.withdraw else result_draft(row, body)
        done = store.correct_manual_result(
            conn, result_id, draft, reason=body.reason, by=scope.principal.name, now=utcnow()
        )
    return jsonable(done)


# ---- production stops ----


class StopIn(BaseModel):
    outlet_id: int = Field(description="the outlet whose production stops")
    enterprise_id: int | None = Field(default=None, description="the outlet's enterprise (default: it)")
    start_at: str = Field(description="planned stop; ISO 8601, no offset = China time")
    end_at: str = Field(description="planned restart")
    reason: str = Field(description="停产原因")


class DecisionIn(BaseModel):
    approve: bool
    comment: str = Field(default="", description="required when rejecting")


class CommentIn(BaseModel):
    comment: str = ""


class RestartIn(BaseModel):
    at: str | None = Field(default=None, description="when production restarted (default now)")
    comment: str = ""


def stop_out(row: dict[str, Any]) -> dict[str, Any]:
    return jsonable(row)


@router.get("/stops", summary="Production stop reports (停产报告), the latest start first")
def list_stops(
    request: Request,
    scope: CurrentScope,
    enterprise_id: int | None = None,
    outlet_id: int | None = None,
    state: Annotated[
        list[str] | None, Query(description="submitted | approved | rejected | withdrawn | restarted")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    q = stops.StopQuery(
        outlet_ids=scope.outlet_ids,
        enterprise_id=enterprise_id,
        outlet_id=outlet_id,
        states=state or None,
        limit=limit,
        offset=offset,
    )
    with engine_of(request).connect() as conn:
        rows, total = stops.list_stops(conn, q)
    rows = [r for r in rows if sees_stop(scope, r)]
    return {"total": total, "limit": limit, "offset": offset, "rows": [stop_out(r) for r in rows]}


@router.post("/stops", status_code=201, summary="Report a production stop (停产报告) before it starts")
def submit_stop(request: Request, body: StopIn, scope: CurrentScope) -> dict[str, Any]:
    scope.require_outlet(body.outlet_id)  # 404 first
    if body.enterprise_id is not None:
        scope.require_enterprise(body.enterprise_id)
    scope.require_write("production_stop")
    start, end = parse_time("start_at", body.start_at), parse_time("end_at", body.end_at)
    if start is None or end is None:
        raise HTTPException(422, "start_at and end_at are required")
    with engine_of(request).begin() as conn:
        enterprise_id = body.enterprise_id
        if enterprise_id is None:
            enterprise_id = conn.execute(
                select(outlets.c.enterprise_id).where(outlets.c.id == body.outlet_id)
            ).scalar()
            if enterprise_id is None:
                raise NotFound(f"no outlet with id {body.outlet_id}")
        row = stops.submit_stop(
            conn,
            enterprise_id=enterprise_id,
            outlet_id=body.outlet_id,
            start_at=start,
            end_at=end,
            reason=body.reason,
            by=scope.principal.name,
            now=utcnow(),
        )
    return stop_out(row)


def stop_view_out(request: Request, conn: Connection, stop_id: int) -> dict[str, Any]:
    days = settings_of(request).om_restart_check_within_days
    view = stops.stop_view(conn, stop_id, utcnow(), check_within_days=days)
    out = stop_out(view["stop"])
    out["events"] = [jsonable(e) for e in view["events"]]
    out["marks"] = [jsonable(m) for m in view["marks"]]
    out["devices"] = view["devices"]
    check = view["restart_check"]
    out["restart_check"] = (
        None
        if check is None
        else {
            "due_at": time_out(check["due_at"]),
            "state": check["state"],
            "within_days": days,
            "devices": [jsonable(d) for d in check["devices"]],
        }
    )
    out["quarter_note"] = view["quarter_note"]
    return out


@router.get("/stops/{stop_id}", summary="One production stop with its journal, marks and restart check")
def get_stop(request: Request, stop_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        require_stop(conn, scope, stop_id)
        return stop_view_out(request, conn, stop_id)


@router.post("/stops/{stop_id}/decision", summary="Approve or reject a production stop (审批)")
def decide(request: Request, stop_id: int, body: DecisionIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        require_stop(conn, scope, stop_id)  # a regulator of another region does not see it: 404
    scope.require_write("production_stop_review")
    with engine_of(request).begin() as conn:
        stops.decide(
            conn,
            stop_id,
            approve=body.approve,
            comment=body.comment,
            by=scope.principal.name,
            now=utcnow(),
            policy=mark_policy(request),
        )
        return stop_view_out(request, conn, stop_id)


@router.post("/stops/{stop_id}/withdraw", summary="Withdraw a production stop report (before it starts)")
def withdraw(request: Request, stop_id: int, body: CommentIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        require_stop(conn, scope, stop_id)
    scope.require_write("production_stop")
    with engine_of(request).begin() as conn:
        stops.withdraw(
            conn,
            stop_id,
            comment=body.comment,
            by=scope.principal.name,
            now=utcnow(),
            policy=mark_policy(request),
        )
        return stop_view_out(request, conn, stop_id)


@router.post("/stops/{stop_id}/restart", summary="Record the restart after an approved stop (SX-18.4)")
def restart(request: Request, stop_id: int, body: RestartIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        require_stop(conn, scope, stop_id)
    scope.require_write("production_stop")
    now = utcnow()
    at = parse_time("at", body.at) or now
    with engine_of(request).begin() as conn:
        stops.restarted(
            conn,
            stop_id,
            at=at,
            comment=body.comment,
            by=scope.principal.name,
            now=now,
            policy=mark_policy(request),
        )
        return stop_view_out(request, conn, stop_id)
