"""O&M API (issue 6): staff (运维人员), certificates (持证上岗), trainings and results (CS-4.5, WZ-A2-5).

Who reads (an object of an operator one does not see is 404 exactly like a missing one; then the role):

- admin: every operator;
- operator: its own operator;
- regulator: the operators with a contract with an enterprise of its region (``Scope.operator_ids``, the
  rule of ``web.api.audit.operator_of``): it supervises their staffing and training;
- field_staff: its own operator's **staff list** only (``GET /staff``, to pick a colleague for field work
  with a valid certificate); personnel files, certificates and trainings are the operator's: 403;
- enterprise, auditor: 403 (after the 404 of an operator they do not see); agency: 403.

Who writes: the ``staff`` write (admin, operator), for one's own operator (admin: any, ``operator_id``
required). A regulator reads but does not write.

A wrong certificate is corrected, or withdrawn, by a new row (``POST .../certificates/{id}/corrections``,
``operations.certificates.correct_certificate``): the fields not given keep the corrected row's values,
and every read counts only the current rows; the personnel file shows the history
(``certificate_history``: each superseded row with who corrected it, when and why).

A ``username`` links a personnel file to a web account: it must name an operator, field_staff or auditor
account of the same operator (:func:`require_staff_account`; checked here because the account tables live
in the web layer, above ``operations``). Dates are ``YYYY-MM-DD`` (China calendar days); scores are exact
decimals, given as text ("87.5") or integers, and answered as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations import staff as store
from envwatch.operations import trainings as training_store
from envwatch.operations.trainings import Coverage, quarter_of
from envwatch.web.accounts.schema import users
from envwatch.web.api.common import engine_of, jsonable, settings_of
from envwatch.web.scope import CurrentScope, Scope, china_today

router = APIRouter(prefix="/api/v1/om", tags=["om-staff"])

READERS = frozenset({"admin", "regulator", "operator"})
LIST_READERS = READERS | {"field_staff"}  # the staff list: field staff pick colleagues for field work
ACCOUNT_ROLES = ("operator", "field_staff", "auditor")
Operators = int | frozenset[int] | None  # one operator, the operators of a scope, or all (admin)


# ---- bodies ----


class StaffIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: required; operator: its own")
    name: str = Field(description="at most 100 characters")
    position: str = Field(description="field_engineer | sampler | auditor | manager | other")
    phone: str = Field(description="digits, spaces and + - ( )")
    username: str | None = Field(default=None, description="the person's web account, if any")
    active: bool = True


class StaffPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    position: str | None = None
    phone: str | None = None
    username: str | None = Field(default=None, description="null or empty: unlink the account")
    active: bool | None = None


class CertificateIn(BaseModel):
    kind: str = Field(description="e.g. 自动监测运维上岗证（废气）")
    number: str
    issuer: str
    issued_on: date = Field(description="not after today")
    valid_until: date = Field(description="the last valid day, on or after issued_on")


class CertificateCorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="what was wrong in the row corrected (required)")
    withdraw: bool = Field(
        default=False, description="true: withdraw the row (recorded by mistake), no replacement; no fields"
    )
    kind: str | None = Field(default=None, description="the right value; not given: the row's own")
    number: str | None = None
    issuer: str | None = None
    issued_on: date | None = None
    valid_until: date | None = None


class TrainingIn(BaseModel):
    operator_id: int | None = Field(default=None, description="admin: required; operator: its own")
    kind: str = Field(description="quarterly | sampling_label | onboarding | emergency | other")
    title: str
    planned_on: date
    pass_score: str | int = Field(description='0-100, exact: "60" or "80.5"')
    note: str = ""


class HeldIn(BaseModel):
    held_on: date = Field(description="not after today")
    note: str = Field(default="", description="what was covered, who taught (replaces the plan's note)")


class ResultIn(BaseModel):
    staff_id: int
    score: str | int = Field(description='0-100, exact: "87.5"')
    tested_on: date = Field(description="on or after the day the training was held, not after today")


# ---- who may see what ----


def require_reader(scope: Scope, roles: frozenset[str] = READERS) -> None:
    if scope.role not in roles:
        what = "staff files, certificates or trainings" if roles == READERS else "the staff list"
        raise HTTPException(403, f"role {scope.role} may not read {what}")


def operators_asked(scope: Scope, asked: int | None, roles: frozenset[str] = READERS) -> Operators:
    """The operators a list covers: the one asked for (404 when not in scope, as a missing one; one's own
    only for an operator's people), else one's own, a regulator's operators in scope, or all (admin)."""
    own = scope.principal.operator_id
    if asked is not None:
        if own is not None and asked != own:
            raise NotFound(f"no operator with id {asked}")
        scope.require_operator(asked)
        require_reader(scope, roles)
        return asked
    require_reader(scope, roles)
    if own is not None:
        return own
    return None if scope.operator_ids is None else frozenset(scope.operator_ids)


def one_operator(scope: Scope, asked: int | None) -> int:
    """Exactly one operator (the coverage tables): one's own, or the one an admin or regulator names."""
    found = operators_asked(scope, asked)
    if not isinstance(found, int):
        raise HTTPException(422, "operator_id is required")
    return found


def writing_for(scope: Scope, asked: int | None) -> int:
    """The operator a new personnel file or training belongs to: one's own (operator) or the one an admin
    names; 404 before 403, as for every write."""
    own = scope.principal.operator_id
    operator_id = asked if asked is not None else own
    if operator_id is None:  # admin without one (a role with no operator may not write: 403 first)
        scope.require_write("staff")
        raise HTTPException(422, "operator_id is required")
    if own is not None and operator_id != own:
        raise NotFound(f"no operator with id {operator_id}")
    scope.require_operator(operator_id)
    scope.require_write("staff")
    return operator_id


def visible_staff(conn: Connection, scope: Scope, staff_id: int) -> dict[str, Any]:
    """The personnel file, if its operator is in scope (404 as for a missing one otherwise)."""
    try:
        row = store.staff_row(conn, staff_id)
    except NotFound:
        row = None
    if row is None or not scope.sees_operator(row["operator_id"]):
        raise NotFound(f"no staff member with id {staff_id}")
    return row


def visible_certificate(conn: Connection, scope: Scope, staff_id: int, certificate_id: int) -> dict[str, Any]:
    """A certificate row of that personnel file, if visible (404 as for a missing one otherwise)."""
    visible_staff(conn, scope, staff_id)
    try:
        row = store.certificate_row(conn, certificate_id)
    except NotFound:
        row = None
    if row is None or row["staff_id"] != staff_id:
        raise NotFound(f"no certificate record with id {certificate_id} of staff member {staff_id}")
    return row


def certificate_draft(row: Mapping[str, Any], given: Mapping[str, Any]) -> store.CertificateDraft:
    """The corrected certificate: the fields given (not None), the corrected row's values for the rest."""
    fields = ("kind", "number", "issuer", "issued_on", "valid_until")
    return store.CertificateDraft(**{f: row[f] if given.get(f) is None else given[f] for f in fields})


def visible_training(conn: Connection, scope: Scope, training_id: int) -> dict[str, Any]:
    try:
        row = training_store.get_training(conn, training_id)
    except NotFound:
        row = None
    if row is None or not scope.sees_operator(row["operator_id"]):
        raise NotFound(f"no training with id {training_id}")
    return row


def require_staff_account(conn: Connection, username: str | None, operator_id: int) -> None:
    """A linked account must be an operator, field_staff or auditor account of the same operator. One
    message for every refusal, so the answer does not tell whether a name exists at another operator."""
    name = store.normalize_username(username)
    if name is None:
        return
    row = conn.execute(select(users.c.role, users.c.operator_id).where(users.c.username == name)).first()
    if row is None or row.role not in ACCOUNT_ROLES or row.operator_id != operator_id:
        raise InvalidInput(
            f"no operator, field_staff or auditor account named {name!r} at operator {operator_id}: create "
            "the account first, or leave the username empty"
        )


# ---- output ----


def deep(value: Any) -> Any:
    """Rows as JSON: times in China time and decimals as text (``jsonable``), also inside nested rows."""
    if isinstance(value, Mapping):
        return {k: deep(v) for k, v in jsonable(dict(value)).items()}
    if isinstance(value, list | tuple):
        return [deep(v) for v in value]
    return value


def row_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row (with its nested rows) as JSON."""
    return cast(dict[str, Any], deep(row))


def coverage_out(found: Coverage, operator_id: int) -> dict[str, Any]:
    percent = found.percent
    return {
        "rule": found.rule,
        "operator_id": operator_id,
        "first": found.first,
        "last": found.last,
        "trainings": deep(found.trainings),
        "people": [
            {
                "staff_id": p.staff_id,
                "name": p.name,
                "position": p.position,
                "passed": p.passed,
                "result": deep(p.result),
            }
            for p in found.people
        ],
        "total": found.total,
        "passed": found.passed,
        "not_passed": found.not_passed,
        "percent": None if percent is None else format(percent, "f"),
        "complete": found.complete,
    }


# ---- staff ----


@router.get("/staff", summary="Personnel files with their certificate status today")
def list_staff(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    active: bool | None = None,
    position: Annotated[
        str | None, Query(description="field_engineer | sampler | auditor | manager | other")
    ] = None,
    certificate: Annotated[str | None, Query(description="valid | expiring | expired | none")] = None,
) -> dict[str, Any]:
    operators = operators_asked(scope, operator_id, LIST_READERS)
    warn_days = settings_of(request).om_certificate_warn_days
    with engine_of(request).connect() as conn:
        rows = store.list_staff(
            conn,
            operators,
            today=china_today(),
            warn_days=warn_days,
            active=active,
            position=position,
            certificate=certificate,
        )
    return {"warn_days": warn_days, "total": len(rows), "rows": deep(rows)}


@router.post("/staff", status_code=201, summary="Add a personnel file")
def add_staff(request: Request, body: StaffIn, scope: CurrentScope) -> dict[str, Any]:
    operator_id = writing_for(scope, body.operator_id)
    with engine_of(request).begin() as conn:
        require_staff_account(conn, body.username, operator_id)
        row = store.add_staff(
            conn,
            operator_id=operator_id,
            name=body.name,
            position=body.position,
            phone=body.phone,
            username=body.username,
            active=body.active,
            now=utcnow(),
        )
    return row_out(row)


# before /staff/{staff_id}: "certificates" is not a staff id
@router.get("/staff/certificates/expiring", summary="Certificates to renew: valid today, ending soon")
def expiring(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    warn_days: Annotated[
        int | None, Query(ge=0, le=3650, description="default: ENVWATCH_OM_CERTIFICATE_WARN_DAYS")
    ] = None,
) -> dict[str, Any]:
    operators = operators_asked(scope, operator_id)
    days = settings_of(request).om_certificate_warn_days if warn_days is None else warn_days
    today = china_today()
    with engine_of(request).connect() as conn:
        rows = store.expiring_certificates(conn, operators, today, days)
    return {"today": today, "warn_days": days, "rows": deep(rows)}


@router.get("/staff/{staff_id}", summary="One personnel file: certificates, the valid one, results")
def get_staff(request: Request, staff_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        visible_staff(conn, scope, staff_id)
        require_reader(scope)
        row = store.get_staff(
            conn, staff_id, today=china_today(), warn_days=settings_of(request).om_certificate_warn_days
        )
    return row_out(row)


@router.patch("/staff/{staff_id}", summary="Change name, position, phone, account link or active")
def change_staff(request: Request, staff_id: int, body: StaffPatch, scope: CurrentScope) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with engine_of(request).begin() as conn:
        row = visible_staff(conn, scope, staff_id)
        scope.require_write("staff")
        empty = sorted(k for k, v in changes.items() if v is None and k != "username")
        if empty:
            raise InvalidInput(f"{', '.join(empty)} cannot be null")
        if "username" in changes:
            require_staff_account(conn, changes["username"], row["operator_id"])
        changed = store.update_staff(conn, staff_id, changes, now=utcnow())
    return row_out(changed)


@router.post(
    "/staff/{staff_id}/certificates", status_code=201, summary="Record a certificate (renewal: another)"
)
def add_certificate(
    request: Request, staff_id: int, body: CertificateIn, scope: CurrentScope
) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        visible_staff(conn, scope, staff_id)
        scope.require_write("staff")
        row = store.add_certificate(
            conn,
            staff_id,
            kind=body.kind,
            number=body.number,
            issuer=body.issuer,
            issued_on=body.issued_on,
            valid_until=body.valid_until,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return row_out(row)


@router.post(
    "/staff/{staff_id}/certificates/{certificate_id}/corrections",
    status_code=201,
    summary="Correct a certificate row (or withdraw it) by a new row; fields not given stay",
)
def correct_certificate(
    request: Request, staff_id: int, certificate_id: int, body: CertificateCorrectionIn, scope: CurrentScope
) -> dict[str, Any]:
    given = body.model_dump(exclude={"reason", "withdraw"}, exclude_none=True)
    with engine_of(request).begin() as conn:
        row = visible_certificate(conn, scope, staff_id, certificate_id)
        scope.require_write("staff")
        if body.withdraw and given:
            raise InvalidInput(
                f"a withdrawal replaces the row by nothing: give no certificate fields ({', '.join(sorted(given))})"
            )
        if not body.withdraw and not given:
            raise InvalidInput(
                "give the fields to correct (kind, number, issuer, issued_on, valid_until), or withdraw"
            )
        new = None if body.withdraw else certificate_draft(row, given)
        done = store.correct_certificate(
            conn, certificate_id, new, reason=body.reason, by=scope.principal.name, now=utcnow()
        )
    return row_out(done)


# ---- trainings ----


@router.get("/trainings", summary="Training plans and held trainings (current rows), latest first")
def list_trainings(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    kind: Annotated[
        str | None, Query(description="quarterly | sampling_label | onboarding | emergency | other")
    ] = None,
    held: bool | None = None,
) -> dict[str, Any]:
    operators = operators_asked(scope, operator_id)
    with engine_of(request).connect() as conn:
        rows = training_store.list_trainings(conn, operators, year=year, kind=kind, held=held)
    return {"total": len(rows), "rows": deep(rows)}


@router.post("/trainings", status_code=201, summary="Plan a training (培训计划)")
def plan_training(request: Request, body: TrainingIn, scope: CurrentScope) -> dict[str, Any]:
    operator_id = writing_for(scope, body.operator_id)
    with engine_of(request).begin() as conn:
        row = training_store.plan_training(
            conn,
            operator_id=operator_id,
            kind=body.kind,
            title=body.title,
            planned_on=body.planned_on,
            pass_score=body.pass_score,
            note=body.note,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return row_out(row)


def _year_quarter(year: int | None, quarter: int | None) -> tuple[int, int]:
    this_year, this_quarter = quarter_of(china_today())
    return (this_year if year is None else year), (this_quarter if quarter is None else quarter)


# before /trainings/{training_id}
@router.get("/trainings/quarterly", summary="CS-4.5: who passed a quarterly re-training held in a quarter")
def quarterly(
    request: Request,
    scope: CurrentScope,
    operator_id: int | None = None,
    year: Annotated[int | None, Query(description="default: this year (China)")] = None,
    quarter: Annotated[int | None, Query(description="1-4; default: this quarter")] = None,
) -> dict[str, Any]:
    operator = one_operator(scope, operator_id)
    year, quarter = _year_quarter(year, quarter)
    with engine_of(request).connect() as conn:
        found = training_store.quarterly_status(conn, operator, year, quarter)
    return {"year": year, "quarter": quarter, **coverage_out(found, operator)}


@router.get("/trainings/sampling-label", summary="WZ-A2-5: samplers trained on the sample-label system")
def sampling_label(request: Request, scope: CurrentScope, operator_id: int | None = None) -> dict[str, Any]:
    operator = one_operator(scope, operator_id)
    with engine_of(request).connect() as conn:
        found = training_store.sampling_label_status(conn, operator)
    return {"required_percent": format(Decimal(100), "f"), **coverage_out(found, operator)}


@router.get("/trainings/{training_id}", summary="One training with its history and results")
def get_training(request: Request, training_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = visible_training(conn, scope, training_id)
        require_reader(scope)
        history = training_store.history_of(conn, training_id)
        results = training_store.results_of(conn, training_id)
    return {**row_out(row), "history": deep(history), "results": deep(results)}


@router.post("/trainings/{training_id}/held", status_code=201, summary="Record a planned training as held")
def record_held(request: Request, training_id: int, body: HeldIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        visible_training(conn, scope, training_id)
        scope.require_write("staff")
        row = training_store.record_held(
            conn,
            training_id,
            held_on=body.held_on,
            note=body.note,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return row_out(row)


@router.post(
    "/trainings/{training_id}/results", status_code=201, summary="Record a test result (retest: another)"
)
def add_result(request: Request, training_id: int, body: ResultIn, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        visible_training(conn, scope, training_id)
        visible_staff(conn, scope, body.staff_id)
        scope.require_write("staff")
        row = training_store.add_result(
            conn,
            training_id,
            staff_id=body.staff_id,
            score=body.score,
            tested_on=body.tested_on,
            recorded_by=scope.principal.name,
            now=utcnow(),
        )
    return row_out(row)
