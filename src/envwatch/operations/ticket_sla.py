"""Service ticket SLA clocks and the satisfaction rate (服务时限与满意度, CS-4.3.3).

Theory of operation
-------------------
CS-4.3.3: a 7×24 service line; respond within 1 h; on site within 4 h (urban) / 8 h (suburban, remote), by
the zone of the enterprise's outlet; satisfaction surveys ≥ 85 %.

- **Calendar time.** The line is 7×24, so the clocks run through nights, weekends and holidays: no working-day
  calendar here, only ``due_at = requested_at + limit``.
- **Both clocks start at the recorded request.** "On site within 4 h" is read as 4 h from the call, as the
  enterprise experiences it — not 4 h after the response, which would give the operator up to 5 h.
- **Clocks stop only on recorded events.** ``respond`` stops the response clock and ``arrive`` the on-site
  clock, at the event's recorded time (a later GPS check-in may correct that record; this module takes what it
  is given). The first event counts: a fix the enterprise rejects is the same request (``ticket_lifecycle``).
- **At due is in time.** An event exactly at ``due_at`` is ``met``; one second later is ``breached``. A clock
  never stopped is ``running`` up to and including ``due_at`` and ``overdue`` after it.
- **Cancelled requests.** A request cancelled at or before a clock's due time is ``not_applicable`` for that
  clock; cancelled after it, the clock was already blown: ``breached`` (stopped at the cancellation).
- **Solved remotely (远程解决).** A standing remote fix (``resolve_remotely`` not rejected since) stops the
  on-site clock the same way: ``not_applicable`` when it came at or before the on-site due time (nobody had to
  come, nobody was late), ``breached`` when it came after it (the enterprise waited past the limit either
  way). A rejected remote fix is forgotten: the on-site clock runs again from the request until an arrival,
  so a rejection after the due time leaves it ``overdue``. The response clock is unaffected (a remote fix
  comes after the response).

The events are replayed through the lifecycle table, so a history the lifecycle forbids (an arrival before
any response, a cancel after the response) raises :class:`~.ticket_lifecycle.InvalidTransition`; a history
that is not a history at all (no request first, two requests, times going backwards, naive or future times,
unknown events) raises :class:`ValueError` saying which event is wrong.

Satisfaction (满意度): a survey answer is either a yes/no (bool) or a score on a 1..5 scale; a score counts as
satisfied at ``satisfied_min_score`` (4: 满意 / 基本满意) or above. The rate is aggregated by the caller per
operator and period; an empty set has no rate (None), not 0 %. The target is met when the exact fraction
reaches ``satisfaction_min_percent`` — the displayed percent is rounded half-up to 0.1, and 84.95 % shows as
85.0 % yet does not meet 85 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal, get_args

from envwatch.operations.ticket_lifecycle import TICKET_EVENTS, TicketEvent, TicketState, next_state

CLAUSE: Final = "CS-4.3.3"

ServiceZone = Literal["urban", "suburban", "remote"]
SERVICE_ZONES: Final[tuple[ServiceZone, ...]] = get_args(ServiceZone)
ClockName = Literal["respond", "on_site"]
ClockState = Literal["running", "met", "overdue", "breached", "not_applicable"]

CLOCKS: Final[tuple[ClockName, ...]] = ("respond", "on_site")
# the event that stops each clock
_STOP_EVENT: Final[dict[ClockName, TicketEvent]] = {"respond": "respond", "on_site": "arrive"}


@dataclass(frozen=True)
class SlaRules:
    """The CS-4.3.3 limits; defaults are the clause's, a province changes them through ``ticket_*`` settings."""

    respond_within: timedelta = timedelta(hours=1)
    on_site_urban: timedelta = timedelta(hours=4)
    on_site_suburban: timedelta = timedelta(hours=8)
    on_site_remote: timedelta = timedelta(hours=8)
    satisfied_min_score: int = (
        4  # on the 1..5 scale: 5 非常满意, 4 满意/基本满意, 3 一般, 2 不满意, 1 很不满意
    )
    survey_scale_max: int = 5
    satisfaction_min_percent: Decimal = Decimal("85")

    def __post_init__(self) -> None:
        for name in ("respond_within", "on_site_urban", "on_site_suburban", "on_site_remote"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"SlaRules.{name} must be a positive duration")
        if not 1 <= self.satisfied_min_score <= self.survey_scale_max:
            raise ValueError(f"SlaRules.satisfied_min_score must be within 1..{self.survey_scale_max}")
        if not Decimal(0) <= self.satisfaction_min_percent <= Decimal(100):
            raise ValueError("SlaRules.satisfaction_min_percent must be within 0..100")

    @classmethod
    def from_settings(cls, settings: Any) -> SlaRules:
        """Read the ``ticket_*`` fields of ``core.settings.Settings`` (hours, score, percent)."""
        return cls(
            respond_within=timedelta(hours=float(settings.ticket_respond_within_h)),
            on_site_urban=timedelta(hours=float(settings.ticket_on_site_urban_h)),
            on_site_suburban=timedelta(hours=float(settings.ticket_on_site_suburban_h)),
            on_site_remote=timedelta(hours=float(settings.ticket_on_site_remote_h)),
            satisfied_min_score=int(settings.ticket_satisfied_min_score),
            satisfaction_min_percent=Decimal(str(settings.ticket_satisfaction_min_percent)),
        )

    def on_site_within(self, zone: ServiceZone) -> timedelta:
        if zone == "urban":
            return self.on_site_urban
        if zone == "suburban":
            return self.on_site_suburban
        if zone == "remote":
            return self.on_site_remote
        raise ValueError(f"unknown service zone {zone!r} (expected one of {', '.join(SERVICE_ZONES)})")

    def limit(self, clock: ClockName, zone: ServiceZone) -> timedelta:
        return self.respond_within if clock == "respond" else self.on_site_within(zone)


@dataclass(frozen=True)
class SlaClock:
    """One CS-4.3.3 clock of one ticket as of ``now``.

    ``stopped_at`` is the time of the event that stopped it (the response, the arrival, or the cancellation);
    ``remaining`` is ``due_at - now`` while nothing stopped it (negative when overdue), None once stopped.
    """

    name: ClockName
    clause: str
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    state: ClockState
    remaining: timedelta | None


def ticket_clocks(
    events: Sequence[tuple[str, datetime]],
    zone: ServiceZone,
    now: datetime,
    rules: SlaRules | None = None,
) -> list[SlaClock]:
    """The response and on-site clocks of one ticket from its recorded events, in time order."""
    rules = rules or SlaRules()
    _require_aware(now, "now")
    requested_at, first, cancelled_at, remote_at = _replay(events, now)
    clocks: list[SlaClock] = []
    for clock in CLOCKS:
        due_at = requested_at + rules.limit(clock, zone)
        stopped_at = first.get(_STOP_EVENT[clock])
        state: ClockState
        if stopped_at is not None:
            state = "met" if stopped_at <= due_at else "breached"
        elif cancelled_at is not None:
            stopped_at = cancelled_at
            state = "not_applicable" if cancelled_at <= due_at else "breached"
        elif clock == "on_site" and remote_at is not None:
            stopped_at = remote_at
            state = "not_applicable" if remote_at <= due_at else "breached"
        else:
            state = "running" if now <= due_at else "overdue"
        remaining = due_at - now if state in ("running", "overdue") else None
        clocks.append(SlaClock(clock, CLAUSE, requested_at, due_at, stopped_at, state, remaining))
    return clocks


def _replay(
    events: Sequence[tuple[str, datetime]], now: datetime
) -> tuple[datetime, dict[TicketEvent, datetime], datetime | None, datetime | None]:
    """Check the history and return (request time, first time of each event, cancellation time, time of
    the remote fix that stands: the last ``resolve_remotely`` not rejected since)."""
    if not events:
        raise ValueError("a ticket has no events: the first must be 'requested'")
    first: dict[TicketEvent, datetime] = {}
    state: TicketState = "requested"
    previous: datetime | None = None
    remote_at: datetime | None = None
    for index, (name, at) in enumerate(events):
        if name not in TICKET_EVENTS:
            raise ValueError(f"event #{index} '{name}' is not a ticket event ({', '.join(TICKET_EVENTS)})")
        event: TicketEvent = name
        _require_aware(at, f"event #{index} '{name}'")
        if index == 0 and event != "requested":
            raise ValueError(
                f"event #0 '{name}' comes before the request: the first event must be 'requested'"
            )
        if index > 0 and event == "requested":
            raise ValueError(f"event #{index} is a second 'requested': one ticket records one request")
        if previous is not None and at < previous:
            raise ValueError(
                f"event #{index} '{name}' at {at.isoformat()} is earlier than the event before it"
            )
        if at > now:
            raise ValueError(f"event #{index} '{name}' at {at.isoformat()} is after now ({now.isoformat()})")
        if index > 0:
            before, state = state, next_state(state, event)  # InvalidTransition when the lifecycle forbids it
            if event == "resolve_remotely":
                remote_at = at
            elif event == "reject" and before == "remote_fixed":
                remote_at = None
        first.setdefault(event, at)
        previous = at
    return first["requested"], first, first.get("cancel"), remote_at


def _require_aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what}: time {at.isoformat()} has no time zone (use aware UTC datetimes)")


@dataclass(frozen=True)
class Rate:
    """A satisfaction rate: ``percent`` rounded half-up to 0.1, None (and ``meets_target`` None) when n = 0."""

    n: int
    satisfied: int
    percent: Decimal | None
    meets_target: bool | None


def is_satisfied(answer: bool | int, rules: SlaRules | None = None) -> bool:
    """One survey answer: a yes/no, or a score on 1..``survey_scale_max`` (satisfied at the rule's minimum)."""
    rules = rules or SlaRules()
    if isinstance(answer, bool):  # before int: bool is an int in Python
        return answer
    if not isinstance(answer, int) or not 1 <= answer <= rules.survey_scale_max:
        raise ValueError(
            f"survey answer {answer!r} is neither yes/no nor a score 1..{rules.survey_scale_max}"
        )
    return answer >= rules.satisfied_min_score


def satisfaction_rate(answers: Iterable[bool | int], rules: SlaRules | None = None) -> Rate:
    """The satisfaction rate of the surveys the caller selected (one operator, one period)."""
    rules = rules or SlaRules()
    n = satisfied = 0
    for answer in answers:
        n += 1
        satisfied += is_satisfied(answer, rules)
    if n == 0:
        return Rate(0, 0, None, None)
    percent = (Decimal(100) * satisfied / n).quantize(Decimal("0.1"), ROUND_HALF_UP)
    # exact comparison, not on the rounded figure: rounding must not lift a rate over the target
    meets = Decimal(100) * satisfied >= rules.satisfaction_min_percent * n
    return Rate(n, satisfied, percent, meets)
