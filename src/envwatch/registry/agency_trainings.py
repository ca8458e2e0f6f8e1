"""Label-system trainings of agency staff (识别标识系统操作培训及考核, WZ-A2-5: 100 % of samplers trained and
tested): recording, correcting and withdrawing them.

Theory of operation
-------------------
- ``agency_trainings`` is append-only (the database refuses UPDATE and DELETE). A training is recorded once
  held and tested: title, the day held, the score (optional, exact, 0–100), whether the test was passed, the
  last day it counts (``valid_until`` ≥ ``held_on``) and a note. ``held_on`` may not lie after today.
- A mistaken row is **corrected** by a new row with the right values and ``supersedes_id`` = the row it
  corrects, or **withdrawn** by a new row that copies it with ``withdrawn`` true (recorded by mistake:
  replaced by nothing) — the rules of ``operations.corrections`` for staff certificates. The table has no
  reason column: on a correcting or withdrawing row ``note`` holds the reason (what was wrong), required.
- Invariants: a row is corrected or withdrawn at most once (checked, and backed by the unique constraint on
  ``supersedes_id``: a concurrent second correction is told which row came first); a withdrawal is final;
  only **current** rows (``agencies.counting_trainings``: not a withdrawal, nothing superseding them) count.
- The status of a record, of a person on a day and an agency's coverage are read in
  :mod:`envwatch.registry.agency_training_status`, re-exported here (callers know this module).

Everything takes ``now`` / ``today`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from envwatch.core.clock import to_china
from envwatch.core.db import exact_text
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.inputs import text
from envwatch.registry.agencies import counting_trainings
from envwatch.registry.agencies_schema import agency_staff, agency_trainings
from envwatch.registry.agency_training_status import (
    PERSON_STATUSES,
    ROW_STATUSES,
    RULE,
    Coverage,
    PersonStatus,
    coverage,
    current_trainings,
    person_status,
    person_statuses,
    row_status,
    training_history,
)

__all__ = [  # the status reads are re-exported: callers know this module
    "FACTS",
    "PERSON_STATUSES",
    "ROW_STATUSES",
    "RULE",
    "Coverage",
    "PersonStatus",
    "TrainingFacts",
    "correct_training",
    "correction_of",
    "coverage",
    "current_trainings",
    "person_status",
    "person_statuses",
    "record_training",
    "row_status",
    "score_of",
    "training_history",
    "training_row",
    "withdraw_training",
]

TITLE_MAX: Final = 200  # agency_trainings.title
NOTE_MAX: Final = 4000
ACTOR_MAX: Final = 100  # recorded_by
SCORE_MAX_TEXT: Final = 12
HUNDRED: Final = Decimal(100)
FACTS: Final = ("title", "held_on", "score", "passed", "valid_until")  # what a correction may change
RECORD = "training record"  # how messages name a row

_t = agency_trainings.c
_s = agency_staff.c


@dataclass(frozen=True)
class TrainingFacts:
    """What was held and tested: the title (e.g. 识别标识系统操作培训), the day held, whether the test was
    passed, the last day the training counts, and the score (optional: exact text, int or Decimal)."""

    title: str
    held_on: date
    passed: bool
    valid_until: date
    score: Decimal | int | str | float | None = None  # a float is refused: give the typed text


# ---- checks ----


def score_of(value: Decimal | int | str | float | None) -> Decimal | None:
    """An exact score from 0 to 100, None for no score. A binary float is refused: it has lost the digits."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool | float):
        raise InvalidInput(f'the score must be given exactly, as decimal text such as "87.5", not {value!r}')
    if isinstance(value, int):
        exact = Decimal(value)
    elif isinstance(value, Decimal):
        exact = value
    elif isinstance(value, str):
        typed = exact_text(value)
        if typed is None or len(typed) > SCORE_MAX_TEXT:
            raise InvalidInput(f"the score {value!r} is not a number such as 87.5")
        try:
            exact = Decimal(typed)
        except InvalidOperation:  # pragma: no cover - exact_text matched a decimal already
            raise InvalidInput(f"the score {value!r} is not a number such as 87.5") from None
    else:
        raise InvalidInput(f"the score must be a decimal number, not {type(value).__name__}")
    if not exact.is_finite() or not Decimal(0) <= exact <= HUNDRED:
        raise InvalidInput(f"the score must be from 0 to 100, not {value}")
    return exact


def _china_day(now: datetime) -> date:
    return to_china(now).date()


def _facts(facts: TrainingFacts, now: datetime) -> dict[str, Any]:
    """The checked columns of ``facts``: title, dates (held by today, valid_until ≥ held_on), score."""
    if not isinstance(facts.passed, bool):
        raise InvalidInput(f"passed must be true or false, not {facts.passed!r}")
    today = _china_day(now)
    if facts.held_on > today:
        raise InvalidInput(
            f"held_on {facts.held_on.isoformat()} is after today ({today.isoformat()}): record a training "
            "once it has been held and tested"
        )
    if facts.valid_until < facts.held_on:
        raise InvalidInput(
            f"valid_until {facts.valid_until.isoformat()} is before held_on {facts.held_on.isoformat()}: "
            "it is the last day the training counts"
        )
    return {
        "title": text(facts.title, "the title", limit=TITLE_MAX, required=True),
        "held_on": facts.held_on,
        "score": score_of(facts.score),
        "passed": facts.passed,
        "valid_until": facts.valid_until,
    }


def _person(conn: Connection, staff_id: int) -> dict[str, Any]:
    """The person, locked (PostgreSQL FOR UPDATE): the trainings of one person are written one at a time,
    so the duplicate check and the correction check cannot race."""
    query = select(agency_staff).where(_s.id == staff_id).with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no agency staff member with id {staff_id}")
    return dict(row)


def _not_twice(conn: Connection, staff_id: int, values: Mapping[str, Any], replacing: int | None) -> None:
    """Conflict when a current row of the person has the same title and dates (a form sent twice)."""
    query = select(_t.id).where(
        _t.staff_id == staff_id,
        _t.title == values["title"],
        _t.held_on == values["held_on"],
        _t.valid_until == values["valid_until"],
        counting_trainings(),
    )
    if replacing is not None:
        query = query.where(_t.id != replacing)
    found = conn.execute(query).first()
    if found is not None:
        raise Conflict(
            f"the training {values['title']!r} of {values['held_on'].isoformat()} is already recorded for "
            f"this person ({RECORD} {found.id})"
        )


# ---- writes ----


def training_row(conn: Connection, training_id: int) -> dict[str, Any]:
    """One row, current or not (NotFound for an unknown id)."""
    row = conn.execute(select(agency_trainings).where(_t.id == training_id)).mappings().first()
    if row is None:
        raise NotFound(f"no {RECORD} with id {training_id}")
    return dict(row)


def record_training(
    conn: Connection, staff_id: int, facts: TrainingFacts, *, note: str = "", recorded_by: str, now: datetime
) -> dict[str, Any]:
    """Record a held and tested training of a person (a retraining is another call); the row.
    NotFound for an unknown person; InvalidInput for a bad field; Conflict for the same title and dates
    recorded twice."""
    _person(conn, staff_id)
    values = _facts(facts, now) | {
        "staff_id": staff_id,
        "note": text(note, "the note", limit=NOTE_MAX, required=False),
        "recorded_by": text(recorded_by, "recorded_by", limit=ACTOR_MAX, required=True),
        "recorded_at": now,
    }
    _not_twice(conn, staff_id, values, None)
    new_id = conn.execute(insert(agency_trainings).values(**values).returning(_t.id)).scalar_one()
    return training_row(conn, int(new_id))


def correction_of(conn: Connection, training_id: int) -> dict[str, Any] | None:
    """The row correcting or withdrawing ``training_id``, or None."""
    row = conn.execute(select(agency_trainings).where(_t.supersedes_id == training_id)).mappings().first()
    return None if row is None else dict(row)


def _already(training_id: int, later: Mapping[str, Any]) -> Conflict:
    if later["withdrawn"]:
        return Conflict(f"{RECORD} {training_id} was withdrawn already by {RECORD} {later['id']}")
    return Conflict(
        f"{RECORD} {training_id} was corrected already by {RECORD} {later['id']}: correct that one instead"
    )


def _correctable(conn: Connection, row: Mapping[str, Any]) -> None:
    if row["withdrawn"]:
        raise Conflict(
            f"{RECORD} {row['id']} withdraws {RECORD} {row['supersedes_id']}: a withdrawal is final; record "
            "the right training as a new record"
        )
    later = correction_of(conn, int(row["id"]))
    if later is not None:
        raise _already(int(row["id"]), later)


def _insert_correction(conn: Connection, values: Mapping[str, Any], training_id: int) -> dict[str, Any]:
    """Insert the correcting or withdrawing row; a concurrent one that got in first meets the unique
    constraint on ``supersedes_id``: Conflict naming it."""
    try:
        with conn.begin_nested():  # roll back just this insert: the check below still needs the connection
            new_id = conn.execute(insert(agency_trainings).values(**values).returning(_t.id)).scalar_one()
    except IntegrityError:
        later = correction_of(conn, training_id)
        if later is None:
            raise
        raise _already(training_id, later) from None
    return training_row(conn, int(new_id))


def correct_training(
    conn: Connection,
    training_id: int,
    facts: TrainingFacts | None,
    *,
    reason: str,
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Correct a row by a new one with ``facts`` (every check of :func:`record_training` again), or withdraw
    it with ``facts`` None (recorded by mistake: replaced by nothing). ``reason`` (required) says what was
    wrong and becomes the new row's note. Returns the new row.

    NotFound for an unknown row; Conflict when it was corrected or withdrawn already, for a withdrawal row,
    or when the facts repeat another current training of the person; InvalidInput for a correction that
    changes nothing."""
    original = training_row(conn, training_id)
    _person(conn, original["staff_id"])
    _correctable(conn, original)
    why = text(reason, "the reason (what was wrong)", limit=NOTE_MAX, required=True)
    if facts is None:
        skip = {"id", "supersedes_id", "withdrawn", "note", "recorded_by", "recorded_at"}
        values = {c.name: original[c.name] for c in agency_trainings.columns if c.name not in skip}
    else:
        values = _facts(facts, now) | {"staff_id": original["staff_id"]}
        if all(values[k] == original[k] for k in FACTS):
            raise InvalidInput(
                f"the correction changes nothing in {RECORD} {training_id}: give the right values, or "
                "withdraw it"
            )
        _not_twice(conn, original["staff_id"], values, training_id)
    values |= {
        "note": why,
        "recorded_by": text(by, "recorded_by", limit=ACTOR_MAX, required=True),
        "recorded_at": now,
        "supersedes_id": training_id,
        "withdrawn": facts is None,
    }
    return _insert_correction(conn, values, training_id)


def withdraw_training(
    conn: Connection, training_id: int, *, reason: str, by: str, now: datetime
) -> dict[str, Any]:
    """Withdraw a row recorded by mistake (:func:`correct_training` without facts); the withdrawal row."""
    return correct_training(conn, training_id, None, reason=reason, by=by, now=now)
