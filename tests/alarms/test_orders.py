"""Supervision orders (电子督办) on the real stores (SQLite and PostgreSQL), with a hand-made registry.

NOW is 12:00 China time on 2026-11-22 (04:00 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.exc import DBAPIError

from envwatch.alarms.order_lifecycle import InvalidTransition
from envwatch.alarms.orders import (
    OrderFilter,
    _locked,
    _move,
    accept,
    alarm_ids_of,
    comment,
    count_orders,
    escalate_overdue,
    get_order,
    issue_order,
    list_orders,
    order_events_of,
    orders_of_alarm,
    respond,
    return_order,
    withdraw,
)
from envwatch.alarms.store import Raised, raise_alarm
from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from envwatch.registry.schema import attachments
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import GAS_MN, NOW, SM4_MN, WATER_MN, device_row, register_demo_devices

C1_MN = "010000A8900016F000169DC3"
LOOSE_MN = "010000A8900016F000169DC4"  # on no outlet
DAY = timedelta(days=1)


@dataclass(frozen=True)
class World:
    jia: int  # 甲, 350102 (福州)
    yi: int  # 乙, 350203 (厦门)
    bing: int  # 丙, 440103 (广州)
    outlets: dict[str, int]
    devices: dict[str, int]  # by outlet code, and "loose"
    op: int  # 运维甲: all of 甲 since 2026-01-01; outlet B1 of 乙 from 2026-11-01 to 2026-11-20
    idle_op: int  # 运维乙: no contract
    alarms: dict[str, int]


def credit_code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def alarm_at(
    conn: Connection, device_id: int, factor: str, started: datetime, opened: datetime | None = None
) -> int:
    raised = Raised(device_id, "exceedance", factor, started, "test rule", f"{factor} over its limit")
    return raise_alarm(conn, raised, opened or started, ack_due_s=3600).alarm_id


def build_world(engine: Engine) -> World:
    register_demo_devices(engine)
    import_devices(engine, [device_row(C1_MN), device_row(LOOSE_MN)], NOW)
    by_mn = {mn: rec.id for mn, rec in load_devices(engine).items()}
    with engine.begin() as conn:
        ents = [
            svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=credit_code(i), region_code=region), NOW
            )["id"]
            for i, (name, region) in enumerate([("甲", "350102"), ("乙", "350203"), ("丙", "440103")])
        ]
        made = {"A1": (ents[0], "gas", GAS_MN), "A2": (ents[0], "water", WATER_MN)}
        made |= {"B1": (ents[1], "gas", SM4_MN), "C1": (ents[2], "gas", C1_MN)}
        outs: dict[str, int] = {}
        devs: dict[str, int] = {"loose": by_mn[LOOSE_MN]}
        for code, (ent, kind, mn) in made.items():
            outs[code] = svc.create_outlet(
                conn, ent, OutletIn(code=f"D{code}", name=f"排口{code}", kind=kind), NOW
            )["id"]
            svc.set_device_outlet(conn, mn, outs[code], NOW)
            devs[code] = by_mn[mn]
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), NOW)["id"]
        idle = ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=credit_code(11)), NOW)["id"]
        whole = {"enterprise_id": ents[0], "contract_no": "C1", "valid_from": date(2026, 1, 1)}
        ops.create_contract(conn, op, ContractIn.model_validate(whole), NOW)
        one = {
            "enterprise_id": ents[1],
            "outlet_id": outs["B1"],
            "contract_no": "C2",
            "valid_from": date(2026, 11, 1),
            "valid_to": date(2026, 11, 20),
        }
        ops.create_contract(conn, op, ContractIn.model_validate(one), NOW)
        nov = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
        found = {
            "A1": alarm_at(conn, devs["A1"], "a21026", NOW - timedelta(hours=1)),
            "A2": alarm_at(conn, devs["A2"], "w01018", NOW),
            "B1_in": alarm_at(conn, devs["B1"], "a21026", nov + 9 * DAY),  # 11-10: under contract C2
            "B1_late": alarm_at(conn, devs["B1"], "a21002", nov + 20 * DAY),  # 11-21: C2 had ended
            "C1": alarm_at(conn, devs["C1"], "a21026", NOW),
            "loose": alarm_at(conn, devs["loose"], "a21026", NOW),
        }
    return World(ents[0], ents[1], ents[2], outs, devs, op, idle, found)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def _issue(conn: Connection, w: World, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "region_code": "350100",
        "enterprise_id": w.jia,
        "title": "SO2 超标整改",
        "body": "查明原因并整改，上传整改报告。",
        "deadline": NOW + 3 * DAY,
        "alarm_ids": [w.alarms["A1"], w.alarms["A2"]],
        "issued_by": "reg_fz",
        "now": NOW,
    }
    fields.update(overrides)
    return issue_order(conn, **fields)


def _attachment(conn: Connection, owner_kind: str, owner_id: int, name: str = "report.pdf") -> int:
    # a hand-made row: add_attachment does not take owner_kind 'order' yet (the lead adds it to OWNER_KINDS)
    row = {
        "owner_kind": owner_kind,
        "owner_id": owner_id,
        "sha256": "0" * 64,
        "filename": name,
        "content_type": "application/pdf",
        "size": 1,
        "added_by": "ent1",
        "added_at": NOW,
    }
    return int(conn.execute(insert(attachments).values(**row).returning(attachments.c.id)).scalar_one())


def test_an_order_to_an_enterprise_from_its_alarms(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        order = _issue(conn, world)
        events = order_events_of(conn, order["id"])
        assert alarm_ids_of(conn, order["id"]) == [world.alarms["A1"], world.alarms["A2"]]
        assert orders_of_alarm(conn, world.alarms["A1"]) == [order["id"]]
        assert orders_of_alarm(conn, world.alarms["C1"]) == []
        assert get_order(conn, order["id"]) == order
        with pytest.raises(NotFound, match="no order 999"):
            get_order(conn, 999)
    assert order["state"] == "issued" and order["region_code"] == "350100"
    assert (order["enterprise_id"], order["operator_id"]) == (world.jia, None)
    assert order["deadline"] == NOW + 3 * DAY and order["issued_at"] == NOW and order["issued_by"] == "reg_fz"
    assert order["escalated_at"] is None and order["closed_at"] is None
    assert [(e["event"], e["from_state"], e["to_state"], e["actor"], e["comment"]) for e in events] == [
        ("issued", None, "issued", "reg_fz", "SO2 超标整改")
    ]
    assert events[0]["data"] == {
        "enterprise_id": world.jia,
        "operator_id": None,
        "deadline": (NOW + 3 * DAY).isoformat(),
        "alarm_ids": [world.alarms["A1"], world.alarms["A2"]],
    }


def test_an_order_needs_exactly_one_receiver_in_the_region(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match="exactly one receiver"):
            _issue(conn, world, operator_id=world.op)
        with pytest.raises(InvalidInput, match="exactly one receiver"):
            _issue(conn, world, enterprise_id=None)
        with pytest.raises(InvalidInput, match="no enterprise 999"):
            _issue(conn, world, enterprise_id=999, alarm_ids=[])
        with pytest.raises(InvalidInput, match="no operator 999"):
            _issue(conn, world, enterprise_id=None, operator_id=999, alarm_ids=[])
        with pytest.raises(
            InvalidInput,
            match=f"enterprise {world.yi} \\(乙\\) is in region 350203, outside the issuing region 3501",
        ):
            _issue(conn, world, enterprise_id=world.yi, alarm_ids=[])
        with pytest.raises(InvalidInput, match="region"):
            _issue(conn, world, region_code="35010")
        # the province (35) covers both of its cities; a county code covers only itself
        assert (
            _issue(conn, world, region_code="350000", enterprise_id=world.yi, alarm_ids=[])["state"]
            == "issued"
        )
        assert _issue(conn, world, region_code="350102")["enterprise_id"] == world.jia
        with pytest.raises(InvalidInput, match="outside the issuing region 350103"):
            _issue(conn, world, region_code="350103")
        # an order from an on-site finding cites no alarm
        assert alarm_ids_of(conn, _issue(conn, world, alarm_ids=[])["id"]) == []


def test_deadline_title_and_body_limits(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        with pytest.raises(
            InvalidInput, match="deadline 2026-11-22 12:00 \\(China time\\) has already passed"
        ):
            _issue(conn, world, deadline=NOW)
        assert _issue(conn, world, deadline=NOW + timedelta(seconds=1))["deadline"] == NOW + timedelta(
            seconds=1
        )
        with pytest.raises(InvalidInput, match="time zone"):
            _issue(conn, world, deadline=datetime(2026, 12, 1, 12, 0))
        with pytest.raises(InvalidInput, match="the title is required"):
            _issue(conn, world, title="  ")
        with pytest.raises(InvalidInput, match="the title is 201 characters; at most 200"):
            _issue(conn, world, title="督" * 201)
        assert _issue(conn, world, title="督" * 200)["title"] == "督" * 200
        with pytest.raises(InvalidInput, match=r"the body .* is required"):
            _issue(conn, world, body="")
        with pytest.raises(InvalidInput, match="is 4001 characters; at most 4000"):
            _issue(conn, world, body="x" * 4001)
        assert _issue(conn, world, body="x" * 4000)["body"] == "x" * 4000
        with pytest.raises(InvalidInput, match="issued_by"):
            _issue(conn, world, issued_by=" ")


def test_every_alarm_must_be_the_receivers(engine: Engine, world: World) -> None:
    a = world.alarms
    with engine.begin() as conn:
        with pytest.raises(InvalidInput, match="no alarm 9999"):
            _issue(conn, world, alarm_ids=[a["A1"], 9999])
        with pytest.raises(InvalidInput, match=f"alarm {a['A1']} is listed more than once"):
            _issue(conn, world, alarm_ids=[a["A1"], a["A1"]])
        with pytest.raises(InvalidInput, match=f"alarm {a['loose']} is on device .*, which is on no outlet"):
            _issue(conn, world, alarm_ids=[a["loose"]])
        with pytest.raises(
            InvalidInput,
            match=f"alarm {a['B1_in']} is on outlet {world.outlets['B1']} of enterprise {world.yi}, "
            f"not of the receiver enterprise {world.jia}",
        ):
            _issue(conn, world, region_code="350000", alarm_ids=[a["A1"], a["B1_in"]])
        with pytest.raises(
            InvalidInput, match=f"alarm {a['C1']} is at enterprise {world.bing} in region 440103"
        ):
            _issue(conn, world, alarm_ids=[a["C1"]])


def test_an_order_to_an_operator_covers_its_contracted_outlets(engine: Engine, world: World) -> None:
    a = world.alarms
    with engine.begin() as conn:
        order = _issue(
            conn,
            world,
            region_code="350000",
            enterprise_id=None,
            operator_id=world.op,
            alarm_ids=[a["A2"], a["B1_in"]],  # all of 甲; B1 while contract C2 was in force
        )
        assert (order["enterprise_id"], order["operator_id"]) == (None, world.op)
        assert alarm_ids_of(conn, order["id"]) == [a["A2"], a["B1_in"]]
        with pytest.raises(
            InvalidInput,
            match=f"alarm {a['B1_late']} is on outlet {world.outlets['B1']}, which no contract of the receiver "
            f"operator {world.op} covered between 2026-11-21 and 2026-11-22",
        ):
            _issue(
                conn,
                world,
                region_code="350000",
                enterprise_id=None,
                operator_id=world.op,
                alarm_ids=[a["B1_late"]],
            )
        with pytest.raises(InvalidInput, match="no contract of the receiver operator"):
            _issue(conn, world, enterprise_id=None, operator_id=world.idle_op, alarm_ids=[a["A1"]])


def test_a_case_from_issue_to_acceptance(engine: Engine, world: World) -> None:
    t = NOW + DAY
    with engine.begin() as conn:
        order_id = _issue(conn, world)["id"]
        other_id = _issue(conn, world)["id"]
        report = _attachment(conn, "order", order_id)
        photo = _attachment(conn, "order", order_id, "photo.jpg")
        with pytest.raises(InvalidTransition, match="an order that is issued cannot take 'accept'"):
            accept(conn, order_id, actor="reg_fz", now=t)
        with pytest.raises(InvalidInput, match=r"the response text .* is required"):
            respond(conn, order_id, text=" ", attachment_ids=[report], actor="ent1", now=t)
        with pytest.raises(InvalidInput, match="no attachment 999"):
            respond(conn, order_id, text="done", attachment_ids=[999], actor="ent1", now=t)
        with pytest.raises(InvalidInput, match=f"attachment {report} is listed more than once"):
            respond(conn, order_id, text="done", attachment_ids=[report, report], actor="ent1", now=t)
        elsewhere = _attachment(conn, "order", other_id)
        filing = _attachment(conn, "filing", order_id)
        for wrong, owner in ((elsewhere, f"order {other_id}"), (filing, f"filing {order_id}")):
            with pytest.raises(
                InvalidInput, match=f"attachment {wrong} belongs to {owner}, not to order {order_id}"
            ):
                respond(conn, order_id, text="done", attachment_ids=[wrong], actor="ent1", now=t)
        responded = respond(
            conn, order_id, text="更换滤芯", attachment_ids=[report, photo], actor="ent1", now=t
        )
        assert responded["state"] == "responded"
        with pytest.raises(InvalidTransition, match="an order that is responded cannot take 'respond'"):
            respond(conn, order_id, text="again", attachment_ids=[], actor="ent1", now=t)
        with pytest.raises(InvalidInput, match="the reason for returning it is required"):
            return_order(conn, order_id, reason="", actor="reg_fz", now=t)
        with pytest.raises(InvalidInput, match=r"new deadline .* has already passed"):
            return_order(conn, order_id, reason="缺少监测数据", new_deadline=t, actor="reg_fz", now=t)
        returned = return_order(
            conn, order_id, reason="缺少监测数据", new_deadline=t + 5 * DAY, actor="reg_fz", now=t
        )
        assert returned["state"] == "returned" and returned["deadline"] == t + 5 * DAY
        late = NOW + 4 * DAY  # past the first deadline, before the new one
        respond(conn, order_id, text="补充数据", attachment_ids=[], actor="ent1", now=late)
        closed = accept(conn, order_id, comment="同意办结", actor="reg_fz", now=late + DAY)
        assert closed["state"] == "accepted" and closed["closed_at"] == late + DAY
        with pytest.raises(InvalidTransition, match="accepted cannot take 'respond'"):
            respond(conn, order_id, text="x", attachment_ids=[], actor="ent1", now=late)
        with pytest.raises(InvalidTransition, match="accepted cannot take 'return'"):
            return_order(conn, order_id, reason="x", actor="reg_fz", now=late)
        with pytest.raises(InvalidTransition, match="accepted cannot take 'withdraw'"):
            withdraw(conn, order_id, reason="x", actor="reg_fz", now=late)
        with pytest.raises(InvalidInput, match="a comment is required"):
            comment(conn, order_id, text="", actor="reg_fz", now=late)
        assert (
            comment(conn, order_id, text="已归档", actor="reg_fz", now=late + 2 * DAY)["state"] == "accepted"
        )
        events = order_events_of(conn, order_id)
    assert [(e["event"], e["from_state"], e["to_state"], e["actor"], e["comment"]) for e in events] == [
        ("issued", None, "issued", "reg_fz", "SO2 超标整改"),
        ("respond", "issued", "responded", "ent1", "更换滤芯"),
        ("return", "responded", "returned", "reg_fz", "缺少监测数据"),
        ("respond", "returned", "responded", "ent1", "补充数据"),
        ("accept", "responded", "accepted", "reg_fz", "同意办结"),
        ("comment", "accepted", "accepted", "reg_fz", "已归档"),
    ]
    assert events[1]["data"] == {"attachments": [report, photo], "late": False}
    assert events[2]["data"] == {
        "deadline": (t + 5 * DAY).isoformat(),
        "previous_deadline": (NOW + 3 * DAY).isoformat(),
    }
    assert events[3]["data"] == {"attachments": [], "late": False}  # the new deadline counts
    assert events[4]["data"] == {} and events[5]["data"] == {}


def test_a_late_response_is_marked_late(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        order = _issue(conn, world)
        respond(conn, order["id"], text="迟到", attachment_ids=[], actor="ent1", now=order["deadline"])
        assert order_events_of(conn, order["id"])[-1]["data"]["late"] is False  # at the deadline: on time
        return_order(
            conn, order["id"], reason="不全", actor="reg_fz", now=order["deadline"]
        )  # keeps the deadline
        respond(
            conn,
            order["id"],
            text="补",
            attachment_ids=[],
            actor="ent1",
            now=order["deadline"] + timedelta(seconds=1),
        )
        assert order_events_of(conn, order["id"])[-1]["data"]["late"] is True


def test_withdraw_only_before_any_response_and_with_a_reason(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        mistaken = _issue(conn, world)["id"]
        answered = _issue(conn, world)["id"]
        with pytest.raises(InvalidInput, match="the reason for withdrawing it is required"):
            withdraw(conn, mistaken, reason=" ", actor="reg_fz", now=NOW)
        gone = withdraw(conn, mistaken, reason="下发对象错误", actor="reg_fz", now=NOW + timedelta(minutes=5))
        assert gone["state"] == "withdrawn" and gone["closed_at"] == NOW + timedelta(minutes=5)
        with pytest.raises(InvalidTransition, match="withdrawn cannot take 'respond'"):
            respond(conn, mistaken, text="x", attachment_ids=[], actor="ent1", now=NOW)
        respond(conn, answered, text="已整改", attachment_ids=[], actor="ent1", now=NOW)
        with pytest.raises(InvalidTransition, match="responded cannot take 'withdraw'"):
            withdraw(conn, answered, reason="x", actor="reg_fz", now=NOW)
        return_order(conn, answered, reason="不全", actor="reg_fz", now=NOW)
        with pytest.raises(InvalidTransition, match="returned cannot take 'withdraw'"):
            withdraw(conn, answered, reason="x", actor="reg_fz", now=NOW)
        with pytest.raises(NotFound, match="no order 999"):
            withdraw(conn, 999, reason="x", actor="reg_fz", now=NOW)


def test_escalation_once_per_deadline_and_only_while_waiting_on_the_receiver(
    engine: Engine, world: World
) -> None:
    due = NOW + 3 * DAY
    with engine.begin() as conn:
        silent = _issue(conn, world)["id"]
        answered = _issue(conn, world)["id"]
        respond(conn, answered, text="已整改", attachment_ids=[], actor="ent1", now=NOW + DAY)
        assert escalate_overdue(conn, due - timedelta(seconds=1)) == []
        assert escalate_overdue(conn, due) == [silent]  # a responded order waits on the regulator
        assert escalate_overdue(conn, due + DAY) == []  # once
        assert get_order(conn, silent)["escalated_at"] == due
        # returned without a new deadline: the passed deadline already escalated, so not again
        return_order(conn, answered, reason="不全", actor="reg_fz", now=due + DAY)
        assert escalate_overdue(conn, due + 2 * DAY) == [answered]  # its deadline passed while it waited
        assert escalate_overdue(conn, due + 3 * DAY) == []
        # a late response, a return with a new deadline: escalates again once that one passes
        respond(conn, silent, text="补办", attachment_ids=[], actor="ent1", now=due + 3 * DAY)
        new_due = due + 10 * DAY
        return_order(conn, silent, reason="不全", new_deadline=new_due, actor="reg_fz", now=due + 4 * DAY)
        assert escalate_overdue(conn, new_due - timedelta(seconds=1)) == []
        assert escalate_overdue(conn, new_due) == [silent]
        assert escalate_overdue(conn, new_due + DAY) == []
        events = order_events_of(conn, silent)
    escalations = [
        (e["actor"], e["from_state"], e["to_state"], e["data"]) for e in events if e["event"] == "escalate"
    ]
    assert escalations == [
        ("system", "issued", "issued", {"deadline": due.isoformat()}),
        ("system", "returned", "returned", {"deadline": new_due.isoformat()}),
    ]


def test_a_stale_read_cannot_move_the_order(engine: Engine, world: World) -> None:
    """The compare-and-set on the state: what one person read is refused once another has moved it."""
    with engine.begin() as conn:
        order_id = _issue(conn, world)["id"]
        stale = _locked(conn, order_id)
        withdraw(conn, order_id, reason="错发", actor="reg_fz", now=NOW)
        with pytest.raises(Conflict, match=f"order {order_id} changed while this was applied"):
            _move(conn, stale, "respond", actor="ent1", now=NOW, comment="x")
        assert [e["event"] for e in order_events_of(conn, order_id)] == ["issued", "withdraw"]


def test_list_orders_scopes_and_filters(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        to_jia = _issue(conn, world)["id"]
        county = _issue(conn, world, region_code="350102", deadline=NOW + DAY)["id"]
        to_op = _issue(
            conn, world, region_code="350000", enterprise_id=None, operator_id=world.op, alarm_ids=[]
        )["id"]
        to_yi = _issue(conn, world, region_code="350000", enterprise_id=world.yi, alarm_ids=[])["id"]
        respond(conn, to_yi, text="已整改", attachment_ids=[], actor="ent2", now=NOW)

        def ids(limit: int = 100, offset: int = 0, **kw: Any) -> list[int]:
            found = [o["id"] for o in list_orders(conn, OrderFilter(**kw), limit=limit, offset=offset)]
            if limit == 100 and offset == 0:
                assert count_orders(conn, OrderFilter(**kw)) == len(found)
            return found

        assert ids() == [to_yi, to_op, county, to_jia]  # newest first
        assert ids(enterprise_ids=[world.jia]) == [county, to_jia]
        assert ids(enterprise_ids=[]) == []
        assert ids(operator_ids=[world.op]) == [to_op]
        assert ids(operator_ids=[world.idle_op]) == []
        assert ids(region_prefix="3501") == [county, to_jia]
        assert ids(region_prefix="35") == [to_yi, to_op, county, to_jia]
        assert ids(region_prefix="44") == []
        assert ids(states=["responded"]) == [to_yi]
        assert ids(states=["issued"], enterprise_ids=[world.jia]) == [county, to_jia]
        assert ids(overdue_at=NOW + DAY - timedelta(seconds=1)) == []
        assert ids(overdue_at=NOW + DAY) == [county]
        assert ids(overdue_at=NOW + 3 * DAY) == [to_op, county, to_jia]  # to_yi waits on the regulator
        assert ids(limit=2) == [to_yi, to_op] and ids(limit=2, offset=2) == [county, to_jia]
        # a regulator sees what its region issued and what its region's enterprises received
        assert ids(regulator=("3502", [world.yi])) == [to_yi]
        assert ids(regulator=("3501", [world.jia])) == [county, to_jia]
        assert ids(regulator=("44", [])) == []
        with pytest.raises(InvalidInput, match="unknown order state closed"):
            ids(states=["closed"])
        with pytest.raises(InvalidInput, match="limit must be 1-1000"):
            ids(limit=0)
        assert len(ids(limit=1000)) == 4
        with pytest.raises(InvalidInput, match="offset"):
            ids(offset=-1)


def test_the_journals_are_append_only(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        _issue(conn, world)
    for sql in (
        "UPDATE order_events SET comment = 'rewritten'",
        "DELETE FROM order_events",
        "UPDATE order_alarms SET alarm_id = alarm_id",
        "DELETE FROM order_alarms",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
