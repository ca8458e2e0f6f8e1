"""Supervision order pages (电子督办): the list and the issue form, one order with its journal and the forms its
state allows, the evidence downloads.

- ``/orders``: the visible orders newest first (50 a page), counts per state, a state filter (and
  "overdue"); for admin and regulators the form issuing an order (receiver, title, body, deadline in China
  time, the alarms it is made from; ``?alarm=ID`` preselects one, so an alarm's page can link here);
- ``/orders/{id}``: the order, its cited alarms, its journal, its evidence, and the forms: the receiver
  responds (text and evidence files in one form), admin and regulators accept, return (reason, optional new
  deadline) or withdraw (only while issued), anyone who sees it comments. A POST answers 303 back to the
  order with a notice; a refusal of the store comes back in the form (lead-in translated, values kept);
- ``/orders/{id}/attachments/{aid}`` downloads one evidence file.

Checks, in the JSON API's order (``web.api.orders``): the CSRF token, then what is not visible is 404 exactly
like a missing one, then the role (403), then the store (``alarms.orders``: 422 / 409 in the form).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.alarms import orders as store
from envwatch.alarms.order_lifecycle import ORDER_STATES
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry.attachments import add_attachment, get_attachment
from envwatch.registry.service import get_enterprise
from envwatch.web.api import orders as api
from envwatch.web.api.alarms import require_alarm
from envwatch.web.api.common import attachment_download, engine_of, settings_of
from envwatch.web.pages import order_view as view
from envwatch.web.pages.alarm_view import KIND_LABELS
from envwatch.web.pages.forms import FormProblem, Text, form_time, local_input
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.public_data import factor_name
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

DEFAULT_DEADLINE = timedelta(days=7)  # the issue form's proposal; the regulator sets the real one
EVIDENCE_FILES_MAX = 5  # files one response form takes (the store allows more over several responses)
# a multipart body carries boundaries, part headers and the text around the files
_MULTIPART_SLACK = 64 * 1024
ISSUER_ACTIONS = ("accept", "return", "withdraw")


def _labels(request: Request) -> dict[str, Any]:
    locale = locale_of(request)
    return {
        "state_labels": view.STATE_LABELS,
        "state_badges": view.STATE_BADGES,
        "event_labels": view.EVENT_LABELS,
        "kind_labels": KIND_LABELS,
        "factor_text": lambda code: factor_name(code, locale) if code else "",
    }


def _not_found(exc: NotFound) -> HTTPException:
    # the scope's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


# ---- the list and the issue form -----------------------------------------------------------------------


def _preselected(request: Request, scope: Scope) -> dict[str, Any] | None:
    """The alarm of ``?alarm=ID`` (only for those who may issue; 404 when not visible)."""
    text = request.query_params.get("alarm", "")
    if not text or not scope.can_write("order"):
        return None
    if not text.isdigit():
        raise HTTPException(422, f"alarm must be an alarm id, not {text!r}")
    with engine_of(request).connect() as conn:
        return view.alarm_to_cite(conn, scope, int(text))


def _list_page(
    request: Request, viewer: Viewer, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    now = utcnow()
    state = view.read_filter(request.query_params.get("state"))
    if state is None:
        problem = problem or FormProblem(
            "filter", N_("The filter is not valid:"), f"state={request.query_params.get('state')}"
        )
        status = 422 if status == 200 else status
        state = ""
    preselect = _preselected(request, scope)
    can_issue = scope.can_write("order")
    with engine_of(request).connect() as conn:
        listing = view.order_list(conn, scope, state, request.query_params.get("page"), now)
        picks = view.receivers(conn, scope) if can_issue else None
        alarms = view.issue_alarms(conn, scope, preselect) if can_issue else []
    proposed = {
        "receiver": f"enterprise:{preselect['enterprise_id']}"
        if preselect and preselect["enterprise_id"]
        else "",
        "alarm_ids": str(preselect["id"]) if preselect else "",
        "deadline": local_input(now + DEFAULT_DEADLINE),
    }
    return render(
        request,
        "orders.html",
        status,
        viewer=viewer,
        listing=listing,
        state=state,
        states=ORDER_STATES,
        filter_labels=view.FILTER_LABELS,
        now=now,
        is_overdue=view.is_overdue,
        can_issue=can_issue,
        is_admin=scope.role == "admin",
        picks=picks,
        alarms=alarms,
        preselect=preselect,
        proposed=proposed,
        problem=problem,
        **_labels(request),
    )


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, viewer: CurrentViewer) -> Response:
    return _list_page(request, viewer)


def _receiver(text: str) -> tuple[int | None, int | None]:
    """``enterprise:ID`` or ``operator:ID`` from the receiver picker."""
    kind, _, number = text.partition(":")
    if kind not in ("enterprise", "operator") or not number.isdigit():
        raise InvalidInput("choose the receiver: an enterprise or an operator")
    return (int(number), None) if kind == "enterprise" else (None, int(number))


def _alarm_ids(values: list[str]) -> list[int]:
    bad = [v for v in values if not v.isdigit()]
    if bad:
        raise InvalidInput(f"alarm ids must be numbers, not {', '.join(bad)}")
    return [int(v) for v in values]


def _require_named(
    request: Request, scope: Scope, receiver: tuple[int | None, int | None], alarm_ids: list[int]
) -> None:
    """What the form names must be visible (404 as for a missing one), as the API checks it."""
    enterprise_id, operator_id = receiver
    try:
        if enterprise_id is not None:
            scope.require_enterprise(enterprise_id)
        if operator_id is not None:
            scope.require_operator(operator_id)
        with engine_of(request).connect() as conn:
            for alarm_id in alarm_ids:
                require_alarm(conn, scope, alarm_id)
    except NotFound as exc:
        raise _not_found(exc) from None


def _issuing_region(request: Request, scope: Scope, region_code: str, enterprise_id: int | None) -> str:
    """A regulator issues in its own region; an admin gives one, or it is the receiver enterprise's."""
    if scope.role == "regulator":
        return scope.principal.region_code or ""
    if region_code.strip():
        return region_code.strip()
    if enterprise_id is not None:
        with engine_of(request).connect() as conn:
            return str(get_enterprise(conn, enterprise_id)["region_code"])
    raise InvalidInput("give the issuing region (2, 4 or 6 digits) for an order to an operator")


@router.post("/orders", response_class=HTMLResponse)
def issue_order(
    request: Request,
    viewer: CurrentViewer,
    csrf_token: Annotated[str | None, Form()] = None,
    receiver: Text = "",
    region_code: Text = "",
    title: Text = "",
    body: Text = "",
    deadline: Text = "",
    alarm_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    cited = alarm_ids or []
    values = {
        "receiver": receiver, "region_code": region_code, "title": title, "body": body,
        "deadline": deadline, "alarm_ids": ",".join(cited),
    }  # fmt: skip

    def refused(exc: InvalidInput | Conflict) -> Response:
        problem = FormProblem("issue", N_("The order was not issued:"), exc.message, values)
        return _list_page(request, viewer, problem, 409 if isinstance(exc, Conflict) else 422)

    try:
        named, ids = _receiver(receiver), _alarm_ids(cited)
    except InvalidInput as exc:
        scope.require_write("order")  # a role that may not issue learns nothing from the form's errors
        return refused(exc)
    _require_named(request, scope, named, ids)
    scope.require_write("order")
    try:
        region = _issuing_region(request, scope, region_code, named[0])
        with engine_of(request).begin() as conn:
            row = store.issue_order(
                conn,
                region_code=region,
                enterprise_id=named[0],
                operator_id=named[1],
                title=title,
                body=body,
                deadline=form_time("deadline", deadline),
                alarm_ids=ids,
                issued_by=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        return refused(exc)
    return RedirectResponse(f"/orders/{row['id']}?done=issued", status_code=303)


# ---- one order -----------------------------------------------------------------------------------------


def _detail_page(
    request: Request, viewer: Viewer, order_id: int, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = data_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        detail = view.order_detail(conn, scope, order_id)
    order = detail["order"]
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "order.html",
        status,
        viewer=viewer,
        order=order,
        names=detail["names"],
        journal=detail["journal"],
        files=detail["files"],
        cited=detail["alarms"],
        forms=view.allowed_forms(scope, order),
        overdue=view.is_overdue(order, now),
        done=view.DONE_LABELS.get(done),
        problem=problem,
        max_bytes=settings_of(request).max_attachment_bytes,
        max_files=EVIDENCE_FILES_MAX,
        now_local=local_input(now),
        **_labels(request),
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, viewer: CurrentViewer, order_id: int) -> Response:
    return _detail_page(request, viewer, order_id)


@router.post("/orders/{order_id}/actions", response_class=HTMLResponse)
def act_on_order(
    request: Request,
    viewer: CurrentViewer,
    order_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    event: Text = "",
    text: Text = "",
    new_deadline: Text = "",
) -> Response:
    """Accept, return, withdraw (admin, regulator: the ``order`` write) or comment (anyone who sees it)."""
    check_csrf(request, viewer, csrf_token)
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_order(conn, scope, order_id)  # 404 first
    if event not in (*ISSUER_ACTIONS, "comment"):
        raise HTTPException(422, f"event must be one of accept, return, withdraw, comment; not {event!r}")
    if event in ISSUER_ACTIONS:
        scope.require_write("order")
    who, now = viewer.principal.name, utcnow()
    try:
        with engine_of(request).begin() as conn:
            if event == "accept":
                store.accept(conn, order_id, comment=text, actor=who, now=now)
            elif event == "return":
                moved = form_time("new_deadline", new_deadline) if new_deadline.strip() else None
                store.return_order(conn, order_id, reason=text, new_deadline=moved, actor=who, now=now)
            elif event == "withdraw":
                store.withdraw(conn, order_id, reason=text, actor=who, now=now)
            else:
                store.comment(conn, order_id, text=text, actor=who, now=now)
    except (InvalidInput, Conflict) as exc:
        values = {"text": text, "new_deadline": new_deadline}
        problem = FormProblem(event, N_("Not saved:"), exc.message, values)
        return _detail_page(request, viewer, order_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/orders/{order_id}?done={event}", status_code=303)


def _receiver_of(request: Request, viewer: Viewer, order_id: int) -> None:
    """The API's order for a response: the order visible (404), then the caller its receiver (403)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = view.visible_order(conn, scope, order_id)
    api.require_receiver(scope, row)


def _too_large(request: Request, viewer: Viewer, order_id: int, text: str, limit: int) -> Response:
    lead = N_("The response was not sent: a file is larger than the limit of %(limit)s bytes.")
    problem = FormProblem("respond", lead, values={"text": text}, args={"limit": limit})
    return _detail_page(request, viewer, order_id, problem, 413)


def _respond(
    request: Request, viewer: Viewer, order_id: int, text: str, files: list[tuple[str, str, bytes]]
) -> Response:
    """Store the evidence files and the response in one transaction: a refused response keeps no file row
    (a blob already written stays unreferenced, as the attachment store allows)."""
    blobs = BlobStore.from_settings(settings_of(request))
    who, now = viewer.principal.name, utcnow()
    try:
        with engine_of(request).begin() as conn:
            ids = [
                add_attachment(
                    conn, blobs, owner_kind=store.ATTACHMENT_KIND, owner_id=order_id, filename=name,
                    content=content, content_type=kind, added_by=who, now=now,
                )["id"]
                for name, kind, content in files
            ]  # fmt: skip
            store.respond(conn, order_id, text=text, attachment_ids=ids, actor=who, now=now)
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("respond", N_("The response was not sent:"), exc.message, {"text": text})
        return _detail_page(request, viewer, order_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/orders/{order_id}?done=respond", status_code=303)


@router.post("/orders/{order_id}/respond", response_class=HTMLResponse)
async def respond_to_order(request: Request, viewer: CurrentViewer, order_id: int) -> Response:
    """A multipart form: ``csrf_token``, ``text`` (what was done) and up to ``EVIDENCE_FILES_MAX`` ``files``.
    Visibility and the receiver are checked before the body is read; a body far over the limit is refused
    without reading it; each file must be within ``Settings.max_attachment_bytes``."""
    await run_in_threadpool(_receiver_of, request, viewer, order_id)
    limit = settings_of(request).max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit * EVIDENCE_FILES_MAX + _MULTIPART_SLACK:
        return await run_in_threadpool(_too_large, request, viewer, order_id, "", limit)
    async with request.form(max_files=EVIDENCE_FILES_MAX, max_fields=10) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        text_field = form.get("text")
        text = text_field if isinstance(text_field, str) else ""
        files: list[tuple[str, str, bytes]] = []
        for upload in form.getlist("files"):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue  # the empty part a file input sends when nothing was chosen
            content = await upload.read(limit + 1)
            if len(content) > limit:
                return await run_in_threadpool(_too_large, request, viewer, order_id, text, limit)
            files.append((upload.filename, upload.content_type or "application/octet-stream", content))
    return await run_in_threadpool(_respond, request, viewer, order_id, text, files)


@router.get("/orders/{order_id}/attachments/{attachment_id}")
def download_evidence(request: Request, viewer: CurrentViewer, order_id: int, attachment_id: int) -> Response:
    """One evidence file of a visible order (the API's checks; SHA-256 checked by the blob store), always
    as a download with nosniff: an uploaded HTML file must not run in the pages' origin."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        view.visible_order(conn, scope, order_id)
        row = get_attachment(conn, attachment_id)
    return attachment_download(request, row, store.ATTACHMENT_KIND, order_id, attachment_id)
