"""The monthly self-inspection of video records (WZ-A1-14): the draw's population and size, that anyone
with the seed redoes it to the same ids, one draw per agency and month, only past and current months, and
the outcomes appended with their evidence entry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence.schema import self_inspection_draws, self_inspection_items, self_inspection_outcomes
from envwatch.evidence.self_inspection import (
    draw,
    draw_items,
    get_draw,
    list_draws,
    pick,
    record_outcome,
    redo,
    sample_size,
)
from tests.evidence.test_checks import add_video
from tests.sampling.conftest import SamplingWorld, build_sampling_world

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 on 2 December, China time
NOVEMBER = date(2026, 11, 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest) -> Iterator[SamplingWorld]:
    engine: Engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    yield build_sampling_world(engine)


def videos(world: SamplingWorld, n: int, *, first: datetime, agency_id: int | None = None) -> list[int]:
    """``n`` video records an hour apart from ``first``, archived an hour after each ends."""
    with world.engine.begin() as conn:
        return [
            add_video(conn, world, first + timedelta(hours=i), first + timedelta(hours=i, minutes=5),
                      agency_id=agency_id)
            for i in range(n)
        ]  # fmt: skip


def test_sample_size_is_the_share_with_a_minimum(settings: Settings) -> None:
    assert [sample_size(n, settings) for n in (0, 2, 3, 10, 60, 61, 100)] == [0, 2, 3, 3, 3, 4, 5]


def test_pick_is_reproducible_from_the_seed() -> None:
    ids = list(range(100, 200))
    assert pick("00ff" * 8, ids, 5) == pick("00ff" * 8, list(reversed(ids)), 5)  # ids are put in order
    assert pick("00ff" * 8, ids, 5) != pick("00fe" * 8, ids, 5)
    assert pick("x", ids, 100) == ids


def test_a_draw_can_be_redone_by_anyone(world: SamplingWorld, settings: Settings) -> None:
    # November of the agency: 70 records (5 % → 4 drawn); plus noise that is not in the population
    month = videos(world, 70, first=datetime(2026, 11, 1, 0, 0, tzinfo=UTC))  # from 08:00 on 1 Nov
    videos(world, 2, first=datetime(2026, 10, 31, 14, 0, tzinfo=UTC))  # 31 Oct 22:00 China time: October
    videos(world, 2, first=datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 1 Dec 00:00 China time: December
    videos(world, 3, first=datetime(2026, 11, 5, 0, 0, tzinfo=UTC), agency_id=world.other_agency)
    with world.engine.begin() as conn:
        made = draw(conn, world.agency, date(2026, 11, 17), settings, "chen", NOW)
    assert made["already"] is False and made["month"] == NOVEMBER and made["population"] == 70
    assert len(made["seed"]) == 32 and len(made["item_ids"]) == 4
    assert set(made["item_ids"]) <= set(month)
    # anyone with the seed and the month's ids gets the same draw
    assert pick(made["seed"], month, 4) == made["item_ids"]
    # a record archived after the draw (late, but of November) does not change the redo
    with world.engine.begin() as conn:
        add_video(conn, world, datetime(2026, 11, 30, 1, 0, tzinfo=UTC), datetime(2026, 11, 30, 1, 5, tzinfo=UTC),
                  archived_at=NOW + timedelta(hours=1))  # fmt: skip
        again = redo(conn, made["id"])
        assert again.same and again.ids == made["item_ids"] and again.population == 70
        # a second draw of the month returns the first one, unchanged
        second = draw(conn, world.agency, NOVEMBER, settings, "admin", NOW + timedelta(days=3))
        assert second["already"] is True and second["id"] == made["id"]
        assert second["item_ids"] == made["item_ids"] and second["drawn_by"] == "chen"
        assert conn.execute(select(func.count()).select_from(self_inspection_draws)).scalar_one() == 1


def test_small_months_are_drawn_whole_and_empty_ones_refused(
    world: SamplingWorld, settings: Settings
) -> None:
    few = videos(world, 2, first=datetime(2026, 11, 3, 0, 0, tzinfo=UTC))
    with world.engine.begin() as conn:
        assert draw(conn, world.agency, NOVEMBER, settings, "chen", NOW)["item_ids"] == few
        with pytest.raises(InvalidInput, match="no video records of 2026-10 yet"):
            draw(conn, world.agency, date(2026, 10, 1), settings, "chen", NOW)
        with pytest.raises(InvalidInput, match="2027-01 has not begun"):
            draw(conn, world.agency, date(2027, 1, 1), settings, "chen", NOW)
        with pytest.raises(NotFound, match="no testing agency"):
            draw(conn, 9999, NOVEMBER, settings, "chen", NOW)


def test_the_current_month_may_be_drawn(world: SamplingWorld, settings: Settings) -> None:
    videos(world, 3, first=datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    videos(world, 1, first=NOW + timedelta(hours=2))  # recorded later today: not archived yet
    with world.engine.begin() as conn:
        made = draw(conn, world.agency, date(2026, 12, 1), settings, "chen", NOW)
    assert made["population"] == 3 and len(made["item_ids"]) == 3


def test_outcomes_are_appended_and_logged(world: SamplingWorld, settings: Settings) -> None:
    videos(world, 3, first=datetime(2026, 11, 3, 0, 0, tzinfo=UTC))
    with world.engine.begin() as conn:
        made = draw(conn, world.agency, NOVEMBER, settings, "chen", NOW)
        items = draw_items(conn, made["id"])
        first, second = items[0]["id"], items[1]["id"]
        with pytest.raises(InvalidInput, match="the note \\(what is wrong\\) is required"):
            record_outcome(conn, first, "problem", "  ", "chen", NOW)
        with pytest.raises(InvalidInput, match="outcome must be one of ok, problem"):
            record_outcome(conn, first, "fine", "", "chen", NOW)
        with pytest.raises(NotFound, match="no self-inspection item with id 9999"):
            record_outcome(conn, 9999, "ok", "", "chen", NOW)
        bad = record_outcome(conn, first, "problem", "未拍到标志性建筑物", "chen", NOW)
        good = record_outcome(conn, first, "ok", "补充说明后复核通过", "wang", NOW + timedelta(hours=1))
        record_outcome(conn, second, "problem", "画面中断 3 分钟", "chen", NOW)
        items = draw_items(conn, made["id"])
        listed = list_draws(conn, [world.agency])
        assert list_draws(conn, [world.other_agency]) == []
        assert list_draws(conn, None, month=date(2026, 10, 1)) == []
        entry = (
            conn.execute(select(evidence_entries).where(evidence_entries.c.id == bad["entry_id"]))
            .mappings()
            .one()
        )
        with pytest.raises(Exception), conn.begin_nested():  # noqa: B017 - the trigger's error differs by backend
            conn.execute(update(self_inspection_outcomes).values(outcome="ok"))
    assert [o["outcome"] for o in items[0]["outcomes"]] == ["problem", "ok"]  # both kept
    assert items[0]["latest"]["id"] == good["id"]  # the later one is shown
    assert items[1]["latest"]["outcome"] == "problem" and items[2]["latest"] is None
    assert (listed[0]["items"], listed[0]["reviewed"], listed[0]["problems"]) == (3, 2, 1)
    assert entry["kind"] == "self_inspection_outcome"
    assert entry["ref"] == f"self_inspection_outcomes/{bad['id']}" and "未拍到标志性建筑物" in entry["body"]


def test_items_are_unique_per_draw(world: SamplingWorld, settings: Settings) -> None:
    videos(world, 5, first=datetime(2026, 11, 3, 0, 0, tzinfo=UTC))
    with world.engine.begin() as conn:
        made = draw(conn, world.agency, NOVEMBER, settings, "chen", NOW)
        rows = conn.execute(select(self_inspection_items.c.video_id).where(self_inspection_items.c.draw_id == made["id"])).scalars().all()  # fmt: skip
        assert sorted(rows) == get_draw(conn, made["id"])["item_ids"] and len(set(rows)) == len(rows) == 3
