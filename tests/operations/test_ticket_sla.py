"""CS-4.3.3 SLA clocks (events at the boundaries) and the satisfaction rate, on hand-made histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.operations.ticket_lifecycle import InvalidTransition
from envwatch.operations.ticket_sla import (
    SERVICE_ZONES,
    Rate,
    SlaClock,
    SlaRules,
    is_satisfied,
    satisfaction_rate,
    ticket_clocks,
)

# 22:00 UTC on 1 May (劳动节): the clocks run through the night and the holiday, 7×24
T0 = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
H = timedelta(hours=1)
S = timedelta(seconds=1)
ON_SITE = {"urban": 4 * H, "suburban": 8 * H, "remote": 8 * H}


def clocks(
    *events: tuple[str, timedelta], zone: str = "urban", now: timedelta = 24 * H
) -> dict[str, SlaClock]:
    history = [("requested", T0)] + [(name, T0 + offset) for name, offset in events]
    result = ticket_clocks(history, zone, T0 + now)  # type: ignore[arg-type]
    assert [c.name for c in result] == ["respond", "on_site"]
    assert all(c.clause == "CS-4.3.3" and c.started_at == T0 for c in result)
    return {c.name: c for c in result}


def test_defaults_are_the_clause_and_run_on_calendar_time() -> None:
    rules = SlaRules()
    assert rules.respond_within == H
    assert {zone: rules.on_site_within(zone) for zone in SERVICE_ZONES} == ON_SITE
    assert rules.satisfaction_min_percent == Decimal("85") and rules.satisfied_min_score == 4
    got = clocks(now=0 * H)
    assert got["respond"].due_at == datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
    assert got["on_site"].due_at == datetime(2024, 5, 2, 2, 0, tzinfo=UTC)  # past midnight, on a holiday


@pytest.mark.parametrize(
    ("offset", "state"), [(H - S, "met"), (H, "met"), (H + S, "breached"), (0 * H, "met")]
)
def test_response_at_the_boundary(offset: timedelta, state: str) -> None:
    got = clocks(("respond", offset))["respond"]
    assert (got.state, got.stopped_at, got.remaining) == (state, T0 + offset, None)


@pytest.mark.parametrize("zone", SERVICE_ZONES)
@pytest.mark.parametrize(("delta", "state"), [(-S, "met"), (0 * S, "met"), (S, "breached")])
def test_arrival_at_the_boundary_by_zone(zone: str, delta: timedelta, state: str) -> None:
    got = clocks(("respond", 10 * 60 * S), ("arrive", ON_SITE[zone] + delta), zone=zone)["on_site"]
    assert got.due_at == T0 + ON_SITE[zone]
    assert (got.state, got.stopped_at) == (state, T0 + ON_SITE[zone] + delta)


def test_a_suburban_arrival_after_4h_is_met_where_an_urban_one_is_breached() -> None:
    events = (("respond", 30 * 60 * S), ("arrive", 5 * H))
    assert clocks(*events, zone="urban")["on_site"].state == "breached"
    assert clocks(*events, zone="suburban")["on_site"].state == "met"
    assert clocks(*events, zone="remote")["on_site"].state == "met"


def test_the_on_site_clock_counts_from_the_request_not_from_the_response() -> None:
    assert clocks(("respond", 59 * 60 * S), ("arrive", 4 * H))["on_site"].state == "met"
    late = clocks(("respond", 59 * 60 * S), ("arrive", 4 * H + 59 * 60 * S))["on_site"]
    assert late.state == "breached"  # 4 h after the response is still too late


@pytest.mark.parametrize(
    ("now", "state", "remaining"),
    [(H - S, "running", S), (H, "running", 0 * S), (H + S, "overdue", -S), (30 * H, "overdue", -29 * H)],
)
def test_a_response_clock_never_stopped_runs_until_due_then_is_overdue(
    now: timedelta, state: str, remaining: timedelta
) -> None:
    got = clocks(now=now)["respond"]
    assert (got.state, got.stopped_at, got.remaining) == (state, None, remaining)


@pytest.mark.parametrize(
    ("now", "state"), [(4 * H - S, "running"), (4 * H, "running"), (4 * H + S, "overdue")]
)
def test_an_on_site_clock_waiting_for_the_engineer(now: timedelta, state: str) -> None:
    got = clocks(("respond", 5 * 60 * S), now=now)
    assert got["respond"].state == "met"
    assert (got["on_site"].state, got["on_site"].remaining) == (state, 4 * H - now)


def test_a_stopped_clock_does_not_depend_on_now() -> None:
    for now in (3 * H, 10 * H, 1000 * H):
        got = clocks(("respond", H + S), ("arrive", 3 * H), now=now)
        assert (got["respond"].state, got["on_site"].state) == ("breached", "met")


def test_a_rejected_fix_keeps_the_first_arrival() -> None:
    got = clocks(
        ("respond", 20 * 60 * S),
        ("arrive", 3 * H),
        ("resolve", 5 * H),
        ("reject", 6 * H),
        ("comment", 6 * H),
        ("resolve", 9 * H),
        ("confirm", 10 * H),
        ("survey", 30 * H),
        now=48 * H,
    )
    assert (got["on_site"].state, got["on_site"].stopped_at) == ("met", T0 + 3 * H)


@pytest.mark.parametrize(
    ("cancel", "zone", "respond_state", "on_site_state"),
    [
        (10 * 60 * S, "urban", "not_applicable", "not_applicable"),
        (H, "urban", "not_applicable", "not_applicable"),  # at due: nothing was late yet
        (H + S, "urban", "breached", "not_applicable"),
        (4 * H, "urban", "breached", "not_applicable"),
        (4 * H + S, "urban", "breached", "breached"),
        (4 * H + S, "suburban", "breached", "not_applicable"),
        (8 * H + S, "remote", "breached", "breached"),
    ],
)
def test_cancelled_requests(cancel: timedelta, zone: str, respond_state: str, on_site_state: str) -> None:
    got = clocks(("cancel", cancel), zone=zone)
    assert (got["respond"].state, got["on_site"].state) == (respond_state, on_site_state)
    assert got["respond"].stopped_at == got["on_site"].stopped_at == T0 + cancel
    assert got["respond"].remaining is None and got["on_site"].remaining is None


@pytest.mark.parametrize(
    ("remote", "zone", "on_site_state"),
    [
        (30 * 60 * S, "urban", "not_applicable"),
        (4 * H, "urban", "not_applicable"),  # at due: nobody was late yet
        (4 * H + S, "urban", "breached"),
        (4 * H + S, "suburban", "not_applicable"),
        (8 * H + S, "remote", "breached"),
    ],
)
def test_a_remote_fix_stops_the_on_site_clock(remote: timedelta, zone: str, on_site_state: str) -> None:
    got = clocks(("respond", 10 * 60 * S), ("resolve_remotely", remote), zone=zone)
    assert got["respond"].state == "met"
    assert (got["on_site"].state, got["on_site"].stopped_at, got["on_site"].remaining) == (
        on_site_state,
        T0 + remote,
        None,
    )
    closed = clocks(("respond", 10 * 60 * S), ("resolve_remotely", remote), ("confirm", 9 * H), zone=zone)
    assert closed["on_site"].state == on_site_state


@pytest.mark.parametrize(
    ("now", "state", "remaining"), [(3 * H, "running", H), (4 * H, "running", 0 * H), (5 * H, "overdue", -H)]
)
def test_a_rejected_remote_fix_lets_the_on_site_clock_run_again(
    now: timedelta, state: str, remaining: timedelta
) -> None:
    got = clocks(("respond", 5 * 60 * S), ("resolve_remotely", H), ("reject", 2 * H), now=now)["on_site"]
    assert (got.state, got.stopped_at, got.remaining) == (state, None, remaining)


def test_an_arrival_after_a_rejected_remote_fix_is_what_counts() -> None:
    events = (("respond", 5 * 60 * S), ("resolve_remotely", H), ("reject", 2 * H))
    assert clocks(*events, ("arrive", 3 * H))["on_site"].state == "met"
    late = clocks(*events, ("arrive", 5 * H))["on_site"]
    assert (late.state, late.stopped_at) == ("breached", T0 + 5 * H)
    # a second remote fix after the due time does not make the clock not applicable again
    again = clocks(*events, ("resolve_remotely", 4 * H + S))["on_site"]
    assert (again.state, again.stopped_at) == ("breached", T0 + 4 * H + S)


def test_rules_come_from_the_caller() -> None:
    rules = SlaRules(respond_within=30 * 60 * S, on_site_urban=2 * H)
    history = [("requested", T0), ("respond", T0 + 40 * 60 * S), ("arrive", T0 + 3 * H)]
    got = {c.name: c.state for c in ticket_clocks(history, "urban", T0 + 5 * H, rules)}
    assert got == {"respond": "breached", "on_site": "breached"}


def test_rules_from_settings() -> None:
    settings = SimpleNamespace(
        ticket_respond_within_h=2,
        ticket_on_site_urban_h=3,
        ticket_on_site_suburban_h=6.5,
        ticket_on_site_remote_h=12,
        ticket_satisfied_min_score=5,
        ticket_satisfaction_min_percent=90,
    )
    assert SlaRules.from_settings(settings) == SlaRules(2 * H, 3 * H, 6.5 * H, 12 * H, 5, 5, Decimal("90"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"respond_within": 0 * H},
        {"on_site_remote": -H},
        {"satisfied_min_score": 0},
        {"satisfied_min_score": 6},
        {"satisfaction_min_percent": Decimal("100.1")},
    ],
)
def test_nonsense_rules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="SlaRules"):
        SlaRules(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([], "no events"),
        ([("respond", T0), ("requested", T0 + S)], "before the request"),
        ([("requested", T0), ("requested", T0 + S)], "second 'requested'"),
        ([("requested", T0), ("respond", T0 + H), ("arrive", T0 + H - S)], "earlier than the event before"),
        ([("requested", T0), ("respond", T0 + 25 * H)], "after now"),
        ([("requested", T0.replace(tzinfo=None))], "no time zone"),
        ([("requested", T0), ("phone_call", T0 + S)], "not a ticket event"),
    ],
)
def test_histories_that_are_not_histories(history: list[tuple[str, datetime]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ticket_clocks(history, "urban", T0 + 24 * H)


def test_naive_now_and_unknown_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        ticket_clocks([("requested", T0)], "urban", (T0 + H).replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown service zone"):
        ticket_clocks([("requested", T0)], "downtown", T0 + H)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "history",
    [
        [("requested", T0), ("arrive", T0 + H)],  # an arrival nobody responded to
        [("requested", T0), ("respond", T0 + S), ("cancel", T0 + H)],  # cancel after the response
        [("requested", T0), ("survey", T0 + H)],  # a survey before the close
        [("requested", T0), ("resolve_remotely", T0 + H)],  # a remote fix nobody responded to
        [("requested", T0), ("respond", T0 + S), ("arrive", T0 + H), ("resolve_remotely", T0 + 2 * H)],
    ],
)
def test_histories_the_lifecycle_forbids(history: list[tuple[str, datetime]]) -> None:
    with pytest.raises(InvalidTransition):
        ticket_clocks(history, "urban", T0 + 24 * H)


seconds = st.integers(min_value=0, max_value=20 * 3600)


@given(
    zone=st.sampled_from(SERVICE_ZONES),
    offsets=st.lists(seconds, min_size=3, max_size=3).map(sorted),
    stops=st.integers(min_value=0, max_value=3),
    cancelled=st.booleans(),
    remote=st.booleans(),
    later=seconds,
)
def test_random_histories_never_raise_and_met_means_stopped_by_due(
    zone: str, offsets: list[int], stops: int, cancelled: bool, remote: bool, later: int
) -> None:
    path = ["respond", "resolve_remotely", "confirm"] if remote else ["respond", "arrive", "resolve"]
    names = ["cancel"] if cancelled else path[:stops]
    history = [("requested", T0)] + [(n, T0 + o * S) for n, o in zip(names, offsets, strict=False)]
    now = history[-1][1] + later * S
    for clock in ticket_clocks(history, zone, now):  # type: ignore[arg-type]
        stop = dict(history).get("respond" if clock.name == "respond" else "arrive")
        assert (clock.state == "met") == (stop is not None and stop <= clock.due_at)
        assert (clock.state in ("running", "overdue")) == (clock.stopped_at is None)
        assert (clock.remaining is None) == (clock.stopped_at is not None)
        if clock.state == "running":
            assert clock.remaining is not None and clock.remaining >= timedelta(0)
        if clock.state == "not_applicable":
            stopped_by = "cancel" if cancelled else "resolve_remotely"
            assert clock.name == "on_site" or cancelled
            assert clock.stopped_at == dict(history)[stopped_by] and clock.stopped_at <= clock.due_at


# --- satisfaction (满意度) --------------------------------------------------------------------------


def test_no_surveys_is_no_rate_not_zero_percent() -> None:
    assert satisfaction_rate([]) == Rate(0, 0, None, None)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([5] * 17 + [3] * 3, Rate(20, 17, Decimal("85.0"), True)),  # exactly 85 %
        ([4] * 16 + [3] * 4, Rate(20, 16, Decimal("80.0"), False)),
        (
            [True] * 1699 + [False] * 301,
            Rate(2000, 1699, Decimal("85.0"), False),
        ),  # 84.95 shows 85.0, not met
        ([True] * 1701 + [False] * 299, Rate(2000, 1701, Decimal("85.1"), True)),  # 85.05 rounds half up
        ([True] + [False] * 15, Rate(16, 1, Decimal("6.3"), False)),  # 6.25 → 6.3 (half-up, not half-even)
        ([True, True, False], Rate(3, 2, Decimal("66.7"), False)),
        ([4, 4, 4], Rate(3, 3, Decimal("100.0"), True)),
        ([True, 2, 5, False], Rate(4, 2, Decimal("50.0"), False)),  # yes/no and scores mix
    ],
)
def test_satisfaction_rate(answers: list[bool | int], expected: Rate) -> None:
    assert satisfaction_rate(iter(answers)) == expected


@pytest.mark.parametrize(
    ("answer", "satisfied"), [(5, True), (4, True), (3, False), (1, False), (True, True), (False, False)]
)
def test_what_counts_as_satisfied(answer: bool | int, satisfied: bool) -> None:
    assert is_satisfied(answer) is satisfied


@pytest.mark.parametrize("answer", [0, 6, -1, 4.5, "4", None])
def test_answers_off_the_scale_are_refused(answer: object) -> None:
    with pytest.raises(ValueError, match="neither yes/no nor a score"):
        satisfaction_rate([5, answer])  # type: ignore[list-item]


def test_satisfaction_rules_come_from_the_caller() -> None:
    strict = SlaRules(satisfied_min_score=5, satisfaction_min_percent=Decimal("50"))
    assert satisfaction_rate([5, 4], strict) == Rate(2, 1, Decimal("50.0"), True)
    assert satisfaction_rate([5, 4]) == Rate(2, 2, Decimal("100.0"), True)


def test_rules_from_the_platform_settings() -> None:
    from envwatch.core.settings import Settings

    settings = Settings(_env_file=None, ticket_on_site_remote_h=12, ticket_satisfied_min_score=5)  # type: ignore[call-arg]
    rules = SlaRules.from_settings(settings)
    assert rules.respond_within == timedelta(hours=1) and rules.on_site_within("urban") == timedelta(hours=4)
    assert rules.on_site_within("remote") == timedelta(hours=12) and rules.satisfied_min_score == 5
