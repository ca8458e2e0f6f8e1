"""O&M pages (issue 6): the equipment ledger (一机一档, CS-4.4.3) and spare parts (备品备件); the emergency
plans and drills (CS-4.2.3) are in ``om_emergency_page``, whose routes this router includes.

- ``/om/ledger``: the equipment files the viewer reads (filters: operator, state, verification), each with its
  state and verification badge; the spare parts below their minimum stock; links to the other sections;
- ``/om/ledger/new``: opening a file (admin, operator, field staff);
- ``/om/ledger/{id}``: the file: identity, state, device, next verification due, the journal, and the form
  recording an event (only the events the lifecycle table allows in the file's state);
- ``/om/spare-parts``: the stock per part (below-minimum rows marked, the latest moves), the part and move
  forms.

Checks, in the JSON API's order (``web.api.om_ledger``): the CSRF token, then what is named must be readable
(404 exactly like a missing one), then the ``ledger`` write (403), then the store (422 / 409 in the form,
values kept, nothing stored).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.operations import equipment as store
from envwatch.operations import spare_parts as parts
from envwatch.operations.equipment import KINDS, EquipmentFilter
from envwatch.operations.equipment_lifecycle import EQUIPMENT_STATES
from envwatch.operations.ledger_checks import china_today
from envwatch.web.api.common import engine_of
from envwatch.web.pages import om_emergency_page
from envwatch.web.pages import om_ledger_view as view
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope

router = APIRouter(include_in_schema=False)
router.include_router(om_emergency_page.router)

MOVES_SHOWN = 10  # latest moves shown under each part


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": view.KIND_LABELS,
        "state_labels": view.STATE_LABELS,
        "state_badges": view.STATE_BADGES,
        "event_labels": view.EVENT_LABELS,
        "verification_labels": view.VERIFICATION_LABELS,
        "verification_badges": view.VERIFICATION_BADGES,
    }


def _status(code: int, exc: InvalidInput | Conflict) -> int:
    return 409 if isinstance(exc, Conflict) else code


# ---- the list ------------------------------------------------------------------------------------------


def _filters(request: Request) -> tuple[str, str, FormProblem | None]:
    state = request.query_params.get("state", "")
    verification = request.query_params.get("verification", "")
    bad = []
    if state and state not in EQUIPMENT_STATES:
        bad.append(f"state={state}")
        state = ""
    if verification not in view.VERIFICATION_FILTERS:
        bad.append(f"verification={verification}")
        verification = ""
    problem = FormProblem("filter", N_("The filter is not valid:"), ", ".join(bad)) if bad else None
    return state, verification, problem


@router.get("/om/ledger", response_class=HTMLResponse)
def ledger_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    today = china_today(utcnow())
    state, verification, problem = _filters(request)
    within = store.VERIFICATION_WARN_DAYS
    with engine_of(request).connect() as conn:
        readable = view.readable_operators(conn, scope)
        chosen = view.chosen_operator(request.query_params.get("operator"), readable)
        operator_ids = [chosen] if chosen is not None else [o["id"] for o in readable]
        f = EquipmentFilter(
            operator_ids=operator_ids,
            states=[state] if state else None,
            due_by=today + timedelta(days=within) if verification == "due" else None,
            overdue_on=today if verification == "overdue" else None,
        )
        rows = store.list_equipment(conn, f, limit=store.LIST_MAX)
        low = [p for p in parts.stock(conn, None) if p["operator_id"] in operator_ids and p["below_min"]]
    for r in rows:
        r["verification"] = store.verification_status(r["next_verification_due"], r["state"], today, within)
    return render(
        request,
        "om_ledger.html",
        422 if problem else 200,
        viewer=viewer,
        rows=rows,
        low=low,
        operators=readable,
        names=view.operator_names(readable),
        chosen=chosen,
        state=state,
        states=EQUIPMENT_STATES,
        verification=verification,
        verification_filters=view.VERIFICATION_FILTERS,
        can_write=bool(view.writable_operators(scope, readable)),
        problem=problem,
        today=today,
        within=within,
        **_labels(),
    )


# ---- opening a file ------------------------------------------------------------------------------------


def _new_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        readable = view.readable_operators(conn, scope)
    scope.require_write("ledger")
    return render(
        request,
        "om_ledger_new.html",
        status,
        viewer=viewer,
        writable=view.writable_operators(scope, readable),
        is_admin=scope.role == "admin",
        kinds=KINDS,
        today=china_today(utcnow()).isoformat(),
        problem=problem,
        **_labels(),
    )


@router.get("/om/ledger/new", response_class=HTMLResponse)
def new_equipment_page(request: Request, viewer: CurrentViewer) -> Response:
    return _new_page(request, viewer)


@router.post("/om/ledger/new", response_class=HTMLResponse)
def add_equipment(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    operator_id: Text = "",
    kind: Text = "",
    name: Text = "",
    model: Text = "",
    serial: Text = "",
    purchased_on: Text = "",
    comment: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "operator_id": operator_id, "kind": kind, "name": name, "model": model, "serial": serial,
        "purchased_on": purchased_on, "comment": comment,
    }  # fmt: skip
    try:
        operator = view.form_operator(scope, operator_id)
        with engine_of(request).begin() as conn:
            row = store.add_equipment(
                conn,
                operator_id=operator,
                kind=kind,
                name=name,
                model=model,
                serial=serial,
                purchased_on=view.form_day("the purchase day", purchased_on),  # type: ignore[arg-type]
                comment=comment,
                recorded_by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("add", N_("The equipment file was not opened:"), exc.message, values)
        return _new_page(request, viewer, problem, _status(422, exc))
    return RedirectResponse(f"/om/ledger/{row['id']}?done=added", status_code=303)


# ---- one file ------------------------------------------------------------------------------------------


def _file_page(
    request: Request, viewer: Viewer, equipment_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    today = china_today(utcnow())
    with engine_of(request).connect() as conn:
        view.visible_equipment(conn, scope, equipment_id)
        item = store.get_equipment(conn, equipment_id)
        readable = view.readable_operators(conn, scope)
        can_write = scope.can_write("ledger")
        device_choices = view.contracted_devices(conn, item["operator_id"], today) if can_write else []
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_ledger_file.html",
        status,
        viewer=viewer,
        item=item,
        operator_name=view.operator_names(readable).get(item["operator_id"], str(item["operator_id"])),
        verification=store.verification_status(
            item["next_verification_due"], item["state"], today, store.VERIFICATION_WARN_DAYS
        ),
        events=view.allowed_events(item["state"]) if can_write else [],
        devices=device_choices,
        today=today.isoformat(),
        done=view.DONE_LABELS.get(done),
        problem=problem,
        **_labels(),
    )


@router.get("/om/ledger/{equipment_id}", response_class=HTMLResponse)
def equipment_page(request: Request, viewer: CurrentViewer, equipment_id: int) -> Response:
    return _file_page(request, viewer, equipment_id)


@router.post("/om/ledger/{equipment_id}/events", response_class=HTMLResponse)
def record_event(
    request: Request,
    viewer: CurrentViewer,
    equipment_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    event: Text = "",
    on: Text = "",
    mn: Text = "",
    next_due: Text = "",
    comment: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_equipment(conn, scope, equipment_id)  # 404 first
        scope.require_write("ledger")
        device_id = view.form_device(conn, scope, mn)
    values = {"event": event, "on": on, "mn": mn, "next_due": next_due, "comment": comment}
    try:
        with engine_of(request).begin() as conn:
            store.record_event(
                conn,
                equipment_id,
                event=event,
                on=view.form_day("the day", on),  # type: ignore[arg-type]
                device_id=device_id,
                next_due=view.form_day("the next verification due day", next_due, required=False),
                comment=comment,
                recorded_by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("event", N_("The event was not recorded:"), exc.message, values)
        return _file_page(request, viewer, equipment_id, problem, _status(422, exc))
    return RedirectResponse(f"/om/ledger/{equipment_id}?done=event", status_code=303)


# ---- spare parts ---------------------------------------------------------------------------------------


def _parts_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    today = china_today(utcnow())
    with engine_of(request).connect() as conn:
        readable = view.readable_operators(conn, scope)
        chosen = view.chosen_operator(request.query_params.get("operator"), readable)
        operator_ids = {chosen} if chosen is not None else {o["id"] for o in readable}
        rows = [p for p in parts.stock(conn, None) if p["operator_id"] in operator_ids]
        for p in rows:
            p["moves"] = parts.part_moves(conn, p["id"], limit=MOVES_SHOWN)
        writable = [o for o in view.writable_operators(scope, readable) if o["id"] in operator_ids]
        mine = {o["id"] for o in writable}
        device_choices: dict[str, dict[str, Any]] = {}
        for o in writable:
            for d in view.contracted_devices(conn, o["id"], today):
                device_choices[d["mn"]] = d
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_ledger_parts.html",
        status,
        viewer=viewer,
        rows=rows,
        operators=readable,
        names=view.operator_names(readable),
        chosen=chosen,
        writable=writable,
        movable=[p for p in rows if p["operator_id"] in mine],
        devices=sorted(device_choices.values(), key=lambda d: d["mn"]),
        is_admin=scope.role == "admin",
        done=view.DONE_LABELS.get(done),
        problem=problem,
    )


@router.get("/om/spare-parts", response_class=HTMLResponse)
def parts_page(request: Request, viewer: CurrentViewer) -> Response:
    return _parts_page(request, viewer)


@router.post("/om/spare-parts", response_class=HTMLResponse)
def add_part(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    operator_id: Text = "",
    name: Text = "",
    model: Text = "",
    unit: Text = "",
    min_stock: Text = "0",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {"operator_id": operator_id, "name": name, "model": model, "unit": unit, "min_stock": min_stock}
    try:
        operator = view.form_operator(scope, operator_id)
        with engine_of(request).begin() as conn:
            parts.add_part(
                conn,
                operator_id=operator,
                name=name,
                model=model,
                unit=unit,
                min_stock=view.form_int("the minimum stock", min_stock),
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("part", N_("The spare part was not registered:"), exc.message, values)
        return _parts_page(request, viewer, problem, _status(422, exc))
    return RedirectResponse("/om/spare-parts?done=part", status_code=303)


@router.post("/om/spare-parts/moves", response_class=HTMLResponse)
def move_part(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    part_id: Text = "",
    direction: Text = "",
    quantity: Text = "",
    reason: Text = "",
    mn: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    if not part_id.strip().isdigit():
        raise HTTPException(422, f"part_id must be a spare part id, not {part_id!r}")
    with engine_of(request).connect() as conn:
        view.visible_part(conn, scope, int(part_id))  # 404 first
        scope.require_write("ledger")
        device_id = view.form_device(conn, scope, mn)
    values = {"part_id": part_id, "direction": direction, "quantity": quantity, "reason": reason, "mn": mn}
    try:
        count = view.form_int("the quantity", quantity)
        if count < 1:
            raise InvalidInput(f"the quantity must be 1 or more, not {count}: the direction says in or out")
        if direction not in ("in", "out"):
            raise InvalidInput("choose the direction: in or out")
        with engine_of(request).begin() as conn:
            parts.move(
                conn,
                int(part_id),
                count if direction == "in" else -count,
                reason,
                device_id,
                recorded_by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("move", N_("The move was not recorded:"), exc.message, values)
        return _parts_page(request, viewer, problem, _status(422, exc))
    return RedirectResponse("/om/spare-parts?done=move", status_code=303)
