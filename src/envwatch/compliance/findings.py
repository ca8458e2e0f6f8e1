"""Storing what rules find (合规问题): idempotent findings with a state and an event history.

:func:`apply_found` takes everything one rule found at one moment ``at`` and brings the rule's stored
findings in line, in the caller's transaction:

- a situation not stored yet (new ``(rule, key)``) → a finding, state ``open``, first and last seen ``at``;
  event ``opened``;
- stored and open → last seen moves to ``at`` (never back), message, period, severity and evidence links
  are refreshed; no event (a re-run is not news);
- stored and ``resolved`` → ``reopened`` (the situation is back);
- stored and ``waived`` → stays waived (a regulator decided); last seen still moves;
- stored, open, *not* found this time and last seen no later than ``at`` → ``resolved`` by the run. A run
  judging an older moment than a finding was last seen at leaves it alone: the past run cannot know. So
  does a run whose rule looked at a span of time (``window``: the last quarter, a lookback of N days) that
  the finding's period lies outside: not finding it again there proves nothing.

So running the same check twice changes nothing but ``last_seen``/``updated_at``; the findings table is a
projection, the events are the history. Each finding (its identity columns) and each event is logged as
evidence (``finding``, ``finding_event``) in the same transaction.

:func:`waive` / :func:`unwaive` are the people's decisions: waiving needs a reason (豁免理由) and who.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, bindparam, insert, select, update

from envwatch.compliance.rules import SUBJECT_KINDS, Found, Rule, Window
from envwatch.compliance.schema import finding_events, findings
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.evidence import json_ready, submit_row
from envwatch.registry.agencies_schema import agencies
from envwatch.registry.schema import enterprises

STATES: Final = ("open", "resolved", "waived")
# the columns of a finding that never change once it exists (its identity), as logged
IDENTITY: Final = (
    "id",
    "rule",
    "key",
    "subject_kind",
    "subject_id",
    "enterprise_id",
    "outlet_id",
    "device_id",
    "operator_id",
    "agency_id",
    "first_seen",
)
REASON_MAX: Final = 2000
_f = findings.c


@dataclass
class Applied:
    """What one rule's run did to the stored findings."""

    found: int = 0
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    still_open: int = 0
    waived_seen: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "found": self.found,
            "opened": self.opened,
            "reopened": self.reopened,
            "resolved": self.resolved,
            "still_open": self.still_open,
            "waived_seen": self.waived_seen,
        }


def _check(rule: Rule, items: Sequence[Found]) -> None:
    """A rule's output must be well formed: a programming error otherwise, named precisely."""
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            raise ValueError(f"rule {rule.id} found key {item.key!r} twice in one run")
        seen.add(item.key)
        if item.subject_kind not in SUBJECT_KINDS:
            raise ValueError(
                f"rule {rule.id}: subject kind {item.subject_kind!r} is not one of {SUBJECT_KINDS}"
            )
        if len(item.key) > 200:
            raise ValueError(f"rule {rule.id}: key longer than 200 characters: {item.key[:60]}…")


def _regions(conn: Connection, items: Sequence[Found]) -> tuple[dict[int, str], dict[int, str]]:
    ent_ids = {i.enterprise_id for i in items if i.enterprise_id is not None}
    agency_ids = {i.agency_id for i in items if i.agency_id is not None}
    by_enterprise: dict[int, str] = {}
    by_agency: dict[int, str] = {}
    if ent_ids:
        rows = conn.execute(
            select(enterprises.c.id, enterprises.c.region_code).where(enterprises.c.id.in_(ent_ids))
        )
        by_enterprise = {r.id: r.region_code for r in rows}
    if agency_ids:
        rows = conn.execute(
            select(agencies.c.id, agencies.c.region_code).where(agencies.c.id.in_(agency_ids))
        )
        by_agency = {r.id: r.region_code for r in rows}
    return by_enterprise, by_agency


def _values(item: Found, region: str | None) -> dict[str, Any]:
    return {
        "subject_kind": item.subject_kind,
        "subject_id": item.subject_id,
        "enterprise_id": item.enterprise_id,
        "outlet_id": item.outlet_id,
        "device_id": item.device_id,
        "operator_id": item.operator_id,
        "agency_id": item.agency_id,
        "region_code": region,
        "period_start": item.period_start,
        "period_end": item.period_end,
        "severity": item.severity,
        "message": item.message,
        "evidence": [link.as_dict() for link in item.evidence],
    }


def _event(
    conn: Connection,
    finding_id: int,
    event: str,
    from_state: str | None,
    to_state: str,
    *,
    at: datetime,
    reason: str,
    by: str,
    now: datetime,
    run_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    event_id = conn.execute(
        insert(finding_events).values(
            finding_id=finding_id,
            event=event,
            at=at,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            run_id=run_id,
            data=json_ready(data) if data is not None else None,
            recorded_by=by,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    submit_row(conn, finding_events, int(event_id), kind="finding_event", now=now)
    return int(event_id)


def apply_found(
    conn: Connection,
    rule: Rule,
    items: Iterable[Found],
    *,
    at: datetime,
    now: datetime,
    run_id: int | None = None,
    by: str = "system",
    window: Window | None = None,
) -> Applied:
    """Bring the stored findings of ``rule`` in line with ``items`` (everything it found at ``at``)."""
    found = list(items)
    _check(rule, found)
    by_enterprise, by_agency = _regions(conn, found)
    stored = {r["key"]: r for r in conn.execute(select(findings).where(_f.rule == rule.id)).mappings()}
    result = Applied(found=len(found))
    seen_again: list[dict[str, Any]] = []
    for item in found:
        region = (by_enterprise.get(item.enterprise_id) if item.enterprise_id is not None else None) or (
            by_agency.get(item.agency_id) if item.agency_id is not None else None
        )
        values = _values(item, region)
        old = stored.get(item.key)
        if old is None:
            finding_id = int(
                conn.execute(
                    insert(findings).values(
                        rule=rule.id,
                        key=item.key,
                        state="open",
                        state_reason="",
                        first_seen=at,
                        last_seen=at,
                        updated_at=now,
                        **values,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            submit_row(conn, findings, finding_id, kind="finding", now=now, columns=IDENTITY)
            _event(
                conn,
                finding_id,
                "opened",
                None,
                "open",
                at=at,
                reason=item.message,
                by=by,
                now=now,
                run_id=run_id,
                data={"message": item.message, "evidence": values["evidence"]},
            )
            result.opened += 1
            continue
        last_seen = max(old["last_seen"], at)
        if old["state"] != "resolved" and _unchanged(old, values):
            # the steady state of a daily run: only the time seen moves; one batched UPDATE for all of them
            seen_again.append({"b_id": old["id"], "b_last_seen": last_seen})
            if old["state"] == "waived":
                result.waived_seen += 1
            else:
                result.still_open += 1
            continue
        changes: dict[str, Any] = {**values, "updated_at": now, "last_seen": last_seen}
        if old["state"] == "resolved":
            changes["state"] = "open"
            changes["state_reason"] = ""
            _event(
                conn,
                old["id"],
                "reopened",
                "resolved",
                "open",
                at=at,
                reason=item.message,
                by=by,
                now=now,
                run_id=run_id,
                data={"message": item.message, "evidence": values["evidence"]},
            )
            result.reopened += 1
        elif old["state"] == "waived":
            result.waived_seen += 1
        else:
            result.still_open += 1
        conn.execute(update(findings).where(_f.id == old["id"]).values(**changes))
    if seen_again:
        conn.execute(
            update(findings)
            .where(_f.id == bindparam("b_id"))
            .values(last_seen=bindparam("b_last_seen"), updated_at=now),
            seen_again,
        )
    current = {item.key for item in found}
    for key, old in stored.items():
        if key in current or old["state"] != "open" or old["last_seen"] > at:
            continue
        if window is not None and not _in_view(old, window):
            continue
        reason = f"no longer found when judged at {at.isoformat()}"
        conn.execute(
            update(findings)
            .where(_f.id == old["id"])
            .values(state="resolved", state_reason=reason, updated_at=now)
        )
        _event(
            conn,
            old["id"],
            "resolved",
            "open",
            "resolved",
            at=at,
            reason=reason,
            by=by,
            now=now,
            run_id=run_id,
        )
        result.resolved += 1
    return result


def _unchanged(row: Mapping[Any, Any], values: Mapping[str, Any]) -> bool:
    """Whether a stored finding already says what a run found (its time seen aside)."""
    return all(row[name] == value for name, value in values.items())


def _in_view(row: dict[str, Any] | Any, window: Window) -> bool:
    """Whether a stored finding's period [start, end) (else its moment, else when it was last seen) overlaps
    the span [start, end) a rule judged."""
    if row["period_end"] is not None:
        start = row["period_start"] or row["period_end"]
        return bool(row["period_end"] > window[0] and start < window[1])
    moment = row["period_start"] or row["last_seen"]
    return bool(window[0] <= moment < window[1])


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidInput("a reason is required (豁免理由): say why this finding is waived")
    if len(text) > REASON_MAX:
        raise InvalidInput(f"the reason is longer than {REASON_MAX} characters")
    return text


def _locked(conn: Connection, finding_id: int) -> dict[str, Any]:
    row = conn.execute(select(findings).where(_f.id == finding_id).with_for_update()).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no finding {finding_id}")
    return dict(row)


def waive(conn: Connection, finding_id: int, reason: str, *, by: str, now: datetime) -> dict[str, Any]:
    """Waive an open or resolved finding, with a reason (it stays waived while the rule still finds it)."""
    text = _reason(reason)
    row = _locked(conn, finding_id)
    if row["state"] == "waived":
        raise Conflict(f"finding {finding_id} is already waived")
    conn.execute(
        update(findings).where(_f.id == finding_id).values(state="waived", state_reason=text, updated_at=now)
    )
    _event(conn, finding_id, "waived", row["state"], "waived", at=now, reason=text, by=by, now=now)
    return _locked(conn, finding_id)


def unwaive(conn: Connection, finding_id: int, reason: str, *, by: str, now: datetime) -> dict[str, Any]:
    """Withdraw a waiver: the finding is open again (the next run resolves it if the rule no longer finds it)."""
    text = _reason(reason)
    row = _locked(conn, finding_id)
    if row["state"] != "waived":
        raise Conflict(f"finding {finding_id} is {row['state']}, not waived")
    conn.execute(
        update(findings).where(_f.id == finding_id).values(state="open", state_reason="", updated_at=now)
    )
    _event(conn, finding_id, "unwaived", "waived", "open", at=now, reason=text, by=by, now=now)
    return _locked(conn, finding_id)


def finding_history(conn: Connection, finding_id: int) -> list[dict[str, Any]]:
    """The events of one finding, oldest first."""
    rows = conn.execute(
        select(finding_events).where(finding_events.c.finding_id == finding_id).order_by(finding_events.c.id)
    ).mappings()
    return [dict(r) for r in rows]
