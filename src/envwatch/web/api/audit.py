"""Daily data audit (数据审核, CS-4.3.2.2) API: which days of an operator are signed off, a day's anomalies,
signing a day.

Reading needs the operator in scope (an operator's people: their own; a regulator: operators of its
region's enterprises; admin: any; an auditor: its operator, days inside its period). Signing is the
``audit_day`` write (admin, operator, auditor) for one's own operator (admin: any).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from envwatch.alarms import audit_days as store
from envwatch.core.clock import utcnow
from envwatch.web.api.common import engine_of, jsonable
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class SignIn(BaseModel):
    day: date = Field(description="the China calendar day signed off")
    note: str = Field(default="", description="what was checked; required when the day was signed before")
    operator_id: int | None = Field(default=None, description="admin: the operator; others: their own")
    anomalies: int | None = Field(default=None, ge=0, description="alarms reviewed; default: the day's count")


def operator_of(scope: Scope, asked: int | None) -> int:
    """The operator whose days are asked for: one's own unless admin or regulator name one in scope."""
    own = scope.principal.operator_id
    operator_id = asked if asked is not None else own
    if operator_id is None:
        raise HTTPException(422, "operator_id is required")
    if own is not None and operator_id != own:
        raise HTTPException(404, f"no operator with id {operator_id}")
    scope.require_operator(operator_id)
    return operator_id


def _day(text: str | None, name: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name} must be a date such as 2026-11-21, not {text!r}") from None


@router.get("/days", summary="Each day of a range with its sign-off (or none) and its anomaly count")
def days(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    from_: Annotated[str | None, Query(alias="from", description="first day; default 30 days back")] = None,
    to: Annotated[str | None, Query(description="last day (included); default yesterday (China)")] = None,
) -> dict[str, Any]:
    operator = operator_of(scope, operator_id)
    last = _day(to, "to", store.last_auditable_day(utcnow()))
    first = _day(from_, "from", last - timedelta(days=29))
    scope.require_days(first, last)
    with engine_of(request).connect() as conn:
        status = store.audit_status(conn, operator, first, last)
        rows = [
            {
                "day": s.day.isoformat(),
                "signed": jsonable(s.signed) if s.signed is not None else None,
                "anomalies": len(store.day_anomalies(conn, operator, s.day)),
            }
            for s in status
        ]
    return {
        "operator_id": operator,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "unaudited": sum(1 for r in rows if r["signed"] is None),
        "rows": rows,
    }


@router.get("/days/{day}", summary="One day of an operator: its anomalies and every sign-off")
def one_day(
    request: Request, day: date, scope: CurrentScope, operator_id: int | None = None
) -> dict[str, Any]:
    operator = operator_of(scope, operator_id)
    scope.require_days(day, day)
    with engine_of(request).connect() as conn:
        return {
            "operator_id": operator,
            "day": day.isoformat(),
            "anomalies": [jsonable(a) for a in store.day_anomalies(conn, operator, day)],
            "sign_offs": [jsonable(s) for s in store.sign_offs_of(conn, operator, day)],
        }


@router.post("/days", status_code=201, summary="Sign a day off (a second sign-off is a correction)")
def sign(request: Request, body: SignIn, scope: CurrentScope) -> dict[str, Any]:
    operator = operator_of(scope, body.operator_id)
    scope.require_write("audit_day")
    scope.require_days(body.day, body.day)
    now = utcnow()
    with engine_of(request).begin() as conn:
        count = body.anomalies
        if count is None:
            count = len(store.day_anomalies(conn, operator, body.day))
        row = store.sign_day(
            conn,
            operator_id=operator,
            day=body.day,
            signed_by=scope.principal.name,
            note=body.note,
            anomalies=count,
            now=now,
        )
    return jsonable(row)
