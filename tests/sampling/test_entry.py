"""The on-site entry rules (现场录入, WZ-A2-6), pure: on site, on time, never ahead."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from envwatch.core.errors import Conflict, EnvwatchError, InvalidInput
from envwatch.core.geo import distance_m
from envwatch.sampling.entry import EntryRules, EntryVerdict, Position, Window, judge_entry

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 China time
POINT = Position(Decimal("27.9938"), Decimal("120.6993"))
WINDOW = Window(NOW - timedelta(hours=1), NOW + timedelta(hours=7))
RULES = EntryRules(
    max_distance_m=300,
    offline_max_age=timedelta(hours=72),
    clock_skew=timedelta(seconds=300),
    entry_lag=timedelta(minutes=60),
)
METRES_PER_DEGREE_LAT = math.pi * 6_371_008.8 / 180


def north(metres: float) -> Position:
    """A position ``metres`` north of the point (to a millimetre or so)."""
    return Position(POINT.latitude + Decimal(repr(metres / METRES_PER_DEGREE_LAT)), POINT.longitude)


def judge(**changes: Any) -> EntryVerdict:
    args: dict[str, Any] = {
        "now": NOW,
        "device_at": NOW,
        "offline": False,
        "position": POINT,
        "point": POINT,
        "window": WINDOW,
        "rules": RULES,
        "sampled_at": None,
    }
    return judge_entry(**(args | changes))


def refused(kind: type[EnvwatchError], match: str, **changes: Any) -> str:
    with pytest.raises(kind, match=match) as exc:
        judge(**changes)
    return exc.value.message


def test_online_entry_at_the_point_in_the_window() -> None:
    verdict = judge(device_at=NOW - timedelta(seconds=20))
    assert verdict == EntryVerdict(sampled_at=NOW, distance_m=0, flags=())


def test_online_sampling_time_is_the_server_time_not_the_phone_time() -> None:
    assert judge(device_at=NOW - timedelta(seconds=299)).sampled_at == NOW


def test_online_before_the_window_opens_cannot_be_entered_in_advance() -> None:
    message = refused(
        Conflict,
        "cannot be entered in advance",
        now=WINDOW.start - timedelta(seconds=1),
        device_at=WINDOW.start - timedelta(seconds=1),
    )
    assert "2026-11-23 09:00" in message  # the opening, in China time
    assert "WZ-A2-6" in message


def test_online_the_phone_clock_cannot_open_the_window() -> None:
    # the phone says the window is open; the server says it is not
    refused(Conflict, "in advance", now=WINDOW.start - timedelta(minutes=1), device_at=WINDOW.start)


def test_window_start_is_inside_and_window_end_outside() -> None:
    assert judge(now=WINDOW.start, device_at=WINDOW.start).sampled_at == WINDOW.start
    last = WINDOW.end - timedelta(microseconds=1)
    assert judge(now=last, device_at=last).sampled_at == last
    message = refused(Conflict, "window closed", now=WINDOW.end, device_at=WINDOW.end)
    assert "2026-11-23 17:00" in message


def test_too_far_from_the_point_is_refused_and_exactly_the_limit_accepted() -> None:
    at_limit = north(300)
    assert distance_m(at_limit.latitude, at_limit.longitude, POINT.latitude, POINT.longitude) == 300
    assert judge(position=at_limit).distance_m == 300
    beyond = north(301)
    message = refused(Conflict, "301 m from the sampling point", position=beyond)
    assert "at most 300 m" in message and "sampling_max_distance_m" in message


def test_far_away_is_refused_whatever_else() -> None:
    refused(Conflict, "from the sampling point", position=Position(Decimal("30.2741"), Decimal("120.1551")))


def test_online_clock_skew_is_accepted_and_flagged() -> None:
    assert judge(device_at=NOW - timedelta(seconds=300)).flags == ()  # the limit itself is fine
    assert judge(device_at=NOW + timedelta(seconds=300)).flags == ()
    late_clock = judge(device_at=NOW - timedelta(seconds=301))
    assert late_clock.flags == ("clock_skew",) and late_clock.sampled_at == NOW
    assert judge(device_at=NOW + timedelta(hours=5)).flags == ("clock_skew",)


def test_offline_entry_is_accepted_and_flagged_with_its_phone_time() -> None:
    made = NOW - timedelta(minutes=30)
    synced = NOW + timedelta(hours=20)  # after the window closed: what counts is when it was made
    verdict = judge(now=synced, device_at=made, offline=True)
    assert verdict.flags == ("offline",)
    assert verdict.sampled_at == made


def test_offline_entry_too_old_is_refused_and_the_limit_accepted() -> None:
    made = NOW
    assert judge(now=made + timedelta(hours=72), device_at=made, offline=True).flags == ("offline",)
    message = refused(
        Conflict,
        "more than 72 h later",
        now=made + timedelta(hours=72, seconds=1),
        device_at=made,
        offline=True,
    )
    assert "sampling_offline_max_age_h" in message


def test_offline_device_time_in_the_future_is_refused() -> None:
    message = refused(
        InvalidInput, "check the phone's clock", device_at=NOW + timedelta(seconds=301), offline=True
    )
    assert "after the server's time" in message
    # within the skew a phone running a little fast is fine
    assert judge(device_at=NOW + timedelta(seconds=300), offline=True).sampled_at == NOW + timedelta(
        seconds=300
    )


def test_offline_entry_made_before_the_window_is_refused() -> None:
    refused(Conflict, "in advance", device_at=WINDOW.start - timedelta(minutes=1), offline=True)


def test_offline_entry_made_after_the_window_is_refused() -> None:
    refused(
        Conflict, "window closed", now=WINDOW.end + timedelta(hours=1), device_at=WINDOW.end, offline=True
    )


def test_offline_entry_still_needs_the_position_rule() -> None:
    refused(
        Conflict,
        "from the sampling point",
        device_at=NOW - timedelta(minutes=5),
        offline=True,
        position=north(500),
    )


def test_sampling_time_given_by_hand() -> None:
    given = NOW - timedelta(minutes=60)
    assert judge(sampled_at=given).sampled_at == given  # the lag limit itself is fine
    assert judge(sampled_at=NOW).sampled_at == NOW


def test_sampling_time_after_the_entry_is_refused() -> None:
    message = refused(InvalidInput, "cannot be entered ahead", sampled_at=NOW + timedelta(seconds=1))
    assert "is after the entry" in message


def test_sampling_time_after_an_offline_entry_is_refused() -> None:
    made = NOW - timedelta(minutes=30)
    refused(
        InvalidInput,
        "cannot be entered ahead",
        device_at=made,
        offline=True,
        sampled_at=made + timedelta(minutes=1),
    )


def test_sampling_time_too_long_before_the_entry_is_refused() -> None:
    message = refused(
        InvalidInput, "more than 60 min before the entry", sampled_at=NOW - timedelta(minutes=60, seconds=1)
    )
    assert "sampling_entry_lag_min" in message


def test_missing_position_is_refused() -> None:
    refused(InvalidInput, "GPS position", position=None)


def test_position_off_the_earth_is_refused() -> None:
    refused(InvalidInput, "latitude 91", position=Position(Decimal("91"), Decimal("120")))
    refused(InvalidInput, "longitude", position=Position(Decimal("28"), Decimal("NaN")))


@pytest.mark.parametrize("field", ["device_at", "sampled_at"])
def test_naive_times_are_refused(field: str) -> None:
    naive = NOW.replace(tzinfo=None)
    refused(InvalidInput, "UTC offset", **{field: naive})


def test_times_in_another_offset_are_the_same_moment() -> None:
    from envwatch.core.clock import CHINA_TZ

    local = NOW.astimezone(CHINA_TZ)
    assert judge(device_at=local, sampled_at=local - timedelta(minutes=5)).sampled_at == NOW - timedelta(
        minutes=5
    )


def test_sampling_time_before_the_window_opens_is_refused() -> None:
    """An entry made just after the window opened cannot date its sample before the opening."""
    opened = NOW - timedelta(hours=1)  # WINDOW.start
    just_after = {"device_at": opened + timedelta(minutes=5), "now": opened + timedelta(minutes=5)}
    assert judge(**just_after, sampled_at=opened).sampled_at == opened
    message = refused(
        Conflict, "before the plan's window opens", **just_after, sampled_at=opened - timedelta(minutes=1)
    )
    assert "WZ-A2-6" in message
