"""Pages of the video records (视频记录, WZ-A1): search (/evidence/videos), upload (/evidence/videos/upload)
and playback (/evidence/videos/{id}) with the annotations.

- the search lists the records the viewer may see (``Scope.sees_video``: an agency its own, a regulator its
  region's agencies and enterprises, an enterprise those filmed at it, admin all), filtered by sample code,
  enterprise, agency, staff member, stage and recording days, newest first, with a late flag when a record
  was archived more than ``video_archive_deadline_h`` after the recording ended (WZ-A1-13);
- the upload form is the page of the ``video`` writers (admin, agency): ``static/videos_upload.js`` sends
  the file over tus to ``/api/v1/evidence/uploads`` and then the metadata to ``POST /api/v1/evidence/videos``
  (the JSON API does every check; this page only offers the choices);
- a record's page plays the file from the content endpoint (HTTP range requests: the player seeks without
  fetching the whole file), shows the metadata, the linked samples and staff, the SHA-256 and SM3 of the
  file, the record's evidence log entry (its leaf once integrated) and the annotations, with a form for the
  writers to add one (an annotation is evidence too: appended, never edited).

Operators, field staff and auditors have no video pages (403). A record outside the scope is 404 like a
missing one. Helpers: ``videos_view``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from envwatch.core.clock import utcnow
from envwatch.core.errors import EnvwatchError, InvalidInput
from envwatch.evidence.log import leaf_of_entry
from envwatch.evidence.video_search import detail, search
from envwatch.evidence.videos import annotate
from envwatch.registry.schema import enterprises
from envwatch.sampling.plans import list_plans
from envwatch.web.api import sampling_common as common
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import videos_view as view
from envwatch.web.pages.i18n import N_, locale_of, translations
from envwatch.web.pages.paging import PAGE_SIZE, Paged
from envwatch.web.pages.render import render
from envwatch.web.pages.sampling_common_view import POSITION_LABELS
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

UPLOADS_URL = "/api/v1/evidence/uploads"
FINISH_URL = "/api/v1/evidence/videos"
CHUNK = 8 * 1024 * 1024  # bytes per PATCH: the server keeps at most one chunk in flight per upload

# Texts the upload script shows, translated here (the script has no catalog); {name} placeholders.
SCRIPT_TEXTS: dict[str, str] = {
    "unsupported": N_("This browser cannot upload in chunks: use a current Chrome, Edge, Firefox or Safari."),
    "bytes": N_("{sent} MB of {total} MB"),
    "speed": N_("{mbps} MB/s"),
    "uploading": N_("Uploading…"),
    "resuming": N_("A part of this file is already on the server: going on from there…"),
    "interrupted": N_("The connection broke: the upload goes on by itself when the server answers again."),
    "offline": N_("No network: the upload goes on by itself when the network is back."),
    "finishing": N_("File complete; recording the video record…"),
    "done": N_("Recorded. Opening the record…"),
    "finish_again": N_("Record the video again"),
    "upload": N_("Upload"),
    "refused": N_(
        "The record was refused: {detail}. Correct the form and press the button again; the file stays on the server."
    ),
    "finish_network": N_(
        "The record could not be sent (network): press the button again; the file stays on the server."
    ),
    "upload_refused": N_("The server refused the file: {detail}"),
    "login": N_("Your session has ended: log in again in another tab, then press the button again."),
    "no_file": N_("Choose the video file first."),
    "too_large": N_("The file is larger than the limit of {max} MB."),
    "draft_restored": N_("The fields typed before were restored."),
    "locating": N_("Taking this device's position…"),
    "located": N_("Position taken (±{acc} m)."),
    "no_position": N_("No position: allow this page to use the location, or name a landmark."),
}


def _texts(request: Request) -> dict[str, str]:
    gettext = translations(locale_of(request)).gettext
    return {key: gettext(msgid) for key, msgid in SCRIPT_TEXTS.items()}


def _visible(conn: Connection, scope: Scope, video_id: int) -> dict[str, Any]:
    """The record with its names, links, annotations and digests (``video_search.detail``), or the page's
    404 (missing and out of scope alike)."""
    try:
        row = detail(conn, video_id)
    except EnvwatchError as exc:
        raise HTTPException(exc.http_status, exc.message) from None
    if not scope.sees_video(row):
        raise HTTPException(404, f"no video record with id {video_id}")
    return row


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and int(text) > 0 else 1


# ---- search ----


@router.get("/evidence/videos", response_class=HTMLResponse)
def videos_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = view.video_scope(request, viewer)
    settings = settings_of(request)
    filters = view.parse_filters(request.query_params)
    page = _page_number(request.query_params.get("page"))
    with engine_of(request).connect() as conn:

        def one_page(number: int) -> tuple[int, list[dict[str, Any]]]:
            return search(
                conn,
                agency_ids=common.visible_agency_ids(scope),
                enterprise_ids=common.visible_enterprise_ids(scope),
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
                **{k: v for k, v in filters.query.items() if v is not None},
            )

        total, rows = one_page(page)  # a filter that could not be read: the whole list, and the message
        pages = max(1, -(-total // PAGE_SIZE))
        if page > pages:  # past the end (the list shrank, or a typed number): the last page
            page = pages
            total, rows = one_page(page)
        rows = [r for r in rows if scope.sees_video(r)]  # the SQL filtered already: a second check
        codes = view.sample_codes_of(conn, [r["id"] for r in rows])
        agency_choices = view.agency_picks(conn, scope)
        enterprise_choices = view.enterprise_picks(conn, scope)
        staff_choices = view.staff_of(conn, [a["id"] for a in agency_choices])
    for row in rows:
        row["sample_codes"] = codes.get(row["id"], [])
        row["late"] = view.is_late(row, settings)
        row["size_text"] = view.human_size(row["size"])
    paged = Paged(rows, page, pages, total, "")
    return render(
        request,
        "videos_list.html",
        422 if filters.problem else 200,
        viewer=viewer,
        paged=paged,
        kept=filters.kept,
        problem=filters.problem,
        agency_choices=agency_choices,
        agency_names={a["id"]: a["name"] for a in agency_choices},
        enterprise_choices=enterprise_choices,
        staff_choices=staff_choices,
        can_upload=scope.can_write("video"),
        deadline_h=settings.video_archive_deadline_h,
        retention_years=settings.video_retention_years,
        **view.labels(),
    )


# ---- upload ----


@router.get("/evidence/videos/upload", response_class=HTMLResponse)
def upload_page(request: Request, viewer: CurrentViewer) -> Response:
    scope = view.video_scope(request, viewer)
    scope.require_write("video")
    settings = settings_of(request)
    named = request.query_params.get("agency_id", "").strip()
    with engine_of(request).connect() as conn:
        agency_choices = view.agency_picks(conn, scope)
        if scope.role == "agency":
            agency_id: int | None = common.own_agency(scope, None)
        elif named.isdigit() and any(a["id"] == int(named) for a in agency_choices):
            agency_id = int(named)
        else:
            agency_id = agency_choices[0]["id"] if len(agency_choices) == 1 else None
        agency = next((a for a in agency_choices if a["id"] == agency_id), None)
        plans = list_plans(conn, agency_ids=[agency_id], limit=view.PICK_MAX) if agency_id else []
        staff = view.staff_of(conn, [agency_id]) if agency_id else []
        enterprise_choices = view.enterprise_picks(conn, scope)
        enterprise_names = view.names_by_id(conn, enterprises, {p["enterprise_id"] for p in plans})
    return render(
        request,
        "videos_upload.html",
        viewer=viewer,
        agency=agency,
        agency_choices=agency_choices,
        plans=plans,
        staff=staff,
        enterprise_choices=enterprise_choices,
        enterprise_names=enterprise_names,
        position_labels=POSITION_LABELS,
        endpoint=UPLOADS_URL,
        finish_url=FINISH_URL,
        chunk_size=CHUNK,
        chunk_mb=CHUNK // (1024 * 1024),
        max_bytes=settings.video_max_bytes,
        max_text=view.human_size(settings.video_max_bytes),
        texts=_texts(request),
        **view.labels(),
    )


# ---- one record ----


def _at_seconds(text: str) -> int | None:
    """``mm:ss``, ``h:mm:ss`` or plain seconds into the video; None when empty."""
    text = text.strip()
    if not text:
        return None
    parts = text.split(":")
    if len(parts) > 3 or not all(p.isdigit() for p in parts):
        raise InvalidInput(f"the moment must be minutes:seconds such as 12:30, not {text!r}")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _record_page(
    request: Request,
    viewer: Viewer,
    video_id: int,
    *,
    status_code: int = 200,
    done: str = "",
    problem: str = "",
    kept: dict[str, str] | None = None,
) -> Response:
    scope = view.video_scope(request, viewer)
    settings = settings_of(request)
    with engine_of(request).connect() as conn:
        v = _visible(conn, scope, video_id)
        samples = [{"code": code, "link": _sample_visible(conn, scope, code)} for code in v["sample_codes"]]
        plan_visible = v["plan_id"] is not None and _plan_visible(conn, scope, int(v["plan_id"]))
        entry_id = v["evidence_entry_id"]
        leaf = leaf_of_entry(conn, int(entry_id)) if entry_id is not None else None
    annotations = [
        a | {"at_text": _clock(a["at_second"]) if a["at_second"] is not None else ""}
        for a in v["annotations"]
    ]
    duration = int((v["recorded_end"] - v["recorded_start"]).total_seconds())
    return render(
        request,
        "videos_record.html",
        status_code,
        viewer=viewer,
        v=v,
        plan_visible=plan_visible,
        samples=samples,
        staff=[p["name"] or f"#{p['id']}" for p in v["staff"]],
        size_text=view.human_size(v["size"]),
        sm3=(v["blob"] or {}).get("sm3", ""),
        entry_id=entry_id,
        leaf=leaf,
        annotations=annotations,
        content_url=f"{FINISH_URL}/{video_id}/content",
        duration=_clock(max(duration, 0)),
        late=view.is_late(v, settings),
        deadline_h=settings.video_archive_deadline_h,
        can_annotate=scope.can_write("video") and scope.sees_agency(v["agency_id"]),
        done=done,
        problem=problem,
        kept_text=(kept or {}).get("text", ""),
        kept_at=(kept or {}).get("at", ""),
        **view.labels(),
    )


def _sample_visible(conn: Connection, scope: Scope, code: str) -> bool:
    """Whether the sample page of ``code`` exists for the viewer (a code typed at upload may name none)."""
    try:
        common.require_sample(conn, scope, code)
    except (EnvwatchError, HTTPException):
        return False
    return True


def _plan_visible(conn: Connection, scope: Scope, plan_id: int) -> bool:
    try:
        common.require_plan(conn, scope, plan_id)
    except (EnvwatchError, HTTPException):
        return False
    return True


@router.get("/evidence/videos/{video_id}", response_class=HTMLResponse)
def record_page(request: Request, video_id: int, viewer: CurrentViewer) -> Response:
    done = N_("The annotation was added.") if request.query_params.get("done") == "annotation" else ""
    return _record_page(request, viewer, video_id, done=done)


@router.post("/evidence/videos/{video_id}/annotations", response_class=HTMLResponse)
def annotation_post(
    request: Request,
    video_id: int,
    viewer: CurrentViewer,
    text: str = Form(""),
    at: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_csrf(request, viewer, csrf_token)
    scope = view.video_scope(request, viewer)
    scope.require_write("video")
    try:
        at_second = _at_seconds(at)
        with engine_of(request).begin() as conn:
            row = _visible(conn, scope, video_id)
            if scope.role == "agency":  # an agency notes its own records only (as the API: 404 otherwise)
                common.own_agency(scope, row["agency_id"])
            annotate(conn, video_id, text, at_second, by=viewer.principal.name, now=utcnow())
    except EnvwatchError as exc:
        status = exc.http_status if exc.http_status in (403, 404, 409) else 422
        return _record_page(
            request, viewer, video_id, status_code=status, problem=exc.message, kept={"text": text, "at": at}
        )
    return RedirectResponse(f"/evidence/videos/{video_id}?done=annotation#annotations", status_code=303)
