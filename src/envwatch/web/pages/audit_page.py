"""The daily data audit pages (数据审核, CS-4.3.2.2): which days of an operator are signed off, one day's
anomalies and sign-offs, and signing a day.

- ``/audit?operator=&month=``: the last 30 finished China days and today (or the days of ``month``,
  YYYY-MM), newest first, each with its anomaly count and its sign-off (by, at, note) or "not audited"
  (highlighted); admin and regulators choose the operator (the operators in their scope), an operator's
  people and its auditor see their own;
- ``/audit/{day}?operator=``: that day's anomalies (links to the alarms), every sign-off of it (the newest
  counts; earlier ones were corrected), and for those who may sign the form (the note is required when the
  day was signed before); a day not over in China time cannot be signed and the page says until when;
- ``POST /audit/{day}?operator=``: sign the day (303 back with a notice; the store's refusal in the form).

Whose days, and who signs, are the JSON API's rules (``web.api.audit.operator_of``; the ``audit_day`` write:
admin, operator, auditor; ``Scope.require_days``: an auditor only inside its period), the days and their
anomalies the store's (``alarms.audit_days``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from envwatch.alarms import audit_days as store
from envwatch.core.clock import CHINA_TZ, to_china, utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry.service_operators import get_operator, list_operators
from envwatch.web.api.audit import operator_of
from envwatch.web.api.common import engine_of
from envwatch.web.pages.alarm_view import KIND_LABELS
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.public_data import factor_name
from envwatch.web.pages.render import NAV, render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

# the roles of the navigation entry: an operator's people read their days on the workbench's terms
AUDIT_ROLES = next(item.roles for item in NAV if item.path == "/audit")
SHOWN_DAYS = 30  # finished days the page shows by default (CS-4.3.2.2 is a daily duty: a month at a glance)


@dataclass(frozen=True)
class Whose:
    """The scope of the viewer and the operator whose days are shown (None: an admin or a regulator has not
    chosen one yet)."""

    scope: Scope
    operator: dict[str, Any] | None

    @property
    def query(self) -> str:
        return f"?operator={self.operator['id']}" if self.operator else ""


def _whose(request: Request, viewer: Viewer, asked: str | None) -> Whose:
    """The operator of the page: one's own, or (admin, regulator) the one asked for in scope (the API's
    ``operator_of``: another operator than one's own is 404, as a missing one)."""
    if viewer.principal.role not in AUDIT_ROLES:
        raise HTTPException(403, f"role {viewer.principal.role} has no daily audit")
    scope = data_scope(request, viewer)
    wanted: int | None = None
    if asked:
        if not asked.isdigit():
            raise HTTPException(422, f"operator must be an operator id, not {asked!r}")
        wanted = int(asked)
    if wanted is None and scope.principal.operator_id is None:
        return Whose(scope, None)
    try:
        operator_id = operator_of(scope, wanted)
        with engine_of(request).connect() as conn:
            return Whose(scope, get_operator(conn, operator_id))
    except NotFound as exc:  # the scope's NotFound answers in JSON: the page shows its HTML 404
        raise HTTPException(404, exc.message) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"the day must be a date such as 2026-11-21, not {text!r}") from None


def day_end(day: date) -> datetime:
    """When China day ``day`` is over (00:00 China time of the next day): from then on it can be signed."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA_TZ)


def shown_range(scope: Scope, month: str, now: datetime) -> tuple[date, date]:
    """The days of the list: the month asked for (up to today), else the last ``SHOWN_DAYS`` finished days and
    today. An auditor's range is cut to its period (a month wholly outside it is 403, the API's answer)."""
    today = to_china(now).date()
    if month:
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise HTTPException(422, f"the month must look like 2026-11, not {month!r}") from None
        if first > today:
            raise HTTPException(422, f"{month} has not begun yet")
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        last = min(following - timedelta(days=1), today)
    else:
        last = today
        first = store.last_auditable_day(now) - timedelta(days=SHOWN_DAYS - 1)
    if scope.period is not None:
        start, end = scope.period
        if not month:  # the auditor's own last 30 days: the end of its period
            last = min(end, today)
            first = max(start, last - timedelta(days=SHOWN_DAYS - 1))
        elif first <= end and last >= start:
            first, last = max(first, start), min(last, end)
    scope.require_days(first, last)
    return first, last


def day_rows(
    conn: Connection, operator_id: int, first: date, last: date, now: datetime
) -> list[dict[str, Any]]:
    """Each day of first..last, newest first: the current sign-off or None, the anomaly count, signable."""
    return [
        {
            "day": s.day,
            "signed": s.signed,
            "anomalies": len(store.day_anomalies(conn, operator_id, s.day)),
            "over": now >= day_end(s.day),
        }
        for s in reversed(store.audit_status(conn, operator_id, first, last))
    ]


def _operators_in_scope(request: Request, scope: Scope) -> list[dict[str, Any]]:
    with engine_of(request).connect() as conn:
        return [o for o in list_operators(conn) if scope.sees_operator(o["id"])]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, viewer: CurrentViewer, operator: str | None = None, month: str = ""
) -> Response:
    whose = _whose(request, viewer, operator)
    chooser = whose.scope.principal.operator_id is None  # admin, regulator: any operator in scope
    operators = _operators_in_scope(request, whose.scope) if chooser else []
    now = utcnow()
    rows: list[dict[str, Any]] = []
    first = last = None
    if whose.operator is not None:
        first, last = shown_range(whose.scope, month, now)
        with engine_of(request).connect() as conn:
            rows = day_rows(conn, whose.operator["id"], first, last, now)
    return render(
        request,
        "audit.html",
        viewer=viewer,
        whose=whose,
        day=None,
        chooser=chooser,
        operators=operators,
        month=month,
        first=first,
        last=last,
        rows=rows,
        unaudited=sum(1 for r in rows if r["signed"] is None and r["over"]),
    )


def _day_page(
    request: Request,
    viewer: Viewer,
    day_text: str,
    operator: str | None,
    problem: FormProblem | None = None,
    status: int = 200,
) -> Response:
    whose = _whose(request, viewer, operator)
    if whose.operator is None:
        raise HTTPException(422, "choose an operator first (?operator=ID)")
    day = _day(day_text)
    whose.scope.require_days(day, day)
    now = utcnow()
    locale = locale_of(request)
    with engine_of(request).connect() as conn:
        anomalies = store.day_anomalies(conn, whose.operator["id"], day)
        sign_offs = store.sign_offs_of(conn, whose.operator["id"], day)
    done = request.query_params.get("done") == "signed" and problem is None
    return render(
        request,
        "audit.html",
        status,
        viewer=viewer,
        whose=whose,
        day=day,
        ends=day_end(day),
        over=now >= day_end(day),
        anomalies=anomalies,
        sign_offs=sign_offs,
        can_sign=whose.scope.can_write("audit_day"),
        done=done,
        problem=problem,
        kind_labels=KIND_LABELS,
        factor_text=lambda code: factor_name(code, locale) if code else "",
    )


@router.get("/audit/{day}", response_class=HTMLResponse)
def audit_day_page(
    request: Request, viewer: CurrentViewer, day: str, operator: str | None = None
) -> Response:
    return _day_page(request, viewer, day, operator)


@router.post("/audit/{day}", response_class=HTMLResponse)
def sign_day(
    request: Request,
    viewer: CurrentViewer,
    day: str,
    operator: str | None = None,
    csrf_token: Annotated[str | None, Form()] = None,
    note: Text = "",
) -> Response:
    """Sign the day off (a second sign-off is a correction and needs the note); the API's order of checks:
    whose days (404/422), the ``audit_day`` write (403), the auditor's period (403), then the store."""
    check_csrf(request, viewer, csrf_token)
    whose = _whose(request, viewer, operator)
    if whose.operator is None:
        raise HTTPException(422, "choose an operator first (?operator=ID)")
    whose.scope.require_write("audit_day")
    wanted = _day(day)
    whose.scope.require_days(wanted, wanted)
    try:
        with engine_of(request).begin() as conn:
            store.sign_day(
                conn,
                operator_id=whose.operator["id"],
                day=wanted,
                signed_by=viewer.principal.name,
                note=note,
                anomalies=len(store.day_anomalies(conn, whose.operator["id"], wanted)),
                now=utcnow(),
            )
    except InvalidInput as exc:
        problem = FormProblem("sign", N_("The day was not signed off:"), exc.message, {"note": note})
        return _day_page(request, viewer, day, operator, problem, 422)
    return RedirectResponse(f"/audit/{wanted.isoformat()}?operator={whose.operator['id']}&done=signed", 303)
