"""Filings pages (备案, stop reports 停运报告): list, record, steps and attachments.

- ``/filings``: the visible filings with their deadline status (SX-14, SX-15) and a form to record one;
- ``/filings/{id}``: one filing, its steps (办理环节, append-only), its attachments (附件), and forms to add
  a step or upload a file; ``/filings/{id}/attachments/{aid}`` downloads one.

Everything goes through ``registry.filings`` and the JSON API's own checks (``web.api.filings``): the
same scope order (404 for what is not visible, then 403 for a role that may not file), the same blob
store, the same size limit. Nothing is edited or deleted: a correction is a new step. A production stop
report (停运报告, SX-18.4) is not a filing kind: stop periods are "shutdown" marks on /marks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import filings as service
from envwatch.web.api import filings as api
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages.filing_view import choices, names, visible_filing, visible_filings
from envwatch.web.pages.forms import FormProblem, Text, form_time, local_input
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

# English msgids of registry.filings' kinds and steps (KIND_RULES / STEPS carry the Chinese terms)
KIND_LABELS = {
    "acceptance": N_("Acceptance"),
    "filing": N_("Filing"),
    "major_change": N_("Major change"),
    "gas_core_part": N_("Gas analyser core part replaced"),
    "content_change": N_("Change of filed content"),
}
STEP_LABELS = {
    "filed": N_("Filed"),
    "accepted": N_("Accepted (incl. simple acceptance)"),
    "debug_tested": N_("Debug test done"),
    "reconnected": N_("Reconnected to the network"),
    "withdrawn": N_("Withdrawn (closes the filing)"),
}
STATUS_LABELS = {
    "none": N_("no deadline"),
    "due": N_("due"),
    "met": N_("met"),
    "overdue": N_("overdue"),
    "withdrawn": N_("withdrawn"),
    "unknown": N_("unknown"),
}
STATUS_BADGES = {"met": "ok", "overdue": "bad", "due": "info"}
# a multipart body carries boundaries and part headers around the file (as the API allows)
_MULTIPART_SLACK = 16 * 1024


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "kind_terms": {k: r.label for k, r in service.KIND_RULES.items()},
        "step_labels": STEP_LABELS,
        "step_terms": service.STEPS,
        "status_labels": STATUS_LABELS,
        "status_badges": STATUS_BADGES,
    }


def _local_now() -> str:
    return local_input(utcnow())


def _not_found(exc: NotFound) -> HTTPException:
    # the scope's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


# ---- the list ------------------------------------------------------------------------------------------


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    kind = request.query_params.get("kind") or None
    state = request.query_params.get("status") or None
    if (kind is not None and kind not in service.KIND_RULES) or (
        state is not None and state not in service.STATUSES
    ):
        problem = problem or FormProblem(
            "filter", N_("The filter is not valid:"), f"kind={kind} status={state}"
        )
        status = 422 if status == 200 else status
        kind = state = None
    rows = visible_filings(request, scope, kind, state)
    with engine_of(request).connect() as conn:
        picks = choices(conn, request, scope)
    return render(
        request,
        "filings.html",
        status,
        viewer=viewer,
        filings=rows,
        names=names(picks),
        picks=picks,
        filter={"kind": kind or "", "status": state or ""},
        kinds=list(service.KIND_RULES),
        statuses=service.STATUSES,
        can_file=scope.can_write("filing"),
        problem=problem,
        now_local=_local_now(),
        **_labels(),
    )


@router.get("/filings", response_class=HTMLResponse)
def filings_page(request: Request, viewer: CurrentViewer) -> Response:
    return _list_page(request, viewer)


def _id(name: str, text: str) -> int | None:
    """An optional id from a picker; InvalidInput for anything but digits."""
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"{name} must be an id, not {text!r}")
    return int(text)


def _require_targets(scope: Scope, enterprise: int | None, outlet: int | None, device: int | None) -> None:
    """What the form names must be visible (404 as for a missing one), as the API checks it."""
    try:
        if enterprise is not None:
            scope.require_enterprise(enterprise)
        if outlet is not None:
            scope.require_outlet(outlet)
        if device is not None:
            scope.require_device_id(device)
    except NotFound as exc:
        raise _not_found(exc) from None


@router.post("/filings", response_class=HTMLResponse)
def create_filing(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    kind: Text = "",
    title: Text = "",
    enterprise_id: Text = "",
    outlet_id: Text = "",
    device_id: Text = "",
    event_at: Text = "",
    notes: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    values = {
        "kind": kind, "title": title, "enterprise_id": enterprise_id, "outlet_id": outlet_id,
        "device_id": device_id, "event_at": event_at, "notes": notes,
    }  # fmt: skip
    try:
        ids = _id("enterprise_id", enterprise_id), _id("outlet_id", outlet_id), _id("device_id", device_id)
    except InvalidInput as exc:
        return _list_page(
            request, viewer, FormProblem("create", N_("The filing was not saved:"), exc.message, values), 422
        )
    _require_targets(scope, *ids)
    scope.require_write("filing")
    try:
        if ids[0] is None:
            raise InvalidInput("choose the enterprise the filing belongs to")
        row = service.create_filing(
            engine_of(request),
            kind=kind,
            enterprise_id=ids[0],
            outlet_id=ids[1],
            device_id=ids[2],
            title=title,
            event_at=form_time("event_at", event_at),
            notes=notes,
            created_by=viewer.principal.name,
            now=utcnow(),
        )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("create", N_("The filing was not saved:"), exc.message, values)
        return _list_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/filings/{row['id']}", status_code=303)


# ---- one filing ----------------------------------------------------------------------------------------


def _detail_page(
    request: Request, viewer: Viewer, filing_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    filing = visible_filing(request, scope, filing_id)
    with engine_of(request).connect() as conn:
        picks = choices(conn, request, scope)
    return render(
        request,
        "filing.html",
        status,
        viewer=viewer,
        filing=filing,
        names=names(picks),
        steps=list(service.STEPS),
        can_file=scope.can_write("filing"),
        problem=problem,
        now_local=_local_now(),
        max_bytes=settings_of(request).max_attachment_bytes,
        **_labels(),
    )


@router.get("/filings/{filing_id}", response_class=HTMLResponse)
def filing_page(request: Request, viewer: CurrentViewer, filing_id: int) -> Response:
    return _detail_page(request, viewer, filing_id)


def _writable(request: Request, viewer: Viewer, filing_id: int) -> Scope:
    """The API's order for a change to a filing: visible (404), then the right to file (403)."""
    scope = data_scope(request, viewer)
    visible_filing(request, scope, filing_id)
    scope.require_write("filing")
    return scope


@router.post("/filings/{filing_id}/steps", response_class=HTMLResponse)
def add_step(
    request: Request,
    viewer: CurrentViewer,
    filing_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    step: Text = "",
    done_at: Text = "",
    note: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    _writable(request, viewer, filing_id)
    try:
        service.add_step(
            engine_of(request),
            filing_id,
            step=step,
            done_at=form_time("done_at", done_at),
            note=note,
            recorded_by=viewer.principal.name,
            now=utcnow(),
        )
    except (InvalidInput, Conflict) as exc:
        values = {"step": step, "done_at": done_at, "note": note}
        problem = FormProblem("step", N_("The step was not saved:"), exc.message, values)
        return _detail_page(request, viewer, filing_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/filings/{filing_id}", status_code=303)


def _too_large(request: Request, viewer: Viewer, filing_id: int, limit: int) -> Response:
    lead = N_("The attachment was not saved: the file is larger than the limit of %(limit)s bytes.")
    return _detail_page(
        request, viewer, filing_id, FormProblem("attachment", lead, args={"limit": limit}), 413
    )


@router.post("/filings/{filing_id}/attachments", response_class=HTMLResponse)
async def upload_attachment(request: Request, viewer: CurrentViewer, filing_id: int) -> Response:
    """A multipart form with ``csrf_token`` and one ``file``. Visibility and the right to file are
    checked before the body is read; a body far over the limit is refused without reading it."""
    await run_in_threadpool(_writable, request, viewer, filing_id)
    limit = settings_of(request).max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        return await run_in_threadpool(_too_large, request, viewer, filing_id, limit)
    async with request.form(max_files=1, max_fields=10) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            problem = FormProblem(
                "attachment", N_("The attachment was not saved:"), "choose a file to upload"
            )
            return await run_in_threadpool(_detail_page, request, viewer, filing_id, problem, 422)
        content = await upload.read(limit + 1)
        if len(content) > limit:
            return await run_in_threadpool(_too_large, request, viewer, filing_id, limit)
        name, file_type = upload.filename, upload.content_type or "application/octet-stream"
    try:
        await run_in_threadpool(
            service.attach_to_filing,
            engine_of(request),
            api.blob_store(request),
            filing_id,
            filename=name,
            content=content,
            content_type=file_type,
            added_by=viewer.principal.name,
            now=utcnow(),
        )
    except InvalidInput as exc:
        problem = FormProblem("attachment", N_("The attachment was not saved:"), exc.message)
        return await run_in_threadpool(_detail_page, request, viewer, filing_id, problem, 422)
    return RedirectResponse(f"/filings/{filing_id}", status_code=303)


@router.get("/filings/{filing_id}/attachments/{attachment_id}")
def download_attachment(
    request: Request, viewer: CurrentViewer, filing_id: int, attachment_id: int
) -> Response:
    """The API's download (SHA-256 checked by the blob store, always ``attachment``, nosniff)."""
    scope = data_scope(request, viewer)
    try:
        return api.download_attachment(request, filing_id, attachment_id, scope)
    except NotFound as exc:
        raise _not_found(exc) from None
