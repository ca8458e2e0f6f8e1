"""The O&M hub (运维, issue 6): one navigation entry, linking the sections each role may open.

The sections' own pages live in ``om_<area>_page`` modules; this page only says what is where, so the
navigation stays short. The list of sections per role is :data:`SECTIONS` (each page checks again).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from envwatch.web.pages.i18n import N_
from envwatch.web.pages.render import render
from envwatch.web.pages.session import CurrentViewer, data_scope

router = APIRouter(include_in_schema=False)

FIELD_ROLES = frozenset({"admin", "regulator", "enterprise", "operator", "field_staff"})


@dataclass(frozen=True)
class Section:
    """One O&M section: where it is, its name and what it holds (msgids), and who may open it."""

    path: str
    label: str
    hint: str
    roles: frozenset[str]


SECTIONS: tuple[Section, ...] = (
    Section(
        "/om/records",
        N_("Field records"),
        N_(
            "Inspections, calibrations, standard-sample checks, comparison monitoring, consumables, repairs, parameter changes and waste liquid, with the GPS sign-in."
        ),
        FIELD_ROLES,
    ),
    Section(
        "/om/faults",
        N_("Faults and production stops"),
        N_(
            "Device faults with their backup, check and restore clocks; production-stop reports and their approval."
        ),
        FIELD_ROLES,
    ),
    Section(
        "/om/tickets",
        N_("Service tickets"),
        N_(
            "Service requests on the 7×24 line, their response and on-site clocks, confirmation and satisfaction."
        ),
        FIELD_ROLES,
    ),
    Section(
        "/om/self-inspection",
        N_("Quarterly self-inspection reports"),
        N_(
            "The quarterly self-inspection report of each enterprise, generated from the records as PDF and xlsx, submitted to the regulator, with its due date."
        ),
        FIELD_ROLES,
    ),
    Section(
        "/om/staff",
        N_("Staff and training"),
        N_("Personnel files, certificates with their expiry, training plans and test results."),
        frozenset({"admin", "regulator", "operator", "field_staff"}),
    ),
    Section(
        "/om/ledger",
        N_("Equipment ledger and emergency plans"),
        N_("One file per instrument, spare parts stock, emergency plans and drills."),
        frozenset({"admin", "regulator", "operator", "field_staff"}),
    ),
)


@router.get("/om", response_class=HTMLResponse)
def om_hub(request: Request, viewer: CurrentViewer) -> Response:
    data_scope(request, viewer)  # 403 for a role without data (agency)
    role = viewer.principal.role
    sections = [s for s in SECTIONS if role in s.roles]
    return render(request, "om.html", viewer=viewer, sections=sections)
