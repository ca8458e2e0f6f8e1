"""A small world for the periodic reports' tests (figures, files, store, schedule, API, pages, CLI).

September 2026 (China calendar) on two enterprises:

- 甲化工 (region 330102) with device ``MN_A`` sending every hour of the month (``month_world``: one hour
  flagged C, one under a maintenance mark); operator 运维甲 holds a contract on the whole of 甲 since 2020;
- 乙热电 (region 440103) with device ``MN_B``, which sent nothing (effective rate 0 %).

Alarms: on A an exceedance 09-10 02:00–04:00 (2 h, closed 09-11) and an offline alarm from 09-15 closed on
10-03 (still open at the month's end); on B an exceedance from 09-29 22:00 never ended (26 h to the month's
end, open); on A an exceedance on 10-02 (outside the month). Findings: SX-20.3-7D on A opened 09-05 and
resolved 09-25, on B opened 09-25 (open at the end); SX-18.3-24H on A opened 08-20 and waived 09-10.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from envwatch.alarms.store import Action, Raised, apply, raise_alarm
from envwatch.compliance.findings import apply_found, waive
from envwatch.compliance.rules import Found, Rule
from envwatch.compliance.schema import findings
from envwatch.core.clock import CHINA_TZ
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, credit_code_check_char
from tests.reports.month_world import SO2, add_month, add_outlet, register

MONTH = date(2026, 9, 1)
MN_A = "010000A8900016F0007A0001"
MN_B = "010000A8900016F0007B0001"
COD = "w01018"
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # long after the month


def china(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ).astimezone(UTC)


def credit_code(n: int) -> str:
    first17 = f"9133010800000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class PeriodicWorld:
    jia: int
    yi: int
    op: int
    device_a: int
    device_b: int
    alarms: dict[str, int]
    findings: dict[str, int]


def _rule(rule_id: str) -> Rule:
    return Rule(rule_id, rule_id.split("-")[0] + "-" + rule_id.split("-")[1], "test", "测试", "device", "-",
                lambda ctx: ())  # fmt: skip


def _found(key: str, device: int, enterprise: int, operator: int | None) -> Found:
    return Found(key=key, subject_kind="device", subject_id=device, message=f"test {key}",
                 enterprise_id=enterprise, device_id=device, operator_id=operator)  # fmt: skip


def _exceedance(device: int, factor: str, start: datetime, end: datetime | None) -> Raised:
    return Raised(device, "exceedance", factor, start, "HJ 75-2017 hour limit", "over the limit",
                  ended_at=end, peak="40", limit_value="35", multiple="0.14")  # fmt: skip


def build_world(engine: Engine) -> PeriodicWorld:
    ids = register(engine, [MN_A, MN_B], NOW)
    a, b = ids[MN_A], ids[MN_B]
    with engine.begin() as conn:
        jia = svc.create_enterprise(conn, EnterpriseIn(name="甲化工", credit_code=credit_code(1),
                                                       region_code="330102"), NOW)["id"]  # fmt: skip
        yi = svc.create_enterprise(conn, EnterpriseIn(name="乙热电", credit_code=credit_code(2),
                                                      region_code="440103"), NOW)["id"]  # fmt: skip
        add_outlet(conn, jia, [MN_A], NOW)
        add_outlet(conn, yi, [MN_B], NOW)
        add_month(conn, a, MONTH)
        op = ops.create_operator(conn, OperatorIn(name="运维甲", credit_code=credit_code(10)), NOW)["id"]
        ops.create_contract(conn, op, ContractIn(enterprise_id=jia, contract_no="C-1",
                                                 valid_from=date(2020, 1, 1)), NOW)  # fmt: skip
        alarms = {}
        t = china(9, 10, 4)
        alarms["a_exceed"] = raise_alarm(
            conn, _exceedance(a, SO2, china(9, 10, 2), t), t, ack_due_s=3600
        ).alarm_id
        apply(
            conn,
            alarms["a_exceed"],
            Action("close", cause="锅炉启动", action="已调整"),
            actor="ent",
            now=china(9, 11),
        )
        t = china(9, 15)
        offline = Raised(a, "offline", "", t, "HJ 212 offline", "no data for 1 h")
        alarms["a_offline"] = raise_alarm(conn, offline, t, ack_due_s=3600).alarm_id
        apply(
            conn,
            alarms["a_offline"],
            Action("close", cause="断网", action="已恢复"),
            actor="ent",
            now=china(10, 3),
        )
        t = china(9, 29, 22)
        alarms["b_exceed"] = raise_alarm(conn, _exceedance(b, COD, t, None), t, ack_due_s=3600).alarm_id
        t = china(10, 2, 5)
        alarms["a_october"] = raise_alarm(conn, _exceedance(a, SO2, t, t + timedelta(hours=1)), t,
                                          ack_due_s=3600).alarm_id  # fmt: skip
        inspect, fault = _rule("SX-20.3-7D"), _rule("SX-18.3-24H")
        apply_found(conn, fault, [_found("f3", a, jia, op)], at=china(8, 20), now=china(8, 20))
        apply_found(conn, inspect, [_found("f1", a, jia, op)], at=china(9, 5), now=china(9, 5))
        apply_found(conn, inspect, [_found("f2", b, yi, None)], at=china(9, 25), now=china(9, 25))
        found = {r.key: r.id for r in conn.execute(select(findings.c.key, findings.c.id))}
        waive(conn, found["f3"], "设备已更换", by="reg", now=china(9, 10))
    return PeriodicWorld(jia, yi, op, a, b, alarms, found)
