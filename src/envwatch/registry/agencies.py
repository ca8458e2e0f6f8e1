"""Testing agencies (检测机构): master data, and the lookups sampling needs (WZ-A2).

Tables in :mod:`envwatch.registry.agencies_schema`; the agency's people are in
:mod:`envwatch.registry.agency_staff`, their label-system trainings (WZ-A2-5) in
:mod:`envwatch.registry.agency_trainings`.

- An agency is master data, edited in place like an operator: name, credit code (统一社会信用代码, GB 32100,
  unique), region code (its seat, 6 digits: it places the agency under the regulators of that region and is
  the first part of the sample codes issued afterwards), contact, phone, active.
- ``code`` (2–8 of A–Z 0–9, unique) is the readable agency part of every sample code it is issued
  (``330302-WZJC-…``, ``sampling.codes``). It is fixed when the agency is created: :func:`update_agency`
  refuses to change it, since labels already stuck on sample bottles carry it.
- Uniqueness (credit code, code) is checked before writing and backed by the unique constraints: a
  concurrent create that got in first is answered with the same Conflict (:func:`_writing`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict
from sqlalchemy import Connection, and_, exists, insert, select, update
from sqlalchemy.orm import aliased

from envwatch.core.db import guarded
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import CreditCode, Name, Phone, RegionCode, Text100, parse
from envwatch.registry.service import changed_values, credit_code_taken, region_prefix

# sampling.codes.AGENCY_CODE, repeated: registry sits below sampling and may not import it
AGENCY_CODE = re.compile(r"[A-Z0-9]{2,8}")
AGENCY_FIELDS = ("name", "credit_code", "code", "region_code", "contact", "phone", "active")
EDITABLE = ("name", "credit_code", "region_code", "contact", "phone", "active")  # not code: see module doc

_a = agencies.c


def _agency_code(value: Any) -> Any:
    """People type the code in lower case too; stored upper case."""
    if not isinstance(value, str):
        return value
    code = value.strip().upper()
    if not AGENCY_CODE.fullmatch(code):
        raise ValueError(
            f"{value!r} is not an agency code: 2 to 8 letters A-Z and digits 0-9 (e.g. WZJC), printed in "
            "every sample code of the agency"
        )
    return code


AgencyCode = Annotated[str, BeforeValidator(_agency_code)]


class AgencyIn(BaseModel):
    """检测机构 as given to :func:`create_agency` (and, merged with the stored row, to an update)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    credit_code: CreditCode
    code: AgencyCode
    region_code: RegionCode
    contact: Text100 = ""
    phone: Phone = ""
    active: Annotated[bool, Strict()] = True


# ---- the lookups sampling uses (kept as they are: sampling.* and web.api.sampling_common call them) ----


def get_agency(conn: Connection, agency_id: int) -> dict[str, Any]:
    row = conn.execute(select(agencies).where(agencies.c.id == agency_id)).mappings().first()
    if row is None:
        raise NotFound(f"no testing agency with id {agency_id}")
    return dict(row)


def get_agency_staff(conn: Connection, staff_id: int) -> dict[str, Any]:
    row = conn.execute(select(agency_staff).where(agency_staff.c.id == staff_id)).mappings().first()
    if row is None:
        raise NotFound(f"no agency staff member with id {staff_id}")
    return dict(row)


def agency_staff_of_user(conn: Connection, username: str) -> dict[str, Any] | None:
    """The person a web account stands for, if one is linked."""
    row = conn.execute(select(agency_staff).where(agency_staff.c.username == username)).mappings().first()
    return None if row is None else dict(row)


def counting_trainings() -> Any:
    """Training rows that count: neither withdrawn themselves nor superseded by a later row."""
    later = aliased(agency_trainings)
    superseded = exists().where(later.c.supersedes_id == agency_trainings.c.id)
    return and_(agency_trainings.c.withdrawn.is_(False), ~superseded)


def trained_on(conn: Connection, staff_id: int, day: date) -> bool:
    """WZ-A2-5: the person holds a passed label-system training valid on ``day`` (held by then)."""
    query = select(agency_trainings.c.id).where(
        agency_trainings.c.staff_id == staff_id,
        agency_trainings.c.passed.is_(True),
        agency_trainings.c.held_on <= day,
        agency_trainings.c.valid_until >= day,
        counting_trainings(),
    )
    return conn.execute(query.limit(1)).first() is not None


# ---- master data ----


def _code_taken(conn: Connection, code: str) -> None:
    other = conn.execute(select(_a.id, _a.name).where(_a.code == code)).first()
    if other is not None:
        raise Conflict(
            f"agency code {code} is already used by testing agency {other.id} ({other.name}): sample codes "
            "must tell agencies apart, choose another code"
        )


def _taken(conn: Connection, values: Mapping[str, Any], but: int | None) -> None:
    """Conflict when another agency has the credit code or the code of ``values``."""
    if "credit_code" in values:
        credit_code_taken(conn, agencies, "testing agency", values["credit_code"], but)
    if "code" in values:
        _code_taken(conn, values["code"])


def _writing(conn: Connection, statement: Any, values: Mapping[str, Any], but: int | None) -> Any:
    """Run the insert (its RETURNING value) or update (None). A concurrent write that took the credit code
    or code since :func:`_taken` looked meets the unique constraint: the same Conflict, naming it."""
    return guarded(conn, statement, lambda: _taken(conn, values, but))


def create_agency(conn: Connection, data: AgencyIn | Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A new testing agency (a model, or a mapping checked as :class:`AgencyIn`); the row. InvalidInput for
    a bad field, Conflict for a credit code or code another agency has."""
    checked = data if isinstance(data, AgencyIn) else parse(AgencyIn, dict(data))
    values = checked.model_dump()
    _taken(conn, values, None)
    statement = insert(agencies).values(**values, created_at=now, updated_at=now).returning(_a.id)
    return get_agency(conn, int(_writing(conn, statement, values, None)))


def update_agency(
    conn: Connection, agency_id: int, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Change the editable fields (every check of a create again on the merged row); ``updated_at`` moves
    only when something changed. ``code`` may be sent unchanged, never changed (InvalidInput)."""
    current = get_agency(conn, agency_id)
    changes = dict(changes)
    if "id" in changes:
        raise InvalidInput("id cannot be changed")
    if "code" in changes:
        asked = changes.pop("code")
        if not (isinstance(asked, str) and asked.strip().upper() == current["code"]):
            raise InvalidInput(
                f"the agency code {current['code']} cannot be changed: it is printed in every sample code "
                "and label the agency has been issued (create a new agency for a new code)"
            )
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"unknown agency fields: {', '.join(unknown)} (editable: {', '.join(EDITABLE)})")
    base = {name: current[name] for name in AGENCY_FIELDS}
    data = parse(AgencyIn, {**base, **changes})
    diff = changed_values(current, data.model_dump())
    if not diff:
        return current
    _taken(conn, {k: v for k, v in diff.items() if k == "credit_code"}, agency_id)
    statement = update(agencies).where(_a.id == agency_id).values(**diff, updated_at=now)
    _writing(conn, statement, diff, agency_id)
    return get_agency(conn, agency_id)


def list_agencies(
    conn: Connection,
    agency_ids: Collection[int] | None = None,
    *,
    region: str | None = None,
    active: bool | None = None,
) -> list[dict[str, Any]]:
    """Agencies by region and name; ``agency_ids`` narrows to those (None: all), ``region`` to a region
    prefix (2, 4 or 6 digits), ``active`` to working or retired ones."""
    query = select(agencies).order_by(_a.region_code, _a.name, _a.id)
    if agency_ids is not None:
        query = query.where(_a.id.in_(list(agency_ids)))
    if region:
        query = query.where(_a.region_code.startswith(region_prefix(region), autoescape=True))
    if active is not None:
        query = query.where(_a.active.is_(active))
    return [dict(r) for r in conn.execute(query).mappings()]
