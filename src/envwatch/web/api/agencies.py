"""Testing agencies (检测机构), their staff and label-system trainings (WZ-A2-5): REST API.

Who reads (``Scope.agency_ids``): admin every agency; a regulator the agencies seated in its region; an
agency account its own agency; everyone else none (the list is empty). An agency, person or training record
outside the scope answers 404 exactly like a missing one — before any role check, so the answer never tells
that it exists.

Who writes (``Scope.require_write``, 403 naming the role): ``agency_registry`` (admin) creates and changes
agencies; ``agency_staff`` (admin, agency: its own agency only) adds and changes people and records,
corrects or withdraws their trainings. A regulator reads and does not write.

A ``username`` links a person to a web account: the account must exist, have role ``agency`` and the same
agency (:func:`require_agency_account`; checked here because the account tables live in the web layer,
above ``registry``). The agency ``code`` is fixed at creation: a PATCH changing it is refused (422).

Dates are ``YYYY-MM-DD`` (China calendar days); scores are exact decimals, given as text ("87.5") or
integers and answered as text; times are China time (ISO 8601 with +08:00).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, select

from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, NotFound
from envwatch.registry import agencies as store
from envwatch.registry import agency_staff as staff_store
from envwatch.registry import agency_trainings as training_store
from envwatch.registry.agency_trainings import Coverage, TrainingFacts
from envwatch.web.accounts.schema import users
from envwatch.web.api.common import engine_of, jsonable
from envwatch.web.scope import CurrentScope, Scope, china_today

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])

REQUIRED_PERCENT = Decimal(100)  # WZ-A2-5: every sampler trained and tested

# ---- bodies ----

# a float is let through to the store, which refuses it with the reason (it has lost the typed digits)
Score = Annotated[
    str | int | float | None,
    Field(default=None, description='0-100, exact: "87.5" or 90; null: no score recorded'),
]


class AgencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="检测机构名称, at most 200 characters")
    credit_code: str = Field(description="统一社会信用代码: 18 characters with the GB 32100 check character")
    code: str = Field(
        description="2-8 of A-Z 0-9, unique; printed in every sample code of the agency, so it never changes"
    )
    region_code: str = Field(
        description="行政区划代码 of its seat, 6 digits: regulators of that region see it"
    )
    contact: str = Field(default="", description="contact person, at most 100 characters")
    phone: str = Field(default="", description="up to 32 digits, spaces and + ( ) -")
    active: bool = True


class AgencyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    credit_code: str | None = None
    code: str | None = Field(default=None, description="may only be sent unchanged: the code never changes")
    region_code: str | None = None
    contact: str | None = None
    phone: str | None = None
    active: bool | None = None


class StaffBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="at most 100 characters")
    position: str = Field(
        description="sampler 采样员 | receiver 样品管理员 | analyst 分析人员 | manager 负责人 | other"
    )
    phone: str = Field(default="", description="up to 32 digits, spaces and + ( ) -")
    username: str | None = Field(
        default=None, description="the person's web account: role agency, of the same agency; one person each"
    )
    active: bool = True


class StaffPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    position: str | None = None
    phone: str | None = None
    username: str | None = Field(default=None, description="null or empty: unlink the account")
    active: bool | None = Field(default=None, description="false: the person left (no longer counted)")


class TrainingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="e.g. 识别标识系统操作培训, at most 200 characters")
    held_on: date = Field(description="the day held and tested; not after today")
    passed: bool = Field(description="the test was passed (考核合格)")
    valid_until: date = Field(description="the last day the training counts; on or after held_on")
    score: Score
    note: str = Field(default="", description="what was covered, who taught")


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="why the record is withdrawn (required; kept as the withdrawal's note)")


class CorrectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="what was wrong (required; kept as the correcting row's note)")
    title: str | None = Field(default=None, description="the right value; not given: the row's own")
    held_on: date | None = None
    passed: bool | None = None
    valid_until: date | None = None
    score: Score


# ---- who may see what (404 exactly as for a missing object) ----


def visible_agency(conn: Connection, scope: Scope, agency_id: int) -> dict[str, Any]:
    scope.require_agency(agency_id)
    return store.get_agency(conn, agency_id)


def visible_person(conn: Connection, scope: Scope, agency_id: int, staff_id: int) -> dict[str, Any]:
    """The person, if the agency is visible and the person is one of its people."""
    visible_agency(conn, scope, agency_id)
    try:
        person = store.get_agency_staff(conn, staff_id)
    except NotFound:
        person = None
    if person is None or person["agency_id"] != agency_id:
        raise NotFound(f"no staff member with id {staff_id} at testing agency {agency_id}")
    return person


def visible_training(
    conn: Connection, scope: Scope, agency_id: int, staff_id: int, training_id: int
) -> dict[str, Any]:
    visible_person(conn, scope, agency_id, staff_id)
    try:
        row = training_store.training_row(conn, training_id)
    except NotFound:
        row = None
    if row is None or row["staff_id"] != staff_id:
        raise NotFound(f"no training record with id {training_id} of staff member {staff_id}")
    return row


def require_agency_account(conn: Connection, username: str | None, agency_id: int) -> None:
    """A linked account must exist, have role ``agency`` and the same agency. One message for every
    refusal, so the answer does not tell whether a name exists elsewhere."""
    name = staff_store.normalize_username(username)
    if name is None:
        return
    row = conn.execute(select(users.c.role, users.c.agency_id).where(users.c.username == name)).first()
    if row is None or row.role != "agency" or row.agency_id != agency_id:
        raise InvalidInput(
            f"no agency account named {name!r} at testing agency {agency_id}: create the account (role "
            "agency, this agency) first, or leave the username empty"
        )


def no_nulls(changes: Mapping[str, Any], nullable: tuple[str, ...] = ()) -> None:
    empty = sorted(k for k, v in changes.items() if v is None and k not in nullable)
    if empty:
        raise InvalidInput(f"{', '.join(empty)} cannot be null")


# ---- output ----


def out(value: Any) -> Any:
    """Rows as JSON: times in China time, decimals as text (``jsonable``), also inside nested rows."""
    if isinstance(value, Mapping):
        return {k: out(v) for k, v in jsonable(dict(value)).items()}
    if isinstance(value, list | tuple):
        return [out(v) for v in value]
    return value


def row_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], out(row))


def _person_out(row: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("id", "name", "position", "phone", "username", "training_status", "training", "days_left")
    return {k: out(row[k]) for k in keep}


def coverage_summary(found: Coverage) -> dict[str, Any]:
    percent = found.percent
    return {
        "total": found.total,
        "trained": found.trained,
        "percent": None if percent is None else format(percent, "f"),
        "complete": found.complete,
    }


def coverage_out(found: Coverage) -> dict[str, Any]:
    return {
        "rule": training_store.RULE,
        "agency_id": found.agency_id,
        "today": found.today,
        "required_percent": format(REQUIRED_PERCENT, "f"),
        **coverage_summary(found),
        "people": [_person_out(p) for p in found.people],
        "untrained": [_person_out(p) for p in found.untrained],
    }


# ---- agencies ----


@router.get("", summary="Testing agencies in scope, with their training coverage today")
def list_agencies(
    request: Request,
    scope: CurrentScope,
    region: Annotated[str | None, Query(description="region code prefix: 2, 4 or 6 digits")] = None,
    active: bool | None = None,
) -> dict[str, Any]:
    today = china_today()
    with engine_of(request).connect() as conn:
        rows = store.list_agencies(conn, scope.agency_ids, region=region, active=active)
        listed = [
            {**row_out(r), "coverage": coverage_summary(training_store.coverage(conn, r["id"], today))}
            for r in rows
        ]
    return {"today": today, "total": len(listed), "rows": listed}


@router.post("", status_code=201, summary="Create a testing agency (admin)")
def create_agency(request: Request, body: AgencyBody, scope: CurrentScope) -> dict[str, Any]:
    scope.require_write("agency_registry")
    with engine_of(request).begin() as conn:
        row = store.create_agency(conn, body.model_dump(), utcnow())
    return row_out(row)


@router.get("/{agency_id}", summary="One testing agency")
def get_agency(request: Request, agency_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        row = visible_agency(conn, scope, agency_id)
    return row_out(row)


@router.patch(
    "/{agency_id}", summary="Change an agency's name, credit code, region, contact, phone or active"
)
def change_agency(request: Request, agency_id: int, body: AgencyPatch, scope: CurrentScope) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with engine_of(request).begin() as conn:
        visible_agency(conn, scope, agency_id)
        scope.require_write("agency_registry")
        no_nulls(changes)
        row = store.update_agency(conn, agency_id, changes, utcnow())
    return row_out(row)


@router.get("/{agency_id}/coverage", summary="WZ-A2-5: active samplers holding a valid passed training today")
def coverage(request: Request, agency_id: int, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).connect() as conn:
        visible_agency(conn, scope, agency_id)
        found = training_store.coverage(conn, agency_id, china_today())
    return coverage_out(found)


# ---- staff ----


@router.get("/{agency_id}/staff", summary="The agency's people with their training status today")
def list_staff(
    request: Request,
    agency_id: int,
    scope: CurrentScope,
    active: bool | None = None,
    position: Annotated[
        str | None, Query(description="sampler | receiver | analyst | manager | other")
    ] = None,
) -> dict[str, Any]:
    today = china_today()
    with engine_of(request).connect() as conn:
        visible_agency(conn, scope, agency_id)
        rows = staff_store.list_staff(conn, agency_id, today=today, active=active, position=position)
    return {"today": today, "total": len(rows), "rows": out(rows)}


@router.post("/{agency_id}/staff", status_code=201, summary="Add a person to the agency")
def add_staff(request: Request, agency_id: int, body: StaffBody, scope: CurrentScope) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        visible_agency(conn, scope, agency_id)
        scope.require_write("agency_staff")
        require_agency_account(conn, body.username, agency_id)
        row = staff_store.add_staff(conn, agency_id, **body.model_dump(), now=utcnow())
    return row_out(row)


@router.patch(
    "/{agency_id}/staff/{staff_id}", summary="Change a person's name, position, phone, account link or active"
)
def change_staff(
    request: Request, agency_id: int, staff_id: int, body: StaffPatch, scope: CurrentScope
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    with engine_of(request).begin() as conn:
        person = visible_person(conn, scope, agency_id, staff_id)
        scope.require_write("agency_staff")
        no_nulls(changes, nullable=("username",))
        if (
            "username" in changes
            and staff_store.normalize_username(changes["username"]) != person["username"]
        ):
            require_agency_account(conn, changes["username"], agency_id)
        row = staff_store.update_staff(conn, staff_id, changes, now=utcnow())
    return row_out(row)


# ---- trainings ----


@router.get(
    "/{agency_id}/staff/{staff_id}/trainings",
    summary="A person's training status today and every training record (corrected and withdrawn ones too)",
)
def list_trainings(request: Request, agency_id: int, staff_id: int, scope: CurrentScope) -> dict[str, Any]:
    today = china_today()
    with engine_of(request).connect() as conn:
        person = visible_person(conn, scope, agency_id, staff_id)
        status = training_store.person_statuses(conn, [staff_id], today)[staff_id]
        history = training_store.training_history(conn, staff_id, today)
    return {"today": today, "staff": row_out({**person, **status.as_fields()}), "rows": out(history)}


@router.post(
    "/{agency_id}/staff/{staff_id}/trainings", status_code=201, summary="Record a held and tested training"
)
def record_training(
    request: Request, agency_id: int, staff_id: int, body: TrainingBody, scope: CurrentScope
) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        visible_person(conn, scope, agency_id, staff_id)
        scope.require_write("agency_staff")
        facts = TrainingFacts(body.title, body.held_on, body.passed, body.valid_until, body.score)
        row = training_store.record_training(
            conn, staff_id, facts, note=body.note, recorded_by=scope.principal.name, now=utcnow()
        )
    return row_out(row)


@router.post(
    "/{agency_id}/staff/{staff_id}/trainings/{training_id}/withdraw",
    status_code=201,
    summary="Withdraw a training record (recorded by mistake) by a new row; it stops counting at once",
)
def withdraw_training(
    request: Request, agency_id: int, staff_id: int, training_id: int, body: WithdrawBody, scope: CurrentScope
) -> dict[str, Any]:
    with engine_of(request).begin() as conn:
        visible_training(conn, scope, agency_id, staff_id, training_id)
        scope.require_write("agency_staff")
        row = training_store.withdraw_training(
            conn, training_id, reason=body.reason, by=scope.principal.name, now=utcnow()
        )
    return row_out(row)


@router.post(
    "/{agency_id}/staff/{staff_id}/trainings/{training_id}/corrections",
    status_code=201,
    summary="Correct a training record by a new row; fields not given keep the corrected row's values",
)
def correct_training(
    request: Request,
    agency_id: int,
    staff_id: int,
    training_id: int,
    body: CorrectionBody,
    scope: CurrentScope,
) -> dict[str, Any]:
    given = body.model_dump(exclude={"reason"}, exclude_unset=True)
    with engine_of(request).begin() as conn:
        row = visible_training(conn, scope, agency_id, staff_id, training_id)
        scope.require_write("agency_staff")
        no_nulls(given, nullable=("score",))
        if not given:
            raise InvalidInput(
                "give the fields to correct (title, held_on, passed, valid_until, score), or withdraw the record"
            )
        merged = {k: given.get(k, row[k]) for k in training_store.FACTS}
        facts = TrainingFacts(
            merged["title"], merged["held_on"], merged["passed"], merged["valid_until"], merged["score"]
        )
        done = training_store.correct_training(
            conn, training_id, facts, reason=body.reason, by=scope.principal.name, now=utcnow()
        )
    return row_out(done)
