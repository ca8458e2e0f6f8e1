"""From a data packet to a measurement record: the checks that stay exact while the writer caches."""

from __future__ import annotations

import pytest

from envwatch.monitoring import records
from envwatch.monitoring.records import BadDataPacket, record_from_packet


def record(*codes: str) -> records.MeasurementRecord:
    factors = {code: {"Rtd": "1.0", "Flag": "N"} for code in codes}
    return record_from_packet(
        device_id=1, cn="2011", cp={"DataTime": "20261122120000"}, factors=factors, backfill=False
    )


def test_a_bad_factor_code_is_refused_every_time_and_good_ones_are_remembered_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(records, "_GOOD_CODES", set())
    monkeypatch.setattr(records, "_GOOD_CODES_MAX", 2)
    codes = ("a21026", "a21002", "a34013", "B02", "011")
    assert tuple(record(*codes).factors) == codes
    remembered = records._GOOD_CODES
    assert remembered == {"a21026", "a21002"}  # bounded: odd codes cannot grow it forever
    for _again in range(2):
        with pytest.raises(BadDataPacket, match="is not 1-32 letters/digits"):
            record("a21026", "a 2;")
    with pytest.raises(BadDataPacket, match="is not 1-32 letters/digits"):
        record("x" * 33)


def test_records_of_the_same_datatime_share_one_parsed_time() -> None:
    first, second = record("a21026"), record("a21002")
    assert first.data_time == second.data_time
    assert first.data_time is second.data_time  # parsed once (core.clock.parse_device_time is cached)
