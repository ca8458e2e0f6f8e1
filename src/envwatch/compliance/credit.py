"""The operator credit file (运维单位信用档案, SX-27) and the blacklist (黑名单) with its history.

The credit file is the ``credit_events`` table, append-only: each event is a fact about one operator on a
day, with a reason, and never changes once recorded. Kinds and the clause each follows from:

==============  ========  ===================================================================================
kind            rule      meaning
==============  ========  ===================================================================================
warning         SX-32     a warning (预警): a failed quarterly assessment (recorded by the system when it is
                          published, ``compliance.assessment``) or a regulator's decision
penalty         SX-32     an administrative penalty (行政处罚) recorded against the operator
bad_record      SX-32     a bad record (不良记录), e.g. a serious finding
blacklisted     SX-27     put on the blacklist; by the system after repeated last places (SX-26)
unblacklisted   SX-27     taken off the blacklist (移出黑名单); a reason is required like every event
note            —         anything else worth keeping in the file
==============  ========  ===================================================================================

**The blacklist is a fold.** An operator is blacklisted when its latest blacklisted/unblacklisted event is
``blacklisted``; the pairs of them are its history. So blacklisting one already on the list, or lifting one
that is not, is refused (Conflict): the file never holds two listings in a row. The operator's row is locked
while deciding, so two regulators pressing at once cannot both list it.

Events may name a finding (``finding_id``, one about this operator) and the published assessment they come
from (``assessment_id``, system events). Each is logged as evidence (kind ``credit_event``) in the same
transaction. Nothing here reads a clock: ``now`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import Connection, insert, select

from envwatch.compliance.schema import credit_events, findings
from envwatch.core.clock import to_china
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import submit_row
from envwatch.registry.schema import operators

CreditKind = Literal["warning", "penalty", "bad_record", "blacklisted", "unblacklisted", "note"]
KINDS: Final[tuple[CreditKind, ...]] = get_args(CreditKind)
KIND_RULES: Final[dict[str, str | None]] = {
    "warning": "SX-32",
    "penalty": "SX-32",
    "bad_record": "SX-32",
    "blacklisted": "SX-27",
    "unblacklisted": "SX-27",
    "note": None,
}
REASON_MAX: Final = 2000
_c = credit_events.c


@dataclass(frozen=True)
class Listing:
    """One stay on the blacklist: from its blacklisting event to its lifting (None while it lasts)."""

    operator_id: int
    since: date
    reason: str
    event_id: int
    rule: str | None
    source: str
    lifted_on: date | None = None
    lift_reason: str | None = None
    lift_event_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "operator_id": self.operator_id,
            "since": self.since,
            "reason": self.reason,
            "event_id": self.event_id,
            "rule": self.rule,
            "source": self.source,
            "lifted_on": self.lifted_on,
            "lift_reason": self.lift_reason,
            "lift_event_id": self.lift_event_id,
        }


@dataclass(frozen=True)
class BlacklistState:
    """An operator's place on the blacklist now and every stay, oldest first."""

    operator_id: int
    listed: bool
    history: tuple[Listing, ...]

    @property
    def current(self) -> Listing | None:
        return self.history[-1] if self.listed else None


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidInput("a reason is required: say why this goes into the operator's credit file")
    if len(text) > REASON_MAX:
        raise InvalidInput(f"the reason is longer than {REASON_MAX} characters")
    return text


def _kind(kind: str) -> CreditKind:
    if kind not in KINDS:
        raise InvalidInput(f"credit event kind {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def _locked_operator(conn: Connection, operator_id: int) -> None:
    """Lock the operator's row (PostgreSQL; SQLite serialises writers anyway) or say it does not exist."""
    found = conn.execute(
        select(operators.c.id).where(operators.c.id == operator_id).with_for_update()
    ).scalar()
    if found is None:
        raise NotFound(f"no operator with id {operator_id}")


def _check_finding(conn: Connection, finding_id: int, operator_id: int) -> None:
    owner = conn.execute(select(findings.c.operator_id).where(findings.c.id == finding_id)).first()
    if owner is None:
        raise InvalidInput(f"no finding {finding_id}")
    if owner.operator_id != operator_id:
        raise InvalidInput(f"finding {finding_id} is not about operator {operator_id}")


def events_of(conn: Connection, operator_id: int) -> list[dict[str, Any]]:
    """The operator's credit file, oldest first (in the order recorded)."""
    query = select(credit_events).where(_c.operator_id == operator_id).order_by(_c.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def _fold(operator_id: int, events: list[dict[str, Any]]) -> BlacklistState:
    stays: list[Listing] = []
    listed = False
    for e in events:
        if e["kind"] == "blacklisted" and not listed:
            stays.append(Listing(operator_id, e["on"], e["reason"], e["id"], e["rule"], e["source"]))
            listed = True
        elif e["kind"] == "unblacklisted" and listed:
            last = stays[-1]
            stays[-1] = Listing(
                operator_id, last.since, last.reason, last.event_id, last.rule, last.source,
                e["on"], e["reason"], e["id"],
            )  # fmt: skip
            listed = False
    return BlacklistState(operator_id, listed, tuple(stays))


def blacklist_state(conn: Connection, operator_id: int, *, until: date | None = None) -> BlacklistState:
    """Whether the operator is blacklisted now (or at the end of the China day ``until``), with every stay on
    the list till then (the fold of its events)."""
    query = (
        select(credit_events)
        .where(_c.operator_id == operator_id, _c.kind.in_(("blacklisted", "unblacklisted")))
        .order_by(_c.id)
    )
    if until is not None:
        query = query.where(_c.on <= until)
    return _fold(operator_id, [dict(r) for r in conn.execute(query).mappings()])


def blacklist(conn: Connection, *, until: date | None = None) -> list[BlacklistState]:
    """Every operator that was ever blacklisted (by the China day ``until``), those on the list then first,
    then by operator id."""
    query = (
        select(credit_events)
        .where(_c.kind.in_(("blacklisted", "unblacklisted")))
        .order_by(_c.operator_id, _c.id)
    )
    if until is not None:
        query = query.where(_c.on <= until)
    by_operator: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(query).mappings():
        by_operator.setdefault(int(row["operator_id"]), []).append(dict(row))
    states = [_fold(op, events) for op, events in by_operator.items()]
    return sorted(states, key=lambda s: (not s.listed, s.operator_id))


def record_event(
    conn: Connection,
    operator_id: int,
    kind: str,
    reason: str,
    *,
    on: date | None = None,
    finding_id: int | None = None,
    assessment_id: int | None = None,
    rule: str | None = None,
    source: Literal["manual", "system"] = "manual",
    by: str,
    now: datetime,
) -> dict[str, Any]:
    """Add one event to the operator's credit file (module docstring); returns the stored row.

    ``on`` defaults to today (China); a day after today is refused, as is an empty reason, an unknown kind,
    a finding about another operator, blacklisting a listed operator or lifting one not listed (Conflict).
    ``rule`` defaults to the kind's clause (:data:`KIND_RULES`)."""
    checked = _kind(kind)
    text = _reason(reason)
    today = to_china(now).date()
    day = on or today
    if day > today:
        raise InvalidInput(f"the day {day.isoformat()} is after today ({today.isoformat()}): record it then")
    if not by.strip():
        raise InvalidInput("who records the event is required")
    _locked_operator(conn, operator_id)
    if finding_id is not None:
        _check_finding(conn, finding_id, operator_id)
    if checked in ("blacklisted", "unblacklisted"):
        state = blacklist_state(conn, operator_id)
        if checked == "blacklisted" and state.listed:
            assert state.current is not None
            raise Conflict(
                f"operator {operator_id} is already blacklisted since {state.current.since.isoformat()}"
            )
        if checked == "unblacklisted" and not state.listed:
            raise Conflict(f"operator {operator_id} is not blacklisted: there is nothing to lift")
    event_id = int(
        conn.execute(
            insert(credit_events)
            .values(
                operator_id=operator_id,
                kind=checked,
                rule=rule if rule is not None else KIND_RULES[checked],
                reason=text,
                on=day,
                finding_id=finding_id,
                assessment_id=assessment_id,
                source=source,
                recorded_by=by.strip(),
                recorded_at=now,
            )
            .returning(_c.id)
        ).scalar_one()
    )
    submit_row(conn, credit_events, event_id, kind="credit_event", now=now)
    row = conn.execute(select(credit_events).where(_c.id == event_id)).mappings().one()
    return dict(row)
