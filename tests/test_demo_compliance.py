"""``make demo``'s compliance part (envwatch.demo_compliance): the rules run over the demo world and find what
its O&M story breaks, this month's supervision plan of 太原 covers its enterprises, the spot-test list is
drawn; a second install adds no plan, no draw and no finding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from envwatch import demo, demo_compliance, demo_om, demo_sampling
from envwatch.compliance.schema import findings, spot_test_draws, supervision_plans
from envwatch.core.settings import Settings
from envwatch.ingest.simulator import demo_devices

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 China time
SIMS = demo_devices(2, "2017", seed=1)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_rules_plan_and_draw_once(settings: Settings, engine: Engine) -> None:
    demo.install_registry(engine, settings.data_dir, SIMS, NOW - demo_om.REGISTRY_AGE)
    demo.install_users(engine, settings.data_dir, NOW, settings.password_min_length)
    demo_om.install_om(engine, settings, NOW)
    demo_sampling.install_sampling(engine, settings, NOW)
    lines = demo_compliance.install_compliance(engine, settings, NOW + timedelta(minutes=1))
    assert lines[0].startswith("compliance run 1: ")
    assert not any(line.startswith("rules that failed") for line in lines), lines
    with engine.connect() as conn:
        rules = set(conn.execute(select(findings.c.rule).where(findings.c.state == "open")).scalars())
    # the O&M story's sampler 赵强 works on an expired certificate (CS-4.5); the sampling job of last week
    # has no video past its 72 h deadline (WZ-A1-13)
    assert {"CS-4.5-CERT", "WZ-A1-13-72H"} <= rules, rules
    assert lines[1].startswith("supervision plan 1 of 1401 for 2026-11: ")
    assert lines[2].startswith("spot-test list 1 of 1401 for 2026: ")
    before = _count(engine, findings)
    again = demo_compliance.install_compliance(engine, settings, NOW + timedelta(minutes=2))
    assert again[0].startswith("compliance run 2: ")
    assert _count(engine, findings) == before
    assert _count(engine, supervision_plans) == 1
    assert _count(engine, spot_test_draws) == 1
