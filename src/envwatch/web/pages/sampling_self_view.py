"""Registering a self-delivered sample at the hand-over (自送样品, WZ-A2-4): ``/sampling/self-delivered``.

The receiver (样品管理员) registers the sample the client brought: the client (an enterprise of the registry
or a name), point, item, container, the sampling time the client declares, appearance, preservative, and
the check of seal and label with its photo and note. A badly damaged or missing seal or label is not
accepted (WZ-A2-9): the store refuses and nothing is stored. On success the page goes to the new sample,
where its first label is printed.

The ``sampling`` write (admin, agency): an agency account registers for its own agency as its own person;
admin picks the agency first (``?agency=ID``), then the receiver among its staff.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from envwatch.core.blob_records import media_type_of_name, store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from envwatch.sampling.registration import SelfDelivered, register_self_delivered
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import sampling_common_view as view
from envwatch.web.pages.forms import FormProblem, form_time, local_input
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

_MULTIPART_SLACK = 64 * 1024


def _form_page(
    request: Request,
    viewer: Viewer,
    problem: FormProblem | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    scope = view.sampling_scope(request, viewer)
    scope.require_write("sampling")
    query = request.query_params
    v = values if values is not None else {"agency_id": query.get("agency", ""), "q": query.get("q", "")}
    now = utcnow()
    with engine_of(request).connect() as conn:
        try:
            agency_id = view.form_agency(scope, v)
        except (InvalidInput, NotFound, Forbidden) as exc:
            raise view.page_error(exc) from None
        context: dict[str, Any] = {
            "agencies": view.agency_picks(conn, scope) if scope.role != "agency" else [],
            "agency_id": agency_id,
            "agency_name": view.agency_name(conn, agency_id) if agency_id is not None else "",
            "acting": (
                view.acting_for(conn, scope, viewer, agency_id, to_china(now).date())
                if agency_id is not None
                else None
            ),
            "sites": view.site_picks(conn, v.get("q", "")) if agency_id is not None else [],
        }
    return render(
        request,
        "sampling_sample_self.html",
        status,
        viewer=viewer,
        v=v,
        problem=problem,
        now_local=local_input(now),
        **context,
        **view.labels(),
    )


@router.get("/sampling/self-delivered", response_class=HTMLResponse)
def self_delivered_page(request: Request, viewer: CurrentViewer) -> Response:
    return _form_page(request, viewer)


def _enterprise(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput("choose the enterprise from the list, or leave it empty and name the client")
    return int(text)


def delivery(conn: Any, scope: Scope, values: dict[str, str], photo: view.Upload | None) -> SelfDelivered:
    """The store's input from the posted form; InvalidInput names what is wrong."""
    agency_id = view.form_agency(scope, values)
    if agency_id is None:
        raise InvalidInput("choose the testing agency")
    receiver = view.named_staff(conn, scope, values.get("staff_id", ""))
    if receiver is None:
        raise InvalidInput("choose the receiver (the person taking the sample over)")
    declared = values.get("sampled_at", "").strip()
    return SelfDelivered(
        agency_id=agency_id,
        receiver_staff_id=receiver,
        enterprise_id=_enterprise(values.get("enterprise_id", "")),
        client_name=values.get("client_name", ""),
        point_name=values.get("point_name", ""),
        item=values.get("item", ""),
        container=values.get("container", ""),
        appearance=values.get("appearance", ""),
        preservative=values.get("preservative", ""),
        sampled_at=form_time("sampled_at", declared) if declared else None,
        check_result=values.get("check_result", "").strip(),
        seal_no=values.get("seal_no", ""),
        photo_sha256=photo.sha256 if photo is not None else None,
        note=values.get("note", ""),
    )


def _register(
    request: Request, viewer: Viewer, values: dict[str, str], photo: view.Upload | None
) -> Response:
    scope = view.sampling_scope(request, viewer)
    scope.require_write("sampling")
    request.state.audit_detail = {"sample": "self_delivered"}
    settings = settings_of(request)
    try:
        with engine_of(request).begin() as conn:
            now = utcnow()
            row = register_self_delivered(
                conn,
                delivery(conn, scope, values, photo),
                actor=viewer.principal.name,
                now=now,
                random_chars=settings.sampling_code_random_chars,
            )
            if photo is not None:  # kept only once the sample was accepted
                store_recorded(
                    conn, BlobStore.from_settings(settings), photo.content, purpose="photo",
                    media_type=media_type_of_name(photo.filename), stored_by=viewer.principal.name, now=now,
                )  # fmt: skip
    except (InvalidInput, Conflict, NotFound, Forbidden) as exc:
        problem = FormProblem("self", N_("The sample was not registered:"), exc.message, values)
        return _form_page(request, viewer, problem, view.status_of(exc), values)
    return RedirectResponse(f"/sampling/samples/{row['code']}?done=registered", status_code=303)


@router.post("/sampling/self-delivered", response_class=HTMLResponse)
async def register_page(request: Request, viewer: CurrentViewer) -> Response:
    await run_in_threadpool(_writable, request, viewer)
    declared = request.headers.get("content-length", "")
    limit = view.upload_limit(request)
    too_large = declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK
    if not too_large:
        async with request.form(max_files=1, max_fields=30) as form:
            token = form.get("csrf_token")
            check_csrf(request, viewer, token if isinstance(token, str) else None)
            values = view.form_fields(form)
            try:
                photo = await view.read_upload(form, "photo", limit)
            except view.TooLarge:
                too_large = True
    if too_large:
        lead = N_("The sample was not registered: the photo is larger than the limit of %(limit)s bytes.")
        problem = FormProblem("self", lead, args={"limit": limit})
        return await run_in_threadpool(_form_page, request, viewer, problem, 413)
    return await run_in_threadpool(_register, request, viewer, values, photo)


def _writable(request: Request, viewer: Viewer) -> None:
    view.sampling_scope(request, viewer).require_write("sampling")
