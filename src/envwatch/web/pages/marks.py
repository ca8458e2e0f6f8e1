"""The marks page (/marks): the visible marks (标记) with their code, range, reason, lateness and review
state; forms to create, correct (supersede) and withdraw marks for the roles that mark, and to approve or
reject them for the roles that review.

Every change goes through ``monitoring.marks_store`` exactly as the JSON API's (``web.api.marks``): the
same scope checks (404 before 403), the same drafts, the same errors. The page only turns the services'
InvalidInput / Conflict into a message in the form (a translated lead-in, the service's text after it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.ingest.queries import read_devices
from envwatch.monitoring import marks_store as store
from envwatch.monitoring.marks import MarkDraft, MarkPolicy, mark_codes
from envwatch.web.api.common import engine_of, parse_time, settings_of
from envwatch.web.pages.forms import FormProblem, Text, form_time, local_input
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope, safe_next
from envwatch.web.scope import Scope, WriteKind

router = APIRouter(include_in_schema=False)

LIMIT = 500
# where a mark made on the page says it comes from (marks.SOURCES): the enterprise and its operator
# mark as themselves; anyone else (admin) as "api", the source of marks entered through the platform
SOURCE_OF_ROLE = {"enterprise": "enterprise", "operator": "operator", "field_staff": "operator"}
REVIEW_LABELS = {
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "pending": N_("awaiting review"),
    "none": N_("no review needed"),
}
STATE_LABELS = {"superseded": N_("superseded"), "withdrawal": N_("withdrawal")}


def _source(viewer: Viewer) -> str:
    return SOURCE_OF_ROLE.get(viewer.principal.role, "api")


def _devices(request: Request, scope: Scope) -> list[dict[str, Any]]:
    return scope.filter(read_devices(engine_of(request)), "id", scope.device_ids)


def _review_state(code: str, reviews: Sequence[dict[str, Any]]) -> str:
    if reviews:
        return str(reviews[-1]["decision"])
    entry = mark_codes().get(code)
    return "pending" if entry is not None and entry.needs_review else "none"


def _list(
    request: Request, scope: Scope, mn: str, start: datetime, end: datetime, superseded: bool, locale: str
) -> list[dict[str, Any]]:
    """Like GET /api/v1/marks: one device, or each visible device merged in start order."""
    with engine_of(request).connect() as conn:
        device_id = scope.device_id(conn, mn) if mn else None
        targets: Sequence[int | None] = (
            [device_id] if device_id is not None or scope.device_ids is None else sorted(scope.device_ids)
        )
        rows = [
            r
            for one in targets
            for r in store.list_marks(conn, one, start, end, include_superseded=superseded, limit=LIMIT)
        ]
        rows.sort(key=lambda r: (r["start_at"], r["id"]))
        rows = rows[:LIMIT]
        mns = {d["id"]: d["mn"] for d in read_devices(engine_of(request))}
        codes = mark_codes()
        for row in rows:
            code = codes.get(row["code"])
            row["mn"] = mns.get(row["device_id"])
            row["code_name"] = (
                (code.name_zh if locale == "zh_CN" else code.name_en) if code is not None else row["code"]
            )
            row["review"] = _review_state(row["code"], store.mark_reviews_of(conn, row["id"]))
            row["current"] = row["superseded_by"] is None and row["action"] == "mark"
            row["start_local"], row["end_local"] = local_input(row["start_at"]), local_input(row["end_at"])
    return rows


def _page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    q = request.query_params
    mn = q.get("mn", "")
    superseded = q.get("superseded") == "1"
    try:
        # marks may end a little ahead (planned maintenance): the default window reaches past now
        end = parse_time("to", q.get("to")) or utcnow() + timedelta(days=31)
        start = parse_time("from", q.get("from")) or end - timedelta(days=62)
    except HTTPException as exc:
        problem, status = FormProblem("filter", N_("The filter is not valid:"), str(exc.detail)), 422
        end = utcnow() + timedelta(days=31)
        start = end - timedelta(days=62)
    if start >= end and problem is None:
        problem, status = FormProblem("filter", N_("The filter is not valid:"), "from must be before to"), 422
        start = end - timedelta(days=62)
    scope.require_period(start, end)
    locale = locale_of(request)
    codes = [(c.code, c.name_zh if locale == "zh_CN" else c.name_en) for c in mark_codes().values()]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    rows = _list(request, scope, mn, start, end, superseded, locale)
    if problem is not None and problem.where not in {"create", "filter", *(str(r["id"]) for r in rows)}:
        problem.where = "top"  # the mark is not in the list (superseded, filtered out): say it above
    return render(
        request,
        "marks.html",
        status,
        viewer=viewer,
        marks=rows,
        devices=_devices(request, scope),
        codes=codes,
        filter={"mn": mn, "from": local_input(start), "to": local_input(end), "superseded": superseded},
        can_mark=scope.can_write("mark"),
        can_review=scope.can_write("mark_review"),
        problem=problem,
        review_labels=REVIEW_LABELS,
        state_labels=STATE_LABELS,
        back=here,
    )


@router.get("/marks", response_class=HTMLResponse)
def marks_page(request: Request, viewer: CurrentViewer) -> Response:
    return _page(request, viewer)


def _draft(viewer: Viewer, factor: str, code: str, start: str, end: str, reason: str) -> MarkDraft:
    """The draft of a form; InvalidInput (shown in the form) for a missing or unreadable time."""
    if not start or not end:
        raise InvalidInput("start and end are required")
    return MarkDraft(
        factor or None, form_time("start", start), form_time("end", end), code, reason, _source(viewer)
    )


def _done(next_: str) -> Response:
    # post/redirect/get: a reload does not post the form again
    return RedirectResponse(safe_next(next_, "/marks"), status_code=303)


def _failed(
    request: Request,
    viewer: Viewer,
    where: str,
    lead: str,
    exc: InvalidInput | Conflict,
    values: dict[str, str],
) -> Response:
    status = 409 if isinstance(exc, Conflict) else 422
    return _page(request, viewer, FormProblem(where, lead, exc.message, values), status)


def _visible_mark(conn: Any, scope: Scope, mark_id: int) -> None:
    """The API's visibility rule, answered as a page 404 (the API's NotFound would be JSON)."""
    try:
        scope.require_mark(conn, mark_id)
        store.get_mark(conn, mark_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def _act(
    request: Request,
    viewer: Viewer,
    csrf_token: str | None,
    mark_id: int,
    kind: WriteKind,
    action: Callable[[Connection], None],
    failed: str,
    values: dict[str, str],
    next_: str,
) -> Response:
    """One change to an existing mark: CSRF, the mark visible (404 before 403, as the API), the write
    right, then ``action`` in one transaction; a refusal by the rules comes back in the form."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    try:
        with engine_of(request).begin() as conn:
            _visible_mark(conn, scope, mark_id)
            scope.require_write(kind)
            action(conn)
    except (InvalidInput, Conflict) as exc:
        return _failed(request, viewer, str(mark_id), failed, exc, values)
    return _done(next_)


@router.post("/marks", response_class=HTMLResponse)
def create_mark(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    mn: Text = "",
    factor: Text = "",
    code: Text = "",
    start: Text = "",
    end: Text = "",
    reason: Text = "",
    next: Text = "/marks",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {"mn": mn, "factor": factor, "code": code, "start": start, "end": end, "reason": reason}
    try:
        with engine_of(request).begin() as conn:
            device_id = scope.device_id(conn, mn)  # 404 first: a refusal must not reveal the device
            scope.require_write("mark")
            store.create_mark(
                conn,
                device_id,
                _draft(viewer, factor, code, start, end, reason),
                created_by=viewer.principal.name,
                now=utcnow(),
                policy=MarkPolicy.from_settings(settings_of(request)),
            )
    except (InvalidInput, Conflict) as exc:
        return _failed(request, viewer, "create", N_("The mark was not saved:"), exc, values)
    return _done(next)


@router.post("/marks/{mark_id}/supersede", response_class=HTMLResponse)
def supersede_mark(
    request: Request,
    viewer: CurrentViewer,
    mark_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    factor: Text = "",
    code: Text = "",
    start: Text = "",
    end: Text = "",
    reason: Text = "",
    next: Text = "/marks",
) -> Response:
    values = {"factor": factor, "code": code, "start": start, "end": end, "reason": reason}

    def supersede(conn: Connection) -> None:
        store.supersede_mark(
            conn,
            mark_id,
            _draft(viewer, factor, code, start, end, reason),
            created_by=viewer.principal.name,
            now=utcnow(),
            policy=MarkPolicy.from_settings(settings_of(request)),
        )

    failed = N_("The correction was not saved:")
    return _act(request, viewer, csrf_token, mark_id, "mark", supersede, failed, values, next)


@router.post("/marks/{mark_id}/withdraw", response_class=HTMLResponse)
def withdraw_mark(
    request: Request,
    viewer: CurrentViewer,
    mark_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    reason: Text = "",
    next: Text = "/marks",
) -> Response:

    def withdraw(conn: Connection) -> None:
        store.withdraw_mark(
            conn,
            mark_id,
            reason=reason,
            source=_source(viewer),
            created_by=viewer.principal.name,
            now=utcnow(),
            policy=MarkPolicy.from_settings(settings_of(request)),
        )

    failed = N_("The mark was not withdrawn:")
    return _act(request, viewer, csrf_token, mark_id, "mark", withdraw, failed, {"reason": reason}, next)


@router.post("/marks/{mark_id}/review", response_class=HTMLResponse)
def review_mark(
    request: Request,
    viewer: CurrentViewer,
    mark_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    decision: Text = "",
    note: Text = "",
    next: Text = "/marks",
) -> Response:

    def review(conn: Connection) -> None:
        store.review_mark(
            conn, mark_id, decision=decision, note=note, reviewed_by=viewer.principal.name, now=utcnow()
        )

    failed = N_("The review was not saved:")
    return _act(request, viewer, csrf_token, mark_id, "mark_review", review, failed, {"note": note}, next)
