"""Mark rules (标记规则): the code table, validation, lateness (补标), superseding and review, pure.

Theory of operation
-------------------
A mark (标记) says what happened to a device, or to one factor of it, over [start, end): a working
condition (工况: 停运, 启炉, 停炉 …), an equipment state (设备: 故障, 维护, 校准, 标样核查, 失控 …) or
an HJ 212 data flag (F/M/D/C/T/B/S). Codes are data (``monitoring/data/mark_codes.json``), each with
its effect (``MarkEffect``), whether it needs review (审核), and its source clause.

Invariants (enforced here and by the store):

- marks are append-only: a correction is a new mark that supersedes the old one (both kept, with who
  and when); a withdrawal is a row that supersedes and cancels; a mark is superseded at most once, and
  only the latest version can be superseded, withdrawn or reviewed;
- a late mark is accepted but recorded as late: the deadline is a pluggable rule (``MarkPolicy``),
  counted from the END of the marked range (legacy national rules, RENREN-ETR in the reference);
- effect in force: a mark whose latest review is ``rejected`` has no effect (INFO), whatever its code
  (a regulator rejecting a false mark, SX-29); a code that needs review (停运, 停产: they take hours out
  of the rate base) takes its effect only once its latest review is ``approved``; until then, when
  approval is required, it is INFO.

Every function takes ``now``; nothing here reads a clock or a database.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import Conflict, InvalidInput
from envwatch.core.settings import Settings
from envwatch.monitoring.marking import MarkEffect

__all__ = [
    "ACTIONS",
    "CATEGORIES",
    "DEADLINE_RULES",
    "DECISIONS",
    "SOURCES",
    "MarkCode",
    "MarkDraft",
    "MarkPolicy",
    "check_can_change",
    "check_source",
    "clean_reason",
    "code_for_flag",
    "effect_in_force",
    "is_late",
    "mark_code",
    "mark_codes",
    "marking_deadline",
    "validate_draft",
]

CATEGORIES = ("working_condition", "equipment", "hj212_flag", "other")
SOURCES = ("enterprise", "operator", "regulator", "auto", "api")
ACTIONS = ("mark", "withdraw")
DECISIONS = ("approved", "rejected")
DEADLINE_RULES = ("days_after_end", "day_of_next_month")

# HJ 212 pollutant codes: a21026 / w01018 (2017), 001 / B02 / S01 (2005), LA (noise); the column is 32 wide
_FACTOR = re.compile(r"[A-Za-z0-9]{2,32}")
_REASON_MAX = 2000


@dataclass(frozen=True, slots=True)
class MarkCode:
    code: str
    name_zh: str
    name_en: str
    category: str
    effect: MarkEffect
    needs_review: bool
    hj212_flags: tuple[str, ...]
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "category": self.category,
            "effect": self.effect.value,
            "needs_review": self.needs_review,
            "hj212_flags": list(self.hj212_flags),
            "source": self.source,
        }


@cache
def mark_codes() -> dict[str, MarkCode]:
    """Every mark code, in file order (loaded once)."""
    text = resources.files("envwatch.monitoring").joinpath("data/mark_codes.json").read_text("utf-8")
    out: dict[str, MarkCode] = {}
    for entry in json.loads(text)["codes"]:
        code = MarkCode(
            code=entry["code"],
            name_zh=entry["name_zh"],
            name_en=entry["name_en"],
            category=entry["category"],
            effect=MarkEffect(entry["effect"]),
            needs_review=bool(entry["needs_review"]),
            hj212_flags=tuple(entry["hj212_flags"]),
            source=entry["source"],
        )
        # a broken table must fail loudly at load, not mark data with a wrong effect later
        if code.category not in CATEGORIES or code.code in out:
            raise ValueError(f"mark_codes.json: bad or duplicate entry {entry!r}")
        out[code.code] = code
    return out


@cache
def _flag_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code in mark_codes().values():
        for flag in code.hj212_flags:
            if flag in index:
                raise ValueError(f"mark_codes.json: HJ 212 flag {flag} is mapped twice")
            index[flag] = code.code
    return index


def code_for_flag(flag: str) -> str | None:
    """The mark code an HJ 212 data flag (Flag=) means: "D" → "fault", "F" → "instrument_stopped" …;
    None for N (normal) and for flags no table knows (the validity engine decides what those mean)."""
    return _flag_index().get(flag.strip().upper()) if flag else None


def mark_code(code: str) -> MarkCode:
    try:
        return mark_codes()[code]
    except KeyError:
        raise InvalidInput(
            f"unknown mark code {code!r}: use one of {', '.join(mark_codes())} (GET /api/v1/marks/codes)"
        ) from None


@dataclass(frozen=True, slots=True)
class MarkPolicy:
    """The limits of marking; the deadline rule is pluggable (DESIGN convention 8: thresholds are settings)."""

    deadline_rule: str = "days_after_end"
    deadline_days: int = 10
    deadline_day_of_month: int = 10
    max_span: timedelta = timedelta(days=31)
    max_future: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.deadline_rule not in DEADLINE_RULES:
            raise ValueError(
                f"mark deadline rule must be one of {DEADLINE_RULES}, not {self.deadline_rule!r}"
            )
        if not 1 <= self.deadline_day_of_month <= 28:  # every month has it
            raise ValueError("mark_deadline_day_of_month must be 1-28")

    @classmethod
    def from_settings(cls, settings: Settings) -> MarkPolicy:
        return cls(
            deadline_rule=settings.mark_deadline_rule,
            deadline_days=settings.mark_deadline_days,
            deadline_day_of_month=settings.mark_deadline_day_of_month,
            max_span=timedelta(days=settings.mark_max_span_days),
            max_future=timedelta(days=settings.mark_max_future_days),
        )


def marking_deadline(end: datetime, policy: MarkPolicy) -> datetime:
    """The last moment a mark of a range ending at ``end`` (exclusive) is on time (aware UTC).

    - ``days_after_end``: ``end`` + N days (legacy national rule: data could be reviewed and repaired
      within 10 days, RENREN-ETR);
    - ``day_of_next_month``: the end of day N, China time, of the month after the one holding the last
      marked instant (legacy rule: proof of 停运/停产 by the 10th of the next month, RENREN-ETR).
    """
    if policy.deadline_rule == "days_after_end":
        return end + timedelta(days=policy.deadline_days)
    # the range is end-exclusive: a mark ending at 2026-12-01 00:00 China time covers November only
    last = (end - timedelta(microseconds=1)).astimezone(CHINA_TZ)
    year, month = (last.year + 1, 1) if last.month == 12 else (last.year, last.month + 1)
    day_after = date(year, month, policy.deadline_day_of_month) + timedelta(days=1)
    return datetime(day_after.year, day_after.month, day_after.day, tzinfo=CHINA_TZ).astimezone(UTC)


def is_late(end: datetime, created_at: datetime, policy: MarkPolicy) -> bool:
    """Late (补标): entered after the deadline. Accepted anyway; the flag lets reports and the
    mark-abuse checks (SX-29, SD-CASE) see it."""
    deadline = marking_deadline(end, policy)
    if policy.deadline_rule == "days_after_end":
        return created_at > deadline
    return created_at >= deadline  # the calendar deadline is the first instant of the day after


@dataclass(frozen=True, slots=True)
class MarkDraft:
    """What a user asks to record (a new mark or a new version of one)."""

    factor: str | None
    start: datetime
    end: datetime
    code: str
    reason: str
    source: str


def validate_draft(draft: MarkDraft, *, now: datetime, policy: MarkPolicy) -> MarkDraft:
    """The draft, normalised (factor and reason stripped), or InvalidInput saying what to fix."""
    mark_code(draft.code)
    if draft.start.tzinfo is None or draft.end.tzinfo is None:
        raise InvalidInput("mark times must carry a time zone (naive times are not guessed)")
    if not draft.start < draft.end:
        raise InvalidInput(
            f"mark start {draft.start.isoformat()} must be before its end {draft.end.isoformat()}"
        )
    if draft.end - draft.start > policy.max_span:
        raise InvalidInput(
            f"a mark may cover at most {policy.max_span.days} days (setting ENVWATCH_MARK_MAX_SPAN_DAYS); "
            "split a longer period into several marks"
        )
    if draft.end > now + policy.max_future:
        raise InvalidInput(
            f"a mark may end at most {policy.max_future.days} days ahead (setting "
            "ENVWATCH_MARK_MAX_FUTURE_DAYS); mark the rest when it is nearer"
        )
    factor = draft.factor.strip() if draft.factor is not None else None
    if factor == "":
        factor = None
    if factor is not None and not _FACTOR.fullmatch(factor):
        raise InvalidInput(f"factor {factor!r} is not an HJ 212 pollutant code such as a21026 or w01018")
    reason = clean_reason(draft.reason)
    check_source(draft.source)
    return MarkDraft(
        factor, draft.start.astimezone(UTC), draft.end.astimezone(UTC), draft.code, reason, draft.source
    )


def clean_reason(reason: str) -> str:
    """The reason (标记原因), stripped; a mark or a withdrawal without one is refused."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a mark needs a reason (标记原因)")
    if len(reason) > _REASON_MAX:
        raise InvalidInput(f"the reason is {len(reason)} characters; at most {_REASON_MAX}")
    return reason


def check_source(source: str) -> None:
    if source not in SOURCES:
        raise InvalidInput(f"mark source must be one of {', '.join(SOURCES)}, not {source!r}")


def check_can_change(
    mark_id: int, action: str, superseded_by: tuple[int, datetime] | None, *, what: str = "supersede"
) -> None:
    """Only the latest version of a mark, and not a withdrawal, may be superseded, withdrawn or reviewed.

    ``superseded_by``: (id, created_at) of the row that already supersedes ``mark_id``, if any."""
    if superseded_by is not None:
        later_id, when = superseded_by
        raise Conflict(
            f"mark {mark_id} was already superseded by mark {later_id} on "
            f"{when.astimezone(CHINA_TZ).isoformat()}; {what} {later_id} instead"
        )
    if action == "withdraw":
        raise Conflict(f"mark {mark_id} is a withdrawal; record a new mark instead")


def effect_in_force(code: str, latest_decision: str | None, *, require_approval: bool = True) -> MarkEffect:
    """The effect a mark in force has, given its code and its latest review decision (None: not reviewed).

    - rejected → INFO, whatever the code (the mark stays on record and is shown, with no effect);
    - a code that needs review (停运, 停产/无排放) takes its effect when approved; unreviewed, it is INFO
      when ``require_approval`` (the default: unapproved shutdowns do not shrink the rate base), else
      its effect (a provisional "as claimed" view);
    - other codes take their effect.
    """
    entry = mark_code(code)
    if latest_decision == "rejected":
        return MarkEffect.INFO
    if entry.needs_review and latest_decision != "approved" and require_approval:
        return MarkEffect.INFO
    return entry.effect
