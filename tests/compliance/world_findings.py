"""A small world for the findings surfaces (helper of test_findings_store, test_run, test_loops, the API,
page and CLI tests): two enterprises with one device and one operator each, a testing agency, and test
rules whose findings the test decides (:class:`Board`), so that these tests do not depend on the rule packs.

- 甲 (enterprise a) in 杭州 330102, device ``MN_A`` on its outlet, operator a contracted for the whole
  enterprise; 乙 (enterprise b) in 广州 440103, device ``MN_B``, operator b; agency ``WZJC`` in 温州 330302.
- :class:`Board`: ``board.found[rule_id]`` is what the rule of that ID finds on its next evaluation;
  ``board.seen[rule_id]`` the parameters it was evaluated with (overrides reaching the rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from envwatch.compliance.rules import Found, Link, Param, Rule, RuleContext, RuleSet, build_rule_set
from envwatch.registry import service as svc
from envwatch.registry.agencies import AgencyIn, create_agency
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn, OutletIn, credit_code_check_char
from envwatch.registry.service_operators import create_contract, create_operator
from envwatch.registry.store import import_devices, load_devices
from tests.helpers import device_row

MN_A = "010000A8900016F0009A0001"
MN_B = "010000A8900016F0009B0001"
# a past moment (UTC) the tests judge at; 2026-10-20 10:00 China time
AT = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)


def credit_code(n: int) -> str:
    first17 = f"9133010900000{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class World:
    ent_a: int
    ent_b: int
    outlet_a: int
    outlet_b: int
    device_a: int
    device_b: int
    op_a: int
    op_b: int
    agency: int


def build_world(engine: Engine, now: datetime = AT) -> World:
    """The registry described in the module docstring (contracts from 2020 on, open-ended)."""
    import_devices(engine, [device_row(MN_A), device_row(MN_B, kind="water")], now)
    devices = {mn: rec.id for mn, rec in load_devices(engine).items()}
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for n, (side, name, region, mn, kind) in enumerate(
            (
                ("a", "甲化工有限公司", "330102", MN_A, "gas"),
                ("b", "乙热电有限公司", "440103", MN_B, "water"),
            ),
            start=1,
        ):
            ent = svc.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=credit_code(n), region_code=region), now
            )
            outlet = svc.create_outlet(
                conn, ent["id"], OutletIn(code="DA001", name="1号排口", kind=kind), now
            )
            svc.set_device_outlet(conn, mn, outlet["id"], now)
            op = create_operator(
                conn, OperatorIn(name=f"运维{side}公司", credit_code=credit_code(10 + n)), now
            )
            create_contract(
                conn,
                op["id"],
                ContractIn(enterprise_id=ent["id"], contract_no=f"C-{side}", valid_from=date(2020, 1, 1)),
                now,
            )
            ids |= {f"ent_{side}": ent["id"], f"outlet_{side}": outlet["id"], f"op_{side}": op["id"]}
            ids[f"device_{side}"] = devices[mn]
        agency = create_agency(
            conn,
            AgencyIn(name="温州检测", credit_code=credit_code(30), code="WZJC", region_code="330302"),
            now,
        )
    return World(agency=agency["id"], **ids)


def about(world: World, side: str, key: str, message: str = "", **extra: Any) -> Found:
    """A device finding on side ``a`` or ``b`` (device, outlet, enterprise, operator named)."""
    fields: dict[str, Any] = {
        "subject_kind": "device",
        "subject_id": getattr(world, f"device_{side}"),
        "device_id": getattr(world, f"device_{side}"),
        "outlet_id": getattr(world, f"outlet_{side}"),
        "enterprise_id": getattr(world, f"ent_{side}"),
        "operator_id": getattr(world, f"op_{side}"),
        "message": message or f"test situation {key} (测试问题)",
        "evidence": (Link("fault", "7", "fault 7"),),
    }
    return Found(key=key, **(fields | extra))


def about_agency(world: World, key: str, **extra: Any) -> Found:
    fields: dict[str, Any] = {
        "subject_kind": "agency",
        "subject_id": world.agency,
        "agency_id": world.agency,
        "message": f"agency situation {key} (检测机构问题)",
    }
    return Found(key=key, **(fields | extra))


def about_operator(world: World, side: str, key: str, **extra: Any) -> Found:
    op = getattr(world, f"op_{side}")
    fields: dict[str, Any] = {
        "subject_kind": "operator",
        "subject_id": op,
        "operator_id": op,
        "message": f"operator situation {key} (运维单位问题)",
    }
    return Found(key=key, **(fields | extra))


@dataclass
class Board:
    """What each test rule finds next (by rule ID) and the parameters each was last evaluated with."""

    found: dict[str, list[Found]] = field(default_factory=dict)
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)

    def rule(self, rule_id: str, *, params: Iterable[Param] = (), subject: str = "device") -> Rule:
        def evaluate(ctx: RuleContext) -> list[Found]:
            self.seen[rule_id] = dict(ctx.params)
            if rule_id in self.fail:
                raise RuntimeError(f"rule {rule_id} broke on purpose")
            return list(self.found.get(rule_id, []))

        return Rule(
            id=rule_id,
            requirement=rule_id.rsplit("-", 1)[0],
            title=f"test rule {rule_id}",
            title_zh=f"测试规则 {rule_id}",
            subject=subject,  # type: ignore[arg-type]
            inputs="what the test puts on the board",
            evaluate=evaluate,
            params=tuple(params),
        )


def rule_set_of(board: Board) -> RuleSet:
    """Three rules: TX-1-A (a parameter ``days`` defaulting to the inspection setting, and ``limit`` 5),
    TX-1-B, TX-2-C (pack ``other``)."""
    return build_rule_set(
        (
            (
                "testpack",
                (
                    board.rule(
                        "TX-1-A",
                        params=(
                            Param("days", "days between inspections", setting="om_inspection_every_days"),
                            Param("limit", "a literal default", default=5),
                        ),
                    ),
                    board.rule("TX-1-B"),
                ),
            ),
            ("other", (board.rule("TX-2-C", subject="agency"),)),
        )
    )


def days_ago(at: datetime, days: float) -> datetime:
    return at - timedelta(days=days)
