"""What the agency pages (检测机构、人员与培训) read and how they word it: labels of positions and training
states, the training records of an agency's people, and the parsing of their forms.

Visibility is the JSON API's (``web.api.agencies``: ``visible_agency``, ``visible_person``,
``visible_training``), so a page never shows what the API would refuse; their ``NotFound`` becomes the HTML
404 here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from fastapi import HTTPException, Request
from sqlalchemy import Connection

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import agency_trainings as training_store
from envwatch.registry.agency_staff import POSITIONS
from envwatch.web.api import agencies as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages.forms import FormProblem
from envwatch.web.pages.i18n import N_
from envwatch.web.scope import Scope

DEFAULT_TITLE: Final = "识别标识系统操作培训"  # the training WZ-A2-5 asks for: the form's suggestion

POSITION_LABELS: Final = {
    "sampler": N_("Sampler"),
    "receiver": N_("Sample receiver"),
    "analyst": N_("Analyst"),
    "manager": N_("Manager"),
    "other": N_("Other position"),
}
# a training record's state today (registry.agency_trainings.ROW_STATUSES)
RECORD_LABELS: Final = {
    "valid": N_("Valid"),
    "expired": N_("Expired"),
    "pending": N_("Not yet valid"),
    "failed": N_("Failed"),
    "corrected": N_("Corrected"),
    "withdrawn": N_("Withdrawn"),
}
DONE_LABELS: Final = {
    "created": N_("The testing agency was created."),
    "changed": N_("The agency was saved."),
    "added": N_("The staff member was added."),
    "staff": N_("The staff member was saved."),
    "training": N_("The training was recorded."),
    "withdrawn": N_("The training record was withdrawn."),
}


def labels() -> dict[str, Any]:
    return {
        "positions": POSITIONS,
        "position_labels": POSITION_LABELS,
        "record_labels": RECORD_LABELS,
    }


def status_of(exc: InvalidInput | Conflict) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def done_of(request: Request, problem: FormProblem | None) -> str | None:
    """The notice after a POST (``?done=``), unless a form is shown with a problem."""
    return None if problem else DONE_LABELS.get(request.query_params.get("done", ""))


def not_found(exc: NotFound) -> HTTPException:
    # the API's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


def visible_person(request: Request, scope: Scope, agency_id: int, staff_id: int) -> dict[str, Any]:
    try:
        with engine_of(request).connect() as conn:
            return api.visible_person(conn, scope, agency_id, staff_id)
    except NotFound as exc:
        raise not_found(exc) from None


def visible_training(request: Request, scope: Scope, agency_id: int, training_id: int) -> dict[str, Any]:
    """A training record of one of the agency's people (404 as a missing one otherwise)."""
    try:
        with engine_of(request).connect() as conn:
            api.visible_agency(conn, scope, agency_id)
            row = training_store.training_row(conn, training_id)
            person = api.visible_person(conn, scope, agency_id, row["staff_id"])
    except NotFound:
        raise not_found(
            NotFound(f"no training record with id {training_id} at testing agency {agency_id}")
        ) from None
    return {**row, "person": person}


def training_records(conn: Connection, people: Sequence[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """Every training record of these people (``training_history``: corrected and withdrawn ones too),
    latest held first, each with the person's ``name``."""
    rows: list[dict[str, Any]] = []
    for person in people:
        for row in training_store.training_history(conn, person["id"], today):
            rows.append({**row, "name": person["name"]})
    return sorted(rows, key=lambda r: (r["held_on"], r["id"]), reverse=True)


# ---- form fields ----


def day_of(name: str, text: str) -> date:
    """A date field (YYYY-MM-DD, a China calendar day); InvalidInput (shown in the form) otherwise."""
    text = text.strip()
    if not text:
        raise InvalidInput(f"{name} is required")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a date such as 2026-11-21, not {text!r}") from None


def passed_of(text: str) -> bool:
    if text not in ("yes", "no"):
        raise InvalidInput("say whether the test was passed")
    return text == "yes"


def staff_id_of(text: str) -> int | None:
    """The person chosen in the training form; None when none was chosen. A non-number is a broken form."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise HTTPException(422, f"staff_id must be a staff id, not {text!r}")
    return int(text)
