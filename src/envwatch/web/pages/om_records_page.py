"""O&M pages (issue 6): field records (运维记录), with the reference materials and registrations in
``om_registers_page`` (included below).

- ``/om/records``: the visible records, newest work first (50 a page), filters (device, kind, verdict,
  on site, from/to, corrected versions too), verdict and on-site badges; for an operator's people the
  inspections (SX-20.3) and comparisons (SX-18.6) due, each linking to the form;
- ``/om/records/new`` (the ``field_record`` write; made for a 375 px phone): step 1 picks the device and the
  kind (a plain GET form), step 2 shows that kind's fields, the person, the reference materials, the GPS
  sign-in (``static/om-sign-in.js`` fills two hidden fields from the browser's geolocation; without a
  position the record is saved with on-site "unknown") and photos from the phone's camera;
- ``/om/records/{id}``: the record, its judgement, the registration warning (SX-19), the sign-in, materials,
  photos (with a form to add more), the correction chain and the correction form (a new version);
- ``/om/records/{id}/attachments/{aid}`` downloads one file.

Checks, in the JSON API's order (``web.api.om_records``): the CSRF token, then what is not visible is 404
exactly like a missing one, then the role (403), then the store (422 / 409 in the form, values kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations import field_kinds as kinds
from envwatch.operations.qa_limits import limits_of
from envwatch.operations.record_input import RecordIn, to_draft
from envwatch.operations.records import ATTACHMENT_KIND, add_record, add_record_attachment, correct_record
from envwatch.registry.attachments import get_attachment
from envwatch.web.api import om_records as api
from envwatch.web.api.common import attachment_download, engine_of, settings_of
from envwatch.web.pages import om_records_view as view
from envwatch.web.pages import om_registers_page
from envwatch.web.pages.forms import FormProblem, local_input
from envwatch.web.pages.i18n import N_, translations
from envwatch.web.pages.i18n import locale_of as page_locale
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

_MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the text fields around the photos
FORM_FIELDS_MAX = 400  # a comparison has up to ~60 pair fields; a checklist ~40


# ---- the list ------------------------------------------------------------------------------------------


@router.get("/om/records", response_class=HTMLResponse)
def records_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    settings = settings_of(request)
    f = view.read_filters(request.query_params)
    problem = None
    status = 200
    with engine_of(request).connect() as conn:
        try:
            listing = view.record_list(conn, scope, f)
        except InvalidInput as exc:
            problem = FormProblem("filter", N_("The filter is not valid:"), exc.message)
            status = 422
            listing = view.record_list(
                conn, scope, {**f, "kind": "", "verdict": "", "on_site": "", "from": "", "to": ""}
            )
        due = view.due_lists(conn, scope, utcnow(), settings.om_inspection_every_days)
        picks = view.writable_devices(conn, scope)
    extra = {k: v for k, v in f.items() if v and k != "page"}
    return render(
        request,
        "om_records.html",
        status,
        viewer=viewer,
        listing=listing,
        f=f,
        extra=extra,
        picks=picks,
        due=due,
        every_days=settings.om_inspection_every_days,
        kinds=kinds.KINDS,
        verdicts=("pass", "fail", "none"),
        can_write=scope.can_write("field_record"),
        can_register=scope.can_write("om_register"),
        problem=problem,
        **view.labels(request),
    )


# ---- the record form -------------------------------------------------------------------------------------


def _translate(request: Request) -> Any:
    return translations(page_locale(request)).gettext


def _form_context(
    request: Request, conn: Any, scope: Scope, device: Mapping[str, Any], kind: str, operator_ids: list[int]
) -> dict[str, Any]:
    """What the kind's fields need: factors, people, materials, how many pair and consumable lines."""
    limits = limits_of(settings_of(request))
    today = to_china(utcnow()).date()
    return {
        "factors": view.factor_choices(conn, device, kind, limits),
        "people": view.people(conn, operator_ids),
        "materials": view.usable_materials(conn, operator_ids, today),
        "pair_rows": view.pair_rows(device, limits),
        "consumable_rows": view.CONSUMABLE_ROWS,
        "needs_materials": kind in kinds.MATERIAL_KINDS,
        "judged": kind in kinds.JUDGED_KINDS,
        "max_photos": view.PHOTOS_MAX,
        "max_bytes": settings_of(request).max_attachment_bytes,
    }


def _new_page(
    request: Request,
    viewer: Viewer,
    problem: FormProblem | None = None,
    status: int = 200,
    values: Mapping[str, str] | None = None,
) -> Response:
    scope = data_scope(request, viewer)
    scope.require_write("field_record")
    source = values if values is not None else request.query_params
    mn, kind = source.get("mn", "").strip(), source.get("kind", "").strip()
    with engine_of(request).connect() as conn:
        picks = view.writable_devices(conn, scope)
        step = 2 if mn and kind else 1
        if step == 2 and kind not in kinds.KINDS:
            problem = problem or FormProblem("choose", N_("Choose what was done:"), f"unknown kind {kind!r}")
            status, step = 422, 1
        context: dict[str, Any] = {}
        device = None
        if step == 2:
            device = view.device_for_form(conn, scope, mn)
            operator_ids = view.operators_for(conn, scope, device, to_china(utcnow()).date())
            context = _form_context(request, conn, scope, device, kind, operator_ids)
    v: dict[str, str] = dict(values or {})
    if values is None:
        v = {"mn": mn, "kind": kind, "performed_at": local_input(utcnow())}
        mine = [p for p in context.get("people", []) if p["username"] == viewer.principal.name]
        if mine:
            v["staff_id"] = str(mine[0]["id"])
    lines = view.inspection_lines(device, v, _translate(request)) if device and kind == "inspection" else []
    return render(
        request,
        "om_records_new.html",
        status,
        viewer=viewer,
        step=step,
        picks=picks,
        device=device,
        kind=kind,
        kinds=kinds.KINDS,
        v=v,
        lines=lines,
        problem=problem,
        **context,
        **view.labels(request),
    )


@router.get("/om/records/new", response_class=HTMLResponse)
def new_record_page(request: Request, viewer: CurrentViewer) -> Response:
    return _new_page(request, viewer)


def _decimal(text: str, what: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{what} {text!r} is not a number") from None


def _body(fields: Mapping[str, str], material_ids: list[str]) -> RecordIn:
    """The API's record body from the posted form."""
    kind = fields.get("kind", "").strip()
    staff_text = fields.get("staff_id", "").strip()
    if staff_text and not staff_text.isdigit():
        raise InvalidInput("choose the person who did the work")
    bad = [m for m in material_ids if not m.isdigit()]
    if bad:
        raise InvalidInput(f"reference materials are chosen by id, not {', '.join(bad)}")
    return RecordIn(
        mn=fields.get("mn", "").strip(),
        kind=kind,
        performed_at=fields.get("performed_at", ""),
        staff_id=int(staff_text) if staff_text else None,
        payload=view.payload_from_form(kind, fields),
        latitude=_decimal(fields.get("latitude", ""), "the latitude"),
        longitude=_decimal(fields.get("longitude", ""), "the longitude"),
        material_ids=[int(m) for m in material_ids],
        note=fields.get("note", ""),
    )


async def _read_form(
    request: Request, viewer: Viewer, limit: int
) -> tuple[dict[str, str], list[str], list[tuple[str, str, bytes]]] | None:
    """The posted fields, the material ids and the photos (name, type, bytes); None when a photo is over
    ``limit`` bytes. The CSRF token is checked first."""
    async with request.form(max_files=view.PHOTOS_MAX, max_fields=FORM_FIELDS_MAX) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "material_ids"}
        materials = [v for v in form.getlist("material_ids") if isinstance(v, str)]
        photos: list[tuple[str, str, bytes]] = []
        for upload in form.getlist("photos"):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue  # the empty part a file input sends when nothing was chosen
            content = await upload.read(limit + 1)
            if len(content) > limit:
                return None
            photos.append((upload.filename, upload.content_type or "application/octet-stream", content))
    return fields, materials, photos


def _too_large_for(request: Request) -> bool:
    limit = settings_of(request).max_attachment_bytes
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit * view.PHOTOS_MAX + _MULTIPART_SLACK


def _writable_device(request: Request, viewer: Viewer, mn: str) -> Scope:
    """The API's order for a new record: the device visible and on an outlet (404), then the role (403)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        if mn.strip():
            view.device_for_form(conn, scope, mn.strip())
    scope.require_write("field_record")
    return scope


def _add(
    request: Request,
    viewer: Viewer,
    fields: dict[str, str],
    materials: list[str],
    photos: list[tuple[str, str, bytes]],
) -> Response:
    scope = _writable_device(request, viewer, fields.get("mn", ""))
    request.state.audit_detail = {
        "field_record": "new",
        "mn": fields.get("mn", ""),
        "kind": fields.get("kind", ""),
    }
    values = {**fields, **{f"material_{m}": "1" for m in materials}}
    blobs = BlobStore.from_settings(settings_of(request))
    who, now = viewer.principal.name, utcnow()
    try:
        body = _body(fields, materials)
        with engine_of(request).begin() as conn:
            device_id = api.visible_device(conn, scope, body)
            draft = to_draft(
                conn, body, device_id=device_id, operator_id=api.own_operator(scope), username=who
            )
            row = add_record(conn, draft, who, now, settings_of(request))
            for name, kind, content in photos:
                add_record_attachment(
                    conn,
                    blobs,
                    row["id"],
                    filename=name,
                    content=content,
                    content_type=kind,
                    added_by=who,
                    now=now,
                )
    except (InvalidInput, Conflict, NotFound) as exc:
        problem = FormProblem("record", N_("The record was not saved:"), exc.message, values)
        return _new_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422, values)
    return RedirectResponse(f"/om/records/{row['id']}?done=added", status_code=303)


@router.post("/om/records", response_class=HTMLResponse)
async def add_record_page(request: Request, viewer: CurrentViewer) -> Response:
    """A multipart form (the fields of ``om_records_fields.html``, up to ``PHOTOS_MAX`` photos)."""
    if _too_large_for(request):
        raise HTTPException(413, "the photos are larger than the limit")
    read = await _read_form(request, viewer, settings_of(request).max_attachment_bytes)
    if read is None:
        lead = N_("The record was not saved: a photo is larger than the limit of %(limit)s bytes.")
        problem = FormProblem("record", lead, args={"limit": settings_of(request).max_attachment_bytes})
        return await run_in_threadpool(_new_page, request, viewer, problem, 413)
    return await run_in_threadpool(_add, request, viewer, *read)


# ---- one record -----------------------------------------------------------------------------------------


def _detail_page(
    request: Request,
    viewer: Viewer,
    record_id: int,
    problem: FormProblem | None = None,
    status: int = 200,
    values: Mapping[str, str] | None = None,
) -> Response:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = view.visible_record(conn, scope, record_id)
        row = api.with_registration(conn, row)
        can_correct = scope.can_write("field_record") and row["superseded_by"] is None
        context: dict[str, Any] = {}
        lines: list[dict[str, str]] = []
        v: dict[str, str] = dict(values) if values is not None else view.form_from_record(row)
        if values is None:
            v |= {f"material_{m['id']}": "1" for m in row["materials"]}
        if can_correct:
            device = {"id": row["device_id"], "mn": row["mn"], "kind": row["device_kind"]}
            context = _form_context(request, conn, scope, device, row["kind"], [row["operator_id"]])
            context["materials"] = _materials_for_correction(conn, row)
            if row["kind"] == "inspection":
                lines = view.inspection_lines(device, v, _translate(request))
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_records_record.html",
        status,
        viewer=viewer,
        r=row,
        p=row["payload"],
        kind=row["kind"],
        can_correct=can_correct,
        can_attach=scope.can_write("field_record"),
        v=v,
        lines=lines,
        done=view.DONE_LABELS.get(done),
        problem=problem,
        **{"max_photos": view.PHOTOS_MAX, "max_bytes": settings_of(request).max_attachment_bytes, **context},
        **view.labels(request),
    )


def _materials_for_correction(conn: Any, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The operator's materials valid on the day of the work (the store checks that day, not today)."""
    day = to_china(row["performed_at"]).date()
    return view.usable_materials(conn, [row["operator_id"]], day)


@router.get("/om/records/{record_id}", response_class=HTMLResponse)
def record_page(request: Request, viewer: CurrentViewer, record_id: int) -> Response:
    return _detail_page(request, viewer, record_id)


def _writable_record(request: Request, viewer: Viewer, record_id: int) -> tuple[Scope, dict[str, Any]]:
    """The API's order for a change: the record visible (404), then the ``field_record`` write (403)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = view.visible_record(conn, scope, record_id)
    scope.require_write("field_record")
    return scope, row


def _correct(
    request: Request, viewer: Viewer, record_id: int, fields: dict[str, str], materials: list[str]
) -> Response:
    scope, original = _writable_record(request, viewer, record_id)
    request.state.audit_detail = {"field_record": record_id, "event": "correct"}
    fields = {**fields, "mn": original["mn"], "kind": original["kind"]}
    values = {**fields, **{f"material_{m}": "1" for m in materials}}
    who = viewer.principal.name
    try:
        body = _body(fields, materials)
        with engine_of(request).begin() as conn:
            operator = api.own_operator(scope) or original["operator_id"]
            draft = to_draft(conn, body, device_id=original["device_id"], operator_id=operator, username=who)
            row = correct_record(conn, record_id, draft, who, utcnow(), settings_of(request))
    except (InvalidInput, Conflict, NotFound) as exc:
        problem = FormProblem("correct", N_("The correction was not saved:"), exc.message, values)
        return _detail_page(
            request, viewer, record_id, problem, 409 if isinstance(exc, Conflict) else 422, values
        )
    return RedirectResponse(f"/om/records/{row['id']}?done=corrected", status_code=303)


@router.post("/om/records/{record_id}/corrections", response_class=HTMLResponse)
async def correct_record_page(request: Request, viewer: CurrentViewer, record_id: int) -> Response:
    """The correction form (the record's fields again, a note saying what was wrong): a new version."""
    await run_in_threadpool(_writable_record, request, viewer, record_id)
    read = await _read_form(request, viewer, settings_of(request).max_attachment_bytes)
    fields, materials, _photos = read if read is not None else ({}, [], [])
    return await run_in_threadpool(_correct, request, viewer, record_id, fields, materials)


def _attach(
    request: Request, viewer: Viewer, record_id: int, photos: list[tuple[str, str, bytes]]
) -> Response:
    request.state.audit_detail = {"field_record": record_id, "event": "attach"}
    blobs = BlobStore.from_settings(settings_of(request))
    who, now = viewer.principal.name, utcnow()
    try:
        if not photos:
            raise InvalidInput("choose a photo or file to add")
        with engine_of(request).begin() as conn:
            for name, kind, content in photos:
                add_record_attachment(
                    conn,
                    blobs,
                    record_id,
                    filename=name,
                    content=content,
                    content_type=kind,
                    added_by=who,
                    now=now,
                )
    except InvalidInput as exc:
        problem = FormProblem("photo", N_("The file was not added:"), exc.message)
        return _detail_page(request, viewer, record_id, problem, 422)
    return RedirectResponse(f"/om/records/{record_id}?done=photo", status_code=303)


@router.post("/om/records/{record_id}/attachments", response_class=HTMLResponse)
async def attach_page(request: Request, viewer: CurrentViewer, record_id: int) -> Response:
    await run_in_threadpool(_writable_record, request, viewer, record_id)
    if _too_large_for(request):
        raise HTTPException(413, "the files are larger than the limit")
    read = await _read_form(request, viewer, settings_of(request).max_attachment_bytes)
    if read is None:
        lead = N_("The file was not added: it is larger than the limit of %(limit)s bytes.")
        problem = FormProblem("photo", lead, args={"limit": settings_of(request).max_attachment_bytes})
        return await run_in_threadpool(_detail_page, request, viewer, record_id, problem, 413)
    return await run_in_threadpool(_attach, request, viewer, record_id, read[2])


@router.get("/om/records/{record_id}/attachments/{attachment_id}")
def download_page(request: Request, viewer: CurrentViewer, record_id: int, attachment_id: int) -> Response:
    """One file of a visible record, always as a download with nosniff."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_record(conn, scope, record_id)
        row = get_attachment(conn, attachment_id)
    return attachment_download(request, row, ATTACHMENT_KIND, record_id, attachment_id)


router.include_router(om_registers_page.router)
