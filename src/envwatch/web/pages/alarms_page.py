"""Alarm pages (报警): the list, one alarm with its journal, and the work on it.

- ``/alarms``: the visible alarms, newest first, ``PAGE_SIZE`` a page, filtered by state (not closed by
  default), kind, a device / enterprise / outlet search and "escalated only", with the counts per state;
- ``/alarms/{id}``: the cover sheet (报警单), links to the data behind it (the device page over the alarm's
  period and the JSON data), the journal (处置记录) with the values behind each detection, the attachments,
  and the forms the lifecycle table and the role allow;
- ``POST /alarms/{id}/actions`` (acknowledge 确认, start handling 开始处理, assign 指派, comment 备注, close 关闭
  with cause 原因 and action 处理措施) and ``POST /alarms/{id}/attachments`` answer with a redirect (303) back to
  the alarm and a notice; ``/alarms/{id}/attachments/{aid}`` downloads a file.

Every change goes through ``alarms.store.apply`` / ``add_alarm_attachment`` with the API's order of checks:
the CSRF token, then the alarm must be visible (404, as a missing one), then the role must work on alarms
(403: regulators and auditors read only). The audit trail gets every POST (``session.viewer_or_none``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from envwatch.alarms import store
from envwatch.alarms.orders import get_order, orders_of_alarm
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.registry.attachments import get_attachment
from envwatch.web.api.common import attachment_download, engine_of, settings_of
from envwatch.web.api.orders import sees_order
from envwatch.web.pages.alarm_view import (
    DONE_LABELS,
    EVENT_LABELS,
    FILTER_LABELS,
    KIND_LABELS,
    PAGE_EVENTS,
    STATE_BADGES,
    STATE_LABELS,
    alarm_detail,
    alarm_page,
    allowed_events,
    factor_text,
    read_filter,
    searched_devices,
    state_counts,
    visible_alarm,
)
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_, locale_of
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf, data_scope
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

# a multipart body carries boundaries and part headers around the file (as the filings page allows)
_MULTIPART_SLACK = 16 * 1024


def _labels(locale: str) -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "state_labels": STATE_LABELS,
        "state_badges": STATE_BADGES,
        "event_labels": EVENT_LABELS,
        "factor_text": lambda code: factor_text(code, locale),
    }


# ---- the list ------------------------------------------------------------------------------------------


@router.get("/alarms", response_class=HTMLResponse)
def alarms_list(request: Request, viewer: CurrentViewer) -> Response:
    scope = data_scope(request, viewer)
    chosen, not_understood = read_filter(dict(request.query_params))
    with engine_of(request).connect() as conn:
        device_ids = searched_devices(conn, scope, chosen.q)
        paged = alarm_page(conn, scope, chosen, device_ids, request.query_params.get("page"))
        counts = state_counts(conn, scope, chosen, device_ids)
    problem = None
    if not_understood is not None:
        problem = FormProblem("filter", N_("The filter is not valid:"), not_understood)
    return render(
        request,
        "alarms.html",
        422 if problem else 200,
        viewer=viewer,
        paged=paged,
        counts=counts,
        filter=chosen,
        filters=FILTER_LABELS,
        kinds=list(KIND_LABELS),
        problem=problem,
        **_labels(locale_of(request)),
    )


# ---- one alarm -----------------------------------------------------------------------------------------


def _detail_page(
    request: Request,
    viewer: Viewer,
    alarm_id: int,
    problem: FormProblem | None = None,
    status: int = 200,
    invalid: tuple[str, ...] = (),
) -> Response:
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        detail = alarm_detail(conn, scope, alarm_id, utcnow())
        # the orders citing it that the viewer may open (a regulator's order is not every party's)
        cited = [o for o in orders_of_alarm(conn, alarm_id) if sees_order(scope, get_order(conn, o))]
    done = request.query_params.get("done", "")
    return render(
        request,
        "alarm.html",
        status,
        viewer=viewer,
        **detail,
        actions=allowed_events(detail["alarm"]["state"], scope.can_write("alarm")),
        can_order=scope.can_write("order"),
        orders=cited,
        problem=problem,
        invalid=invalid,
        done=DONE_LABELS.get(done) if problem is None else None,
        max_bytes=settings_of(request).max_attachment_bytes,
        **_labels(locale_of(request)),
    )


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def one_alarm(request: Request, viewer: CurrentViewer, alarm_id: int) -> Response:
    return _detail_page(request, viewer, alarm_id)


def _writable(request: Request, viewer: Viewer, alarm_id: int) -> Scope:
    """The API's order for a change: the alarm visible (404), then the right to work on alarms (403)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        visible_alarm(conn, scope, alarm_id)
    scope.require_write("alarm")
    return scope


def _missing(event: str, values: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """What the page itself asks for before the service does (so the message is in the user's language):
    the lead-in to show and the fields to mark, or (None, ()) when nothing required is missing."""
    if event == "close":
        gaps = tuple(f for f in ("cause", "action") if not values[f].strip())
        lead = {
            ("cause",): N_("The alarm was not closed: enter the cause."),
            ("action",): N_("The alarm was not closed: enter the action taken."),
            ("cause", "action"): N_("The alarm was not closed: enter the cause and the action taken."),
        }.get(gaps)
        return lead, gaps
    if event == "assign" and not values["assignee"].strip():
        return N_("The alarm was not assigned: enter the username of the person who takes it."), ("assignee",)
    if event == "comment" and not values["comment"].strip():
        return N_("The comment was not added: write the comment."), ("comment",)
    return None, ()


@router.post("/alarms/{alarm_id}/actions", response_class=HTMLResponse)
def alarm_action(
    request: Request,
    viewer: CurrentViewer,
    alarm_id: int,
    csrf_token: Annotated[str | None, Form()] = None,
    event: Text = "",
    comment: Text = "",
    assignee: Text = "",
    cause: Text = "",
    action: Text = "",
) -> Response:
    check_csrf(request, viewer, csrf_token)
    _writable(request, viewer, alarm_id)
    request.state.audit_detail = {"alarm": alarm_id, "event": event}
    values = {"comment": comment, "assignee": assignee, "cause": cause, "action": action}
    if event not in PAGE_EVENTS or event == "attach":
        problem = FormProblem("event", N_("The alarm was not changed:"), f"unknown action {event!r}")
        return _detail_page(request, viewer, alarm_id, problem, 422)
    lead, invalid = _missing(event, values)
    if lead is not None:
        return _detail_page(request, viewer, alarm_id, FormProblem(event, lead, "", values), 422, invalid)
    try:
        with engine_of(request).begin() as conn:
            store.apply(
                conn,
                alarm_id,
                store.Action(
                    event,  # type: ignore[arg-type]  # one of PAGE_EVENTS, checked above
                    comment=comment,
                    assignee=assignee or None,
                    cause=cause,
                    action=action,
                ),
                actor=viewer.principal.name,
                now=utcnow(),
            )
    except (InvalidInput, Conflict) as exc:
        # InvalidTransition is a Conflict: the state moved on (another person, another tab)
        problem = FormProblem(event, N_("The alarm was not changed:"), exc.message, values)
        return _detail_page(request, viewer, alarm_id, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/alarms/{alarm_id}?done={event}", status_code=303)


def _too_large(request: Request, viewer: Viewer, alarm_id: int, limit: int) -> Response:
    lead = N_("The attachment was not saved: the file is larger than the limit of %(limit)s bytes.")
    return _detail_page(request, viewer, alarm_id, FormProblem("attach", lead, args={"limit": limit}), 413)


def _store_attachment(
    request: Request, viewer: Viewer, alarm_id: int, name: str, content: bytes, file_type: str
) -> None:
    with engine_of(request).begin() as conn:
        store.add_alarm_attachment(
            conn,
            BlobStore.from_settings(settings_of(request)),
            alarm_id,
            filename=name,
            content=content,
            content_type=file_type,
            actor=viewer.principal.name,
            now=utcnow(),
        )


@router.post("/alarms/{alarm_id}/attachments", response_class=HTMLResponse)
async def upload_attachment(request: Request, viewer: CurrentViewer, alarm_id: int) -> Response:
    """A multipart form with ``csrf_token`` and one ``file`` (a repair record, a photo). Visibility and the
    right to work on alarms are checked before the body is read; a body far over the limit is refused
    without reading it."""
    await run_in_threadpool(_writable, request, viewer, alarm_id)
    request.state.audit_detail = {"alarm": alarm_id, "event": "attach"}
    limit = settings_of(request).max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        return await run_in_threadpool(_too_large, request, viewer, alarm_id, limit)
    async with request.form(max_files=1, max_fields=10) as form:
        token = form.get("csrf_token")
        check_csrf(request, viewer, token if isinstance(token, str) else None)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            problem = FormProblem("attach", N_("The attachment was not saved:"), "choose a file to upload")
            return await run_in_threadpool(_detail_page, request, viewer, alarm_id, problem, 422)
        content = await upload.read(limit + 1)
        if len(content) > limit:
            return await run_in_threadpool(_too_large, request, viewer, alarm_id, limit)
        name, file_type = upload.filename, upload.content_type or "application/octet-stream"
    try:
        await run_in_threadpool(_store_attachment, request, viewer, alarm_id, name, content, file_type)
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem("attach", N_("The attachment was not saved:"), exc.message)
        return await run_in_threadpool(_detail_page, request, viewer, alarm_id, problem, 422)
    return RedirectResponse(f"/alarms/{alarm_id}?done=attach", status_code=303)


@router.get("/alarms/{alarm_id}/attachments/{attachment_id}")
def download_attachment(
    request: Request, viewer: CurrentViewer, alarm_id: int, attachment_id: int
) -> Response:
    """A file of a visible alarm, as the API's download; always ``attachment`` and nosniff, so an uploaded
    HTML file never runs in the pages' origin (the blob store checks the SHA-256)."""
    scope = data_scope(request, viewer)
    with engine_of(request).connect() as conn:
        visible_alarm(conn, scope, alarm_id)
        found = get_attachment(conn, attachment_id)
    return attachment_download(request, found, "alarm", alarm_id, attachment_id)
