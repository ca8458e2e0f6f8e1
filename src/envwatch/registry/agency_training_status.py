"""Status of agency staff trainings (WZ-A2-5): of a record, of a person on a day, an agency's coverage.

The records and their corrections are written by :mod:`envwatch.registry.agency_trainings` (its module
docstring has the theory of operation); this module only reads them:

- a record on a day: ``valid`` (passed, held_on ≤ day ≤ valid_until), ``expired`` (passed, ended before),
  ``pending`` (passed, held after that day: only when asking about a past day), ``failed`` (not passed);
  records no longer current are ``corrected`` or ``withdrawn`` (:func:`training_history`);
- a person on a day (:class:`PersonStatus`), from the current records held by then: ``valid`` when one is
  valid that day (exactly :func:`agencies.trained_on`, what on-site entry checks), else ``failed`` when the
  latest of them failed, ``expired`` when it passed, ``none`` with no record;
- an agency's coverage (:func:`coverage`): its active samplers and who of them is ``valid``; the rule wants
  100 %. People who left (``active`` false) and other positions do not count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import Connection, select

from envwatch.registry.agencies import counting_trainings
from envwatch.registry.agencies_schema import agency_staff, agency_trainings

RULE: Final = "WZ-A2-5"
ROW_STATUSES: Final = ("valid", "expired", "pending", "failed", "corrected", "withdrawn")
PERSON_STATUSES: Final = ("valid", "expired", "failed", "none")
HUNDRED: Final = Decimal(100)

_t = agency_trainings.c
_s = agency_staff.c


def row_status(row: Mapping[str, Any], today: date) -> str:
    """The status of a current row on ``today`` (module docstring)."""
    if not row["passed"]:
        return "failed"
    if row["valid_until"] < today:
        return "expired"
    if row["held_on"] > today:
        return "pending"
    return "valid"


@dataclass(frozen=True)
class PersonStatus:
    """A person's training on one day: ``status`` (PERSON_STATUSES), ``training`` the deciding row (the
    valid one running longest; else the latest), ``days_left`` after today it still counts (valid only)."""

    status: str
    training: dict[str, Any] | None
    days_left: int | None

    def as_fields(self) -> dict[str, Any]:
        return {"training_status": self.status, "training": self.training, "days_left": self.days_left}


def person_status(rows: Iterable[Mapping[str, Any]], today: date) -> PersonStatus:
    """The status of one person from their current rows (module docstring)."""
    held = [dict(r) for r in rows if r["held_on"] <= today]
    valid = [r for r in held if row_status(r, today) == "valid"]
    if valid:
        best = max(valid, key=lambda r: (r["valid_until"], r["id"]))
        return PersonStatus("valid", best, (best["valid_until"] - today).days)
    if not held:
        return PersonStatus("none", None, None)
    latest = max(held, key=lambda r: (r["held_on"], r["id"]))
    return PersonStatus("expired" if latest["passed"] else "failed", latest, None)


def current_trainings(conn: Connection, staff_ids: Collection[int]) -> dict[int, list[dict[str, Any]]]:
    """The current rows of these people, latest held first, by person."""
    found: dict[int, list[dict[str, Any]]] = {int(s): [] for s in staff_ids}
    if not found:
        return found
    query = (
        select(agency_trainings)
        .where(_t.staff_id.in_(list(found)), counting_trainings())
        .order_by(_t.staff_id, _t.held_on.desc(), _t.id.desc())
    )
    for row in conn.execute(query).mappings():
        found[row["staff_id"]].append(dict(row))
    return found


def person_statuses(conn: Connection, staff_ids: Collection[int], today: date) -> dict[int, PersonStatus]:
    return {s: person_status(rows, today) for s, rows in current_trainings(conn, staff_ids).items()}


def training_history(conn: Connection, staff_id: int, today: date) -> list[dict[str, Any]]:
    """Every row of a person but the withdrawal rows, latest held first, each with ``status``
    (ROW_STATUSES), ``current``, ``corrects`` (the id it corrects, or None) and ``correction`` (the row
    that corrected or withdrew it — id, withdrawn, reason, recorded_by, recorded_at — or None)."""
    query = select(agency_trainings).where(_t.staff_id == staff_id).order_by(_t.held_on.desc(), _t.id.desc())
    every = [dict(r) for r in conn.execute(query).mappings()]
    later = {r["supersedes_id"]: r for r in every if r["supersedes_id"] is not None}
    out: list[dict[str, Any]] = []
    for row in every:
        if row["withdrawn"]:
            continue
        found = later.get(row["id"])
        correction = None
        if found is None:
            status = row_status(row, today)
        else:
            status = "withdrawn" if found["withdrawn"] else "corrected"
            correction = {
                "id": found["id"],
                "withdrawn": found["withdrawn"],
                "reason": found["note"],
                "recorded_by": found["recorded_by"],
                "recorded_at": found["recorded_at"],
            }
        out.append(
            {
                **row,
                "status": status,
                "current": found is None,
                "corrects": row["supersedes_id"],
                "correction": correction,
            }
        )
    return out


# ---- coverage (WZ-A2-5) ----


@dataclass(frozen=True)
class Coverage:
    """The agency's active samplers on ``today`` with their status; ``percent`` trained (rounded half up to
    0.1; None when the agency has no active sampler); ``complete`` = every one of them trained (and there is
    at least one)."""

    agency_id: int
    today: date
    people: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return len(self.people)

    @property
    def trained(self) -> int:
        return sum(1 for p in self.people if p["training_status"] == "valid")

    @property
    def untrained(self) -> list[dict[str, Any]]:
        return [p for p in self.people if p["training_status"] != "valid"]

    @property
    def percent(self) -> Decimal | None:
        if not self.total:
            return None
        exact = Decimal(self.trained) * HUNDRED / Decimal(self.total)
        return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.trained == self.total


def coverage(conn: Connection, agency_id: int, today: date) -> Coverage:
    """WZ-A2-5 on ``today``: every active sampler of the agency and whether they hold a passed training
    valid that day."""
    query = (
        select(agency_staff)
        .where(_s.agency_id == agency_id, _s.active.is_(True), _s.position == "sampler")
        .order_by(_s.name, _s.id)
    )
    people = [dict(r) for r in conn.execute(query).mappings()]
    statuses = person_statuses(conn, [p["id"] for p in people], today)
    return Coverage(agency_id, today, [{**p, **statuses[p["id"]].as_fields()} for p in people])
