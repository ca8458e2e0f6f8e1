"""Production stop pages (停产, SX-18.4), included by ``om_faults_page``.

- ``/om/stops/new`` (the ``production_stop`` write: admin, the enterprise): the report form, an outlet of the
  viewer's, the planned stop and restart in China time, the reason; it must be sent before the stop starts;
- ``/om/stops/{id}``: the report, its journal, the marks its approval made, the restart check (a calibration
  on every device of the outlet within ``om_restart_check_within_days``), the quarter note for a gas
  outlet; the forms: approve or reject (admin, a regulator of the enterprise's region), withdraw (the
  enterprise, before approval or before the start), restart (the enterprise, after the start).

The stops are listed on ``/om/faults`` under the faults. Checks in the API's order: CSRF, 404 for what is not
visible (a regulator of another region does not see the report), 403 for the role, then the store.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import production_stops as stops
from envwatch.web.api import om_faults as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import om_fault_view as view
from envwatch.web.pages.forms import FormProblem, Text, form_time, local_input
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope, WriteKind

router = APIRouter(include_in_schema=False)


# ---- a new report --------------------------------------------------------------------------------------


def _new_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    scope.require_write("production_stop")
    now = utcnow()
    with engine_of(request).connect() as conn:
        picks = view.writable_outlets(conn, scope)
    proposed = {"outlet_id": "", "start_at": "", "end_at": "", "reason": ""}
    values = problem.values if problem is not None else proposed
    return render(
        request, "om_faults_stop_new.html", status, viewer=viewer, picks=picks, v=values, problem=problem,
        now_local=local_input(now), grace_minutes=int(stops.SUBMIT_GRACE.total_seconds() // 60),
    )  # fmt: skip


@router.get("/om/stops/new", response_class=HTMLResponse)
def new_stop_page(request: Request, viewer: CurrentViewer) -> Response:
    return _new_page(request, viewer)


@router.post("/om/stops", response_class=HTMLResponse)
def submit_stop(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    outlet_id: Text = "",
    start_at: Text = "",
    end_at: Text = "",
    reason: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {"outlet_id": outlet_id, "start_at": start_at, "end_at": end_at, "reason": reason}
    outlet = int(outlet_id) if outlet_id.strip().isdigit() else None
    if outlet is not None and not scope.sees_outlet(outlet):
        raise HTTPException(404, f"no outlet with id {outlet}")
    scope.require_write("production_stop")
    request.state.audit_detail = {"stop": "new", "outlet": outlet_id}
    try:
        if outlet is None:
            raise InvalidInput("choose the outlet")
        with engine_of(request).begin() as conn:
            enterprise_id = next(
                (o["enterprise_id"] for o in view.writable_outlets(conn, scope) if o["id"] == outlet), None
            )
            if enterprise_id is None:
                raise NotFound(f"no outlet with id {outlet}")
            row = stops.submit_stop(
                conn,
                enterprise_id=enterprise_id,
                outlet_id=outlet,
                start_at=form_time("start_at", start_at),
                end_at=form_time("end_at", end_at),
                reason=reason,
                by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict, NotFound) as exc:
        problem = FormProblem("submit", N_("The production stop was not reported:"), exc.message, values)
        return _new_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/om/stops/{row['id']}?done=submitted", status_code=303)


# ---- one report ----------------------------------------------------------------------------------------


def _detail_page(
    request: Request, viewer: Viewer, stop_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    now = utcnow()
    within = settings_of(request).om_restart_check_within_days
    with engine_of(request).connect() as conn:
        detail = view.stop_detail(conn, scope, stop_id, now, within)
    stop = detail["stop"]
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_faults_stop.html",
        status,
        viewer=viewer,
        s=stop,
        journal=detail["events"],
        marks=detail["marks"],
        devices=detail["devices"],
        check=detail["restart_check"],
        check_labels=view.CHECK_STATE_LABELS,
        within_days=within,
        quarter=view.QUARTER_NOTES.get(detail["quarter_note"] or ""),
        forms=view.stop_forms(scope, stop, now),
        done=view.DONE_LABELS.get(done),
        problem=problem,
        now_local=local_input(now),
        **view.page_labels(request),
    )


@router.get("/om/stops/{stop_id}", response_class=HTMLResponse)
def stop_page(request: Request, viewer: CurrentViewer, stop_id: int) -> Response:
    return _detail_page(request, viewer, stop_id)


def _writable(request: Request, viewer: Viewer, stop_id: int, kind: WriteKind) -> Scope:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_stop(conn, scope, stop_id)
    scope.require_write(kind)
    return scope


def _refused(
    request: Request,
    viewer: Viewer,
    stop_id: int,
    where: str,
    exc: InvalidInput | Conflict,
    values: dict[str, str],
) -> Response:
    problem = FormProblem(where, N_("Not saved:"), exc.message, values)
    return _detail_page(request, viewer, stop_id, problem, 409 if isinstance(exc, Conflict) else 422)


@router.post("/om/stops/{stop_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request,
    viewer: CurrentViewer,
    stop_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    decision: Text = "",
    comment: Text = "",
) -> Response:
    """Approve (``decision=approve``) or reject (``reject``, with the reason): admin, a regulator of the region."""
    check_csrf(request, viewer, csrf_token)
    _writable(request, viewer, stop_id, "production_stop_review")
    request.state.audit_detail = {"stop": stop_id, "decision": decision}
    values = {"comment": comment}
    if decision not in ("approve", "reject"):
        return _refused(
            request, viewer, stop_id, "decision", InvalidInput("choose approve or reject"), values
        )
    try:
        with engine_of(request).begin() as conn:
            stops.decide(
                conn, stop_id, approve=decision == "approve", comment=comment, by=viewer.principal.name,
                now=utcnow(), policy=api.mark_policy(request),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        return _refused(request, viewer, stop_id, "decision", exc, values)
    done = "approved" if decision == "approve" else "rejected"
    return RedirectResponse(f"/om/stops/{stop_id}?done={done}", status_code=303)


@router.post("/om/stops/{stop_id}/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request,
    viewer: CurrentViewer,
    stop_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    comment: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    _writable(request, viewer, stop_id, "production_stop")
    request.state.audit_detail = {"stop": stop_id, "event": "withdrawn"}
    try:
        with engine_of(request).begin() as conn:
            stops.withdraw(
                conn,
                stop_id,
                comment=comment,
                by=viewer.principal.name,
                now=utcnow(),
                policy=api.mark_policy(request),
            )
    except (InvalidInput, Conflict) as exc:
        return _refused(request, viewer, stop_id, "withdraw", exc, {"comment": comment})
    return RedirectResponse(f"/om/stops/{stop_id}?done=withdrawn", status_code=303)


@router.post("/om/stops/{stop_id}/restart", response_class=HTMLResponse)
def restart(
    request: Request,
    viewer: CurrentViewer,
    stop_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    at: Text = "",
    comment: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    _writable(request, viewer, stop_id, "production_stop")
    request.state.audit_detail = {"stop": stop_id, "event": "restarted"}
    now = utcnow()
    try:
        moment = form_time("at", at) if at.strip() else now
        with engine_of(request).begin() as conn:
            stops.restarted(
                conn, stop_id, at=moment, comment=comment, by=viewer.principal.name, now=now,
                policy=api.mark_policy(request),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        return _refused(request, viewer, stop_id, "restart", exc, {"at": at, "comment": comment})
    return RedirectResponse(f"/om/stops/{stop_id}?done=restarted", status_code=303)
