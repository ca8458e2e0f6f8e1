from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.core.clock import CHINA_TZ, format_device_time, parse_device_time


def test_device_time_is_china_time_stored_as_utc() -> None:
    assert parse_device_time("20261122120000") == datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
    assert parse_device_time("20261122120000123").microsecond == 123000  # 17 digits, seen in the field


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2026112212000",
        "2026112212000012",
        "20261322120000",
        "2026112212000a",
        "２０２６１１２２１２００００",
    ],
)
def test_bad_times_are_refused_with_the_text(bad: str) -> None:
    for _again in range(2):  # parse_device_time is cached: a refusal must not be
        with pytest.raises(ValueError, match="not an HJ 212 time"):
            parse_device_time(bad)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_round_trip(moment: datetime) -> None:
    aware = moment.replace(microsecond=0, tzinfo=CHINA_TZ)
    assert parse_device_time(format_device_time(aware)) == aware
