"""One sample (/sampling/samples/{code}): its facts, its state along the custody path, the chain of custody,
and the forms of the steps allowed next (样品流转, WZ-A2-7..10).

- who may see it is the scope's (a sample outside it is 404 exactly like a missing one); an enterprise sees
  the samples taken at it, read only;
- the ``sampling`` write (admin, agency) gets the NEXT steps only (``reads.sample_detail()["next"]``): print
  the label (answers with the label file), reprint (with a video, WZ-A2-8), dispatch, take over, reject,
  receive, open, analyse, dispose — in ``sampling_steps_view``; the ``sampling_review`` write (regulator,
  admin) the review of an entry flagged offline or with a wrong phone clock;
- photos and videos of the chain are served back from the blob store by their SHA-256, only when the
  sample shows them (``/sampling/samples/{code}/files/{sha256}``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select

from envwatch.core.blobs import BlobStore
from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.sampling.custody import PATH
from envwatch.sampling.reads import sample_detail
from envwatch.sampling.schema import custody_events
from envwatch.sampling.steps import record_review
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.pages import sampling_common_view as view
from envwatch.web.pages.forms import FormProblem, Text
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, check_csrf

router = APIRouter(include_in_schema=False)

DONE_LABELS = {
    "registered": N_("The sample was registered. Print its label now."),
    "dispatch": N_("The dispatch was recorded."),
    "hand_over": N_("The hand-over was recorded."),
    "reject": N_("The sample was rejected."),
    "receive": N_("The receipt in the lab was recorded."),
    "open": N_("The opening was recorded."),
    "analyse": N_("The analysis was recorded."),
    "dispose": N_("The disposal was recorded."),
    "review": N_("The review was recorded."),
}
# the magic numbers of the photo and video formats phones record: the file is served with its type
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),
    (b"ftypqt", 4, "video/quicktime"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),
)
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "video/quicktime": "mov",
    "video/mp4": "mp4",
    "video/webm": "webm",
}


def progress(sample: dict[str, Any]) -> list[dict[str, str]]:
    """The custody path as steps ``done`` / ``current`` / ``skipped`` (a self-delivered sample starts at the
    hand-over) / ``todo``; a rejected sample shows where it stopped and the rejection last."""
    events = sample["custody"]
    reached = {e["to_state"] for e in events}
    state = sample["state"]
    last = state
    if state == "rejected":
        last = next((e["from_state"] for e in reversed(events) if e["event"] == "reject"), PATH[0])
    here = PATH.index(last)
    steps = []
    for n, step in enumerate(PATH):
        if step == state:
            status = "current"
        elif step in reached and n <= here:
            status = "done"
        elif n < here:
            status = "skipped"
        else:
            status = "todo"
        steps.append({"state": step, "status": status})
    if state == "rejected":
        steps.append({"state": "rejected", "status": "rejected"})
    return steps


def sample_detail_page(
    request: Request, viewer: Viewer, code: str, problem: FormProblem | None = None, status: int = 200
) -> Response:
    scope = view.sampling_scope(request, viewer)
    now = utcnow()
    with engine_of(request).connect() as conn:
        view.visible_sample(conn, scope, code)
        sample = sample_detail(conn, code)
        can_act = scope.can_write("sampling")
        acting = (
            view.acting_for(conn, scope, viewer, sample["agency_id"], to_china(now).date())
            if can_act
            else None
        )
        plan_link = sample["plan_id"]
    forms = list(sample["next"]) if can_act else []
    done = request.query_params.get("done", "") if problem is None else ""
    return render(
        request,
        "sampling_sample.html",
        status,
        viewer=viewer,
        s=sample,
        steps=progress(sample),
        reprints=max(sample["prints"] - 1, 0),
        forms=forms,
        acting=acting,
        can_review=scope.can_write("sampling_review") and sample["needs_review"],
        plan_id=plan_link,
        problem=problem,
        done=DONE_LABELS.get(done),
        **view.labels(),
    )


@router.get("/sampling/samples/{code}", response_class=HTMLResponse)
def sample_page(request: Request, viewer: CurrentViewer, code: str) -> Response:
    return sample_detail_page(request, viewer, code)


@router.post("/sampling/samples/{code}/review", response_class=HTMLResponse)
def review_sample(
    request: Request,
    viewer: CurrentViewer,
    code: str,
    csrf_token: Annotated[str | None, Form()] = None,
    outcome: Text = "",
    note: Text = "",
) -> Response:
    """A regulator's review of an entry flagged offline or mistimed: accepted, or questioned with a note."""
    check_csrf(request, viewer, csrf_token)
    scope = view.sampling_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = view.visible_sample(conn, scope, code)
    scope.require_write("sampling_review")
    request.state.audit_detail = {"sample": row["code"], "event": "review"}
    try:
        with engine_of(request).begin() as conn:
            record_review(
                conn, row["code"], outcome=outcome, note=note, actor=viewer.principal.name, now=utcnow()
            )
    except (InvalidInput, Conflict) as exc:
        problem = FormProblem(
            "review", N_("The review was not recorded:"), exc.message, {"outcome": outcome, "note": note}
        )
        return sample_detail_page(request, viewer, code, problem, 409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/sampling/samples/{row['code']}?done=review", status_code=303)


def media_type(content: bytes) -> str:
    """The type of a stored photo or video by its first bytes; anything else is a plain download."""
    for magic, offset, kind in _MAGIC:
        if content[offset : offset + len(magic)] == magic:
            return kind
    return "application/octet-stream"


@router.get("/sampling/samples/{code}/files/{sha256}")
def sample_file(request: Request, viewer: CurrentViewer, code: str, sha256: str) -> Response:
    """A photo or video of the sample's chain of custody, as a download (nosniff), to those who see it."""
    scope = view.sampling_scope(request, viewer)
    with engine_of(request).connect() as conn:
        row = view.visible_sample(conn, scope, code)
        c = custody_events.c
        used = conn.execute(
            select(c.id).where(
                c.sample_id == row["id"], or_(c.photo_sha256 == sha256, c.video_sha256 == sha256)
            )
        ).first()
    if used is None:
        raise HTTPException(404, f"sample {row['code']} has no file {sha256}")
    try:
        content = BlobStore.from_settings(settings_of(request)).get(sha256)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    kind = media_type(content)
    name = f"{row['code']}-{sha256[:8]}.{_EXTENSIONS.get(kind, 'bin')}"
    return Response(
        content,
        media_type=kind,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": sha256,
        },
    )
