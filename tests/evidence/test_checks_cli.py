"""``envwatch evidence checks run|storage|self-inspection draw|list`` as a user runs them (Typer's runner) on
a migrated SQLite data directory with the sampling world."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.evidence.schema import storage_checks
from tests.evidence.test_checks import add_video
from tests.sampling.conftest import SamplingWorld, build_sampling_world

runner = CliRunner()
# ten days ago at 10:00 China time: every archive deadline of that day has passed
PAST = (utcnow() - timedelta(days=10)).replace(hour=2, minute=0, second=0, microsecond=0)
DAY = ["--from", f"{PAST:%Y-%m-%d}", "--to", f"{PAST + timedelta(days=1):%Y-%m-%d}"]


def T(minutes: float) -> datetime:
    return PAST + timedelta(minutes=minutes)


@pytest.fixture
def world(sqlite_engine: Engine) -> SamplingWorld:
    return build_sampling_world(sqlite_engine, now=PAST)


def take(world: SamplingWorld, *minutes: float) -> list[str]:
    with world.engine.begin() as conn:
        return [world.register(conn, world.entry(device_at=T(m)), now=T(m))["code"] for m in minutes]


def _data(settings: Settings) -> list[str]:
    return ["--data-dir", str(settings.data_dir)]


def test_run_lists_findings_by_rule_and_fails_on_violations(world: SamplingWorld, settings: Settings) -> None:
    codes = take(world, 0, 10)
    with world.engine.begin() as conn:
        add_video(conn, world, T(-1), T(4), codes=codes)  # job 10:00–10:10, video to 10:04: a gap
    result = runner.invoke(app, ["evidence", "checks", "run", *DAY, "--json", *_data(settings)])
    assert result.exit_code == 1, result.output  # the world's day is long past: the gap is a violation
    body = json.loads(result.output)
    assert [(g["rule"], g["count"]) for g in body["rules"]] == [
        ("WZ-A1-13", 0),
        ("WZ-A1-5", 1),
        ("WZ-A2-8", 0),
    ]
    gap = body["rules"][1]["findings"][0]
    assert gap["evidence"]["gaps"] == [
        {"from": f"{PAST:%Y-%m-%d}T10:04:00+08:00", "to": f"{PAST:%Y-%m-%d}T10:10:00+08:00"}
    ]
    text = runner.invoke(app, ["evidence", "checks", "run", *DAY, *_data(settings)])
    assert (
        "WZ-A1-5" in text.output
        and "[gap]" in text.output
        and f"10:04:00–{PAST:%Y-%m-%d} 10:10:00" in text.output
    )
    other = runner.invoke(
        app, ["evidence", "checks", "run", *DAY, "--agency", str(world.other_agency), *_data(settings)]
    )
    assert other.exit_code == 0 and "0 found" in other.output
    bad = runner.invoke(app, ["evidence", "checks", "run", DAY[0], DAY[1], *_data(settings)])
    assert bad.exit_code == 2 and "give both from and to" in bad.output


def test_storage_records_a_check(settings: Settings, sqlite_engine: Engine) -> None:
    result = runner.invoke(app, ["evidence", "checks", "storage", "--json", *_data(settings)])
    body = json.loads(result.output)
    assert result.exit_code == (0 if body["latest"]["level"] == "ok" else 1)
    assert body["latest"]["target"] == f"local:{settings.data_dir / 'blobs'}"
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(storage_checks)).scalar_one() == 1


def test_self_inspection_draw_and_list(world: SamplingWorld, settings: Settings) -> None:
    first = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)  # a past month, whatever today is
    with world.engine.begin() as conn:
        ids = [add_video(conn, world, first + timedelta(hours=i), first + timedelta(hours=i, minutes=1)) for i in range(4)]  # fmt: skip
    args = ["evidence", "checks", "self-inspection"]
    made = runner.invoke(app, [*args, "draw", "--agency", str(world.agency), "--month", "2026-11", "--json", *_data(settings)])  # fmt: skip
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    assert body["population"] == 4 and len(body["item_ids"]) == 3 and set(body["item_ids"]) <= set(ids)
    again = runner.invoke(app, [*args, "draw", "--agency", str(world.agency), "--month", "2026-11", *_data(settings)])  # fmt: skip
    assert "drawn before by cli" in again.output and body["seed"] in again.output
    listed = runner.invoke(app, [*args, "list", *_data(settings)])
    assert f"draw {body['id']}" in listed.output and "3 of 4 drawn  0 reviewed" in listed.output
    refused = runner.invoke(app, [*args, "draw", "--agency", str(world.agency), "--month", "2026-10", *_data(settings)])  # fmt: skip
    assert refused.exit_code == 2 and "nothing to draw" in refused.output
    wrong = runner.invoke(app, [*args, "list", "--month", "11/2026", *_data(settings)])
    assert wrong.exit_code == 2 and "is not a month YYYY-MM" in wrong.output
