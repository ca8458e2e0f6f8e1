"""What the staff and training pages (运维人员、培训) read and how they word it: whose staff is shown, the labels
of positions, certificate states and training kinds, and the parsing of their forms.

Visibility and roles are the JSON API's (``web.api.om_staff``: ``operators_asked``, ``visible_staff``,
``visible_training``, ``require_reader``), so a page never shows what the API would refuse; their
``NotFound`` becomes the HTML 404 here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Connection

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.staff import POSITIONS, CertificateDraft
from envwatch.operations.trainings import TRAINING_KINDS
from envwatch.registry.service_operators import get_operator, list_operators
from envwatch.web.api import om_staff as api
from envwatch.web.api.common import engine_of
from envwatch.web.pages.forms import FormProblem
from envwatch.web.pages.i18n import N_
from envwatch.web.pages.session import Viewer, data_scope
from envwatch.web.scope import Scope

POSITION_LABELS = {
    "field_engineer": N_("Field engineer"),
    "sampler": N_("Sampler"),
    "auditor": N_("Data auditor"),
    "manager": N_("Manager"),
    "other": N_("Other position"),
}
KIND_LABELS = {
    "quarterly": N_("Quarterly re-training"),
    "sampling_label": N_("Sample-label system"),
    "onboarding": N_("Pre-job training"),
    "emergency": N_("Emergency training"),
    "other": N_("Other training"),
}
CERTIFICATE_FILTERS = {
    "": N_("Any certificate state"),
    "valid": N_("Valid"),
    "expiring": N_("Expiring soon"),
    "expired": N_("Expired"),
    "none": N_("No certificate"),
}
ACTIVE_FILTERS = {"": N_("Everyone"), "yes": N_("Working here"), "no": N_("Left")}
DONE_LABELS = {
    "added": N_("The staff member was added."),
    "changed": N_("The personnel file was saved."),
    "certificate": N_("The certificate was recorded."),
    "certificate_corrected": N_("The correction of the certificate was recorded."),
    "certificate_withdrawn": N_("The certificate was withdrawn."),
    "planned": N_("The training was planned."),
    "held": N_("The training was recorded as held."),
    "results": N_("The results were recorded."),
}


def labels() -> dict[str, Any]:
    """What every template of these pages needs to word positions and training kinds."""
    return {
        "position_labels": POSITION_LABELS,
        "kind_labels": KIND_LABELS,
        "positions": POSITIONS,
        "kinds": TRAINING_KINDS,
    }


def status_of(exc: InvalidInput | Conflict) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def done_of(request: Request, problem: FormProblem | None) -> str | None:
    """The notice after a POST (``?done=``), unless a form is shown with a problem."""
    return None if problem else DONE_LABELS.get(request.query_params.get("done", ""))


def not_found(exc: NotFound) -> HTTPException:
    # the API's NotFound would answer in JSON: a page shows its HTML 404 with the same message
    return HTTPException(404, exc.message)


@dataclass(frozen=True)
class Whose:
    """Whose staff a page shows: ``operators`` as the API's lists take it (one id, the scope's ids, or None
    for all), ``operator`` the row when exactly one is shown, and ``choices`` the operators an admin or a
    regulator may pick from (empty for an operator's own people)."""

    scope: Scope
    operators: api.Operators
    operator: dict[str, Any] | None
    choices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def query(self) -> str:
        return f"operator={self.operator['id']}" if self.operator and self.choices else ""

    @property
    def chooser(self) -> bool:
        return self.scope.principal.operator_id is None


def whose(request: Request, viewer: Viewer, asked: str | None, roles: frozenset[str] = api.READERS) -> Whose:
    """The operator(s) of a list page (the API's ``operators_asked``: 404 for one not in scope, 403 for a
    role that may not read), plus the chooser of an admin or a regulator."""
    scope = data_scope(request, viewer)
    wanted: int | None = None
    if asked:
        if not asked.isdigit():
            raise HTTPException(422, f"operator must be an operator id, not {asked!r}")
        wanted = int(asked)
    try:
        operators = api.operators_asked(scope, wanted, roles)
        with engine_of(request).connect() as conn:
            row = get_operator(conn, operators) if isinstance(operators, int) else None
            choices = (
                [o for o in list_operators(conn) if scope.sees_operator(o["id"])]
                if scope.principal.operator_id is None
                else []
            )
    except NotFound as exc:
        raise not_found(exc) from None
    return Whose(scope, operators, row, choices)


def operator_names(conn: Connection) -> dict[int, str]:
    return {int(o["id"]): str(o["name"]) for o in list_operators(conn)}


def day_of(name: str, text: str) -> date:
    """A date field (YYYY-MM-DD, China calendar day); InvalidInput (shown in the form) otherwise."""
    text = text.strip()
    if not text:
        raise InvalidInput(f"{name} is required")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a date such as 2026-11-21, not {text!r}") from None


def certificate_draft(values: dict[str, str]) -> CertificateDraft:
    """The corrected certificate of the correction form (every field is sent, prefilled)."""
    return CertificateDraft(
        kind=values["kind"],
        number=values["number"],
        issuer=values["issuer"],
        issued_on=day_of("issued_on", values["issued_on"]),
        valid_until=day_of("valid_until", values["valid_until"]),
    )


def year_quarter(year: str | None, quarter: str | None, today: date) -> tuple[int, int]:
    """The quarter of the status table: the one asked for, else today's (China)."""
    this_year, this_quarter = today.year, (today.month - 1) // 3 + 1
    try:
        chosen = (int(year) if year else this_year, int(quarter) if quarter else this_quarter)
    except ValueError:
        raise HTTPException(422, f"year and quarter must be numbers, not {year!r} / {quarter!r}") from None
    if not 2000 <= chosen[0] <= 2100 or chosen[1] not in (1, 2, 3, 4):
        raise HTTPException(422, f"no quarter {chosen[1]} of {chosen[0]}: quarters are 1-4 of 2000-2100")
    return chosen


def result_rows(staff_ids: list[str], scores: list[str]) -> list[tuple[int, str]]:
    """(staff id, score) for every row of the results form with a score typed in; the rest are skipped."""
    if len(staff_ids) != len(scores):
        raise InvalidInput("the results form is incomplete: reload the page and try again")
    rows: list[tuple[int, str]] = []
    for staff_id, score in zip(staff_ids, scores, strict=True):
        if not score.strip():
            continue
        if not staff_id.isdigit():
            raise InvalidInput(f"staff ids must be numbers, not {staff_id!r}")
        rows.append((int(staff_id), score.strip()))
    if not rows:
        raise InvalidInput("type in at least one score")
    return rows
