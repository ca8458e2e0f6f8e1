"""What the sampling pages share (采样与样品流转, WZ-A2): who may open them, their wording, the pickers of the
forms (agencies, staff with their training, enterprises with outlets) and the uploaded evidence.

The pages read and write through ``envwatch.sampling`` and the scope rules of the JSON API
(``web.api.sampling_common``): a plan or sample outside the scope is a 404 exactly like a missing one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from fastapi import HTTPException, Request
from sqlalchemy import Connection, select
from starlette.datastructures import FormData, UploadFile

from envwatch.core.errors import EnvwatchError, InvalidInput, NotFound
from envwatch.registry.agencies import agency_staff_of_user, trained_on
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises, outlets
from envwatch.sampling.custody import PATH, STATES
from envwatch.sampling.label_sizes import LABEL_SIZES
from envwatch.web.api import sampling_common as common
from envwatch.web.api.common import settings_of
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.session import Viewer, any_scope
from envwatch.web.scope import Scope

# the roles with a sampling page (the navigation entry shows it to the same ones)
SAMPLING_ROLES: Final = frozenset({"admin", "regulator", "enterprise", "agency"})
PICK_MAX: Final = 500  # enterprises offered in a picker

STATE_LABELS: Final = {
    "registered": N_("Registered on site"),
    "labelled": N_("Labelled"),
    "in_transport": N_("In transport"),
    "handed_over": N_("Handed over"),
    "received": N_("Received by the lab"),
    "opened": N_("Opened for analysis"),
    "analysed": N_("Analysed"),
    "disposed": N_("Disposed of"),
    "rejected": N_("Rejected (not accepted)"),
}
STATE_BADGES: Final = {s: "info" for s in STATES} | {"disposed": "ok", "analysed": "ok", "rejected": "bad"}
EVENT_LABELS: Final = {
    "register": N_("On-site entry"),
    "register_self_delivered": N_("Self-delivered sample registered at hand-over"),
    "print_label": N_("Label printed"),
    "reprint": N_("Label reprinted"),
    "dispatch": N_("Dispatched"),
    "hand_over": N_("Handed over"),
    "reject": N_("Sample rejected"),
    "receive": N_("Received into the lab"),
    "open": N_("Opened (re-check)"),
    "analyse": N_("Analysed"),
    "dispose": N_("Disposed of"),
    "review": N_("Reviewed"),
}
# the title of each step's form on the sample page
STEP_ACTIONS: Final = {
    "print_label": N_("Print the label"),
    "reprint": N_("Reprint the label (with video)"),
    "dispatch": N_("Dispatch"),
    "hand_over": N_("Take over (check seal and label)"),
    "reject": N_("Reject the sample"),
    "receive": N_("Receive into the lab"),
    "open": N_("Open (re-check seal and label)"),
    "analyse": N_("Analysis done"),
    "dispose": N_("Dispose of the sample"),
}
CHECK_LABELS: Final = {
    "intact": N_("Intact"),
    "abnormal": N_("Abnormal"),
    "damaged": N_("Badly damaged"),
    "missing": N_("Missing"),
}
PRESERVATION_LABELS: Final = {"cold": N_("Cold"), "dark": N_("Dark"), "shockproof": N_("Shock-proof")}
FLAG_LABELS: Final = {"offline": N_("Entered offline"), "clock_skew": N_("Phone clock off")}
REVIEW_LABELS: Final = {"accepted": N_("Accepted as entered"), "questioned": N_("Questioned")}
POSITION_LABELS: Final = {
    "sampler": N_("Sampler"),
    "receiver": N_("Sample receiver"),
    "analyst": N_("Analyst"),
    "manager": N_("Manager"),
    "other": N_("Other"),
}
SIZE_LABELS: Final = {
    "40x30": N_("40 × 30 mm roll"),
    "50x30": N_("50 × 30 mm roll"),
    "60x40": N_("60 × 40 mm roll"),
    "70x50": N_("70 × 50 mm roll"),
    "a4": N_("A4 sheet (24 labels)"),
}
FORMATS: Final = ("pdf", "zpl")
assert set(SIZE_LABELS) == set(LABEL_SIZES), "a label size without a name on the pages"


def labels() -> dict[str, Any]:
    """The wording every sampling page uses."""
    return {
        "state_labels": STATE_LABELS,
        "state_badges": STATE_BADGES,
        "event_labels": EVENT_LABELS,
        "step_actions": STEP_ACTIONS,
        "check_labels": CHECK_LABELS,
        "preservation_labels": PRESERVATION_LABELS,
        "flag_labels": FLAG_LABELS,
        "review_labels": REVIEW_LABELS,
        "position_labels": POSITION_LABELS,
        "size_labels": SIZE_LABELS,
        "formats": FORMATS,
        "path_states": PATH,
    }


def sampling_scope(request: Request, viewer: Viewer) -> Scope:
    """The viewer's scope; 403 for a role without sampling pages (operators, field staff, auditors)."""
    role = viewer.principal.role
    if role not in SAMPLING_ROLES:
        raise HTTPException(403, f"role {role} has no access to sampling")
    return any_scope(request, viewer)


def page_error(exc: EnvwatchError) -> HTTPException:
    """A store error as the page's HTML error (404 for what is missing or out of scope, ...)."""
    return HTTPException(exc.http_status, exc.message)


def visible_sample(conn: Connection, scope: Scope, code: str) -> dict[str, Any]:
    """The sample row, or the page's 404 (missing, malformed and out of scope alike)."""
    try:
        return common.require_sample(conn, scope, code)
    except (NotFound, InvalidInput) as exc:
        raise HTTPException(404, exc.message) from None


def visible_plan(conn: Connection, scope: Scope, plan_id: int) -> dict[str, Any]:
    try:
        return common.require_plan(conn, scope, plan_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def status_of(exc: EnvwatchError) -> int:
    """The status of a page answering a refused form: 409, 403, 404 as the store says, else 422."""
    return exc.http_status if exc.http_status in (403, 404, 409) else 422


def form_agency(scope: Scope, values: dict[str, str]) -> int | None:
    """The agency a form is for: an agency account's own; admin's choice (None while not chosen)."""
    text = values.get("agency_id", "").strip()
    if text and not text.isdigit():
        raise InvalidInput("choose the testing agency from the list")
    named = int(text) if text else None
    if scope.role == "agency":
        return common.own_agency(scope, named)  # another agency's id: 404, as for a missing one
    if named is not None:
        scope.require_agency(named)
    return named


# ---- pickers ----


def agency_picks(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The active agencies a write may be for: every one (admin) or the account's own."""
    query = select(agencies.c.id, agencies.c.name, agencies.c.code).where(agencies.c.active.is_(True))
    if scope.agency_ids is not None:
        query = query.where(agencies.c.id.in_(sorted(scope.agency_ids)))
    return [dict(r) for r in conn.execute(query.order_by(agencies.c.name)).mappings()]


def agency_name(conn: Connection, agency_id: int) -> str:
    return str(conn.execute(select(agencies.c.name).where(agencies.c.id == agency_id)).scalar() or "")


def staff_picks(conn: Connection, agency_id: int, day: date) -> list[dict[str, Any]]:
    """The agency's active people, each with whether a passed label-system training is valid on ``day``
    (WZ-A2-5: without one a sampler cannot enter samples)."""
    s = agency_staff.c
    rows = conn.execute(
        select(s.id, s.name, s.position, s.username)
        .where(s.agency_id == agency_id, s.active.is_(True))
        .order_by(s.position, s.name, s.id)
    ).mappings()
    return [dict(r) | {"trained": trained_on(conn, r["id"], day)} for r in rows]


def staff_names(conn: Connection, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(agency_staff.c.id, agency_staff.c.name).where(agency_staff.c.id.in_(ids)))
    return {r.id: r.name for r in rows}


def enterprise_name(conn: Connection, enterprise_id: int | None) -> str:
    if enterprise_id is None:
        return ""
    found = conn.execute(select(enterprises.c.name).where(enterprises.c.id == enterprise_id)).scalar()
    return str(found or "")


def enterprise_names(conn: Connection, rows: list[dict[str, Any]]) -> dict[int, str]:
    """The names of the enterprises of plan or sample ``rows``, by id."""
    ids = {r["enterprise_id"] for r in rows if r["enterprise_id"] is not None}
    return {i: enterprise_name(conn, i) for i in ids}


def outlet_of(conn: Connection, outlet_id: int | None) -> dict[str, Any] | None:
    if outlet_id is None:
        return None
    o = outlets.c
    row = conn.execute(select(o.code, o.name).where(o.id == outlet_id)).mappings().first()
    return None if row is None else dict(row)


def site_picks(conn: Connection, search: str = "") -> list[dict[str, Any]]:
    """Enterprises of the registry with their outlets (a plan may be for any enterprise: agencies sample
    wherever they are commissioned), by name; ``search`` narrows by a part of the name."""
    e = enterprises.c
    query = select(e.id, e.name, e.region_code).order_by(e.name, e.id)
    if search.strip():
        query = query.where(e.name.contains(search.strip(), autoescape=True))
    ents = [dict(r) | {"outlets": []} for r in conn.execute(query.limit(PICK_MAX)).mappings()]
    by_id = {ent["id"]: ent for ent in ents}
    if by_id:
        o = outlets.c
        rows = conn.execute(
            select(o.id, o.enterprise_id, o.code, o.name, o.latitude, o.longitude)
            .where(o.enterprise_id.in_(list(by_id)))
            .order_by(o.code)
        ).mappings()
        for row in rows:
            by_id[row["enterprise_id"]]["outlets"].append(dict(row))
    return ents


# ---- who acts ----


@dataclass(frozen=True)
class Acting:
    """Who records a custody step from this page: an agency account's own person (``own``), or the staff
    admin chooses from (``choices``); ``problem`` says why the viewer cannot act."""

    own: dict[str, Any] | None
    choices: list[dict[str, Any]]
    problem: str = ""


def acting_for(conn: Connection, scope: Scope, viewer: Viewer, agency_id: int, day: date) -> Acting:
    if scope.role == "agency":
        person = agency_staff_of_user(conn, viewer.principal.name)
        if person is None or person["agency_id"] != agency_id or not person["active"]:
            return Acting(
                None,
                [],
                N_(
                    "Your account is not linked to an active staff member of the agency: ask the administrator to link it."
                ),
            )
        return Acting(person | {"trained": trained_on(conn, person["id"], day)}, [])
    return Acting(None, staff_picks(conn, agency_id, day))


def named_staff(conn: Connection, scope: Scope, text: str) -> int | None:
    """The acting person of a posted form (``staff_id``): an agency account's own; admin's choice."""
    text = text.strip()
    if text and not text.isdigit():
        raise InvalidInput("choose the person acting from the list")
    return common.acting_staff_id(conn, scope, int(text) if text else None)


# ---- uploaded evidence ----


@dataclass(frozen=True)
class Upload:
    """A photo or video from a form, hashed but not stored yet: the page stores it only once the step it
    proves was accepted (a refused step stores nothing)."""

    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class TooLarge(Exception):
    """An uploaded file over ``max_attachment_bytes``."""


async def read_upload(form: FormData, name: str, limit: int) -> Upload | None:
    """The file of field ``name`` (None when none was chosen); TooLarge over ``limit`` bytes."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise TooLarge(name)
    if not content:
        return None
    return Upload(upload.filename, content)


def upload_limit(request: Request) -> int:
    return settings_of(request).max_attachment_bytes


def form_fields(form: FormData) -> dict[str, str]:
    """The text fields of a posted form (repeated names keep the last value; see ``form.getlist``)."""
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}
