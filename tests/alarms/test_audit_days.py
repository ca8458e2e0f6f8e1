"""The daily data audit (CS-4.3.2.2) on the real stores, with the hand-made registry of test_orders.

China midnight is 16:00 UTC of the day before: 2026-11-21 00:00 China = 2026-11-20 16:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.alarms.audit_days import (
    DayStatus,
    audit_status,
    day_anomalies,
    day_bounds,
    last_auditable_day,
    sign_day,
    sign_offs_of,
    unaudited_days,
)
from envwatch.core.errors import InvalidInput, NotFound
from tests.alarms.test_orders import World, alarm_at, build_world
from tests.helpers import NOW

NOV = {d: date(2026, 11, d) for d in range(1, 23)}
MIDNIGHT_21 = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 2026-11-21 00:00 China
SECOND = timedelta(seconds=1)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def test_day_bounds_and_the_last_day_that_is_over() -> None:
    assert day_bounds(NOV[21]) == (MIDNIGHT_21, MIDNIGHT_21 + timedelta(days=1))
    assert last_auditable_day(NOW) == NOV[21]  # 12:00 China on the 22nd
    assert last_auditable_day(MIDNIGHT_21 + timedelta(days=1) - SECOND) == NOV[20]
    assert last_auditable_day(MIDNIGHT_21 + timedelta(days=1)) == NOV[21]


def test_a_days_anomalies_are_the_alarms_opened_that_china_day_on_the_operators_outlets(
    engine: Engine, world: World
) -> None:
    with engine.begin() as conn:
        last_of_20 = alarm_at(
            conn, world.devices["A1"], "a21002", MIDNIGHT_21 - timedelta(hours=2), MIDNIGHT_21 - SECOND
        )
        first_of_21 = alarm_at(
            conn, world.devices["A1"], "a19001", MIDNIGHT_21 - timedelta(hours=2), MIDNIGHT_21
        )
        # B1 is the operator's until 2026-11-20 (contract C2)
        b1_on_20 = alarm_at(conn, world.devices["B1"], "a19001", MIDNIGHT_21 - timedelta(hours=6))

        def ids(operator_id: int, day: date) -> list[int]:
            return [a["id"] for a in day_anomalies(conn, operator_id, day)]

        assert ids(world.op, NOV[20]) == [b1_on_20, last_of_20]  # by the time they opened
        assert ids(world.op, NOV[21]) == [first_of_21]  # B1_late opened on the 21st: no longer its outlet
        # not 丙's, not the loose one
        assert ids(world.op, NOV[22]) == [world.alarms["A1"], world.alarms["A2"]]
        assert ids(world.op, NOV[10]) == [world.alarms["B1_in"]]
        assert ids(world.op, NOV[15]) == []
        assert ids(world.idle_op, NOV[22]) == []
        first = day_anomalies(conn, world.op, NOV[21])[0]
        assert first["outlet_id"] == world.outlets["A1"] and first["factor"] == "a19001"
        with pytest.raises(NotFound, match="no operator with id 999"):
            day_anomalies(conn, 999, NOV[21])


def test_a_day_is_signed_only_once_it_is_over_in_china(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match="2026-11-21 is not over in China time until 2026-11-22 00:00"):
            sign_day(
                conn,
                operator_id=world.op,
                day=NOV[21],
                signed_by="aud1",
                note="",
                anomalies=1,
                now=MIDNIGHT_21 + timedelta(days=1) - SECOND,
            )
        with pytest.raises(InvalidInput, match="2026-11-22 is not over"):
            sign_day(conn, operator_id=world.op, day=NOV[22], signed_by="aud1", note="", anomalies=0, now=NOW)
        row = sign_day(
            conn,
            operator_id=world.op,
            day=NOV[21],
            signed_by="aud1",
            note="",
            anomalies=1,
            now=MIDNIGHT_21 + timedelta(days=1),
        )
        assert row == {
            "id": row["id"],
            "operator_id": world.op,
            "day": NOV[21],
            "signed_by": "aud1",
            "signed_at": MIDNIGHT_21 + timedelta(days=1),
            "anomalies": 1,
            "note": "",
        }
        assert sign_offs_of(conn, world.op, NOV[21]) == [row]


def test_signing_again_is_a_correction_with_a_note_and_the_newest_wins(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        first = sign_day(
            conn, operator_id=world.op, day=NOV[20], signed_by="aud1", note="", anomalies=2, now=NOW
        )
        with pytest.raises(
            InvalidInput,
            match="2026-11-20 was already signed off by aud1 at 2026-11-22 12:00; signing it again is a "
            "correction: say why in the note",
        ):
            sign_day(
                conn, operator_id=world.op, day=NOV[20], signed_by="aud2", note="  ", anomalies=3, now=NOW
            )
        fixed = sign_day(
            conn,
            operator_id=world.op,
            day=NOV[20],
            signed_by="aud2",
            note="漏审一条",
            anomalies=3,
            now=NOW + SECOND,
        )
        assert [r["id"] for r in sign_offs_of(conn, world.op, NOV[20])] == [first["id"], fixed["id"]]
        status = audit_status(conn, world.op, NOV[20], NOV[20])
        assert status == [DayStatus(NOV[20], fixed)]
        assert status[0].signed is not None and status[0].signed["anomalies"] == 3


def test_sign_day_refuses_bad_input(engine: Engine, world: World) -> None:
    def sign(**kw: object) -> None:
        fields: dict[str, object] = {
            "operator_id": world.op,
            "day": NOV[19],
            "signed_by": "aud1",
            "note": "",
            "anomalies": 0,
            "now": NOW,
        }
        sign_day(conn, **(fields | kw))  # type: ignore[arg-type]

    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match="cannot be negative \\(-1\\)"):
            sign(anomalies=-1)
        with pytest.raises(InvalidInput, match="signed_by"):
            sign(signed_by=" ")
        with pytest.raises(InvalidInput, match="the note is 4001 characters; at most 4000"):
            sign(note="x" * 4001)
        with pytest.raises(NotFound, match="no operator with id 999"):
            sign(operator_id=999)
        assert sign_offs_of(conn, world.op, NOV[19]) == []
        sign(note="x" * 4000)
        assert len(sign_offs_of(conn, world.op, NOV[19])) == 1


def test_unsigned_days_stay_visible(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        for day in (NOV[19], NOV[21]):
            sign_day(conn, operator_id=world.op, day=day, signed_by="aud1", note="", anomalies=0, now=NOW)
        newest = sign_day(
            conn, operator_id=world.op, day=NOV[21], signed_by="aud1", note="补签", anomalies=1, now=NOW
        )
        # another operator's sign-off is not this one's
        sign_day(
            conn, operator_id=world.idle_op, day=NOV[18], signed_by="aud9", note="", anomalies=0, now=NOW
        )
        status = audit_status(conn, world.op, NOV[18], NOV[21])
        assert [(s.day, s.signed is not None) for s in status] == [
            (NOV[18], False),
            (NOV[19], True),
            (NOV[20], False),
            (NOV[21], True),
        ]
        assert status[3].signed == newest
        assert unaudited_days(conn, world.op, NOV[18], NOV[21]) == [NOV[18], NOV[20]]
        assert unaudited_days(conn, world.idle_op, NOV[18], NOV[19]) == [NOV[19]]
        assert unaudited_days(conn, world.op, NOV[19], NOV[19]) == []
        with pytest.raises(
            InvalidInput, match="the range ends \\(2026-11-18\\) before it starts \\(2026-11-19\\)"
        ):
            audit_status(conn, world.op, NOV[19], NOV[18])
        year = date(2025, 11, 22)
        assert len(unaudited_days(conn, world.op, year, year + timedelta(days=365))) == 366 - 2
        with pytest.raises(InvalidInput, match="the range covers 367 days; at most 366"):
            unaudited_days(conn, world.op, year, year + timedelta(days=366))
        with pytest.raises(NotFound, match="no operator with id 999"):
            audit_status(conn, 999, NOV[18], NOV[21])


def test_sign_offs_are_append_only(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        sign_day(conn, operator_id=world.op, day=NOV[20], signed_by="aud1", note="", anomalies=0, now=NOW)
    for sql in ("UPDATE audit_days SET anomalies = 0", "DELETE FROM audit_days"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
