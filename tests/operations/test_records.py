"""Field records on the real stores (SQLite and PostgreSQL): every check of ``add_record``, corrections,
reading, listing, retention, what is due, attachments. The world is in ``records_world``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from envwatch.core.blobs import BlobStore
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.core.settings import Settings
from envwatch.operations import records as store
from envwatch.operations.record_due import comparison_due, inspection_due, period_of
from envwatch.operations.records import (
    RecordQuery,
    add_record,
    add_record_attachment,
    correct_record,
    get_record,
    keep_until,
    list_records,
    years_after,
)
from envwatch.operations.records_schema import field_records
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import device_row
from tests.operations.records_world import NOW, SITE, RecordsWorld, build, calibration, draft, inspection

DAY = timedelta(days=1)


@pytest.fixture
def world(engine: Engine) -> RecordsWorld:
    return build(engine)


def add(engine: Engine, settings: Settings, d: Any, now: datetime = NOW) -> dict[str, Any]:
    with engine.begin() as conn:
        return add_record(conn, d, "fs_a", now, settings)


def refused(engine: Engine, settings: Settings, d: Any, now: datetime = NOW) -> str:
    with pytest.raises((InvalidInput, NotFound, Conflict)) as caught, engine.begin() as conn:
        add_record(conn, d, "fs_a", now, settings)
    return str(caught.value.message)  # type: ignore[union-attr]


def comparison(factor: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "factor": factor,
        "pairs": [{"automatic": a, "reference": r} for a, r in pairs],
        "reference_method": "HJ 57-2017",
        "reference_agency": "某监测站",
    }


# ---- a record and its checks -----------------------------------------------------------------------------


def test_an_inspection_is_stored_with_its_sign_in(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    row = add(engine, settings, draft(world, note=" 例行巡检 "))
    assert (row["kind"], row["verdict"], row["on_site"], row["distance_m"]) == (
        "inspection",
        "pass",
        "yes",
        100,
    )
    assert (row["latitude"], row["longitude"]) == (SITE[0] + Decimal("0.0009"), SITE[1])
    assert (row["device_id"], row["operator_id"], row["staff_id"]) == (
        world.devices["gas"],
        world.op,
        world.staff["zhang"],
    )
    assert row["performed_at"] == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert (row["recorded_by"], row["recorded_at"], row["note"]) == ("fs_a", NOW, "例行巡检")
    assert row["keep_until"] == date(2029, 11, 22)
    assert (row["supersedes_id"], row["superseded_by"]) == (None, None)
    assert (row["staff_name"], row["operator_name"], row["enterprise_name"], row["outlet_name"]) == (
        "张三",
        "运维甲",
        "甲化工",
        "1号排口",
    )
    assert [c["id"] for c in row["chain"]] == [row["id"]]
    assert row["materials"] == [] and row["attachments"] == []
    assert row["payload"]["failed_items"] == []


def test_a_failed_item_fails_the_inspection(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    row = add(engine, settings, draft(world, payload=inspection(3, failed=1)))
    assert row["verdict"] == "fail" and row["payload"]["failed_items"] == ["检查项0"]


@pytest.mark.parametrize(
    ("latitude", "longitude", "on_site", "distance"),
    [
        (SITE[0] + Decimal("0.0045"), SITE[1], "yes", 500),  # at the limit of 500 m
        (SITE[0] + Decimal("0.0046"), SITE[1], "no", 511),
        (None, None, "unknown", None),
    ],
)
def test_on_site_by_distance(
    engine: Engine,
    settings: Settings,
    world: RecordsWorld,
    latitude: Decimal | None,
    longitude: Decimal | None,
    on_site: str,
    distance: int | None,
) -> None:
    row = add(engine, settings, draft(world, latitude=latitude, longitude=longitude))
    assert (row["on_site"], row["distance_m"]) == (on_site, distance)


def test_an_outlet_without_a_position_gives_unknown(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    row = add(engine, settings, draft(world, device_id=world.devices["water"]))
    assert (row["on_site"], row["distance_m"], row["latitude"]) == (
        "unknown",
        None,
        SITE[0] + Decimal("0.0009"),
    )


def test_the_allowed_distance_is_a_setting(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    near = settings.model_copy(update={"om_sign_in_max_distance_m": 99})
    assert add(engine, near, draft(world))["on_site"] == "no"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"latitude": None}, "give both latitude and longitude of the sign-in, or neither"),
        ({"latitude": Decimal(95)}, "latitude 95 is not between -90 and 90 degrees"),
        ({"kind": "painting"}, "unknown record kind 'painting'"),
        (
            {"payload": {"items": []}},
            "the inspection record is not complete or not valid: items: List should have",
        ),
        ({"note": "x" * 2001}, "the note is 2001 characters; at most 2000"),
    ],
)
def test_bad_input_is_refused(
    engine: Engine, settings: Settings, world: RecordsWorld, changes: dict[str, Any], message: str
) -> None:
    assert refused(engine, settings, draft(world, **changes)).startswith(message)


def test_no_contract_no_record(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    message = refused(engine, settings, draft(world, device_id=world.devices["other"]))
    assert message == (
        f"no contract of operator {world.op} covers outlet {world.outlets['other']} (乙排口) of device "
        "010000A8900016F0000E0003 on 2026-11-22"
    )
    # 运维乙 holds that contract, but 张三 is not its staff
    message = refused(
        engine, settings, draft(world, device_id=world.devices["other"], operator_id=world.other_op)
    )
    assert message == f"no staff member with id {world.staff['zhang']} at operator {world.other_op}"
    assert refused(engine, settings, draft(world, operator_id=999)) == "no operator with id 999"


def test_a_contract_ended_before_the_day(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    from envwatch.registry.service_operators import list_contracts, update_contract

    with engine.begin() as conn:
        contract = list_contracts(conn, world.op)[0]
        update_contract(conn, contract["id"], {"valid_to": date(2026, 11, 20)}, NOW)
    message = refused(engine, settings, draft(world))
    assert message.endswith("of device 010000A8900016F0000E0001 on 2026-11-22")
    earlier = datetime(2026, 11, 20, 15, 59, tzinfo=UTC)  # 23:59 China time on 11-20: still covered
    assert add(engine, settings, draft(world, performed_at=earlier))["verdict"] == "pass"
    later = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 00:00 China time on 11-21
    assert refused(engine, settings, draft(world, performed_at=later)).endswith("on 2026-11-21")


def test_a_device_on_no_outlet(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    import_devices(engine, [device_row("010000A8900016F0000E0009")], datetime(2026, 1, 1, tzinfo=UTC))
    loose = load_devices(engine)["010000A8900016F0000E0009"].id
    assert refused(engine, settings, draft(world, device_id=loose)) == (
        "device 010000A8900016F0000E0009 is on no outlet: no contract can cover work on it"
    )
    assert refused(engine, settings, draft(world, device_id=99999)) == "no device with id 99999"


def test_an_expired_certificate_blocks_the_work(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    li = world.staff["li"]
    assert refused(engine, settings, draft(world, staff_id=li)) == (
        f"李四 (staff {li}) has no certificate valid on 2026-11-22 (the latest, SG-{li:04d}, is valid until "
        "2026-10-31): field work cannot be assigned"
    )
    # work done while the certificate was valid, recorded later, is taken
    october = datetime(2026, 10, 31, 8, 0, tzinfo=UTC)
    assert add(engine, settings, draft(world, staff_id=li, performed_at=october))["staff_name"] == "李四"
    wang = world.staff["wang"]
    assert refused(engine, settings, draft(world, staff_id=wang)) == (
        f"王五 (staff {wang}) no longer works for the operator"
    )


@pytest.mark.parametrize(
    ("performed", "message"),
    [
        (
            NOW + timedelta(minutes=5, seconds=1),
            "the work cannot have been done at 2026-11-22 12:05 (China time): that is in the future",
        ),
        (
            datetime(2025, 12, 31, 15, 59, tzinfo=UTC),
            "the work cannot have been done at 2025-12-31 23:59 (China time): device 010000A8900016F0000E0001 was "
            "registered only on 2026-01-01 08:00",
        ),
        (datetime(2026, 11, 22, 3, 0), "the time the work was done, 2026-11-22T03:00:00, has no time zone"),
    ],
)
def test_impossible_times(
    engine: Engine, settings: Settings, world: RecordsWorld, performed: datetime, message: str
) -> None:
    assert refused(engine, settings, draft(world, performed_at=performed)) == message


def test_a_phone_clock_a_little_ahead_is_taken(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    assert add(engine, settings, draft(world, performed_at=NOW + timedelta(minutes=5)))["verdict"] == "pass"


# ---- judged kinds and their materials ------------------------------------------------------------------


def test_a_calibration_is_judged_on_the_registered_range(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    row = add(
        engine,
        settings,
        draft(
            world, kind="calibration", payload=calibration("1", "83"), material_ids=[world.materials["so2"]]
        ),
    )
    assert row["verdict"] == "fail"  # span drift 3 % F.S. on the 0-100 range
    p = row["payload"]
    assert (p["zero_drift_pct_fs"], p["span_drift_pct_fs"], p["range_high"]) == ("1.000", "3.000", "100")
    assert p["out_of_control"] is False
    assert [m["certificate_no"] for m in row["materials"]] == ["GBW(E)-001"]
    beyond = add(
        engine,
        settings,
        draft(
            world, kind="calibration", payload=calibration("0", "90.5"), material_ids=[world.materials["so2"]]
        ),
    )
    assert beyond["payload"]["out_of_control"] is True


def test_calibration_needs_materials_in_date(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    cal = {"kind": "calibration", "payload": calibration()}
    assert refused(engine, settings, draft(world, **cal)) == (
        "a calibration record cites the certified reference materials it used (SX-20.5): give at least one"
    )
    old = world.materials["old"]
    assert refused(engine, settings, draft(world, **cal, material_ids=[old])) == (
        f"reference material {old} (SO2 in N2, certificate GBW(E)-000) is valid until 2026-10-31: it cannot be "
        "used on 2026-11-22 (SX-20.5)"
    )
    theirs = world.materials["theirs"]
    assert refused(engine, settings, draft(world, **cal, material_ids=[theirs])) == (
        f"no reference material with id {theirs} at operator {world.op}"
    )
    so2 = world.materials["so2"]
    assert refused(engine, settings, draft(world, **cal, material_ids=[so2, so2])) == (
        f"reference material {so2} is listed more than once"
    )
    october = datetime(2026, 10, 31, 8, 0, tzinfo=UTC)  # the old bottle's last day
    assert (
        add(engine, settings, draft(world, **cal, material_ids=[old], performed_at=october))["verdict"]
        == "pass"
    )


def test_calibration_without_a_registered_range(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    payload = {**calibration(), "factor": "a21002"}
    d = draft(world, kind="calibration", payload=payload, material_ids=[world.materials["so2"]])
    assert refused(engine, settings, d) == (
        "device 010000A8900016F0000E0001 has no range registered for factor a21002: register the range (range_high) "
        "of that factor on the device before recording a calibration"
    )
    d = replace(d, payload={**calibration(), "factor": "a34013"})  # not registered on the device at all
    assert refused(engine, settings, d).startswith(
        "device 010000A8900016F0000E0001 has no range registered for factor a34013"
    )


def test_a_standard_check_and_an_unknown_factor(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    payload = {"factor": "w01018", "standard_value": "50", "measured_value": "54"}
    row = add(
        engine,
        settings,
        draft(
            world,
            device_id=world.devices["water"],
            kind="standard_check",
            payload=payload,
            material_ids=[world.materials["so2"]],
        ),
    )
    assert (row["verdict"], row["payload"]["relative_error_pct"]) == ("pass", "8.000")
    payload = {"factor": "w99999", "standard_value": "50", "measured_value": "54"}
    d = draft(world, kind="standard_check", payload=payload, material_ids=[world.materials["so2"]])
    assert refused(engine, settings, d).startswith(
        "there is no standard-sample check criterion for factor w99999"
    )


def test_a_comparison_on_the_wrong_kind_of_device(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    d = draft(world, kind="comparison", payload=comparison("w01018", [("20", "20")] * 3))
    assert refused(engine, settings, d) == (
        "factor w01018 is compared on water devices; device 010000A8900016F0000E0001 is a gas device"
    )


def test_qa_limits_come_from_the_setting(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    strict = settings.model_copy(update={"om_qa_limits": '{"comparison": {"w01018": {"min_pairs": 4}}}'})
    d = draft(
        world,
        device_id=world.devices["water"],
        kind="comparison",
        payload=comparison("w01018", [("20", "20")] * 3),
    )
    assert refused(engine, strict, d) == "a comparison of w01018 needs at least 4 data pairs, not 3"
    assert add(engine, settings, d)["verdict"] == "pass"


# ---- retention --------------------------------------------------------------------------------------------


def test_keep_until_three_and_five_years(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    row = add(engine, settings, draft(world, performed_at=datetime(2026, 11, 21, 16, 30, tzinfo=UTC)))
    assert row["keep_until"] == date(2029, 11, 22)  # the China day of the work: 11-22 00:30
    d = draft(
        world,
        device_id=world.devices["water"],
        kind="comparison",
        payload=comparison("w01018", [("20", "20")] * 3),
    )
    assert add(engine, settings, d)["keep_until"] == date(2031, 11, 22)
    longer = settings.model_copy(update={"om_record_retention_years": 10})
    assert keep_until("repair", date(2026, 11, 22), longer) == date(2036, 11, 22)


def test_a_leap_day_keeps_until_the_28th() -> None:
    assert years_after(date(2028, 2, 29), 3) == date(2031, 2, 28)
    assert years_after(date(2028, 2, 29), 4) == date(2032, 2, 29)


# ---- corrections and the append-only table --------------------------------------------------------------


def test_a_correction_supersedes_and_only_once(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    first = add(engine, settings, draft(world, payload=inspection(2, failed=1)))
    with engine.begin() as conn:
        second = correct_record(
            conn, first["id"], draft(world, note="第一项误填为异常"), "op_a", NOW + DAY / 24, settings
        )
    assert (second["supersedes_id"], second["verdict"], second["recorded_by"]) == (
        first["id"],
        "pass",
        "op_a",
    )
    with engine.connect() as conn:
        old = get_record(conn, first["id"])
    assert old["superseded_by"] == second["id"]
    assert [c["id"] for c in old["chain"]] == [first["id"], second["id"]]
    assert [c["verdict"] for c in second["chain"]] == ["fail", "pass"]
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        correct_record(conn, first["id"], draft(world, note="再改一次"), "op_a", NOW, settings)
    assert caught.value.message == (
        f"record {first['id']} was corrected already by record {second['id']}: correct that one instead"
    )
    with engine.begin() as conn:
        third = correct_record(
            conn, second["id"], draft(world, note="补充备注", payload=inspection(4)), "op_a", NOW, settings
        )
    assert [c["id"] for c in third["chain"]] == [first["id"], second["id"], third["id"]]
    with engine.connect() as conn:
        assert [c["id"] for c in get_record(conn, second["id"])["chain"]] == [
            first["id"],
            second["id"],
            third["id"],
        ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"kind": "repair"},
            "a correction of record {id} keeps its device {device} and kind inspection: record other work as a new record",
        ),
        (
            {"device": "water"},
            "a correction of record {id} keeps its device {device} and kind inspection: record other work as a new record",
        ),
        ({"note": "  "}, "a correction needs a note saying what was wrong in the record it corrects"),
        ({"operator": True}, "record {id} is operator {op}'s: only it corrects it"),
    ],
)
def test_what_a_correction_may_not_change(
    engine: Engine, settings: Settings, world: RecordsWorld, changes: dict[str, Any], message: str
) -> None:
    first = add(engine, settings, draft(world))
    fields: dict[str, Any] = {"note": changes.get("note", "改正")}
    if "kind" in changes:
        fields |= {
            "kind": "repair",
            "payload": {"part": "泵", "symptom": "响", "action": "换", "result": "好"},
        }
    if "device" in changes:
        fields["device_id"] = world.devices["water"]
    if "operator" in changes:
        fields["operator_id"] = world.other_op
    with pytest.raises(InvalidInput) as caught, engine.begin() as conn:
        correct_record(conn, first["id"], draft(world, **fields), "op_a", NOW, settings)
    assert caught.value.message == message.format(id=first["id"], device=world.devices["gas"], op=world.op)
    with pytest.raises(NotFound, match="no field record with id 99999"), engine.begin() as conn:
        correct_record(conn, 99999, draft(world, note="x"), "op_a", NOW, settings)


def test_a_concurrent_correction_meets_the_constraint(
    engine: Engine, settings: Settings, world: RecordsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two people correcting the same record at once: both pass the check before either wrote; the unique
    constraint on supersedes_id stops the second, which is then told it was corrected already."""
    first = add(engine, settings, draft(world))
    with engine.begin() as conn:
        winner = correct_record(conn, first["id"], draft(world, note="甲改"), "op_a", NOW, settings)
    checks = iter([None])  # the first check (before writing) sees no correction yet, as in a race

    def racing(conn: Any, record_id: int) -> None:
        if next(checks, "after") is None:
            return
        original(conn, record_id)

    original = store._not_corrected
    monkeypatch.setattr(store, "_not_corrected", racing)
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        correct_record(conn, first["id"], draft(world, note="乙改"), "op_b", NOW, settings)
    assert caught.value.message == (
        f"record {first['id']} was corrected already by record {winner['id']}: correct that one instead"
    )


def test_the_unique_constraint_itself(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    first = add(engine, settings, draft(world))
    with engine.begin() as conn:
        correct_record(conn, first["id"], draft(world, note="改"), "op_a", NOW, settings)
        row = {k: v for k, v in get_record(conn, first["id"]).items() if k in field_records.c and k != "id"}
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(field_records).values(**{**row, "supersedes_id": first["id"]}))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE field_records SET note = 'x'",
        "DELETE FROM field_records",
        "DELETE FROM field_record_materials",
    ],
)
def test_records_are_append_only(
    engine: Engine, settings: Settings, world: RecordsWorld, statement: str
) -> None:
    add(
        engine,
        settings,
        draft(world, kind="calibration", payload=calibration(), material_ids=[world.materials["so2"]]),
    )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))


# ---- lists ------------------------------------------------------------------------------------------------


def test_list_filters_and_current_only(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    a = add(engine, settings, draft(world, performed_at=NOW - 10 * DAY))
    b = add(engine, settings, draft(world, device_id=world.devices["water"], payload=inspection(2, failed=1)))
    c = add(
        engine,
        settings,
        draft(
            world,
            kind="calibration",
            payload=calibration(),
            material_ids=[world.materials["so2"]],
            latitude=None,
            longitude=None,
        ),
    )
    with engine.begin() as conn:
        a2 = correct_record(
            conn, a["id"], draft(world, performed_at=NOW - 9 * DAY, note="时间误填"), "op_a", NOW, settings
        )

        def ids(**q: Any) -> list[int]:
            return [r["id"] for r in list_records(conn, RecordQuery(**q))[0]]

        assert ids() == [c["id"], b["id"], a2["id"]]  # newest work first, superseded rows left out
        assert ids(current_only=False) == [c["id"], b["id"], a2["id"], a["id"]]
        assert ids(device_ids=[world.devices["water"]]) == [b["id"]]
        assert ids(outlet_id=world.outlets["gas"]) == [c["id"], a2["id"]]
        assert ids(enterprise_id=world.enterprises["jia"]) == [c["id"], b["id"], a2["id"]]
        assert ids(enterprise_id=world.enterprises["yi"]) == []
        assert ids(operator_ids=[world.other_op]) == []
        assert ids(operator_ids=[]) == []
        assert ids(kinds=["calibration"]) == [c["id"]]
        assert ids(verdict="fail") == [b["id"]]
        assert ids(on_site="unknown") == [c["id"], b["id"]]
        assert ids(since=NOW - 9 * DAY, until=NOW - 5 * DAY) == [a2["id"]]
        assert ids(device_ids=[world.devices["water"]], operator_ids=[world.other_op]) == []
        assert ids(device_ids=[world.devices["water"]], operator_ids=[world.other_op], either=True) == [
            b["id"]
        ]
        rows, total = list_records(conn, RecordQuery(limit=2, offset=1))
        assert ([r["id"] for r in rows], total) == ([b["id"], a2["id"]], 3)
        assert rows[1]["supersedes_id"] == a["id"] and rows[1]["mn"] == "010000A8900016F0000E0001"
        for bad, message in (
            (RecordQuery(verdict="ok"), "verdict is pass, fail or none, not 'ok'"),
            (RecordQuery(on_site="near"), "on_site is yes, no or unknown, not 'near'"),
            (RecordQuery(kinds=["x"]), "unknown record kind 'x'"),
            (RecordQuery(limit=0), "limit must be 1-1000, not 0"),
            (RecordQuery(offset=-1), "offset must not be negative, not -1"),
        ):
            with pytest.raises(InvalidInput) as caught:
                list_records(conn, bad)
            assert caught.value.message.startswith(message)


# ---- what is due ------------------------------------------------------------------------------------------


def test_inspections_due(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    with engine.connect() as conn:
        due = inspection_due(conn, world.op, NOW, 7)
    assert [(d["device_id"], d["last_at"], d["due_at"]) for d in due] == [
        (world.devices["gas"], None, None),
        (world.devices["water"], None, None),
    ]
    assert due[0]["enterprise_name"] == "甲化工" and due[0]["operator_id"] == world.op
    add(engine, settings, draft(world, performed_at=NOW - 7 * DAY))  # exactly 7 days: due now
    add(engine, settings, draft(world, device_id=world.devices["water"], performed_at=NOW - 6 * DAY))
    with engine.connect() as conn:
        due = inspection_due(conn, world.op, NOW, 7)
        assert [(d["device_id"], d["due_at"]) for d in due] == [(world.devices["gas"], NOW)]
        assert inspection_due(conn, world.op, NOW - timedelta(seconds=1), 7) == []
        everyone = inspection_due(conn, None, NOW, 7)
    assert [(d["operator_id"], d["device_id"]) for d in everyone] == [
        (world.other_op, world.devices["other"]),  # never inspected: first
        (world.op, world.devices["gas"]),
    ]


def test_a_superseded_inspection_does_not_count(
    engine: Engine, settings: Settings, world: RecordsWorld
) -> None:
    first = add(engine, settings, draft(world, performed_at=NOW - DAY))
    with engine.begin() as conn:
        correct_record(
            conn,
            first["id"],
            draft(world, performed_at=NOW - 8 * DAY, note="实为上周"),
            "op_a",
            NOW,
            settings,
        )
        due = inspection_due(conn, world.op, NOW, 7)
    assert {d["device_id"]: d["last_at"] for d in due} == {
        world.devices["gas"]: NOW - 8 * DAY,
        world.devices["water"]: None,
    }


def test_comparisons_due(engine: Engine, settings: Settings, world: RecordsWorld) -> None:
    so2 = comparison("a21026", [("20", "20")] * 9)
    cod = comparison("w01018", [("20", "20")] * 3)
    october = datetime(2026, 10, 30, 2, 0, tzinfo=UTC)
    add(engine, settings, draft(world, kind="comparison", payload=so2, performed_at=october))
    add(
        engine,
        settings,
        draft(world, device_id=world.devices["water"], kind="comparison", payload=cod, performed_at=october),
    )
    with engine.connect() as conn:
        due = comparison_due(conn, world.op, NOW)
    # the gas device's quarter (Q4) has its comparison; the water device's month (November) has none
    assert [(d["device_id"], d["period_from"], d["due_by"], d["last_at"]) for d in due] == [
        (world.devices["water"], date(2026, 11, 1), date(2026, 11, 30), october)
    ]
    add(engine, settings, draft(world, device_id=world.devices["water"], kind="comparison", payload=cod))
    with engine.connect() as conn:
        assert comparison_due(conn, world.op, NOW) == []
        january = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)  # 08:00 China time: a new quarter and month
        assert [d["due_by"] for d in comparison_due(conn, world.op, january)] == [
            date(2027, 1, 31),
            date(2027, 3, 31),
        ]
        assert [d["device_id"] for d in comparison_due(conn, None, NOW)] == [world.devices["other"]]


@pytest.mark.parametrize(
    ("kind", "day", "period"),
    [
        ("gas", date(2026, 11, 22), (date(2026, 10, 1), date(2026, 12, 31))),
        ("gas", date(2026, 3, 31), (date(2026, 1, 1), date(2026, 3, 31))),
        ("water", date(2028, 2, 10), (date(2028, 2, 1), date(2028, 2, 29))),
        ("water", date(2026, 12, 31), (date(2026, 12, 1), date(2026, 12, 31))),
    ],
)
def test_comparison_periods(kind: str, day: date, period: tuple[date, date]) -> None:
    assert period_of(kind, day) == period


# ---- attachments ------------------------------------------------------------------------------------------


def test_photos_attach_to_a_record(
    engine: Engine, settings: Settings, world: RecordsWorld, tmp_path: Path
) -> None:
    row = add(engine, settings, draft(world))
    blobs = BlobStore(tmp_path / "blobs")
    with engine.begin() as conn:
        photo = add_record_attachment(
            conn, blobs, row["id"], filename="现场.jpg", content=b"\xff\xd8jpeg", content_type="image/jpeg",
            added_by="fs_a", now=NOW,
        )  # fmt: skip
        assert [a["id"] for a in get_record(conn, row["id"])["attachments"]] == [photo["id"]]
        assert photo["owner_kind"] == "field_record" and blobs.get(photo["sha256"]) == b"\xff\xd8jpeg"
    with pytest.raises(NotFound, match="no field record with id 99999"), engine.begin() as conn:
        add_record_attachment(
            conn,
            blobs,
            99999,
            filename="x.jpg",
            content=b"x",
            content_type="image/jpeg",
            added_by="fs_a",
            now=NOW,
        )
