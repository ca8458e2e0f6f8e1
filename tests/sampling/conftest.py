"""Shared fixtures of the sampling tests: a small world of enterprises, testing agencies, staff with and
without a valid label-system training (WZ-A2-5) and one sampling plan, built on the real stores of a
migrated database (``sampling_world`` on SQLite, ``sampling_world_pg`` on PostgreSQL, ``sampling_world_any``
on both).

SAMPLING_NOW is 10:00 China time on 2026-11-23 (02:00 UTC). The world:

- enterprises 甲 (``jia``, 330302 温州) with outlet ``gas`` at SAMPLING_SITE and outlet ``bare`` without a
  position, and 乙 (``yi``) with outlet ``yi_gas``;
- agency ``agency`` 温州检测 (code WZJC, region 330302), ``other_agency`` 杭州检测 (HZJC, 330106) and
  ``idle_agency`` (停业检测, XXJC, inactive);
- staff of ``agency`` (``world.staff[...]``): samplers ``chen`` and ``zhou`` (trained), ``expired``
  (training ended yesterday), ``failed`` (failed the test), ``withdrawn`` (its passed training withdrawn by a
  later row), ``untrained`` (none), ``corrected`` (a failed row corrected to passed by a superseding row),
  ``offteam`` (trained, not on the plan's team), ``left`` (trained, on the team, deactivated after the plan
  was made), ``receiver`` (样品管理员), ``analyst``; ``stranger`` works for ``other_agency``;
- plan ``world.plan`` of ``agency`` at 甲's gas outlet, window SAMPLING_NOW − 1 h … + 7 h, items ``cod``
  (化学需氧量, 2 bottles, H2SO4) and ``nh3`` (氨氮); its team: every sampler above but ``offteam``.

``world.entry()``, ``world.register()``, ``world.step()`` … build inputs and call the real stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Table, func, insert, select, update

from envwatch.registry import service as svc
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.registry.models import EnterpriseIn, OutletIn, credit_code_check_char
from envwatch.sampling.entry import EntryRules, Position
from envwatch.sampling.plans import PlanDraft, PlanItemDraft, create_plan
from envwatch.sampling.registration import (
    OnSiteEntry,
    SelfDelivered,
    register_on_site,
    register_self_delivered,
)
from envwatch.sampling.schema import custody_events, sample_code_days, samples
from envwatch.sampling.steps import Step, StepInput, record_step

SAMPLING_NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SAMPLING_SITE = Position(Decimal("27.9938"), Decimal("120.6993"))  # 温州, the gas outlet of 甲
SAMPLING_RULES = EntryRules(  # the settings' defaults
    max_distance_m=300,
    offline_max_age=timedelta(hours=72),
    clock_skew=timedelta(seconds=300),
    entry_lag=timedelta(minutes=60),
)
RANDOM_CHARS = 6
PHOTO = "a" * 64  # a blob's SHA-256 (the store keeps the hash only)
VIDEO = "b" * 64


def sampling_credit_code(n: int) -> str:
    first17 = f"9133030200002{n:04d}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True)
class SamplingWorld:
    engine: Engine
    now: datetime
    enterprises: dict[str, int]
    outlets: dict[str, int]
    agency: int
    other_agency: int
    idle_agency: int
    staff: dict[str, int]
    plan: dict[str, Any]
    items: dict[str, int]
    rules: EntryRules = SAMPLING_RULES
    random_chars: int = RANDOM_CHARS
    site: Position = field(default=SAMPLING_SITE)

    # --- inputs -------------------------------------------------------------------------------------
    def entry(self, item: str = "cod", sampler: str = "chen", **changes: Any) -> OnSiteEntry:
        """An on-site entry made at the point, online, right now; ``changes`` override any field."""
        base = OnSiteEntry(
            plan_item_id=self.items[item],
            sampler_staff_id=self.staff[sampler],
            appearance="无色透明",
            preservative="H2SO4, pH<2",
            device_at=self.now,
            position=self.site,
        )
        return replace(base, **changes)

    def delivery(self, **changes: Any) -> SelfDelivered:
        """A sample the client 乙 brought, checked intact by the receiver."""
        base = SelfDelivered(
            agency_id=self.agency,
            receiver_staff_id=self.staff["receiver"],
            point_name="乙 废水总排口",
            item="化学需氧量",
            check_result="intact",
            enterprise_id=self.enterprises["yi"],
            container="500 mL 玻璃瓶",
        )
        return replace(base, **changes)

    # --- the stores ---------------------------------------------------------------------------------
    def register(
        self, conn: Connection, entry: OnSiteEntry | None = None, *, now: datetime | None = None
    ) -> dict[str, Any]:
        return register_on_site(
            conn,
            entry or self.entry(),
            actor="chen",
            now=now or self.now,
            rules=self.rules,
            random_chars=self.random_chars,
        )

    def register_delivered(
        self, conn: Connection, delivery: SelfDelivered | None = None, *, now: datetime | None = None
    ) -> dict[str, Any]:
        return register_self_delivered(
            conn, delivery or self.delivery(), actor="receiver", now=now or self.now, random_chars=6
        )

    def step(
        self,
        conn: Connection,
        code: str,
        step: Step,
        by: str = "receiver",
        *,
        now: datetime | None = None,
        **given: Any,
    ) -> dict[str, Any]:
        return record_step(
            conn, code, step, StepInput(staff_id=self.staff[by], **given), actor=by, now=now or self.now
        )

    def counts(self, conn: Connection) -> dict[str, int]:
        """Rows of the tables a registration writes (samples, events, issued sequence numbers)."""
        return {
            "samples": count(conn, samples),
            "events": count(conn, custody_events),
            "issued": int(
                conn.execute(select(func.coalesce(func.sum(sample_code_days.c.issued), 0))).scalar_one()
            ),
        }


def mistyped(code: str) -> str:
    """``code`` with its last (check) character replaced by a different one, so the result never matches."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def add_agency(conn: Connection, name: str, code: str, region: str, n: int, *, active: bool = True) -> int:
    return int(
        conn.execute(
            insert(agencies)
            .values(
                name=name,
                credit_code=sampling_credit_code(n),
                code=code,
                region_code=region,
                contact="",
                phone="",
                active=active,
                created_at=SAMPLING_NOW - timedelta(days=400),
                updated_at=SAMPLING_NOW - timedelta(days=400),
            )
            .returning(agencies.c.id)
        ).scalar_one()
    )


def add_agency_staff(
    conn: Connection, agency_id: int, name: str, position: str = "sampler", *, username: str | None = None
) -> int:
    return int(
        conn.execute(
            insert(agency_staff)
            .values(
                agency_id=agency_id,
                name=name,
                position=position,
                phone="",
                username=username,
                active=True,
                created_at=SAMPLING_NOW - timedelta(days=400),
                updated_at=SAMPLING_NOW - timedelta(days=400),
            )
            .returning(agency_staff.c.id)
        ).scalar_one()
    )


def add_training(
    conn: Connection,
    staff_id: int,
    held_on: date,
    valid_until: date,
    *,
    passed: bool = True,
    supersedes_id: int | None = None,
    withdrawn: bool = False,
) -> int:
    """A training row (append-only): a correction or withdrawal supersedes an earlier row."""
    return int(
        conn.execute(
            insert(agency_trainings)
            .values(
                staff_id=staff_id,
                title="识别标识系统操作培训 (上岗)",
                held_on=held_on,
                score=None,
                passed=passed,
                valid_until=valid_until,
                note="",
                recorded_by="test",
                recorded_at=SAMPLING_NOW - timedelta(days=30),
                supersedes_id=supersedes_id,
                withdrawn=withdrawn,
            )
            .returning(agency_trainings.c.id)
        ).scalar_one()
    )


def build_sampling_world(engine: Engine, now: datetime = SAMPLING_NOW) -> SamplingWorld:
    """The world of the module docstring (every date moves with ``now``)."""
    registered = now - timedelta(days=400)
    today = now.date()
    year = (today - timedelta(days=30), today + timedelta(days=335))
    with engine.begin() as conn:
        jia = svc.create_enterprise(
            conn,
            EnterpriseIn(name="甲化工", credit_code=sampling_credit_code(1), region_code="330302"),
            registered,
        )["id"]
        yi = svc.create_enterprise(
            conn,
            EnterpriseIn(name="乙印染", credit_code=sampling_credit_code(2), region_code="330303"),
            registered,
        )["id"]
        outlets = {
            "gas": svc.create_outlet(
                conn,
                jia,
                OutletIn(
                    code="DA001",
                    name="1号排口",
                    kind="gas",
                    latitude=SAMPLING_SITE.latitude,
                    longitude=SAMPLING_SITE.longitude,
                ),
                registered,
            )["id"],
            "bare": svc.create_outlet(
                conn, jia, OutletIn(code="DW001", name="废水总排口", kind="water"), registered
            )["id"],
            "yi_gas": svc.create_outlet(
                conn,
                yi,
                OutletIn(
                    code="DA001",
                    name="乙排口",
                    kind="gas",
                    latitude=Decimal("28.0"),
                    longitude=Decimal("120.7"),
                ),
                registered,
            )["id"],
        }
        agency = add_agency(conn, "温州检测", "WZJC", "330302", 10)
        other = add_agency(conn, "杭州检测", "HZJC", "330106", 11)
        idle = add_agency(conn, "停业检测", "XXJC", "330302", 12, active=False)
        people = {
            name: add_agency_staff(conn, agency, label)
            for name, label in (
                ("chen", "陈采样"),
                ("zhou", "周采样"),
                ("expired", "过期"),
                ("failed", "未通过"),
                ("withdrawn", "已撤销"),
                ("untrained", "未培训"),
                ("corrected", "更正"),
                ("offteam", "组外"),
                ("left", "离职"),
            )
        }
        people["receiver"] = add_agency_staff(conn, agency, "吴接样", "receiver", username="wzjc_receiver")
        people["analyst"] = add_agency_staff(conn, agency, "郑分析", "analyst")
        people["stranger"] = add_agency_staff(conn, other, "外人", "sampler")
        for name in ("chen", "zhou", "offteam", "left", "receiver", "analyst", "stranger"):
            add_training(conn, people[name], *year)
        add_training(conn, people["expired"], today - timedelta(days=365), today - timedelta(days=1))
        add_training(conn, people["failed"], *year, passed=False)
        wrong = add_training(conn, people["withdrawn"], *year)
        add_training(conn, people["withdrawn"], *year, passed=False, supersedes_id=wrong, withdrawn=True)
        mistaken = add_training(conn, people["corrected"], *year, passed=False)
        add_training(conn, people["corrected"], *year, supersedes_id=mistaken)
        team = [
            people[n]
            for n in ("chen", "zhou", "expired", "failed", "withdrawn", "untrained", "corrected", "left")
        ]
        plan = create_plan(
            conn,
            PlanDraft(
                agency_id=agency,
                enterprise_id=jia,
                outlet_id=outlets["gas"],
                point_name="1号排口 采样口",
                window_start=now - timedelta(hours=1),
                window_end=now + timedelta(hours=7),
                team=team,
                items=[
                    PlanItemDraft("化学需氧量", "500 mL 玻璃瓶", "H2SO4 至 pH<2, 4 ℃", 2),
                    PlanItemDraft("氨氮", "250 mL 聚乙烯瓶", "H2SO4 至 pH<2", 1),
                ],
            ),
            actor="planner",
            now=now - timedelta(days=2),  # planned ahead (WZ-A2-6 allows the plan, not the facts)
        )
        conn.execute(update(agency_staff).where(agency_staff.c.id == people["left"]).values(active=False))
    items = {"cod": plan["items"][0]["id"], "nh3": plan["items"][1]["id"]}
    return SamplingWorld(
        engine=engine,
        now=now,
        enterprises={"jia": jia, "yi": yi},
        outlets=outlets,
        agency=agency,
        other_agency=other,
        idle_agency=idle,
        staff=people,
        plan=plan,
        items=items,
    )


@pytest.fixture
def sampling_world(sqlite_engine: Engine) -> SamplingWorld:
    """The sampling world on a migrated SQLite file."""
    return build_sampling_world(sqlite_engine)


@pytest.fixture
def sampling_world_pg(pg_engine: Engine) -> SamplingWorld:
    """The sampling world on a migrated PostgreSQL database (skipped with the reason when none answers)."""
    return build_sampling_world(pg_engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def sampling_world_any(request: pytest.FixtureRequest) -> Iterator[SamplingWorld]:
    """The sampling world on SQLite, then on PostgreSQL."""
    yield request.getfixturevalue("sampling_world" if request.param == "sqlite" else "sampling_world_pg")
