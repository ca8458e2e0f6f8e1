"""Training plans, held trainings and test results (培训计划、季度再培训与考核, CS-4.5; WZ-A2-5).

Theory of operation
-------------------
- ``trainings`` is append-only. :func:`plan_training` writes a plan (``held_on`` empty). :func:`record_held`
  does not change the plan: it writes a **new row** that supersedes it (``supersedes_id``), copying the
  plan's operator, kind, title, planned day and pass score and adding ``held_on``. A training's *current*
  row is the one nothing supersedes; lists show current rows only, and a superseded id still opens (with
  ``superseded_by``), so a link to a plan keeps working after it was held.
- A plan is held once: recording it as held again (on the plan or on the held row) is a Conflict. The plan
  row is locked while this is checked (PostgreSQL ``FOR UPDATE``; SQLite writes one at a time), so two
  people recording the same training at once cannot both succeed.
- Results (:func:`add_result`) belong to the held row; given the plan's id they go to its current row. A
  result needs the training held, the person at the training's operator, ``held_on ≤ tested_on ≤ today``
  and a score from 0 to 100 (exact decimal); ``passed`` = score ≥ the training's pass score.
- **Retests and corrections: the latest result counts.** ``training_results`` is append-only too, so a retest
  — and a correction of a mistyped score — is a new row. Per person and training the result that counts
  is the latest by ``tested_on``, then by recording order. A person passed a training when that result
  passed. (A later, lower result therefore undoes a pass: that is what lets a typing error be corrected.)
- **Quarterly re-training (CS-4.5)**: :func:`quarterly_status` lists every *active* staff member of an
  operator and whether they passed a ``quarterly`` training *held* (``held_on``) in that calendar quarter —
  the day the training was held decides the quarter, not the day of the test.
- **Sample-label system (WZ-A2-5)**: :func:`sampling_label_status` lists every active ``sampler`` and whether
  they passed any ``sampling_label`` training; the rule wants 100 %.

``active`` is today's state of the personnel file (the table keeps no history of it), so the status of a
past quarter lists the people active now.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, select
from sqlalchemy.orm import aliased

from envwatch.core.db import exact_text
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.staff import china_day
from envwatch.operations.staff_schema import staff, training_results, trainings
from envwatch.registry.schema import operators

TRAINING_KINDS = ("quarterly", "sampling_label", "onboarding", "emergency", "other")
TITLE_MAX = 200  # trainings.title
NOTE_MAX = 4000
ACTOR_MAX = 100  # recorded_by
SCORE_MAX_TEXT = 48  # ExactDecimal keeps at most 48 characters on SQLite
HUNDRED = Decimal(100)
QUARTERLY_RULE = "CS-4.5"
SAMPLING_LABEL_RULE = "WZ-A2-5"
SAMPLER = "sampler"

_t = trainings.c
_r = training_results.c
_s = staff.c


# ---- checks ----


def _text(value: str, what: str, most: int, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} has {len(value)} characters; at most {most}")
    return value


def score_of(value: Decimal | int | str, what: str = "the score") -> Decimal:
    """An exact score from 0 to 100: a Decimal, an int or decimal text ("87.5"). A binary float is refused:
    it has already lost the digits that were typed."""
    if isinstance(value, bool | float):
        raise InvalidInput(f'{what} must be given exactly, as decimal text such as "87.5", not {value!r}')
    if isinstance(value, int):
        exact = Decimal(value)
    elif isinstance(value, Decimal):
        exact = value
    elif isinstance(value, str):
        text = exact_text(value.strip())
        if text is None or len(text) > SCORE_MAX_TEXT:
            raise InvalidInput(f"{what} {value!r} is not a number such as 87.5")
        try:
            exact = Decimal(text)
        except InvalidOperation:  # pragma: no cover - exact_text already matched a decimal
            raise InvalidInput(f"{what} {value!r} is not a number such as 87.5") from None
    else:
        raise InvalidInput(f"{what} must be a decimal number, not {type(value).__name__}")
    if not exact.is_finite() or not Decimal(0) <= exact <= HUNDRED:
        raise InvalidInput(f"{what} must be from 0 to 100, not {value}")
    return exact


def _kind(value: str) -> str:
    if value not in TRAINING_KINDS:
        raise InvalidInput(f"training kind {value!r} is not one of {', '.join(TRAINING_KINDS)}")
    return value


def quarter_days(year: int, quarter: int) -> tuple[date, date]:
    """The first and last day of a calendar quarter."""
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"year must be from 2000 to 2100, not {year}")
    if quarter not in (1, 2, 3, 4):
        raise InvalidInput(f"quarter must be 1, 2, 3 or 4, not {quarter}")
    first = date(year, 3 * quarter - 2, 1)
    last = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, date.fromordinal(last.toordinal() - 1)


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


# ---- reading ----


def _row(conn: Connection, training_id: int, *, lock: bool = False) -> dict[str, Any]:
    query = select(trainings).where(_t.id == training_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no training with id {training_id}")
    return dict(row)


def superseded_by(conn: Connection, training_id: int) -> int | None:
    """The row that replaced ``training_id`` (None when it is current)."""
    found = conn.execute(select(_t.id).where(_t.supersedes_id == training_id).order_by(_t.id)).first()
    return None if found is None else int(found.id)


def current_of(conn: Connection, training_id: int) -> dict[str, Any]:
    """The current row of the training ``training_id`` belongs to (itself when nothing supersedes it)."""
    row = _row(conn, training_id)
    seen = {training_id}
    while (newer := superseded_by(conn, row["id"])) is not None:
        if newer in seen:  # pragma: no cover - a cycle cannot be written through this module
            raise Conflict(f"training {training_id} has a cycle of corrections")
        seen.add(newer)
        row = _row(conn, newer)
    return row


def history_of(conn: Connection, training_id: int) -> list[dict[str, Any]]:
    """Every row of the training, first plan first (the ones ``training_id`` supersedes, itself, the ones
    that supersede it)."""
    row = _row(conn, training_id)
    older: list[dict[str, Any]] = []
    while row["supersedes_id"] is not None:
        row = _row(conn, row["supersedes_id"])
        older.insert(0, row)
    chain = [*older, _row(conn, training_id)]
    while (newer := superseded_by(conn, chain[-1]["id"])) is not None:
        chain.append(_row(conn, newer))
    return chain


def get_training(conn: Connection, training_id: int) -> dict[str, Any]:
    """One training row with ``superseded_by`` (None: current) and ``state`` (planned | held)."""
    row = _row(conn, training_id)
    return {**row, "superseded_by": superseded_by(conn, training_id), "state": _state(row)}


def _state(row: Mapping[str, Any]) -> str:
    return "planned" if row["held_on"] is None else "held"


def _current() -> Any:
    newer = aliased(trainings)
    return ~exists().where(newer.c.supersedes_id == _t.id)


def list_trainings(
    conn: Connection,
    operator_id: int | Collection[int] | None,
    *,
    year: int | None = None,
    kind: str | None = None,
    held: bool | None = None,
) -> list[dict[str, Any]]:
    """Current trainings (plans not held yet and held ones), latest first by their day (held_on, else
    planned_on). Filters: ``operator_id`` (one, several, None for all), ``year`` of that day, ``kind``,
    ``held``."""
    query = select(trainings).where(_current())
    if isinstance(operator_id, int):
        query = query.where(_t.operator_id == operator_id)
    elif operator_id is not None:
        query = query.where(_t.operator_id.in_(list(operator_id)))
    if kind is not None:
        query = query.where(_t.kind == _kind(kind))
    if held is not None:
        query = query.where(_t.held_on.is_not(None) if held else _t.held_on.is_(None))
    rows = [{**r, "state": _state(r)} for r in (dict(m) for m in conn.execute(query).mappings())]
    if year is not None:
        rows = [r for r in rows if (r["held_on"] or r["planned_on"]).year == year]
    return sorted(rows, key=lambda r: (r["held_on"] or r["planned_on"], r["id"]), reverse=True)


def results_of(conn: Connection, training_id: int) -> list[dict[str, Any]]:
    """The results of a training (its current row), by person then newest first, each with the person's
    name and position and ``counts`` (the latest result of that person, which decides)."""
    current = current_of(conn, training_id)
    query = (
        select(training_results, _s.name, _s.position)
        .join(staff, _s.id == _r.staff_id)
        .where(_r.training_id == current["id"])
        .order_by(_s.name, _r.staff_id, _r.tested_on.desc(), _r.id.desc())
    )
    rows = [dict(r) for r in conn.execute(query).mappings()]
    seen: set[int] = set()
    for row in rows:
        row["counts"] = row["staff_id"] not in seen
        seen.add(row["staff_id"])
    return rows


# ---- writing ----


def plan_training(
    conn: Connection,
    *,
    operator_id: int,
    kind: str,
    title: str,
    planned_on: date,
    pass_score: Decimal | int | str,
    note: str = "",
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """A training plan (培训计划) of an operator; returns it (``state`` planned)."""
    if conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is None:
        raise InvalidInput(f"no operator with id {operator_id}")
    values = {
        "operator_id": operator_id,
        "kind": _kind(kind),
        "title": _text(title, "the title", TITLE_MAX, required=True),
        "planned_on": planned_on,
        "held_on": None,
        "pass_score": score_of(pass_score, "the pass score"),
        "supersedes_id": None,
        "note": _text(note, "the note", NOTE_MAX, required=False),
        "recorded_by": _text(recorded_by, "recorded_by", ACTOR_MAX, required=True),
        "recorded_at": now,
    }
    training_id = int(conn.execute(insert(trainings).values(**values).returning(_t.id)).scalar_one())
    return get_training(conn, training_id)


def record_held(
    conn: Connection,
    training_id: int,
    *,
    held_on: date,
    note: str = "",
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record that the planned training ``training_id`` was held on ``held_on`` (not after today, China
    date of ``now``): a new row superseding the plan; returns it. ``note`` (what was covered, who taught)
    replaces the plan's note when given. Conflict when the training was already recorded as held."""
    plan = _row(conn, training_id, lock=True)
    if plan["held_on"] is not None:
        raise Conflict(
            f"training {training_id} ({plan['title']}) was already recorded as held on "
            f"{plan['held_on'].isoformat()}"
        )
    newer = superseded_by(conn, training_id)
    if newer is not None:
        current = current_of(conn, newer)
        if current["held_on"] is not None:
            raise Conflict(
                f"training {training_id} ({plan['title']}) was already recorded as held on "
                f"{current['held_on'].isoformat()} (record {current['id']})"
            )
        raise Conflict(  # pragma: no cover - only record_held supersedes, and it always sets held_on
            f"training {training_id} was replaced by record {current['id']}: record that one as held"
        )
    today = china_day(now)
    if held_on > today:
        raise InvalidInput(
            f"held_on {held_on.isoformat()} is after today ({today.isoformat()}): record a training once it "
            "has been held"
        )
    values = {
        "operator_id": plan["operator_id"],
        "kind": plan["kind"],
        "title": plan["title"],
        "planned_on": plan["planned_on"],
        "held_on": held_on,
        "pass_score": plan["pass_score"],
        "supersedes_id": training_id,
        "note": _text(note, "the note", NOTE_MAX, required=False) or plan["note"],
        "recorded_by": _text(recorded_by, "recorded_by", ACTOR_MAX, required=True),
        "recorded_at": now,
    }
    held_id = int(conn.execute(insert(trainings).values(**values).returning(_t.id)).scalar_one())
    return get_training(conn, held_id)


def add_result(
    conn: Connection,
    training_id: int,
    *,
    staff_id: int,
    score: Decimal | int | str,
    tested_on: date,
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """One person's test result in a held training (a retest or a correction is another call: the latest
    counts). Returns the row, ``passed`` = score ≥ the training's pass score."""
    current = current_of(conn, training_id)
    if current["held_on"] is None:
        raise InvalidInput(
            f"training {training_id} ({current['title']}) has not been held yet: record it as held first"
        )
    person = conn.execute(select(_s.id, _s.name, _s.operator_id).where(_s.id == staff_id)).first()
    if person is None:
        raise InvalidInput(f"no staff member with id {staff_id}")
    if person.operator_id != current["operator_id"]:
        raise InvalidInput(
            f"{person.name} (staff {staff_id}) does not work for operator {current['operator_id']}, which "
            f"held training {current['id']}"
        )
    exact = score_of(score)
    today = china_day(now)
    if tested_on < current["held_on"]:
        raise InvalidInput(
            f"tested_on {tested_on.isoformat()} is before the training was held "
            f"({current['held_on'].isoformat()})"
        )
    if tested_on > today:
        raise InvalidInput(f"tested_on {tested_on.isoformat()} is after today ({today.isoformat()})")
    values = {
        "training_id": current["id"],
        "staff_id": staff_id,
        "score": exact,
        "passed": exact >= current["pass_score"],
        "tested_on": tested_on,
        "recorded_by": _text(recorded_by, "recorded_by", ACTOR_MAX, required=True),
        "recorded_at": now,
    }
    result_id = int(conn.execute(insert(training_results).values(**values).returning(_r.id)).scalar_one())
    return dict(conn.execute(select(training_results).where(_r.id == result_id)).mappings().one())


# ---- coverage: who passed ----


@dataclass(frozen=True)
class PersonStatus:
    """One person in a coverage table. ``result`` decides: the latest passing result (passed), else the
    latest result of any counted training (failed), else None (not tested)."""

    staff_id: int
    name: str
    position: str
    passed: bool
    result: dict[str, Any] | None


@dataclass(frozen=True)
class Coverage:
    """Who of the people concerned passed the trainings that count; ``percent`` is rounded half up to 0.1
    (None when nobody is concerned); ``complete`` = everyone passed (and somebody is concerned)."""

    rule: str
    trainings: list[dict[str, Any]]
    people: list[PersonStatus]
    first: date | None = None
    last: date | None = None
    passed: int = field(init=False)
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", len(self.people))
        object.__setattr__(self, "passed", sum(1 for p in self.people if p.passed))

    @property
    def not_passed(self) -> int:
        return self.total - self.passed

    @property
    def percent(self) -> Decimal | None:
        if not self.total:
            return None
        exact = Decimal(self.passed) * HUNDRED / Decimal(self.total)
        return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.passed == self.total


def _coverage(
    conn: Connection,
    rule: str,
    held: Sequence[dict[str, Any]],
    people: Sequence[Mapping[str, Any]],
    first: date | None = None,
    last: date | None = None,
) -> Coverage:
    by_person: dict[int, list[dict[str, Any]]] = {int(p["id"]): [] for p in people}
    if held and by_person:
        query = (
            select(training_results)
            .where(
                _r.training_id.in_([t["id"] for t in held]),
                _r.staff_id.in_(list(by_person)),
            )
            .order_by(_r.tested_on.desc(), _r.id.desc())
        )
        for row in conn.execute(query).mappings():
            by_person[row["staff_id"]].append(dict(row))
    out: list[PersonStatus] = []
    for person in people:
        results = by_person[int(person["id"])]  # newest first
        counting: list[dict[str, Any]] = []
        trained: set[int] = set()
        for result in results:  # the latest result of each training counts
            if result["training_id"] not in trained:
                trained.add(result["training_id"])
                counting.append(result)
        passing = [r for r in counting if r["passed"]]
        deciding = passing[0] if passing else (counting[0] if counting else None)
        out.append(
            PersonStatus(int(person["id"]), person["name"], person["position"], bool(passing), deciding)
        )
    return Coverage(rule, list(held), out, first, last)


def _active_people(conn: Connection, operator_id: int, position: str | None = None) -> list[dict[str, Any]]:
    query = select(_s.id, _s.name, _s.position).where(_s.operator_id == operator_id, _s.active.is_(True))
    if position is not None:
        query = query.where(_s.position == position)
    return [dict(r) for r in conn.execute(query.order_by(_s.name, _s.id)).mappings()]


def _held(
    conn: Connection, operator_id: int, kind: str, first: date | None, last: date | None
) -> list[dict[str, Any]]:
    conditions = [_current(), _t.operator_id == operator_id, _t.kind == kind, _t.held_on.is_not(None)]
    if first is not None and last is not None:
        conditions.extend([_t.held_on >= first, _t.held_on <= last])
    query = select(trainings).where(and_(*conditions)).order_by(_t.held_on, _t.id)
    return [{**r, "state": "held"} for r in conn.execute(query).mappings()]


def quarterly_status(conn: Connection, operator_id: int, year: int, quarter: int) -> Coverage:
    """CS-4.5 quarterly re-training: every active staff member of ``operator_id`` and whether they passed a
    ``quarterly`` training held in that quarter."""
    first, last = quarter_days(year, quarter)
    held = _held(conn, operator_id, "quarterly", first, last)
    return _coverage(conn, QUARTERLY_RULE, held, _active_people(conn, operator_id), first, last)


def sampling_label_status(conn: Connection, operator_id: int) -> Coverage:
    """WZ-A2-5: every active sampler of ``operator_id`` and whether they passed a ``sampling_label``
    training (held at any time); the rule wants all of them (100 %)."""
    held = _held(conn, operator_id, "sampling_label", None, None)
    return _coverage(conn, SAMPLING_LABEL_RULE, held, _active_people(conn, operator_id, SAMPLER))
