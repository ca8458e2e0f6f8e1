"""O&M pages (issue 6): faults (故障, SX-18.3), manual monitoring results and production stops (停产, SX-18.4).

- ``/om/faults``: the visible faults, open ones first, each with its four SX-18.3 clock badges (running,
  overdue, met, met late) and the time left; the production stop reports below with their state;
- ``/om/faults/new`` (the ``fault`` write: admin, operator, field staff): the form; ``?alarm=ID`` fills it
  from an alarm (its device, start, summary and factor), so the alarm page links here;
- ``/om/faults/{id}``: the facts, the four clocks with their due time in China time, the journal, the manual
  results with a CSV upload and a one-result form (while a manual backup runs), a form correcting or
  withdrawing each current result (any time; the corrected and withdrawn rows stay, struck through, with
  who, when and why), and the event forms the state allows;
- the production stop pages are in ``om_stops_page`` (included below).

Checks, in the JSON API's order (``web.api.om_faults``): the CSRF token, then what is not visible is 404
exactly like a missing one, then the role (403), then the store (``operations.faults``: 422 / 409 in the
form, the values kept). A POST that succeeds answers 303 to the fault with a notice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import faults as store
from envwatch.web.api import om_faults as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages import om_fault_view as view
from envwatch.web.pages import om_stops_page
from envwatch.web.pages.forms import FormProblem, Text, form_time, local_input
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

CSV_MAX_BYTES = api.CSV_MAX_BYTES


# ---- the list ------------------------------------------------------------------------------------------


@router.get("/om/faults", response_class=HTMLResponse)
def faults_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        listing, open_count = view.fault_list(
            conn,
            scope,
            request.query_params.get("page"),
            now,
            api.fault_rules(request),
            api.workday_calendar(request),
        )
        stop_rows, stop_total = view.stop_list(conn, scope)
    return render(
        request,
        "om_faults.html",
        viewer=viewer,
        listing=listing,
        open_count=open_count,
        stops=stop_rows,
        stop_total=stop_total,
        can_open=scope.can_write("fault"),
        can_report=scope.can_write("production_stop"),
        **view.page_labels(request),
    )


# ---- a new fault ---------------------------------------------------------------------------------------


def _new_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    scope.require_write("fault")
    alarm_text = request.query_params.get("alarm", "")
    if alarm_text and not alarm_text.isdigit():
        raise HTTPException(422, f"alarm must be an alarm id, not {alarm_text!r}")
    with engine_of(request).connect() as conn:
        alarm = view.alarm_prefill(conn, scope, int(alarm_text)) if alarm_text else None
        picks = view.writable_devices(conn, scope)
    proposed = {
        "mn": "",
        "started_at": local_input(utcnow()),
        "description": "",
        "factors": "",
        "alarm_id": "",
    }
    if alarm is not None:
        proposed = {
            "mn": alarm["mn"],
            "started_at": local_input(alarm["started_at"]),
            "description": alarm["summary"],
            "factors": alarm["factor"] or "",
            "alarm_id": str(alarm["id"]),
        }
    values = problem.values if problem is not None else proposed
    return render(
        request, "om_faults_new.html", status, viewer=viewer, picks=picks, alarm=alarm, v=values, problem=problem,
        **view.page_labels(request),
    )  # fmt: skip


@router.get("/om/faults/new", response_class=HTMLResponse)
def new_fault_page(request: Request, viewer: CurrentViewer) -> Response:
    return _new_page(request, viewer)


def _factors(text: str) -> list[str]:
    return [f.strip() for f in text.replace("，", ",").replace(" ", ",").split(",") if f.strip()]


@router.post("/om/faults", response_class=HTMLResponse)
def open_fault(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    mn: Text = "",
    started_at: Text = "",
    description: Text = "",
    factors: Text = "",
    alarm_id: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "mn": mn,
        "started_at": started_at,
        "description": description,
        "factors": factors,
        "alarm_id": alarm_id,
    }
    with engine_of(request).connect() as conn:  # 404 first for what the viewer does not see
        try:
            device_id = scope.device_id(conn, mn.strip()) if mn.strip() else None
        except HTTPException as exc:
            raise HTTPException(404, exc.detail) from None
        alarm = None
        if alarm_id.strip():
            if not alarm_id.strip().isdigit():
                raise HTTPException(422, f"alarm must be an alarm id, not {alarm_id!r}")
            alarm = view.alarm_prefill(conn, scope, int(alarm_id))
    scope.require_write("fault")
    request.state.audit_detail = {"fault": "new", "mn": mn}
    try:
        if device_id is None and alarm is None:
            raise InvalidInput("choose the device")
        with engine_of(request).begin() as conn:
            row = store.open_fault(
                conn,
                device_id=device_id if device_id is not None else alarm["device_id"],  # type: ignore[index]
                started_at=form_time("started_at", started_at),
                description=description,
                factors=_factors(factors),
                alarm_id=alarm["id"] if alarm is not None else None,
                opened_by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict, NotFound) as exc:
        problem = FormProblem("open", N_("The fault was not recorded:"), exc.message, values)
        return _new_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/om/faults/{row['id']}?done=opened", status_code=303)


# ---- one fault -----------------------------------------------------------------------------------------


def _detail_page(
    request: Request, viewer: Viewer, fault_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        detail = view.fault_detail(
            conn, scope, fault_id, now, api.fault_rules(request), api.workday_calendar(request)
        )
    fault = detail["fault"]
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_faults_fault.html",
        status,
        viewer=viewer,
        f=fault,
        factors=detail["factors"],
        journal=detail["events"],
        results=detail["manual_result_history"],
        can_correct=scope.can_write("fault"),
        clocks=detail["clocks"],
        clock_error=detail["clock_error"],
        forms=view.fault_forms(scope, fault),
        done=view.DONE_LABELS.get(done),
        problem=problem,
        now_local=local_input(now),
        csv_max=CSV_MAX_BYTES,
        **view.page_labels(request),
    )


@router.get("/om/faults/{fault_id}", response_class=HTMLResponse)
def fault_page(request: Request, viewer: CurrentViewer, fault_id: int) -> Response:
    return _detail_page(request, viewer, fault_id)


def _writable(request: Request, viewer: Viewer, fault_id: int) -> Scope:
    """The API's order for a change: the fault visible (404), then the ``fault`` write (403)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_fault(conn, scope, fault_id)
    scope.require_write("fault")
    return scope


@router.post("/om/faults/{fault_id}/events", response_class=HTMLResponse)
def record_event(
    request: Request,
    viewer: CurrentViewer,
    fault_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    event: Text = "",
    at: Text = "",
    comment: Text = "",
    kind: Text = "",
) -> Response:
    """Backup started (with its kind), checked, ended; restored; a comment. ``at`` empty = now."""
    check_csrf(request, viewer, csrf_token)
    _writable(request, viewer, fault_id)
    request.state.audit_detail = {"fault": fault_id, "event": event}
    values = {"at": at, "comment": comment, "kind": kind}
    if event not in view.FAULT_FORMS:
        problem = FormProblem("event", N_("Not saved:"), f"unknown event {event!r}", values)
        return _detail_page(request, viewer, fault_id, problem, 422)
    now = utcnow()
    try:
        moment = form_time("at", at) if at.strip() else now
        with engine_of(request).begin() as conn:
            store.record_event(
                conn,
                fault_id,
                event=event,
                at=moment,
                comment=comment,
                data={"kind": kind} if event == "backup_started" else {},
                by=viewer.principal.name,
                now=now,
                policy=api.mark_policy(request),
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem(event, N_("Not saved:"), exc.message, values)
        return _detail_page(request, viewer, fault_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/om/faults/{fault_id}?done={event}", status_code=303)


_ROW_FIELDS = ("factor", "sampled_at", "value", "unit", "agency", "report_no")


def _store_results(
    request: Request, viewer: Viewer, fault_id: int, csv_text: str | None, fields: dict[str, str]
) -> Response:
    """The uploaded file's results, or the one result of the form; all or none."""
    try:
        if csv_text is not None:
            rows = store.parse_manual_csv(csv_text)
        else:
            rows = [
                store.ManualResultIn(
                    factor=fields["factor"], sampled_at=form_time("sampled_at", fields["sampled_at"]),
                    value=fields["value"], unit=fields["unit"], agency=fields["agency"], report_no=fields["report_no"],
                )
            ]  # fmt: skip
        with engine_of(request).begin() as conn:
            store.add_manual_results(conn, fault_id, rows, by=viewer.principal.name, now=utcnow())
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("results", N_("The results were not stored:"), exc.message, fields)
        return _detail_page(request, viewer, fault_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/om/faults/{fault_id}?done=results", status_code=303)


@router.post("/om/faults/{fault_id}/manual-results/{result_id}/corrections", response_class=HTMLResponse)
def correct_manual_result(
    request: Request,
    viewer: CurrentViewer,
    fault_id: int,
    result_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    action: Text = "correct",
    factor: Text = "",
    sampled_at: Text = "",
    value: Text = "",
    unit: Text = "",
    agency: Text = "",
    report_no: Text = "",
    reason: Text = "",
) -> Response:
    """Correct a manual result (the form's fields, all sent) or withdraw it (``action=withdraw``: the fields
    are ignored); the reason is required either way. The API's order: the fault and the result visible
    (404), then the ``fault`` write (403)."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_fault(conn, scope, fault_id)
        view.visible_result(conn, fault_id, result_id)
    scope.require_write("fault")
    request.state.audit_detail = {"fault": fault_id, "manual_result": result_id, "action": action}
    values = {
        "factor": factor, "sampled_at": sampled_at, "value": value, "unit": unit, "agency": agency,
        "report_no": report_no, "reason": reason,
    }  # fmt: skip
    withdraw = action == "withdraw"
    try:
        draft = None if withdraw else view.result_draft(values)
        with engine_of(request).begin() as conn:
            store.correct_manual_result(
                conn, result_id, draft, reason=reason, by=viewer.principal.name, now=utcnow()
            )
    except (InvalidInput, Conflict) as exc:
        lead = N_("Not withdrawn:") if withdraw else N_("The correction was not recorded:")
        problem = FormProblem(f"correct-{result_id}", lead, exc.message, values)
        return _detail_page(request, viewer, fault_id, problem, 409 if isinstance(exc, Conflict) else 422)
    done = "result_withdrawn" if withdraw else "result_corrected"
    return RedirectResponse(f"/om/faults/{fault_id}?done={done}#results", status_code=303)


def _too_large(request: Request, viewer: Viewer, fault_id: int) -> Response:
    lead = N_("The results were not stored: the file is larger than the limit of %(limit)s bytes.")
    problem = FormProblem("results", lead, args={"limit": CSV_MAX_BYTES})
    return _detail_page(request, viewer, fault_id, problem, 413)


@router.post("/om/faults/{fault_id}/manual-results", response_class=HTMLResponse)
async def add_manual_results(request: Request, viewer: CurrentViewer, fault_id: int) -> Response:
    """A multipart form: ``csrf_token`` and either a CSV ``file`` (factor,sampled_at,value,unit,agency,
    report_no) or the fields of one result. Visibility and the role are checked before the body is read."""
    await run_in_threadpool(_writable, request, viewer, fault_id)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > CSV_MAX_BYTES + 64 * 1024:
        return await run_in_threadpool(_too_large, request, viewer, fault_id)
    async with request.form(max_files=1, max_fields=12) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        fields = {k: str(v) if isinstance(v := form.get(k), str) else "" for k in _ROW_FIELDS}
        upload = form.get("file")
        csv_text: str | None = None
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(CSV_MAX_BYTES + 1)
            if len(raw) > CSV_MAX_BYTES:
                return await run_in_threadpool(_too_large, request, viewer, fault_id)
            try:
                csv_text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problem = FormProblem(
                    "results",
                    N_("The results were not stored:"),
                    "the file is not UTF-8 text: save it as CSV UTF-8",
                )
                return await run_in_threadpool(_detail_page, request, viewer, fault_id, problem, 422)
    return await run_in_threadpool(_store_results, request, viewer, fault_id, csv_text, fields)


router.include_router(om_stops_page.router)
