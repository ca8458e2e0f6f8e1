"""Emergency plan and drill pages (应急预案, 应急演练; CS-4.2.3), included by ``om_ledger_page``'s router.

- ``/om/emergency``: for one operator and calendar year: whether CS-4.2.3's "at least one drill a year" is
  met, the current plan of each event type and the named types without one, every revision (folded), the
  drills of the year; the plan form and the drill form (record, participants, photos and sign-in sheets in
  one go) for those who record. A viewer reading several operators (admin, a regulator) without choosing one
  sees one line per operator for the year instead;
- ``/om/emergency/drills/{id}``: the drill's record, its plan, its attachments (download) and the upload
  form.

Checks as the JSON API (``web.api.om_ledger``): CSRF, then readable (404), then the ``ledger`` write (403),
then the store (422 / 409 in the form, values kept, nothing stored).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.operations import emergency as store
from envwatch.operations.ledger_checks import china_today
from envwatch.registry.attachments import get_attachment
from envwatch.web.api.common import attachment_download, engine_of, settings_of
from envwatch.web.pages import om_ledger_view as view
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope

router = APIRouter(include_in_schema=False)

DRILL_FILES_MAX = 5  # photos and sign-in sheets one drill form takes (more can be added on the drill's page)
_MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the text fields around the files
PlanText = Annotated[str, Form(max_length=store.BODY_MAX)]


def _labels() -> dict[str, Any]:
    return {"type_labels": view.EVENT_TYPE_LABELS, "event_types": store.EVENT_TYPES}


def _year(text: str | None, default: int) -> tuple[int, FormProblem | None]:
    if not text:
        return default, None
    if text.isdigit() and 1900 <= int(text) <= 9999:
        return int(text), None
    return default, FormProblem("filter", N_("The filter is not valid:"), f"year={text}")


# ---- the operator's year -------------------------------------------------------------------------------


def _emergency_page(
    request: Request,
    viewer: Viewer,
    problem: FormProblem | None = None,
    status: int = 200,
    operator_id: int | None = None,
) -> Response:
    scope = data_scope(request, viewer)
    this_year = china_today(utcnow()).year
    year, bad_year = _year(request.query_params.get("year"), this_year)
    problem = problem or bad_year
    if bad_year is not None and status == 200:
        status = 422
    with engine_of(request).connect() as conn:
        readable = view.readable_operators(conn, scope)
        chosen = operator_id or view.chosen_operator(request.query_params.get("operator"), readable)
        if chosen is None and len(readable) == 1:
            chosen = readable[0]["id"]
        overview = []
        status_of = None
        history: list[dict[str, Any]] = []
        if chosen is None:
            for o in readable:
                s = store.drill_status(conn, o["id"], year)
                overview.append(
                    {"operator": o, "drills": len(s.drills), "met": s.met, "missing": s.missing_event_types}
                )
        else:
            status_of = store.drill_status(conn, chosen, year)
            history = store.list_plans(conn, [chosen])
    writable = {o["id"] for o in view.writable_operators(scope, readable)}
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_ledger_emergency.html",
        status,
        viewer=viewer,
        operators=readable,
        names=view.operator_names(readable),
        chosen=chosen,
        year=year,
        this_year=this_year,
        overview=overview,
        status=status_of,
        current={p["event_type"]: p for p in status_of.plans} if status_of else {},
        history=history,
        can_write=chosen is not None and chosen in writable,
        is_admin=scope.role == "admin",
        today=china_today(utcnow()).isoformat(),
        max_bytes=settings_of(request).max_attachment_bytes,
        max_files=DRILL_FILES_MAX,
        done=view.DONE_LABELS.get(done),
        problem=problem,
        **_labels(),
    )


@router.get("/om/emergency", response_class=HTMLResponse)
def emergency_page(request: Request, viewer: CurrentViewer) -> Response:
    return _emergency_page(request, viewer)


@router.post("/om/emergency/plans", response_class=HTMLResponse)
def add_plan(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    operator_id: Text = "",
    event_type: Text = "",
    title: Text = "",
    version: Text = "",
    effective_on: Text = "",
    body: PlanText = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "operator_id": operator_id, "event_type": event_type, "title": title, "version": version,
        "effective_on": effective_on, "body": body,
    }  # fmt: skip
    operator: int | None = None
    try:
        operator = view.form_operator(scope, operator_id)
        with engine_of(request).begin() as conn:
            store.add_plan(
                conn,
                operator_id=operator,
                event_type=event_type,
                title=title,
                version=version,
                effective_on=view.form_day("the effective day", effective_on),  # type: ignore[arg-type]
                body=body,
                recorded_by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("plan", N_("The plan was not recorded:"), exc.message, values)
        code = 409 if isinstance(exc, Conflict) else 422
        return _emergency_page(request, viewer, problem, code, operator)
    return RedirectResponse(f"/om/emergency?operator={operator}&done=plan", status_code=303)


# ---- recording a drill (multipart: the record and its files in one form) -----------------------------------


def _drill_writable(request: Request, viewer: Viewer, plan_id: int) -> int:
    """The plan readable (404), the viewer a recorder (403); the plan's operator."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        plan = view.visible_plan(conn, scope, plan_id)
    scope.require_write("ledger")
    return int(plan["operator_id"])


def _store_drill(
    request: Request,
    viewer: Viewer,
    plan_id: int,
    fields: dict[str, str],
    files: list[tuple[str, str, bytes]],
) -> int:
    blobs = BlobStore.from_settings(settings_of(request))
    who, now = viewer.principal.name, utcnow()
    with engine_of(request).begin() as conn:
        drill = store.add_drill(
            conn,
            plan_id,
            held_on=view.form_day("the drill day", fields["held_on"]),  # type: ignore[arg-type]
            participants=view.form_int("the number of participants", fields["participants"]),
            summary=fields["summary"],
            recorded_by=who,
            now=now,
        )
        for name, kind, content in files:
            store.add_drill_attachment(
                conn,
                blobs,
                drill["id"],
                filename=name,
                content=content,
                content_type=kind,
                added_by=who,
                now=now,
            )
    return int(drill["id"])


def _drill_refused(
    request: Request, viewer: Viewer, operator_id: int | None, problem: FormProblem, status: int
) -> Response:
    return _emergency_page(request, viewer, problem, status, operator_id)


@router.post("/om/emergency/drills", response_class=HTMLResponse)
async def add_drill(request: Request, viewer: CurrentViewer) -> Response:
    """A multipart form: ``csrf_token``, ``plan_id``, ``held_on``, ``participants``, ``summary`` and up to
    ``DRILL_FILES_MAX`` ``files``. A body far over the limit is refused without reading it; each file must be
    within ``Settings.max_attachment_bytes``; the drill and its files are stored in one transaction."""
    limit = settings_of(request).max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit * DRILL_FILES_MAX + _MULTIPART_SLACK:
        raise HTTPException(413, f"the drill's files are over the limit of {limit} bytes each")
    async with request.form(max_files=DRILL_FILES_MAX, max_fields=20) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        fields = {k: str(form.get(k) or "") for k in ("plan_id", "held_on", "participants", "summary")}
        if not fields["plan_id"].strip().isdigit():
            raise HTTPException(422, f"plan_id must be an emergency plan id, not {fields['plan_id']!r}")
        plan_id = int(fields["plan_id"])
        operator_id = await run_in_threadpool(_drill_writable, request, viewer, plan_id)
        files: list[tuple[str, str, bytes]] = []
        too_big = False
        for upload in form.getlist("files"):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue  # the empty part a file input sends when nothing was chosen
            content = await upload.read(limit + 1)
            too_big = too_big or len(content) > limit
            files.append((upload.filename, upload.content_type or "application/octet-stream", content))
    if too_big:
        lead = N_("The drill was not recorded: a file is larger than the limit of %(limit)s bytes.")
        problem = FormProblem("drill", lead, values=fields, args={"limit": limit})
        return await run_in_threadpool(_drill_refused, request, viewer, operator_id, problem, 413)
    try:
        drill_id = await run_in_threadpool(_store_drill, request, viewer, plan_id, fields, files)
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("drill", N_("The drill was not recorded:"), exc.message, fields)
        return await run_in_threadpool(_drill_refused, request, viewer, operator_id, problem, 422)
    return RedirectResponse(f"/om/emergency/drills/{drill_id}?done=drill", status_code=303)


# ---- one drill -----------------------------------------------------------------------------------------


def _drill_page(
    request: Request, viewer: Viewer, drill_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        drill = view.visible_drill(conn, scope, drill_id)
        plan = store.get_plan(conn, drill["plan_id"])
        files = store.drill_attachments(conn, drill_id)
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "om_ledger_drill.html",
        status,
        viewer=viewer,
        drill=drill,
        plan=plan,
        files=files,
        can_write=scope.can_write("ledger"),
        max_bytes=settings_of(request).max_attachment_bytes,
        done=view.DONE_LABELS.get(done),
        problem=problem,
        **_labels(),
    )


@router.get("/om/emergency/drills/{drill_id}", response_class=HTMLResponse)
def drill_page(request: Request, viewer: CurrentViewer, drill_id: int) -> Response:
    return _drill_page(request, viewer, drill_id)


def _attach_writable(request: Request, viewer: Viewer, drill_id: int) -> None:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_drill(conn, scope, drill_id)
    scope.require_write("ledger")


def _store_attachment(
    request: Request, viewer: Viewer, drill_id: int, name: str, content: bytes, kind: str
) -> None:
    with engine_of(request).begin() as conn:
        store.add_drill_attachment(
            conn,
            BlobStore.from_settings(settings_of(request)),
            drill_id,
            filename=name,
            content=content,
            content_type=kind,
            added_by=viewer.principal.name,
            now=utcnow(),
        )


@router.post("/om/emergency/drills/{drill_id}/attachments", response_class=HTMLResponse)
async def upload_attachment(request: Request, viewer: CurrentViewer, drill_id: int) -> Response:
    """A multipart form with ``csrf_token`` and one ``file``; readable and the write right are checked before
    the body is read, a body far over the limit is refused without reading it."""
    await run_in_threadpool(_attach_writable, request, viewer, drill_id)
    limit = settings_of(request).max_attachment_bytes
    lead = N_("The attachment was not saved:")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        problem = FormProblem("attach", lead, f"the file is over the limit of {limit} bytes")
        return await run_in_threadpool(_drill_page, request, viewer, drill_id, problem, 413)
    async with request.form(max_files=1, max_fields=10) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            problem = FormProblem("attach", lead, "choose a file to upload")
            return await run_in_threadpool(_drill_page, request, viewer, drill_id, problem, 422)
        content = await upload.read(limit + 1)
        name, kind = upload.filename, upload.content_type or "application/octet-stream"
    if len(content) > limit:
        problem = FormProblem("attach", lead, f"the file is over the limit of {limit} bytes")
        return await run_in_threadpool(_drill_page, request, viewer, drill_id, problem, 413)
    try:
        await run_in_threadpool(_store_attachment, request, viewer, drill_id, name, content, kind)
    except InvalidInput as exc:
        problem = FormProblem("attach", lead, exc.message)
        return await run_in_threadpool(_drill_page, request, viewer, drill_id, problem, 422)
    return RedirectResponse(f"/om/emergency/drills/{drill_id}?done=attach", status_code=303)


@router.get("/om/emergency/drills/{drill_id}/attachments/{attachment_id}")
def download_attachment(
    request: Request, viewer: CurrentViewer, drill_id: int, attachment_id: int
) -> Response:
    """A file of a readable drill, always as a download with nosniff (the blob store checks the SHA-256)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_drill(conn, scope, drill_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, store.ATTACHMENT_KIND, drill_id, attachment_id)
