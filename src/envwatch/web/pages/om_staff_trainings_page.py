"""O&M pages (issue 6): trainings and test results (培训与考核, CS-4.5, WZ-A2-5); included in the staff pages'
router (``om_staff_page``).

- ``/om/trainings``: the plans and held trainings of one operator for a year, the plan form, the quarterly
  re-training table of the chosen quarter (CS-4.5) and the sample-label coverage of the samplers (WZ-A2-5);
- ``/om/trainings/{id}``: one training with its history, the form recording it as held, its results and
  the form entering results for several people at once (one transaction: all or none).

Checks, in the JSON API's order (``web.api.om_staff``): the CSRF token, visibility (404), the role (403),
the store (the message in the form, 422 / 409, nothing stored). A POST answers 303 back with a notice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import staff as store
from envwatch.operations import trainings as training_store
from envwatch.web.api import om_staff as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages import om_staff_view as view
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope, china_today

router = APIRouter(include_in_schema=False)

YEARS_BACK = 5  # years the quarter picker offers before this one
FormList = Annotated[list[str] | None, Form()]


def _trainings_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    params = request.query_params
    who = view.whose(request, viewer, params.get("operator"))
    today = china_today()
    year, quarter = view.year_quarter(params.get("year"), params.get("quarter"), today)
    rows: list[dict[str, Any]] = []
    quarterly = labels = None
    if who.operator is not None:
        operator_id = int(who.operator["id"])
        with engine_of(request).connect() as conn:
            rows = training_store.list_trainings(conn, operator_id, year=year)
            quarterly = training_store.quarterly_status(conn, operator_id, year, quarter)
            labels = training_store.sampling_label_status(conn, operator_id)
    return render(
        request,
        "om_staff_trainings.html",
        status,
        viewer=viewer,
        who=who,
        rows=rows,
        year=year,
        quarter=quarter,
        years=list(range(today.year + 1, today.year - YEARS_BACK - 1, -1)),
        quarterly=quarterly,
        labels=labels,
        today=today,
        can_write=who.scope.can_write("staff") and who.operator is not None,
        problem=problem,
        done=view.done_of(request, problem),
        proposed={
            "kind": "quarterly",
            "planned_on": (today + timedelta(days=14)).isoformat(),
            "pass_score": "60",
        },
        **view.labels(),
    )


@router.get("/om/trainings", response_class=HTMLResponse)
def trainings_page(request: Request, viewer: CurrentViewer) -> Response:
    return _trainings_page(request, viewer)


@router.post("/om/trainings", response_class=HTMLResponse)
def plan_training(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    kind: Text = "",
    title: Text = "",
    planned_on: Text = "",
    pass_score: Text = "",
    note: Text = "",
) -> Response:
    """Plan a training for the page's operator (``?operator=`` for admin; an operator's own)."""
    check_csrf(request, viewer, csrf_token)
    who = view.whose(request, viewer, request.query_params.get("operator"))
    who.scope.require_write("staff")
    if who.operator is None:
        raise HTTPException(422, "choose an operator first (?operator=ID)")
    try:
        api.writing_for(who.scope, int(who.operator["id"]))
    except NotFound as exc:
        raise view.not_found(exc) from None
    values = {"kind": kind, "title": title, "planned_on": planned_on, "pass_score": pass_score, "note": note}
    try:
        with engine_of(request).begin() as conn:
            row = training_store.plan_training(
                conn, operator_id=int(who.operator["id"]), kind=kind, title=title,
                planned_on=view.day_of("planned_on", planned_on), pass_score=pass_score, note=note,
                recorded_by=viewer.principal.name, now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("plan", N_("The training was not planned:"), exc.message, values)
        return _trainings_page(request, viewer, problem, view.status_of(exc))
    return RedirectResponse(f"/om/trainings/{row['id']}?done=planned", status_code=303)


def _visible_training(request: Request, scope: Scope, training_id: int) -> dict[str, Any]:
    try:
        with engine_of(request).connect() as conn:
            return api.visible_training(conn, scope, training_id)
    except NotFound as exc:
        raise view.not_found(exc) from None


def _training_page(
    request: Request, viewer: Viewer, training_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    row = _visible_training(request, scope, training_id)
    api.require_reader(scope)
    today = china_today()
    with engine_of(request).connect() as conn:
        current = training_store.current_of(conn, training_id)
        history = training_store.history_of(conn, training_id)
        results = training_store.results_of(conn, training_id)
        people = store.list_staff(conn, row["operator_id"], today=today, warn_days=0, active=True)
        operator_name = view.operator_names(conn).get(row["operator_id"], "")
    return render(
        request,
        "om_staff_training.html",
        status,
        viewer=viewer,
        training=row,
        current=current,
        history=history,
        results=results,
        people=people,
        operator_name=operator_name,
        back="/om/trainings"
        + (f"?operator={row['operator_id']}" if scope.principal.operator_id is None else ""),
        today=today,
        can_write=scope.can_write("staff"),
        problem=problem,
        done=view.done_of(request, problem),
        **view.labels(),
    )


@router.get("/om/trainings/{training_id}", response_class=HTMLResponse)
def training_page(request: Request, viewer: CurrentViewer, training_id: int) -> Response:
    return _training_page(request, viewer, training_id)


@router.post("/om/trainings/{training_id}/held", response_class=HTMLResponse)
def record_held(
    request: Request,
    viewer: CurrentViewer,
    training_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    held_on: Text = "",
    note: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    _visible_training(request, scope, training_id)
    scope.require_write("staff")
    try:
        with engine_of(request).begin() as conn:
            row = training_store.record_held(
                conn, training_id, held_on=view.day_of("held_on", held_on), note=note,
                recorded_by=viewer.principal.name, now=utcnow(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("held", N_("Not saved:"), exc.message, {"held_on": held_on, "note": note})
        return _training_page(request, viewer, training_id, problem, view.status_of(exc))
    return RedirectResponse(f"/om/trainings/{row['id']}?done=held", status_code=303)


@router.post("/om/trainings/{training_id}/results", response_class=HTMLResponse)
def add_results(
    request: Request,
    viewer: CurrentViewer,
    training_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    tested_on: Text = "",
    staff_id: FormList = None,
    score: FormList = None,
) -> Response:
    """Scores of several people at once (rows without a score are skipped), in one transaction: a refusal
    names the person and stores none of them."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    _visible_training(request, scope, training_id)
    scope.require_write("staff")
    ids, scores = staff_id or [], score or []
    values = {"tested_on": tested_on} | {f"score_{i}": s for i, s in zip(ids, scores, strict=False)}
    try:
        rows = view.result_rows(ids, scores)
        day = view.day_of("tested_on", tested_on)
        with engine_of(request).begin() as conn:
            for person, typed in rows:
                try:
                    api.visible_staff(conn, scope, person)
                except NotFound as exc:
                    raise view.not_found(exc) from None
                try:
                    training_store.add_result(
                        conn, training_id, staff_id=person, score=typed, tested_on=day,
                        recorded_by=viewer.principal.name, now=utcnow(),
                    )  # fmt: skip
                except InvalidInput as exc:
                    name = store.staff_row(conn, person)["name"]
                    raise InvalidInput(f"{name}: {exc.message}") from None
            target = training_store.current_of(conn, training_id)["id"]  # the held row, given the plan's id
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("results", N_("No result was recorded:"), exc.message, values)
        return _training_page(request, viewer, training_id, problem, view.status_of(exc))
    return RedirectResponse(f"/om/trainings/{target}?done=results", status_code=303)
