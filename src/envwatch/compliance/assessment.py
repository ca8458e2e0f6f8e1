"""The quarterly operator assessment (运维单位季度考核, SX-26): score, ranking, publication, consequences.

**Formula** (:func:`score`, pure). Each component gives a sub-score 0–100:

- ``effective_rate``, ``response``, ``inspection``, ``satisfaction``: the percentage itself (clamped);
- ``findings``: 100 − ``assessment_findings_per_point`` × violations per device run, floored at 0.

The score is the weighted mean of the sub-scores of the components **that have data**, with the weights of
``assessment_weights``; a component without data (no tickets, no surveys, no device) is left out and its
weight shared by the others, and the result says which were left out. It is rounded half-up to 2 places
once, at the end (sub-scores are shown rounded the same way). No component with data: no score, not
ranked. An unknown component name or a negative weight in the settings is refused (InvalidInput) so a typo
cannot silently drop a component.

**Ranking** (:func:`rank`, pure): per region and quarter, by score descending; equal scores share a rank
(1, 2, 2, 4) and are listed by operator name. The last place (末位, SX-26) is flagged only when at least two
operators are ranked and not all of them have the same score: every operator with the lowest score is last.

**Publication** (:func:`publish`): one ``operator_assessments`` row per operator of the ranking (including
those without a score), logged as evidence ``operator_assessment``; republishing a quarter adds new rows and
the newest row of an operator wins (:func:`published`). Then, as the system, in the same transaction
(``compliance.credit``):

- a ``warning`` (SX-32) for a score below ``assessment_pass_score`` — once per operator, quarter and region,
  however often it is republished;
- ``blacklisted`` (SX-26, 末位淘汰) when the operator was last in the newest publication of each of the last
  ``assessment_blacklist_after_last`` consecutive quarters of the region (this one included) and is not on
  the blacklist already.

Nothing here reads a clock: ``now`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, insert, select

from envwatch.compliance import credit
from envwatch.compliance.assessment_inputs import OperatorInputs, gather
from envwatch.compliance.schema import credit_events, operator_assessments
from envwatch.core.clock import to_china
from envwatch.core.errors import InvalidInput
from envwatch.core.evidence import json_ready, submit_row
from envwatch.core.settings import Settings
from envwatch.operations.ticket_stats import parse_quarter, quarter_name, quarter_of
from envwatch.registry.service import region_prefix

COMPONENTS: Final = ("effective_rate", "response", "inspection", "findings", "satisfaction")
CENT: Final = Decimal("0.01")
HUNDRED: Final = Decimal(100)
WARNING_RULE: Final = "SX-32"
BLACKLIST_RULE: Final = "SX-26"
_a = operator_assessments.c


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidInput(f"{what} {value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Formula:
    """The weights (component → weight), the findings deduction and the pass score in force."""

    weights: dict[str, Decimal]
    findings_per_point: Decimal
    pass_score: Decimal

    @classmethod
    def of(cls, weights: Mapping[str, Any], findings_per_point: Any, pass_score: Any) -> Formula:
        """Checked: every name a component, every weight ≥ 0 and at least one > 0, the deduction > 0."""
        checked: dict[str, Decimal] = {}
        for name, weight in weights.items():
            if name not in COMPONENTS:
                raise InvalidInput(
                    f"assessment_weights names an unknown component {name!r}: the components are "
                    f"{', '.join(COMPONENTS)}"
                )
            number = _decimal(weight, f"the weight of {name}")
            if number < 0:
                raise InvalidInput(f"the weight of {name} is negative ({weight}): weights are 0 or more")
            checked[name] = number
        if not any(checked.values()):
            raise InvalidInput("assessment_weights gives no component a weight above 0: nothing to score")
        per_point = _decimal(findings_per_point, "assessment_findings_per_point")
        if per_point <= 0:
            raise InvalidInput("assessment_findings_per_point must be above 0")
        return cls(checked, per_point, _decimal(pass_score, "assessment_pass_score"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Formula:
        return cls.of(
            settings.assessment_weights,
            settings.assessment_findings_per_point,
            settings.assessment_pass_score,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "weights": {k: str(v) for k, v in self.weights.items()},
            "findings_per_point": str(self.findings_per_point),
            "pass_score": str(self.pass_score),
        }


@dataclass(frozen=True)
class Part:
    """One component in a score: its input value, sub-score (None: no data), weight and whether it
    counted (it has data and a weight above 0)."""

    value: Decimal | None
    sub_score: Decimal | None
    weight: Decimal
    counted: bool


@dataclass(frozen=True)
class Scored:
    score: Decimal | None  # rounded half-up to 2 places; None: no component with data
    parts: dict[str, Part]
    left_out: tuple[str, ...]  # weighted components without data (their weight re-distributed)


def sub_score(component: str, value: Decimal, findings_per_point: Decimal) -> Decimal:
    """A component's 0–100 sub-score from its value (module docstring)."""
    if component == "findings":
        return max(Decimal(0), HUNDRED - findings_per_point * value)
    return min(HUNDRED, max(Decimal(0), value))


def score(values: Mapping[str, Decimal | None], formula: Formula) -> Scored:
    """The weighted mean of the sub-scores of the weighted components with data (module docstring)."""
    unknown = sorted(set(values) - set(COMPONENTS))
    if unknown:
        raise InvalidInput(f"unknown assessment component(s): {', '.join(unknown)}")
    parts: dict[str, Part] = {}
    total = weight_sum = Decimal(0)
    left_out = []
    for name in COMPONENTS:
        weight = formula.weights.get(name, Decimal(0))
        value = values.get(name)
        sub = None if value is None else sub_score(name, value, formula.findings_per_point)
        counted = sub is not None and weight > 0
        if counted:
            assert sub is not None
            total += weight * sub
            weight_sum += weight
        elif weight > 0:
            left_out.append(name)
        parts[name] = Part(value, sub, weight, counted)
    result = None if weight_sum == 0 else (total / weight_sum).quantize(CENT, ROUND_HALF_UP)
    return Scored(result, parts, tuple(left_out))


@dataclass(frozen=True)
class Place:
    rank: int | None
    last_place: bool


def rank(entries: Sequence[tuple[int, str, Decimal | None]]) -> tuple[dict[int, Place], int]:
    """(operator id, name, score) → each operator's place, and how many were ranked (module docstring)."""
    scored = sorted(
        ((op, name, s) for op, name, s in entries if s is not None), key=lambda e: (-e[2], e[1], e[0])
    )
    places: dict[int, Place] = {op: Place(None, False) for op, _, s in entries if s is None}
    lowest = scored[-1][2] if scored else None
    flag = len(scored) >= 2 and lowest is not None and lowest < scored[0][2]
    previous: Decimal | None = None
    current = 0
    for position, (op, _, s) in enumerate(scored, start=1):
        if s != previous:
            current, previous = position, s
        places[op] = Place(current, flag and s == lowest)
    return places, len(scored)


@dataclass
class Row:
    """One operator in a ranking: its figures, score, place and components as stored and shown."""

    operator_id: int
    operator: str
    score: Decimal | None
    rank: int | None
    last_place: bool
    passed: bool | None  # None: no score
    components: dict[str, dict[str, Any]]
    left_out: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "operator_id": self.operator_id,
            "operator": self.operator,
            "score": self.score,
            "rank": self.rank,
            "last_place": self.last_place,
            "passed": self.passed,
            "components": self.components,
            "left_out": list(self.left_out),
        }


@dataclass
class Ranking:
    """The assessment of one quarter and region, computed from the data as of ``at``."""

    quarter: str
    first: date
    last: date
    region: str
    formula: Formula
    ranked: int
    rows: list[Row] = field(default_factory=list)

    @property
    def year_quarter(self) -> tuple[int, int]:
        return self.first.year, (self.first.month - 1) // 3 + 1


def _cent(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, ROUND_HALF_UP)


def _components(inputs: OperatorInputs, scored: Scored) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "value": _cent(part.value),
            "sub_score": _cent(part.sub_score),
            "weight": part.weight,
            "counted": part.counted,
            **inputs.detail.get(name, {}),
        }
        for name, part in scored.parts.items()
    }


def normal_region(region: str | None) -> str:
    """'' (every region) or a region code prefix (``region_prefix``: 330100 → 3301)."""
    return region_prefix(region) if region and region.strip() else ""


def build_ranking(inputs: Sequence[OperatorInputs], formula: Formula, quarter: str, region: str) -> Ranking:
    """Score and rank gathered inputs (pure)."""
    first, last = parse_quarter(quarter)
    scored = {i.operator_id: score(i.values, formula) for i in inputs}
    places, ranked = rank([(i.operator_id, i.name, scored[i.operator_id].score) for i in inputs])
    rows = []
    for i in inputs:
        s = scored[i.operator_id]
        rows.append(
            Row(
                i.operator_id,
                i.name,
                s.score,
                places[i.operator_id].rank,
                places[i.operator_id].last_place,
                None if s.score is None else s.score >= formula.pass_score,
                _components(i, s),
                s.left_out,
            )
        )
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.operator, r.operator_id))
    return Ranking(quarter_name(first), first, last, region, formula, ranked, rows)


def assess(engine: Engine, settings: Settings, quarter: str, region: str | None, now: datetime) -> Ranking:
    """The live assessment of ``quarter`` (e.g. ``2026Q3``) in ``region`` ('' or None: all), as of ``now``."""
    first, last = parse_quarter(quarter)
    formula = Formula.from_settings(settings)
    area = normal_region(region)
    return build_ranking(gather(engine, settings, first, last, area, now), formula, quarter, area)


# ---- publication ----


def published(conn: Connection, year: int, quarter: int, region: str) -> dict[int, dict[str, Any]]:
    """The newest published row of each operator for a quarter and region (empty: never published)."""
    newest = (
        select(func.max(_a.id))
        .where(_a.year == year, _a.quarter == quarter, _a.region_code == region)
        .group_by(_a.operator_id)
    )
    rows = conn.execute(select(operator_assessments).where(_a.id.in_(newest))).mappings()
    return {int(r["operator_id"]): dict(r) for r in rows}


def published_of(conn: Connection, operator_id: int) -> list[dict[str, Any]]:
    """Every published row of an operator, newest first (each republication kept)."""
    query = select(operator_assessments).where(_a.operator_id == operator_id).order_by(_a.id.desc())
    return [dict(r) for r in conn.execute(query).mappings()]


def _previous(year: int, quarter: int) -> tuple[int, int]:
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


def last_in_a_row(conn: Connection, operator_id: int, year: int, quarter: int, region: str, n: int) -> bool:
    """Whether the operator was last in the newest publication of each of the ``n`` quarters ending with
    (year, quarter) in the region (a quarter never published breaks the run)."""
    for _ in range(n):
        row = published(conn, year, quarter, region).get(operator_id)
        if row is None or not row["last_place"]:
            return False
        year, quarter = _previous(year, quarter)
    return True


def _warned(conn: Connection, operator_id: int, year: int, quarter: int, region: str) -> bool:
    """A system warning already followed from a publication of this operator, quarter and region."""
    query = (
        select(credit_events.c.id)
        .join(operator_assessments, _a.id == credit_events.c.assessment_id)
        .where(
            credit_events.c.operator_id == operator_id,
            credit_events.c.kind == "warning",
            credit_events.c.source == "system",
            _a.year == year,
            _a.quarter == quarter,
            _a.region_code == region,
        )
    )
    return conn.execute(query.limit(1)).first() is not None


@dataclass
class Published:
    ranking: Ranking
    assessment_ids: dict[int, int]  # operator id → the new row
    credit_events: list[dict[str, Any]]


def _area(region: str) -> str:
    return region or "all regions"


def publish(conn: Connection, ranking: Ranking, settings: Settings, *, by: str, now: datetime) -> Published:
    """Store ``ranking`` (computed by :func:`assess`) and record its consequences (module docstring), in
    the caller's transaction."""
    if not by.strip():
        raise InvalidInput("who publishes the assessment is required")
    year, quarter = ranking.year_quarter
    if ranking.first > to_china(now).date():
        raise InvalidInput(f"quarter {ranking.quarter} has not begun: nothing to publish")
    ids: dict[int, int] = {}
    for row in ranking.rows:
        new_id = int(
            conn.execute(
                insert(operator_assessments)
                .values(
                    operator_id=row.operator_id,
                    region_code=ranking.region,
                    year=year,
                    quarter=quarter,
                    score=row.score,
                    rank=row.rank,
                    ranked=ranking.ranked,
                    last_place=row.last_place,
                    components=json_ready({**row.components, "left_out": list(row.left_out)}),
                    formula=ranking.formula.as_dict(),
                    published_by=by.strip(),
                    published_at=now,
                )
                .returning(_a.id)
            ).scalar_one()
        )
        submit_row(conn, operator_assessments, new_id, kind="operator_assessment", now=now)
        ids[row.operator_id] = new_id
    events = []
    after = settings.assessment_blacklist_after_last
    for row in ranking.rows:
        if (
            row.score is not None
            and row.score < ranking.formula.pass_score
            and not _warned(conn, row.operator_id, year, quarter, ranking.region)
        ):
            reason = (
                f"quarterly assessment {ranking.quarter} ({_area(ranking.region)}): score {row.score} "
                f"below the pass score {ranking.formula.pass_score} (季度考核不合格)"
            )
            events.append(
                credit.record_event(
                    conn, row.operator_id, "warning", reason, assessment_id=ids[row.operator_id],
                    rule=WARNING_RULE, source="system", by=by, now=now,
                )
            )  # fmt: skip
        if (
            row.last_place
            and last_in_a_row(conn, row.operator_id, year, quarter, ranking.region, after)
            and not credit.blacklist_state(conn, row.operator_id).listed
        ):
            reason = (
                f"last place in {after} consecutive quarterly assessments up to {ranking.quarter} "
                f"({_area(ranking.region)}) (连续末位, 列入黑名单)"
            )
            events.append(
                credit.record_event(
                    conn, row.operator_id, "blacklisted", reason, assessment_id=ids[row.operator_id],
                    rule=BLACKLIST_RULE, source="system", by=by, now=now,
                )
            )  # fmt: skip
    return Published(ranking, ids, events)


def current_quarter(now: datetime) -> str:
    return quarter_name(quarter_of(to_china(now).date())[0])


def previous_quarter(now: datetime) -> str:
    """The last complete quarter before ``now`` (the default one to assess)."""
    first = quarter_of(to_china(now).date())[0]
    year, quarter = _previous(first.year, (first.month - 1) // 3 + 1)
    return f"{year}Q{quarter}"
