"""Service tickets (服务工单, CS-4.3.3) on the real stores (SQLite and PostgreSQL), with a hand-made registry.

NOW is 12:00 China time on 2026-11-22 (04:00 UTC); T0, the usual request time, is 24 h earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.staff_schema import staff, staff_certificates
from envwatch.operations.ticket_lifecycle import InvalidTransition
from envwatch.operations.ticket_sla import Rate, SlaRules
from envwatch.operations.ticket_stats import (
    parse_quarter,
    quarter_name,
    quarter_of,
    satisfaction,
    sla_statistics,
)
from envwatch.operations.tickets import (
    TicketQuery,
    get_ticket,
    journal_of,
    list_tickets,
    projected_clocks,
    record_event,
    request_ticket,
    ticket_view,
)
from envwatch.operations.tickets_schema import ticket_events, tickets
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from tests.helpers import GAS_MN, NOW, register_demo_devices

T0 = NOW - timedelta(hours=24)
H = timedelta(hours=1)
S = timedelta(seconds=1)
SINCE = date(2020, 1, 1)


@dataclass(frozen=True)
class World:
    jia: int  # 甲 350102: outlets urban / suburban / remote, all under 运维甲
    yi: int  # 乙: no contract
    bing: int  # 丙: all under 运维甲, outlet C1 under 运维乙 by a contract of its own
    ding: int  # 丁: all of it under both operators (a registry mistake)
    outlets: dict[str, int]
    device: int  # on 甲's urban outlet
    op: int  # 运维甲
    op2: int  # 运维乙
    staff: dict[
        str, int
    ]  # ok (运维甲, valid), old (运维甲, expired 2026-06-30), other (运维乙), idle (运维甲, gone)


def credit_code(n: int) -> str:
    first17 = f"9135010200000{n:04d}"
    return first17 + credit_code_check_char(first17)


def _staff(
    conn: Connection, operator_id: int, name: str, valid_until: date | None, active: bool = True
) -> int:
    person = conn.execute(
        insert(staff)
        .values(
            operator_id=operator_id, name=name, position="field_engineer", phone="13800000000",
            username=None, active=active, created_at=NOW, updated_at=NOW,
        )
        .returning(staff.c.id)
    ).scalar_one()  # fmt: skip
    if valid_until is not None:
        conn.execute(
            insert(staff_certificates).values(
                staff_id=person, kind="自动监测运维上岗证", number=f"CERT-{person}", issuer="省环境监测协会",
                issued_on=date(2024, 1, 1), valid_until=valid_until, recorded_by="admin", recorded_at=NOW,
            )
        )  # fmt: skip
    return int(person)


def build_world(engine: Engine) -> World:
    devices = register_demo_devices(engine)
    with engine.begin() as conn:
        ents = [
            svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=credit_code(i), region_code=r), NOW
            )["id"]
            for i, (name, r) in enumerate(
                (("甲化工", "350102"), ("乙热电", "350203"), ("丙水泥", "440103"), ("丁钢铁", "440104"))
            )
        ]
        jia, yi, bing, ding = ents
        out: dict[str, int] = {}
        for key, ent, code, zone in (
            ("urban", jia, "DA001", "urban"),
            ("suburban", jia, "DA002", "suburban"),
            ("remote", jia, "DA003", "remote"),
            ("yi", yi, "DA001", "urban"),
            ("c1", bing, "DA001", "urban"),
            ("c2", bing, "DA002", "urban"),
            ("ding", ding, "DA001", "urban"),
        ):
            outlet = OutletIn(code=code, name=f"{code}排口", kind="gas", service_zone=zone)  # type: ignore[arg-type]
            out[key] = svc.create_outlet(conn, ent, outlet, NOW)["id"]
        svc.set_device_outlet(conn, GAS_MN, out["urban"], NOW)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), NOW)["id"]
        op2 = ops.create_operator(conn, OperatorIn(name="运维乙", credit_code=credit_code(11)), NOW)["id"]
        for n, (operator, ent, outlet_id) in enumerate(
            ((op, jia, None), (op, bing, None), (op2, bing, out["c1"]), (op, ding, None), (op2, ding, None))
        ):
            contract = ContractIn(
                enterprise_id=ent, outlet_id=outlet_id, contract_no=f"HT-{n}", valid_from=SINCE
            )
            ops.create_contract(conn, operator, contract, NOW)
        people = {
            "ok": _staff(conn, op, "张工", date(2027, 12, 31)),
            "old": _staff(conn, op, "李工", date(2026, 6, 30)),
            "other": _staff(conn, op2, "王工", date(2027, 12, 31)),
            "idle": _staff(conn, op, "赵工", date(2027, 12, 31), active=False),
        }
    return World(jia, yi, bing, ding, out, devices[GAS_MN], op, op2, people)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def ask(conn: Connection, w: World, outlet: str = "urban", at: datetime = T0, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "enterprise_id": w.jia,
        "outlet_id": w.outlets[outlet],
        "device_id": None,
        "subject": "SO2 数据掉线",
        "description": "昨晚起数采仪无数据上传",
        "channel": "web",
        "requested_at": at,
        "by": "ent_jia",
        "now": NOW,
    }
    return request_ticket(conn, **(values | extra))


def step(conn: Connection, ticket_id: int, event: str, at: datetime, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"event": event, "at": at, "by": "someone", "now": NOW}
    return record_event(conn, ticket_id, **(values | extra))


def clocks(conn: Connection, ticket_id: int, now: datetime = NOW) -> dict[str, tuple[str, timedelta | None]]:
    view = ticket_view(conn, ticket_id, now)
    return {c.name: (c.state, c.remaining) for c in view.clocks}


# ---- requesting ----


def test_a_request_takes_the_operator_and_the_zone_of_its_outlet(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        row = ask(conn, world, "suburban", device_id=None, channel="phone", at=T0 - 2 * H)
    assert (row["operator_id"], row["zone"], row["state"], row["channel"]) == (
        world.op,
        "suburban",
        "requested",
        "phone",
    )
    assert (row["requested_at"], row["requested_by"]) == (T0 - 2 * H, "ent_jia")
    with engine.connect() as conn:
        journal = journal_of(conn, row["id"])
    # a phone request entered afterwards: the journal shows when it was asked and when it was entered
    assert [(e["event"], e["at"], e["recorded_at"], e["from_state"], e["to_state"]) for e in journal] == [
        ("requested", T0 - 2 * H, NOW, None, "requested")
    ]
    # a later change of the outlet's zone does not move the ticket's clock
    with engine.begin() as conn:
        svc.update_outlet(conn, world.outlets["suburban"], {"service_zone": "urban"}, NOW)
        assert get_ticket(conn, row["id"])["zone"] == "suburban"


def test_an_outlet_s_own_contract_comes_before_the_enterprise_wide_one(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        c1 = ask(conn, world, "c1", enterprise_id=world.bing)
        c2 = ask(conn, world, "c2", enterprise_id=world.bing)
        with_device = ask(conn, world, device_id=world.device)
    assert (c1["operator_id"], c2["operator_id"]) == (world.op2, world.op)
    assert with_device["device_id"] == world.device


def test_the_contract_must_cover_the_day_of_the_request(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        outlet = svc.create_outlet(conn, world.yi, OutletIn(code="DA009", name="新排口", kind="gas"), NOW)
        ops.create_contract(
            conn,
            world.op2,
            ContractIn(
                enterprise_id=world.yi,
                outlet_id=outlet["id"],
                contract_no="HT-NEW",
                valid_from=date(2026, 11, 22),
            ),
            NOW,
        )
    # asked at 11:00 China time on the 21st, the day before the contract began
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        request_ticket(
            conn, enterprise_id=world.yi, outlet_id=outlet["id"], device_id=None, subject="s",
            description="d", channel="phone", requested_at=T0 - H, by="ent_yi", now=NOW,
        )  # fmt: skip
    assert (
        str(info.value)
        == f"no operator under contract for outlet {outlet['id']} (DA009 新排口) on 2026-11-21"
    )
    with engine.begin() as conn:
        row = request_ticket(
            conn, enterprise_id=world.yi, outlet_id=outlet["id"], device_id=None, subject="s",
            description="d", channel="phone", requested_at=NOW - H, by="ent_yi", now=NOW,
        )  # fmt: skip
    assert row["operator_id"] == world.op2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subject": "  "}, "the subject is required"),
        ({"subject": "x" * 201}, "the subject is 201 characters; at most 200"),
        ({"description": ""}, "the description (what is wrong) is required"),
        ({"channel": "fax"}, "channel 'fax' is not one of phone, web, app"),
        (
            {"at": NOW + S},
            "the request time 2026-11-22 12:00:01 (China time) is in the future; record what has happened",
        ),
        (
            {"at": T0.replace(tzinfo=None)},
            "the request time 2026-11-21T04:00:00 has no time zone; give it with one",
        ),
        ({"by": ""}, "the user recording it must be a username of 1-64 characters"),
        ({"enterprise_id": 999}, "no enterprise 999"),
        (
            {"outlet": "yi"},
            "outlet {yi} (DA001 DA001排口) belongs to enterprise {yi_ent}, not to enterprise {jia}",
        ),
        ({"device_id": 999}, "no device 999"),
        (
            {"outlet": "suburban", "device_id": "dev"},
            "device {dev} (010000A8900016F000169DC0) is not on outlet {suburban}",
        ),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_stored(
    engine: Engine, world: World, change: dict[str, Any], message: str
) -> None:
    extra = dict(change)
    outlet = extra.pop("outlet", "urban")
    if extra.get("device_id") == "dev":
        extra["device_id"] = world.device
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        ask(conn, world, outlet, **extra)
    names = {"yi": world.outlets["yi"], "yi_ent": world.yi, "jia": world.jia, "dev": world.device}
    assert str(info.value) == message.format(**names, suburban=world.outlets["suburban"])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == 0


def test_no_or_several_operators_under_contract(engine: Engine, world: World) -> None:
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        ask(conn, world, "yi", enterprise_id=world.yi)
    assert (
        str(info.value)
        == f"no operator under contract for outlet {world.outlets['yi']} (DA001 DA001排口) on 2026-11-21"
    )
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        ask(conn, world, "ding", enterprise_id=world.ding)
    assert str(info.value) == (
        f"outlet {world.outlets['ding']} (DA001 DA001排口) is under contract with several operators on 2026-11-21: "
        f"{world.op} (运维甲), {world.op2} (运维乙); correct the contracts in the registry"
    )


# ---- the clocks at their boundaries ----


@pytest.mark.parametrize(("late", "state"), [(0 * S, "met"), (S, "breached")])
def test_a_response_exactly_at_the_due_time_is_on_time_one_second_later_is_not(
    engine: Engine, world: World, late: timedelta, state: str
) -> None:
    with engine.begin() as conn:
        ticket = ask(conn, world)
        step(conn, ticket["id"], "respond", T0 + H + late, comment="已接单")
        assert clocks(conn, ticket["id"])["respond"] == (state, None)
        assert get_ticket(conn, ticket["id"])["responded_at"] == T0 + H + late


@pytest.mark.parametrize(("zone", "limit"), [("urban", 4 * H), ("suburban", 8 * H), ("remote", 8 * H)])
@pytest.mark.parametrize(("late", "state"), [(0 * S, "met"), (S, "breached")])
def test_an_arrival_exactly_at_the_due_time_is_on_time_one_second_later_is_not(
    engine: Engine, world: World, zone: str, limit: timedelta, late: timedelta, state: str
) -> None:
    with engine.begin() as conn:
        ticket = ask(conn, world, zone)
        step(conn, ticket["id"], "respond", T0 + 10 * 60 * S)
        moved = step(conn, ticket["id"], "arrive", T0 + limit + late, staff_id=world.staff["ok"])
        assert (moved["state"], moved["arrived_at"], moved["assigned_staff_id"]) == (
            "on_site",
            T0 + limit + late,
            world.staff["ok"],
        )
        assert clocks(conn, ticket["id"])["on_site"] == (state, None)


def test_clocks_still_running_show_the_time_left_and_then_overdue(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        ticket = ask(conn, world, at=NOW - 30 * 60 * S)
        assert clocks(conn, ticket["id"]) == {
            "respond": ("running", 30 * 60 * S),
            "on_site": ("running", 210 * 60 * S),
        }
        assert clocks(conn, ticket["id"], NOW + 31 * 60 * S)["respond"] == ("overdue", -S * 60)


def test_the_happy_path_and_the_projection(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        step(conn, t, "respond", T0 + 20 * 60 * S, comment="已安排工程师")
        step(conn, t, "arrive", T0 + 3 * H, staff_id=world.staff["ok"])
        step(conn, t, "resolve", T0 + 5 * H, comment="更换电源模块")
        step(conn, t, "reject", T0 + 6 * H, comment="仍然掉线")
        step(conn, t, "resolve", T0 + 8 * H, comment="更换数采仪")
        closed = step(conn, t, "confirm", T0 + 9 * H)
        surveyed = step(conn, t, "survey", T0 + 20 * H, score=5, comment="满意")
        assert (closed["state"], closed["closed_at"], closed["resolved_at"]) == (
            "closed",
            T0 + 9 * H,
            T0 + 8 * H,
        )
        assert (surveyed["state"], surveyed["score"]) == ("closed", 5)
        view = ticket_view(conn, t, NOW)
    assert [(e["event"], e["from_state"], e["to_state"]) for e in view.journal] == [
        ("requested", None, "requested"),
        ("respond", "requested", "responded"),
        ("arrive", "responded", "on_site"),
        ("resolve", "on_site", "resolved"),
        ("reject", "resolved", "on_site"),
        ("resolve", "on_site", "resolved"),
        ("confirm", "resolved", "closed"),
        ("survey", "closed", "closed"),
    ]
    assert [e["recorded_by"] for e in view.journal][1:] == ["someone"] * 7
    assert view.journal[2]["staff_id"] == world.staff["ok"] and view.journal[7]["score"] == 5
    assert {c.name: c.state for c in view.clocks} == {"respond": "met", "on_site": "met"}


def test_cancel_before_a_response_makes_the_clocks_not_applicable(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        row = step(conn, t, "cancel", T0 + 30 * 60 * S, comment="已自行恢复")
        assert (row["state"], row["cancelled_at"]) == ("cancelled", T0 + 30 * 60 * S)
        assert clocks(conn, t) == {"respond": ("not_applicable", None), "on_site": ("not_applicable", None)}
        other = ask(conn, world)["id"]
        step(conn, other, "respond", T0 + H)
        with pytest.raises(InvalidTransition) as info:
            step(conn, other, "cancel", T0 + 2 * H)
    assert (
        str(info.value)
        == "a ticket that is responded cannot take 'cancel' (allowed: arrive, comment, resolve_remotely)"
    )
    assert info.value.http_status == 409


def test_a_request_solved_remotely_closes_without_an_arrival(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        step(conn, t, "respond", T0 + 10 * 60 * S)
        fixed = step(conn, t, "resolve_remotely", T0 + 40 * 60 * S, comment="电话指导重启数采仪")
        assert (fixed["state"], fixed["resolved_at"], fixed["arrived_at"]) == (
            "remote_fixed",
            T0 + 40 * 60 * S,
            None,
        )
        assert clocks(conn, t)["on_site"] == ("not_applicable", None)
        step(conn, t, "confirm", T0 + H)
        assert clocks(conn, t) == {"respond": ("met", None), "on_site": ("not_applicable", None)}
        # a rejected remote fix: somebody must come, and the on-site clock counts from the request again
        u = ask(conn, world, at=NOW - 5 * H)["id"]
        step(conn, u, "respond", NOW - 5 * H + 60 * S)
        step(conn, u, "resolve_remotely", NOW - 4 * H - 30 * 60 * S)
        back = step(conn, u, "reject", NOW - 4 * H - 10 * 60 * S, comment="没有解决")
        assert (back["state"], back["resolved_at"]) == ("responded", None)
        assert clocks(conn, u)["on_site"] == ("overdue", -H)


def test_an_expired_certificate_blocks_the_arrival(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        step(conn, t, "respond", T0 + 10 * 60 * S)
    for person, error, message in (
        (
            "old",
            InvalidInput,
            "李工 (staff {id}) has no certificate valid on 2026-11-21 (the latest, CERT-{id}, is valid until "
            "2026-06-30): field work cannot be assigned",
        ),
        ("idle", InvalidInput, "赵工 (staff {id}) no longer works for the operator"),
        ("other", NotFound, "no staff member with id {id} at operator {op}"),
    ):
        staff_id = world.staff[person]
        with pytest.raises(error) as info, engine.begin() as conn:
            step(conn, t, "arrive", T0 + 2 * H, staff_id=staff_id)
        assert str(info.value) == message.format(id=staff_id, op=world.op)
    with (
        pytest.raises(InvalidInput, match=r"^an arrival names the staff member on site \(staff_id\)$"),
        engine.begin() as conn,
    ):
        step(conn, t, "arrive", T0 + 2 * H)
    with engine.connect() as conn:
        assert get_ticket(conn, t)["state"] == "responded"
        assert [e["event"] for e in journal_of(conn, t)] == ["requested", "respond"]


def test_a_survey_only_once_only_closed_and_on_the_scale(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        with pytest.raises(InvalidTransition, match="a ticket that is requested cannot take 'survey'"):
            step(conn, t, "survey", T0 + H, score=5)
        step(conn, t, "respond", T0 + H)
        step(conn, t, "resolve_remotely", T0 + 2 * H)
        step(conn, t, "confirm", T0 + 3 * H)
        for score, message in (
            (None, "a survey gives a score 1-5"),
            (0, "a survey score is 1-5, not 0"),
            (6, "a survey score is 1-5, not 6"),
            (True, "a survey score is 1-5, not True"),
        ):
            with pytest.raises(InvalidInput) as info:
                step(conn, t, "survey", T0 + 4 * H, score=score)
            assert str(info.value) == message
        step(conn, t, "survey", T0 + 4 * H, score=3)
        with pytest.raises(Conflict) as twice:
            step(conn, t, "survey", T0 + 5 * H, score=5)
    assert str(twice.value) == f"ticket {t} was already surveyed (score 3): a survey is recorded once"
    assert not isinstance(twice.value, InvalidTransition)


@pytest.mark.parametrize(
    ("event", "extra", "message"),
    [
        (
            "phone_call",
            {},
            "unknown ticket event 'phone_call' (events: respond, arrive, resolve, resolve_remotely, reject, confirm, cancel, survey, comment)",
        ),
        (
            "requested",
            {},
            "unknown ticket event 'requested' (events: respond, arrive, resolve, resolve_remotely, reject, confirm, cancel, survey, comment)",
        ),
        (
            "respond",
            {"at": T0 - S},
            "the time 2026-11-21 11:59:59 is before the ticket's previous step (2026-11-21 12:00:00 China time)",
        ),
        (
            "respond",
            {"at": NOW + S},
            "the time 2026-11-22 12:00:01 (China time) is in the future; record what has happened",
        ),
        ("respond", {"staff_id": 1}, "only an arrival names a staff member, not 'respond'"),
        ("respond", {"score": 5}, "only a survey gives a score, not 'respond'"),
        ("comment", {"comment": " "}, "a comment is required"),
        ("respond", {"comment": "x" * 4001}, "the reason is 4001 characters; at most 4000"),
    ],
)
def test_bad_steps_are_refused(
    engine: Engine, world: World, event: str, extra: dict[str, Any], message: str
) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
    extra = dict(extra)  # the parameter is shared by the SQLite and PostgreSQL runs
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        step(conn, t, event, extra.pop("at", T0 + H), **extra)
    assert str(info.value) == message
    with engine.connect() as conn:
        assert len(journal_of(conn, t)) == 1


def test_a_rejection_needs_its_reason_and_an_unknown_ticket_is_not_found(
    engine: Engine, world: World
) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        step(conn, t, "respond", T0 + H)
        step(conn, t, "resolve_remotely", T0 + 2 * H)
        with pytest.raises(InvalidInput, match=r"^the reason is required$"):
            step(conn, t, "reject", T0 + 3 * H)
        with pytest.raises(NotFound, match=r"^no ticket with id 999$"):
            step(conn, 999, "respond", T0 + H)
        # a comment in a terminal state is a note, never a change
        step(conn, t, "confirm", T0 + 3 * H)
        row = step(conn, t, "comment", T0 + 4 * H, comment="回访时企业表示满意")
    assert row["state"] == "closed"


def test_the_journal_is_append_only(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        t = ask(conn, world)["id"]
        step(conn, t, "respond", T0 + H)
    for sql in ("UPDATE ticket_events SET comment = 'rewritten'", "DELETE FROM ticket_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ticket_events)).scalar_one() == 2


# ---- lists, projected clocks, figures ----


def _history(engine: Engine, w: World) -> dict[str, int]:
    """Tickets in every state, requested at different times (see each line)."""
    out: dict[str, int] = {}
    with engine.begin() as conn:
        out["overdue"] = ask(conn, w, at=NOW - 2 * H)["id"]  # nobody answered in 2 h
        out["fresh"] = ask(conn, w, "suburban", at=NOW - 10 * 60 * S)["id"]  # running
        late = ask(conn, w, at=T0)["id"]  # answered late, reached in time, closed, surveyed 2
        step(conn, late, "respond", T0 + H + S)
        step(conn, late, "arrive", T0 + 2 * H, staff_id=w.staff["ok"])
        step(conn, late, "resolve", T0 + 3 * H)
        step(conn, late, "confirm", T0 + 4 * H)
        step(conn, late, "survey", T0 + 5 * H, score=2)
        out["late"] = late
        remote = ask(conn, w, "remote", at=T0 - 48 * H)["id"]  # solved remotely, surveyed 5
        step(conn, remote, "respond", T0 - 47 * H)
        step(conn, remote, "resolve_remotely", T0 - 46 * H)
        step(conn, remote, "confirm", T0 - 45 * H)
        step(conn, remote, "survey", T0 - 44 * H, score=5)
        out["remote"] = remote
        cancelled = ask(conn, w, at=T0 - 72 * H)["id"]
        step(conn, cancelled, "cancel", T0 - 71 * H)
        out["cancelled"] = cancelled
        out["bing"] = ask(conn, w, "c1", enterprise_id=w.bing, at=NOW - 3 * H)["id"]  # 运维乙's, overdue
    return out


def test_projected_clocks_equal_the_journal_s(engine: Engine, world: World) -> None:
    made = _history(engine, world)
    with engine.connect() as conn:
        for ticket_id in made.values():
            row = get_ticket(conn, ticket_id)
            assert projected_clocks(row, NOW) == ticket_view(conn, ticket_id, NOW).clocks, ticket_id


def test_list_filters_open_first_and_paging(engine: Engine, world: World) -> None:
    made = _history(engine, world)

    def ids(**kw: Any) -> list[int]:
        rows, total = list_tickets(conn, TicketQuery(now=NOW, **kw))
        assert total >= len(rows)
        return [r["id"] for r in rows]

    with engine.connect() as conn:
        # open first (newest request first), then the closed and cancelled ones
        assert ids() == [made[k] for k in ("fresh", "overdue", "bing", "late", "remote", "cancelled")]
        assert ids(operator_ids=[world.op2]) == [made["bing"]]
        assert ids(enterprise_ids=[world.bing]) == [made["bing"]]
        assert ids(outlet_ids=[world.outlets["remote"]]) == [made["remote"]]
        assert ids(enterprise_ids=[]) == []
        assert ids(states=["closed"]) == [made["late"], made["remote"]]
        assert ids(clock="overdue") == [made["overdue"], made["bing"]]
        # a clock not due yet: the fresh request, and the on-site clocks (4 h) of the two unanswered ones
        assert ids(clock="running") == [made["fresh"], made["overdue"], made["bing"]]
        assert ids(clock="breached") == [made["late"]]
        # China days of the request: T0 is 12:00 on the 21st
        assert ids(first_day=date(2026, 11, 21), last_day=date(2026, 11, 21)) == [made["late"]]
        assert ids(last_day=date(2026, 11, 20)) == [made["remote"], made["cancelled"]]
        rows, total = list_tickets(conn, TicketQuery(now=NOW, limit=2, offset=2))
        assert ([r["id"] for r in rows], total) == ([made["bing"], made["late"]], 6)
        rows, total = list_tickets(conn, TicketQuery(now=NOW, clock="overdue", limit=1, offset=1))
        assert ([r["id"] for r in rows], total) == ([made["bing"]], 2)
        assert {c.name: c.state for c in rows[0]["clocks"]} == {"respond": "overdue", "on_site": "running"}
        for bad, message in (
            (
                {"states": ["lost"]},
                "unknown ticket state lost (states: requested, responded, on_site, resolved, remote_fixed, closed, cancelled)",
            ),
            ({"clock": "late"}, "unknown clock status 'late' (one of running, overdue, breached)"),
            ({"limit": 0}, "limit must be 1-1000, not 0"),
            ({"offset": -1}, "offset must not be negative, not -1"),
            (
                {"first_day": date(2026, 11, 2), "last_day": date(2026, 11, 1)},
                "from 2026-11-02 is after to 2026-11-01",
            ),
        ):
            with pytest.raises(InvalidInput) as info:
                ids(**bad)
            assert str(info.value) == message


def test_satisfaction_and_on_time_figures(engine: Engine, world: World) -> None:
    _history(engine, world)
    quarter = quarter_of(date(2026, 11, 22))
    assert quarter == (date(2026, 10, 1), date(2026, 12, 31)) and quarter_name(quarter[0]) == "2026Q4"
    with engine.connect() as conn:
        got = satisfaction(conn, world.op, *quarter)
        assert (got.rate, got.target) == (Rate(2, 1, Decimal("50.0"), False), Decimal("85"))
        # by the day of the survey: the remote one was surveyed on the 19th, the late one on the 21st
        assert satisfaction(conn, world.op, date(2026, 11, 21), date(2026, 11, 22)).rate.n == 1
        assert satisfaction(conn, world.op2, *quarter).rate == Rate(0, 0, None, None)  # no surveys: no rate
        assert satisfaction(conn, world.op, *quarter, enterprise_ids=[world.bing]).rate.n == 0
        lenient = SlaRules(satisfied_min_score=2, satisfaction_min_percent=Decimal("100"))
        assert satisfaction(conn, world.op, *quarter, lenient).rate == Rate(2, 2, Decimal("100.0"), True)
        stats = sla_statistics(conn, world.op, *quarter, NOW)
        assert stats.tickets == 5
        respond, on_site = stats.clocks["respond"], stats.clocks["on_site"]
        # respond: remote met, late breached, overdue overdue; fresh running; cancelled not applicable
        assert (respond.met, respond.late, respond.running, respond.not_applicable) == (1, 2, 1, 1)
        assert respond.percent == Decimal("33.3")
        # on site: late met; overdue (2 h of 4) and fresh running; remote and cancelled not applicable
        assert (on_site.met, on_site.late, on_site.running, on_site.not_applicable) == (1, 0, 2, 2)
        assert on_site.percent == Decimal("100.0")
        empty = sla_statistics(conn, world.op2, date(2026, 1, 1), date(2026, 3, 31), NOW)
        assert (empty.tickets, empty.clocks["respond"].percent) == (0, None)
        with pytest.raises(InvalidInput, match=r"^from 2026-12-31 is after to 2026-10-01$"):
            satisfaction(conn, world.op, quarter[1], quarter[0])


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [("2026Q1", date(2026, 1, 1), date(2026, 3, 31)), ("2026-q4", date(2026, 10, 1), date(2026, 12, 31))],
)
def test_quarters(text: str, first: date, last: date) -> None:
    assert parse_quarter(text) == (first, last)


def test_a_bad_quarter_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"^quarter '2026Q5' is not a quarter such as 2026Q3$"):
        parse_quarter("2026Q5")


def test_times_stay_utc_in_the_store(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        row = ask(conn, world, at=datetime(2026, 11, 21, 20, 30, tzinfo=UTC))
    assert row["requested_at"].utcoffset() == timedelta(0)
