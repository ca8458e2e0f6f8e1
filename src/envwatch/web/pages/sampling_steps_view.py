"""The custody step forms of the sample page (样品流转, WZ-A2-7..10): one POST per step, and the reprint.

- ``POST /sampling/samples/{code}/steps/{step}`` (multipart: ``staff_id`` for admin, ``check_result``,
  ``seal_no``, ``preservation`` boxes, ``note``, a ``photo``; ``size`` and ``format`` for ``print_label``):
  records the step (``steps.record_step``); ``print_label`` answers with the label file, the others with a
  redirect to the sample;
- ``POST /sampling/samples/{code}/reprint`` (``video``, ``reason``, ``size``, ``format``): the reprint with its
  video (WZ-A2-8), answered with the label marked "补打 第n次".

Checks in the JSON API's order: the sample visible (404, before the body is read), the ``sampling`` write
(403), the CSRF token, then the store: its refusal is shown in the form, in words, with what was typed, and
nothing is stored — the photo or video is written to the blob store only once the step was accepted, inside
the step's transaction.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from envwatch.core.blob_records import media_type_of_name, store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from envwatch.sampling.steps import STEPS, Step, StepInput, record_step
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import sampling_common_view as view
from envwatch.web.pages.forms import FormProblem
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.sampling_labels_view import LabelFile, print_first, reprint
from envwatch.web.pages.sampling_sample_page import sample_detail_page
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

_MULTIPART_SLACK = 64 * 1024
_Refusal = (InvalidInput, Conflict, NotFound, Forbidden)


def _writable(request: Request, viewer: Viewer, code: str) -> tuple[Scope, str]:
    """The sample visible (404), then the ``sampling`` write (403); the sample's code as stored."""
    scope = view.sampling_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = view.visible_sample(conn, scope, code)
    scope.require_write("sampling")
    return scope, str(row["code"])


def _too_large(request: Request, viewer: Viewer, code: str, where: str) -> Response:
    lead = N_("Not recorded: the file is larger than the limit of %(limit)s bytes.")
    problem = FormProblem(where, lead, args={"limit": view.upload_limit(request)})
    return sample_detail_page(request, viewer, code, problem, 413)


async def _read(
    request: Request, viewer: Viewer, field: str
) -> tuple[dict[str, str], list[str], view.Upload | None]:
    """The posted fields, the checked preservation boxes and the file of ``field`` (CSRF checked first);
    TooLarge for a file over the limit."""
    async with request.form(max_files=1, max_fields=20) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        values = view.form_fields(form)
        kept = [v for v in form.getlist("preservation") if isinstance(v, str)]
        upload = await view.read_upload(form, field, view.upload_limit(request))
    values.pop("preservation", None)
    return values, kept, upload


def _declared_too_large(request: Request) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > view.upload_limit(request) + _MULTIPART_SLACK


# ---- one step -------------------------------------------------------------------------------------------


def _record(
    request: Request,
    viewer: Viewer,
    code: str,
    step: Step,
    values: dict[str, str],
    kept: list[str],
    photo: view.Upload | None,
) -> Response:
    scope, code = _writable(request, viewer, code)
    request.state.audit_detail = {"sample": code, "event": step}
    settings = settings_of(request)
    labels: LabelFile | None = None
    try:
        with engine_of(request).begin() as conn:
            given = StepInput(
                staff_id=view.named_staff(conn, scope, values.get("staff_id", "")),
                check_result=values.get("check_result", "").strip() or None,
                seal_no=values.get("seal_no", ""),
                preservation={k: True for k in kept} if step == "dispatch" else None,
                photo_sha256=photo.sha256 if photo is not None else None,
                note=values.get("note", ""),
            )
            now, actor = utcnow(), viewer.principal.name
            if step == "print_label":
                labels = print_first(
                    conn, settings, [code], given, size=values.get("size", ""), fmt=values.get("format", "pdf"),
                    name=code, actor=actor, now=now,
                )  # fmt: skip
            else:
                record_step(conn, code, step, given, actor=actor, now=now)
            if photo is not None:  # kept only now: a refused step stores no photo
                store_recorded(
                    conn, BlobStore.from_settings(settings), photo.content, purpose="photo",
                    media_type=media_type_of_name(photo.filename), stored_by=actor, now=now,
                )  # fmt: skip
    except _Refusal as exc:
        problem = FormProblem(
            step, N_("Not recorded:"), exc.message, values | {f"keep_{k}": "1" for k in kept}
        )
        return sample_detail_page(request, viewer, code, problem, view.status_of(exc))
    if labels is not None:
        return labels.response()
    return RedirectResponse(f"/sampling/samples/{code}?done={step}", status_code=303)


@router.post("/sampling/samples/{code}/steps/{step}", response_class=HTMLResponse)
async def record_step_page(request: Request, viewer: CurrentViewer, code: str, step: str) -> Response:
    await run_in_threadpool(_writable, request, viewer, code)
    if step not in STEPS:
        problem = FormProblem(
            "step", N_("Not recorded:"), f"unknown step {step!r}; steps: {', '.join(STEPS)}"
        )
        return await run_in_threadpool(sample_detail_page, request, viewer, code, problem, 422)
    if _declared_too_large(request):
        return await run_in_threadpool(_too_large, request, viewer, code, step)
    try:
        values, kept, photo = await _read(request, viewer, "photo")
    except view.TooLarge:
        return await run_in_threadpool(_too_large, request, viewer, code, step)
    chosen: Step = step  # narrowed by the check against STEPS above
    return await run_in_threadpool(_record, request, viewer, code, chosen, values, kept, photo)


# ---- the reprint ----------------------------------------------------------------------------------------


def _reprint(
    request: Request, viewer: Viewer, code: str, values: dict[str, str], video: view.Upload | None
) -> Response:
    scope, code = _writable(request, viewer, code)
    request.state.audit_detail = {"sample": code, "event": "reprint"}
    settings = settings_of(request)
    try:
        with engine_of(request).begin() as conn:
            labels = reprint(
                conn, settings, BlobStore.from_settings(settings), code,
                staff_id=view.named_staff(conn, scope, values.get("staff_id", "")), video=video,
                reason=values.get("reason", ""), size=values.get("size", ""), fmt=values.get("format", "pdf"),
                actor=viewer.principal.name, now=utcnow(),
            )  # fmt: skip
    except _Refusal as exc:
        problem = FormProblem("reprint", N_("The label was not reprinted:"), exc.message, values)
        return sample_detail_page(request, viewer, code, problem, view.status_of(exc))
    return labels.response()


@router.post("/sampling/samples/{code}/reprint", response_class=HTMLResponse)
async def reprint_page(request: Request, viewer: CurrentViewer, code: str) -> Response:
    await run_in_threadpool(_writable, request, viewer, code)
    if _declared_too_large(request):
        return await run_in_threadpool(_too_large, request, viewer, code, "reprint")
    try:
        values, _kept, video = await _read(request, viewer, "video")
    except view.TooLarge:
        return await run_in_threadpool(_too_large, request, viewer, code, "reprint")
    return await run_in_threadpool(_reprint, request, viewer, code, values, video)
