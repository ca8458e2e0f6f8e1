"""The public verification page of a label (/v/{code}): authentic or not, status, custody summary (防伪查验).

This is the address the QR code on every label carries (``<public_base_url>/v/<code>``): an inspector
without an account scans it with any phone and learns whether the code was issued, by which agency and on
which day, the sample's state, when each custody step happened (China time) and how often the label was
printed (a reprint shows). It shows nothing private: no enterprise, person, place or note; the answer comes
from :func:`envwatch.sampling.reads.verification`, which never reads them.

No login: the page is public like the disclosure pages (``web.pages.public``). It does read a session when
there is one: a logged-in visitor who may see the sample gets a link to the sample page. Because the answer
depends on that, and custody moves on, nothing here may be cached by a shared cache. An unknown or
malformed code answers 404 with the reason in words; the page is made for a phone first.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.core.errors import NotFound
from envwatch.sampling.reads import sample_row, verification
from envwatch.web.api.common import engine_of
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.sampling_common_view import EVENT_LABELS, STATE_LABELS
from envwatch.web.pages.session import Viewer, sampling_scope, viewer_or_none

router = APIRouter(include_in_schema=False)

MAX_CODE_CHARS = 200  # a code is ~33 characters; a pasted URL a little more


def code_problem(reason: str) -> str:
    """The msgid saying in words why a code is not a sample code, from the reason ``sampling.codes.parse``
    or ``sampling.reads.verification`` gives (English, for logs and the API)."""
    if "check character" in reason:
        return N_(
            "The check character does not match: the code was mistyped or misread. Check it and try again."
        )
    if "is not a date" in reason:
        return N_("The date in the code is not a real date: the code was mistyped or is forged.")
    if "ever issued" in reason:
        return N_("No sample with this code was ever issued: the label is not authentic.")
    return N_(
        "This is not a sample code. A sample code looks like 330302-WZJC-261123-0042-7KQ9XM-T "
        "(region, agency, date, number, random part, check character)."
    )


def _may_open(request: Request, viewer: Viewer, code: str) -> bool:
    """The logged-in viewer may see the sample (the sample page would not answer 404)."""
    scope = sampling_scope(request, viewer)
    if scope is None:
        return False
    with engine_of(request).connect() as conn:
        try:
            return scope.sees_sample(sample_row(conn, code))
        except NotFound:
            return False


@router.get("/v/{code}", response_class=HTMLResponse)
def verify_page(request: Request, code: str) -> Response:
    text = code[:MAX_CODE_CHARS]
    with engine_of(request).connect() as conn:
        answer: dict[str, Any] = verification(conn, text)
    viewer = viewer_or_none(request)
    may_open = answer["authentic"] and viewer is not None and _may_open(request, viewer, answer["code"])
    response = render(
        request,
        "verify.html",
        200 if answer["authentic"] else 404,
        viewer=viewer,
        answer=answer,
        problem=None if answer["authentic"] else code_problem(answer["reason"]),
        reprints=max(0, int(answer.get("prints") or 0) - 1),
        may_open=may_open,
        state_labels=STATE_LABELS,
        event_labels=EVENT_LABELS,
    )
    response.headers["Cache-Control"] = "no-store"  # custody moves on; the link depends on the session
    return response
