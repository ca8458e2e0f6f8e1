"""REST API: the quarterly operator assessment and ranking (SX-26), the credit file and blacklist (SX-27, SX-32).

- ``GET /api/v1/compliance/assessments?quarter=2026Q3&region=3301``: the ranking computed live from the data
  (each operator's score, rank, last place, components), with the newest published rows of that quarter
  and region if any (``published``). Default quarter: the last complete one; default region: all (admin) or
  the regulator's own.
- ``POST /api/v1/compliance/assessments/publish`` ``{"quarter", "region"}`` (write ``assessment``: admin,
  regulator): stores the ranking and records its warnings and blacklistings (``compliance.assessment``); 201.
- ``GET /api/v1/operators/{id}/credit``: the credit file (events oldest first), the blacklist state with its
  history, and every published assessment of the operator (newest first).
- ``POST /api/v1/operators/{id}/credit`` ``{"kind", "reason", "on", "finding_id"}`` (write ``credit``:
  admin, regulator); 201. Blacklisting a listed operator or lifting one not listed: 409.
- ``GET /api/v1/compliance/blacklist``: every operator ever blacklisted that the caller sees, the listed
  ones first, each with its history.

Who sees what: admin everything; a regulator the operators working in its region (its ranking is of its
region or a part of it: another region is 403); an operator, its field staff and its auditor only their own
operator — in a ranking their own row, its rank and how many were ranked, never the others' scores (the
ranking is public only once a regulator discloses it); the auditor only for quarters inside its period.
Enterprises and testing agencies: 403. An operator outside the scope is 404 as a missing one.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from envwatch.compliance import assessment as ass
from envwatch.compliance import credit
from envwatch.core.clock import utcnow
from envwatch.core.errors import NotFound
from envwatch.operations.ticket_stats import parse_quarter, quarter_of
from envwatch.registry.schema import operators
from envwatch.registry.service import region_prefix
from envwatch.web.api.common import engine_of, settings_of, time_out, value_out
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1", tags=["compliance"])

READERS: Final = frozenset({"admin", "regulator", "operator", "field_staff", "auditor"})
OWN_ONLY: Final = frozenset({"operator", "field_staff", "auditor"})


def out(value: Any) -> Any:
    """Plain JSON: exact numbers as strings, times in China time, days as ISO dates, nested."""
    if isinstance(value, Decimal):
        return value_out(value)
    if isinstance(value, datetime):
        return time_out(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): out(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [out(v) for v in value]
    return value


def out_dict(value: dict[str, Any]) -> dict[str, Any]:
    return {str(k): out(v) for k, v in value.items()}


def require_reader(scope: Scope) -> None:
    if scope.role not in READERS:
        raise HTTPException(
            403,
            f"role {scope.role} may not read operator assessments or credit files "
            "(admin, regulator, operator, field_staff, auditor)",
        )


def own_operator(scope: Scope) -> int | None:
    """The one operator an operator, its staff or its auditor may see (None: they see more)."""
    return scope.principal.operator_id if scope.role in OWN_ONLY else None


def chosen_region(scope: Scope, region: str | None) -> str:
    """The ranking's region: '' or a code prefix; a regulator's defaults to its own and must lie inside it."""
    area = ass.normal_region(region)
    if scope.role != "regulator":
        return area
    if not scope.principal.region_code:
        raise HTTPException(403, "role regulator without a region may not rank operators")
    mine = region_prefix(scope.principal.region_code)
    if not area:
        return mine
    if not area.startswith(mine):
        raise HTTPException(403, f"role regulator of region {mine} may not rank operators of region {area}")
    return area


def chosen_quarter(scope: Scope, quarter: str | None) -> str:
    text = quarter or ass.previous_quarter(utcnow())
    first, last = parse_quarter(text)
    scope.require_days(first, last)
    return text


def names(request: Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    with engine_of(request).connect() as conn:
        rows = conn.execute(select(operators.c.id, operators.c.name).where(operators.c.id.in_(sorted(ids))))
        return {int(r.id): r.name for r in rows}


def ranking_out(request: Request, scope: Scope, ranking: ass.Ranking) -> dict[str, Any]:
    """The ranking and its newest publication as ``scope`` may see them (module docstring)."""
    own = own_operator(scope)
    year, quarter = ranking.year_quarter
    with engine_of(request).connect() as conn:
        stored = ass.published(conn, year, quarter, ranking.region)
        listed = {s.operator_id: s for s in credit.blacklist(conn) if s.listed}
    rows = [r.as_dict() for r in ranking.rows if own is None or r.operator_id == own]
    for row in rows:
        state = listed.get(row["operator_id"])
        row["blacklisted_since"] = state.current.since if state and state.current else None
    kept = sorted(
        (r for op, r in stored.items() if own is None or op == own),
        key=lambda r: (r["rank"] is None, r["rank"] or 0, r["operator_id"]),
    )
    shown = names(request, {int(r["operator_id"]) for r in kept})
    for row in kept:
        row["operator"] = shown.get(row["operator_id"], str(row["operator_id"]))
    published = None
    if stored:
        newest = max(stored.values(), key=lambda r: r["id"])
        published = {
            "published": True,
            "published_at": newest["published_at"],
            "published_by": newest["published_by"],
            "ranked": newest["ranked"],
            "rows": kept,
        }
    return out_dict(
        {
            "quarter": ranking.quarter,
            "from": ranking.first,
            "to": ranking.last,
            "region": ranking.region,
            "formula": ranking.formula.as_dict(),
            "ranked": ranking.ranked,
            "own_only": own is not None,
            "rows": rows,
            "published": published,
        }
    )


def live_ranking(request: Request, scope: Scope, quarter: str | None, region: str | None) -> ass.Ranking:
    require_reader(scope)
    chosen = chosen_quarter(scope, quarter)
    area = chosen_region(scope, region)
    return ass.assess(engine_of(request), settings_of(request), chosen, area, utcnow())


@router.get("/compliance/assessments", summary="The quarterly operator ranking (SX-26), live and published")
def assessments(
    request: Request,
    scope: CurrentScope,
    quarter: Annotated[
        str | None, Query(description="e.g. 2026Q3; default the last complete quarter")
    ] = None,
    region: Annotated[
        str | None, Query(description="region code (prefix); default all or the regulator's")
    ] = None,
) -> dict[str, Any]:
    return ranking_out(request, scope, live_ranking(request, scope, quarter, region))


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str = Field(description="e.g. 2026Q3")
    region: str = Field(default="", description="region code (prefix); '' all (a regulator: its own)")


def publish_ranking(request: Request, scope: Scope, body: PublishIn) -> dict[str, Any]:
    require_reader(scope)
    scope.require_write("assessment")
    ranking = live_ranking(request, scope, body.quarter, body.region)
    now = utcnow()
    with engine_of(request).begin() as conn:
        done = ass.publish(conn, ranking, settings_of(request), by=scope.principal.name, now=now)
    result = ranking_out(request, scope, ranking)
    result["assessment_ids"] = {str(k): v for k, v in done.assessment_ids.items()}
    result["credit_events"] = out(done.credit_events)
    return result


@router.post(
    "/compliance/assessments/publish",
    status_code=201,
    summary="Publish a quarter's ranking; records warnings (SX-32) and blacklistings (SX-26)",
)
def publish(request: Request, scope: CurrentScope, body: PublishIn) -> dict[str, Any]:
    return publish_ranking(request, scope, body)


def require_visible_operator(request: Request, scope: Scope, operator_id: int) -> str:
    """404 for an operator outside the scope or missing; its name otherwise."""
    require_reader(scope)
    own = own_operator(scope)
    if (own is not None and own != operator_id) or not scope.sees_operator(operator_id):
        raise NotFound(f"no operator with id {operator_id}")
    found = names(request, {operator_id})
    if operator_id not in found:
        raise NotFound(f"no operator with id {operator_id}")
    return found[operator_id]


def quarter_days(year: int, quarter: int) -> tuple[date, date]:
    return quarter_of(date(year, 3 * quarter - 2, 1))


def _in_period(scope: Scope, first: date, last: date) -> bool:
    """Whether the China days first..last lie inside the auditor's period (always, for everyone else)."""
    return scope.period is None or (scope.period[0] <= first and last <= scope.period[1])


def credit_file(request: Request, scope: Scope, operator_id: int) -> dict[str, Any]:
    name = require_visible_operator(request, scope, operator_id)
    # an auditor reads its period only: the events of its days, the quarters inside it, the blacklist as
    # it stood at its end
    until = scope.period[1] if scope.period is not None else None
    with engine_of(request).connect() as conn:
        events = [e for e in credit.events_of(conn, operator_id) if _in_period(scope, e["on"], e["on"])]
        state = credit.blacklist_state(conn, operator_id, until=until)
        assessed = [
            a
            for a in ass.published_of(conn, operator_id)
            if _in_period(scope, *quarter_days(a["year"], a["quarter"]))
        ]
    return out_dict(
        {
            "operator_id": operator_id,
            "operator": name,
            "events": events,
            "blacklisted": state.listed,
            "blacklisted_since": state.current.since if state.current else None,
            "blacklist_history": [s.as_dict() for s in state.history],
            "assessments": assessed,
        }
    )


@router.get(
    "/operators/{operator_id}/credit", summary="An operator's credit file, blacklist state, assessments"
)
def operator_credit(request: Request, scope: CurrentScope, operator_id: int) -> dict[str, Any]:
    return credit_file(request, scope, operator_id)


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description=" | ".join(credit.KINDS))
    reason: str = Field(description="why (required, at most 2000 characters)")
    on: date | None = Field(default=None, description="the day it takes effect (China); default today")
    finding_id: int | None = Field(default=None, description="the finding it follows from, if any")


def add_credit_event(request: Request, scope: Scope, operator_id: int, body: CreditIn) -> dict[str, Any]:
    require_visible_operator(request, scope, operator_id)
    scope.require_write("credit")
    with engine_of(request).begin() as conn:
        row = credit.record_event(
            conn,
            operator_id,
            body.kind,
            body.reason,
            on=body.on,
            finding_id=body.finding_id,
            by=scope.principal.name,
            now=utcnow(),
        )
    return out_dict(row)


@router.post("/operators/{operator_id}/credit", status_code=201, summary="Add an event to the credit file")
def add_credit(request: Request, scope: CurrentScope, operator_id: int, body: CreditIn) -> dict[str, Any]:
    return add_credit_event(request, scope, operator_id, body)


def blacklist_out(request: Request, scope: Scope) -> list[dict[str, Any]]:
    require_reader(scope)
    own = own_operator(scope)
    with engine_of(request).connect() as conn:
        states = [
            s
            for s in credit.blacklist(conn, until=scope.period[1] if scope.period is not None else None)
            if scope.sees_operator(s.operator_id) and (own is None or s.operator_id == own)
        ]
    shown = names(request, {s.operator_id for s in states})
    return [
        out_dict(
            {
                "operator_id": s.operator_id,
                "operator": shown.get(s.operator_id, str(s.operator_id)),
                "blacklisted": s.listed,
                "since": s.current.since if s.current else None,
                "reason": s.current.reason if s.current else None,
                "history": [h.as_dict() for h in s.history],
            }
        )
        for s in states
    ]


@router.get("/compliance/blacklist", summary="The operator blacklist (SX-27) with its history")
def blacklist(request: Request, scope: CurrentScope) -> dict[str, Any]:
    entries = blacklist_out(request, scope)
    return {"listed": sum(1 for e in entries if e["blacklisted"]), "operators": entries}
