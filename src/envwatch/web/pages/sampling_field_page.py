"""On-site entry of samples on a phone (/sampling/plans/{id}/entry): GPS, device time, offline queue (现场录入).

The page shows the plan (point, window, items with planned and registered counts) and the rules the server
will apply (distance to the point, the window, how long an offline entry may wait), then one small form per
plan item. ``static/sampling-field.js`` does the entry itself: when the sampler presses "登记" it takes the
phone's clock and GPS position (never typed in), gives the entry a random id, keeps it in a queue in the
browser's localStorage and sends the queue to ``POST /api/v1/sampling/samples/sync``; an entry leaves the
queue only once the server answered it (registered, already registered, refused). Without a network the
entry waits, flagged offline, and is sent when the network returns.

Who: admin (names the sampler) and agency accounts (act as their linked staff member); a plan outside the
scope is 404 exactly like a missing one. What the server will refuse anyway (account not linked, not on the
team, no valid training today, window not open) is said up front, so the sampler does not learn it on site.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, select

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import NotFound
from envwatch.registry.agencies import agency_staff_of_user, get_agency, trained_on
from envwatch.registry.agencies_schema import agency_staff
from envwatch.registry.schema import enterprises
from envwatch.web.api.common import engine_of, settings_of
from envwatch.web.api.sampling_common import require_plan
from envwatch.web.pages.i18n import N_, locale_of, translations
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, Viewer, sampling_scope

router = APIRouter(include_in_schema=False)

ENTRY_ROLES = frozenset({"admin", "agency"})
SYNC_URL = "/api/v1/sampling/samples/sync"

# Texts the script shows, translated here (the script has no catalog); {name} placeholders are filled in
# by the script.
SCRIPT_TEXTS: dict[str, str] = {
    "locating": N_("Taking the phone's position…"),
    "no_geolocation": N_("This browser cannot give its position (GPS): entries cannot be made here."),
    "no_position": N_(
        "No position: allow this page to use the location (GPS) and try again. Nothing was recorded."
    ),
    "taken": N_("Position {lat}, {lon} (±{acc} m), {dist} m from the point."),
    "queued": N_("Saved on this phone; it will be sent when the network is back."),
    "sending": N_("Sending…"),
    "registered": N_("Registered: code {code}."),
    "already": N_("Was registered before: code {code}."),
    "refused": N_("Refused: {detail}"),
    "open_sample": N_("Open the sample to print its label"),
    "online": N_("Online"),
    "offline": N_("Offline: entries are kept on this phone"),
    "login": N_("Your session has ended: log in again in this browser. The waiting entries are kept."),
    "forbidden": N_("The server refuses entries from this account: {detail}. The waiting entries are kept."),
    "server_error": N_(
        "The server could not take the entries (HTTP {status}); they are kept and sent again."
    ),
    "storage": N_("This browser cannot keep entries (storage full or disabled): the entry was not saved."),
    "choose_sampler": N_("Choose the sampler first."),
    "made_offline": N_("made offline"),
}


def _texts(request: Request) -> dict[str, str]:
    gettext = translations(locale_of(request)).gettext
    return {key: gettext(msgid) for key, msgid in SCRIPT_TEXTS.items()}


def window_state(start: datetime, end: datetime, now: datetime) -> str:
    """``before`` the window opens, ``open``, or ``closed`` (the end is exclusive)."""
    if now < start:
        return "before"
    return "open" if now < end else "closed"


def _team(conn: Connection, team: list[int], day: Any) -> list[dict[str, Any]]:
    """The plan's team with each person's name, position and whether a valid training covers ``day``."""
    rows = conn.execute(
        select(agency_staff.c.id, agency_staff.c.name, agency_staff.c.position, agency_staff.c.active).where(
            agency_staff.c.id.in_(team)
        )
    ).mappings()
    by_id = {r["id"]: dict(r) for r in rows}
    return [by_id[i] | {"trained": trained_on(conn, i, day)} for i in team if i in by_id]


def _own_problems(conn: Connection, viewer: Viewer, plan: dict[str, Any], day: Any) -> list[str]:
    """What the server will refuse about an agency account's entries, as msgids (empty: none)."""
    person = agency_staff_of_user(conn, viewer.principal.name)
    if person is None or person["agency_id"] != plan["agency_id"]:
        return [N_("This account is not linked to a staff member of the agency: it cannot register samples.")]
    problems = []
    if not person["active"]:
        problems.append(N_("Your staff record is inactive."))
    if person["id"] not in plan["team"]:
        problems.append(N_("You are not on this plan's sampling team."))
    if not trained_on(conn, person["id"], day):
        problems.append(N_("You hold no passed label-system training valid today (WZ-A2-5)."))
    return problems


@router.get("/sampling/plans/{plan_id}/entry", response_class=HTMLResponse)
def entry_page(request: Request, plan_id: int, viewer: CurrentViewer) -> Response:
    if viewer.principal.role not in ENTRY_ROLES:
        raise HTTPException(403, f"role {viewer.principal.role} cannot register samples")
    scope = sampling_scope(request, viewer)
    if scope is None:
        raise HTTPException(403, f"role {viewer.principal.role} has no sampling scope")
    settings = settings_of(request)
    now = utcnow()
    today = to_china(now).date()
    with engine_of(request).connect() as conn:
        try:
            plan = require_plan(conn, scope, plan_id)
        except NotFound as exc:  # the API's NotFound is JSON: the page shows its HTML 404
            raise HTTPException(404, exc.message) from None
        agency = get_agency(conn, plan["agency_id"])
        enterprise = conn.execute(
            select(enterprises.c.name).where(enterprises.c.id == plan["enterprise_id"])
        ).scalar()
        team = _team(conn, list(plan["team"]), today)
        problems = _own_problems(conn, viewer, plan, today) if scope.role == "agency" else []
    return render(
        request,
        "sampling_field.html",
        viewer=viewer,
        plan=plan,
        agency=agency,
        enterprise=enterprise,
        team=team,
        names_sampler=scope.role == "admin",
        problems=problems,
        window=window_state(plan["window_start"], plan["window_end"], now),
        max_distance_m=settings.sampling_max_distance_m,
        offline_max_age_h=settings.sampling_offline_max_age_h,
        clock_skew_s=settings.sampling_clock_skew_s,
        sync_url=SYNC_URL,
        texts=_texts(request),
    )
