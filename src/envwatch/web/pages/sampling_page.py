"""The sampling hub (/sampling) and the sample list (/sampling/samples) for agencies, regulators, enterprises.

- ``/sampling``: links to what the role may open (scan a label, plans, samples, self-delivered samples,
  agencies, statistics), the plans whose window is open now, the latest samples with their state and, for
  those who review (regulators, admin), the samples whose entry waits for review;
- ``/sampling/samples``: the visible samples, newest first, filtered by state and review flag.

Who sees what is the scope's (``web.scope``): admin all; a regulator the agencies of its region and the
samples taken at its enterprises; an agency its own; an enterprise the samples taken at it. Operators, field
staff and auditors have no sampling page (403). Plans: ``sampling_plans_view``; one sample:
``sampling_sample_page``; self-delivered samples: ``sampling_self_view``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from envwatch.core.clock import CHINA_TZ, utcnow
from envwatch.core.errors import InvalidInput
from envwatch.sampling.custody import STATES
from envwatch.sampling.plans import list_plans
from envwatch.sampling.reads import list_samples
from envwatch.web.api import sampling_common as common
from envwatch.web.api.common import engine_of
from envwatch.web.pages import sampling_common_view as view
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.paging import paginate
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer
from envwatch.web.scope import Scope

router = APIRouter(include_in_schema=False)

RECENT = 10  # samples on the hub
LIST_MAX = 1000  # samples a list reads before paging


@dataclass(frozen=True)
class Link:
    """One section of the hub: where, its name and what it holds (msgids), who may open it."""

    path: str
    label: str
    hint: str
    roles: frozenset[str]


ALL = view.SAMPLING_ROLES
WRITERS = frozenset({"admin", "agency"})
LINKS: tuple[Link, ...] = (
    Link(
        "/sampling/scan",
        N_("Scan a label"),
        N_("Scan the QR code of a sample label with the phone's camera, or type its code."),
        ALL,
    ),
    Link(
        "/sampling/plans",
        N_("Sampling plans"),
        N_("Enterprise, point, items, containers, window and team, entered ahead; the on-site entry page."),
        ALL,
    ),
    Link(
        "/sampling/samples",
        N_("Samples"),
        N_("Every sample with its code, state and chain of custody; labels and the next custody step."),
        ALL,
    ),
    Link(
        "/sampling/self-delivered",
        N_("Register a self-delivered sample"),
        N_("A sample the client brought: registered at the hand-over with the seal check, then labelled."),
        WRITERS,
    ),
    Link(
        "/sampling/agencies",
        N_("Testing agencies"),
        N_("Agencies, their staff and their label-system trainings (WZ-A2-5)."),
        frozenset({"admin", "regulator", "agency"}),
    ),
    Link(
        "/sampling/stats",
        N_("Statistics"),
        N_("Per agency: samples, late entries, reprints, anomalies and rejections (WZ-A2-14)."),
        frozenset({"admin", "regulator", "agency"}),
    ),
)


def _visible_samples(conn: Connection, scope: Scope, **filters: Any) -> list[dict[str, Any]]:
    return list_samples(
        conn,
        agency_ids=common.visible_agency_ids(scope),
        enterprise_ids=common.visible_enterprise_ids(scope),
        **filters,
    )


@router.get("/sampling", response_class=HTMLResponse)
def sampling_hub(request: Request, viewer: CurrentViewer) -> Response:
    scope = view.sampling_scope(request, viewer)
    now = utcnow()
    role = viewer.principal.role
    with engine_of(request).connect() as conn:
        plans = list_plans(
            conn,
            agency_ids=common.visible_agency_ids(scope),
            enterprise_ids=common.visible_enterprise_ids(scope),
            open_at=now,
            limit=50,
        )
        recent = _visible_samples(conn, scope, limit=RECENT)
        waiting = (
            _visible_samples(conn, scope, needs_review=True, limit=50)
            if scope.can_write("sampling_review")
            else []
        )
        names = view.enterprise_names(conn, plans + recent + waiting)
    return render(
        request,
        "sampling.html",
        viewer=viewer,
        links=[link for link in LINKS if role in link.roles],
        plans=plans,
        recent=recent,
        waiting=waiting,
        can_review=scope.can_write("sampling_review"),
        enterprise_names=names,
        **view.labels(),
    )


def _day(text: str, what: str) -> datetime | None:
    """A China day ``YYYY-MM-DD`` as the UTC instant of its midnight; InvalidInput for anything else."""
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} must be a day such as 2026-11-01, not {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def _of_agency(
    conn: Connection, scope: Scope, agency_id: int, filters: dict[str, Any]
) -> list[dict[str, Any]]:
    """The visible samples of one agency: all of them when the agency is visible, else (a regulator) those
    taken at the enterprises the viewer sees."""
    if scope.sees_agency(agency_id):
        return list_samples(conn, agency_ids=[agency_id], **filters)
    return [r for r in _visible_samples(conn, scope, **filters) if r["agency_id"] == agency_id]


@router.get("/sampling/samples", response_class=HTMLResponse)
def samples_page(request: Request, viewer: CurrentViewer) -> Response:
    """Filters: ``state``, ``needs_review`` (yes/no), ``agency_id``, ``from``/``to`` (China days, the
    registration time in [from, to)) — the statistics page links here with them."""
    scope = view.sampling_scope(request, viewer)
    query = request.query_params
    state = query.get("state", "")
    review = query.get("needs_review", "")
    agency_text = query.get("agency_id", "").strip()
    typed = {"from": query.get("from", ""), "to": query.get("to", "")}
    filters: dict[str, Any] = {"limit": LIST_MAX}
    if state in STATES:
        filters["state"] = state
    if review in ("yes", "no"):
        filters["needs_review"] = review == "yes"
    problem = ""
    try:
        filters["since"] = _day(typed["from"], "from")
        filters["until"] = _day(typed["to"], "to")
        if agency_text and not agency_text.isdigit():
            raise InvalidInput(f"agency_id must be an agency id, not {agency_text!r}")
    except InvalidInput as exc:
        problem, filters["since"], filters["until"], agency_text = exc.message, None, None, ""
    agency_id = int(agency_text) if agency_text else None
    with engine_of(request).connect() as conn:
        if agency_id is None:
            rows = _visible_samples(conn, scope, **filters)
        else:
            rows = _of_agency(conn, scope, agency_id, filters)
        names = view.enterprise_names(conn, rows)
        shown = agency_id is not None and (scope.sees_agency(agency_id) or bool(rows))  # never a hidden name
        agency = view.agency_name(conn, agency_id) if shown and agency_id is not None else ""
    paged = paginate(rows, query.get("page"))
    kept = {
        "state": state if state in STATES else "",
        "needs_review": review if review in ("yes", "no") else "",
    }
    kept |= {"agency_id": agency_text, **(typed if not problem else {"from": "", "to": ""})}
    return render(
        request,
        "sampling_samples.html",
        422 if problem else 200,
        viewer=viewer,
        paged=paged,
        kept=kept,
        agency_name=agency,
        problem=problem,
        states=STATES,
        enterprise_names=names,
        can_register=scope.can_write("sampling"),
        **view.labels(),
    )
