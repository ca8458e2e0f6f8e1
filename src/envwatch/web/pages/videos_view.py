"""What the video record pages share (视频记录, WZ-A1): who may open them, their wording, the search form's
parsing, the late flag and the pickers of the upload form.

The records themselves are read through ``envwatch.evidence.videos`` / ``video_search`` (the store of the
JSON API, ``web.api.videos``); nothing here queries ``video_records`` on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from fastapi import HTTPException, Request
from sqlalchemy import Connection, select

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.evidence.schema import video_record_links
from envwatch.evidence.video_stages import STAGES
from envwatch.registry.agencies_schema import agencies, agency_staff
from envwatch.registry.schema import enterprises
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.session import Viewer, any_scope
from envwatch.web.scope import Scope

# the roles with video pages (Scope.sees_video: agency, regulator, enterprise, admin); the navigation entry
# "/evidence/videos" shows to the same ones
VIDEO_ROLES: Final = frozenset({"admin", "regulator", "enterprise", "agency"})
PICK_MAX: Final = 500  # enterprises or plans offered in a picker

STAGE_LABELS: Final = {
    "equipment": N_("Equipment issue and return"),
    "sampling": N_("On-site sampling or testing"),
    "transport": N_("Sample preservation and transport"),
    "handover": N_("Sample hand-over"),
    "analysis": N_("Laboratory analysis"),
}
assert set(STAGE_LABELS) == set(STAGES), "a video stage without a name on the pages"


def labels() -> dict[str, Any]:
    return {"stage_labels": STAGE_LABELS, "stages": list(STAGES)}


def video_scope(request: Request, viewer: Viewer) -> Scope:
    """The viewer's scope; 403 for a role without video pages (operators, field staff, auditors)."""
    role = viewer.principal.role
    if role not in VIDEO_ROLES:
        raise HTTPException(403, f"role {role} has no access to video records")
    return any_scope(request, viewer)


def is_late(row: dict[str, Any], settings: Settings) -> bool:
    """Archived more than ``video_archive_deadline_h`` hours after the recording ended (WZ-A1-13: 72 h)."""
    deadline = row["recorded_end"] + timedelta(hours=settings.video_archive_deadline_h)
    return bool(row["archived_at"] > deadline)


def human_size(size: int | None) -> str:
    """Bytes as people read them (binary units, one decimal): 8.0 MB, 1.6 GB."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at GB


# ---- the search form ----


@dataclass
class Filters:
    """The search form as typed (``kept``, for the form and the pager) and as understood (``query``:
    keyword arguments of the store's search); ``problem`` says what could not be understood."""

    kept: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


FILTER_FIELDS: Final = ("sample_code", "enterprise_id", "agency_id", "staff_id", "stage", "from", "to")


def _day(text: str, what: str) -> datetime | None:
    """A China day ``YYYY-MM-DD`` as the UTC instant of its midnight."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} must be a day such as 2026-11-01, not {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


def _id(text: str, what: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(f"choose the {what} from the list")
    return int(text)


def parse_filters(params: Any) -> Filters:
    """The search of ``/evidence/videos``: sample code, enterprise, agency, staff member, stage and the
    recording's China days [from, to) (a record overlapping them matches)."""
    kept = {name: str(params.get(name, "")).strip() for name in FILTER_FIELDS}
    out = Filters(kept=kept)
    try:
        if kept["stage"] and kept["stage"] not in STAGES:
            raise InvalidInput(f"stage {kept['stage']!r} is unknown")
        out.query = {
            "sample_code": kept["sample_code"] or None,
            "enterprise_id": _id(kept["enterprise_id"], "enterprise"),
            "agency_id": _id(kept["agency_id"], "testing agency"),
            "staff_id": _id(kept["staff_id"], "staff member"),
            "stage": kept["stage"] or None,
            "since": _day(kept["from"], "from"),
            "until": _day(kept["to"], "to"),
        }
        if out.query["since"] and out.query["until"] and out.query["until"] <= out.query["since"]:
            raise InvalidInput("the day 'to' must come after 'from'")
    except InvalidInput as exc:
        out.problem, out.query = exc.message, {}
        out.kept = {name: "" for name in FILTER_FIELDS}
    return out


# ---- names and pickers ----


def agency_picks(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The agencies the viewer sees (all for admin and regulators' region, its own for an agency)."""
    query = select(agencies.c.id, agencies.c.name, agencies.c.code).order_by(agencies.c.name)
    if scope.agency_ids is not None:
        query = query.where(agencies.c.id.in_(sorted(scope.agency_ids)))
    return [dict(r) for r in conn.execute(query).mappings()]


def enterprise_picks(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Enterprises to search by or film at: those the viewer sees; an agency films wherever it is
    commissioned, so it is offered every enterprise of the registry (as the sampling plan form does)."""
    e = enterprises.c
    query = select(e.id, e.name).order_by(e.name, e.id).limit(PICK_MAX)
    if scope.role != "agency" and scope.enterprise_ids is not None:
        query = query.where(e.id.in_(sorted(scope.enterprise_ids)))
    return [dict(r) for r in conn.execute(query).mappings()]


def staff_of(conn: Connection, agency_ids: list[int] | None) -> list[dict[str, Any]]:
    """Active staff of the agencies (None = all), for the search's staff picker and the upload form."""
    s = agency_staff.c
    query = select(s.id, s.name, s.position, s.agency_id).where(s.active.is_(True))
    if agency_ids is not None:
        query = query.where(s.agency_id.in_(agency_ids))
    return [dict(r) for r in conn.execute(query.order_by(s.agency_id, s.position, s.name, s.id)).mappings()]


def names_by_id(conn: Connection, table: Any, ids: set[int]) -> dict[int, str]:
    """``name`` of the rows of ``table`` (agencies, enterprises, agency_staff) with these ids."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids))))
    return {r.id: r.name for r in rows}


def sample_codes_of(conn: Connection, video_ids: list[int]) -> dict[int, list[str]]:
    """The sample codes linked to each of one page of records (the search's rows carry none)."""
    if not video_ids:
        return {}
    links = video_record_links.c
    rows = conn.execute(
        select(links.video_id, links.value)
        .where(links.video_id.in_(video_ids), links.kind == "sample")
        .order_by(links.id)
    )
    found: dict[int, list[str]] = {i: [] for i in video_ids}
    for video_id, code in rows:
        found[video_id].append(code)
    return found
