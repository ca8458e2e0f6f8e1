"""The reports page's own world: 甲 with a gas outlet whose device sent every hour of last month (China
calendar; ``tests.reports.month_world`` describes the values, the calibration hour and the marked hour),
乙 with an outlet of its own. Users: ent_a, ent_b (enterprise), admin1, aud_old (an auditor of 甲's
operator for January 2025) and aud_now (the same operator, auditing last month).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from envwatch.core.clock import to_china, utcnow
from envwatch.core.settings import Settings
from envwatch.registry import service, service_operators
from envwatch.registry.models import ContractIn, EnterpriseIn, OperatorIn
from tests.reports.month_world import add_month, add_outlet, register
from tests.web.pages.conftest import create_users, credit_code, fresh_store, serving

MN_A = "010000A8900016F0004A0001"
MN_B = "010000A8900016F0004B0001"


@dataclass(frozen=True)
class ReportsWorld:
    base_url: str
    settings: Settings
    engine: Engine
    outlet_a: int
    outlet_b: int
    credit_code_a: str
    last_month: date
    now: datetime


def last_month(now: datetime) -> date:
    return (to_china(now).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def populate(engine: Engine, now: datetime) -> tuple[int, int]:
    ids = register(engine, [MN_A, MN_B], now)
    month = last_month(now)
    with engine.begin() as conn:
        ents = [
            service.create_enterprise(
                conn, EnterpriseIn(name=name, credit_code=credit_code(n), region_code=region), now
            )["id"]
            for n, (name, region) in enumerate(
                (("甲化工有限公司", "330102"), ("乙热电有限公司", "440103")), 1
            )
        ]
        outlet_a = add_outlet(conn, ents[0], [MN_A], now)
        outlet_b = add_outlet(conn, ents[1], [MN_B], now, code="DA009")
        add_month(conn, ids[MN_A], month)
        operator = service_operators.create_operator(
            conn, OperatorIn(name="丙运维", credit_code=credit_code(3)), now
        )
        service_operators.create_contract(
            conn,
            operator["id"],
            ContractIn(enterprise_id=ents[0], contract_no="HT-001", valid_from=date(2020, 1, 1)),
            now,
        )
        period_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        users: list[tuple[str, dict[str, object]]] = [
            ("admin1", {"role": "admin"}),
            ("ent_a", {"role": "enterprise", "enterprise_id": ents[0], "display_name": "甲环保专员"}),
            ("ent_b", {"role": "enterprise", "enterprise_id": ents[1]}),
            ("aud_old", {"role": "auditor", "operator_id": operator["id"],
                         "period_from": date(2025, 1, 1), "period_to": date(2025, 1, 31)}),
            ("aud_now", {"role": "auditor", "operator_id": operator["id"],
                         "period_from": month.replace(day=10), "period_to": period_end}),
        ]  # fmt: skip
        create_users(conn, users, now)
    return outlet_a, outlet_b


@pytest.fixture(scope="session")
def reports_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsWorld]:
    data_dir: Path = tmp_path_factory.mktemp("reports") / "var"
    with fresh_store(data_dir) as (settings, engine):
        now = utcnow()
        outlet_a, outlet_b = populate(engine, now)
        with serving(settings, engine) as url:
            yield ReportsWorld(
                url, settings, engine, outlet_a, outlet_b, credit_code(1), last_month(now), now
            )
