"""``make demo``'s sampling files (envwatch.demo_sampling): added once through the stores on SQLite and
PostgreSQL, samples in every custody state with the cases the statistics count, the agency login linked to
the demo agency, nothing recorded after ``now``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, Table, func, select

from envwatch import demo, demo_om, demo_sampling
from envwatch.core.blobs import BlobStore
from envwatch.core.settings import Settings
from envwatch.ingest.simulator import demo_devices
from envwatch.registry.agencies import create_agency
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.sampling.custody import STATES
from envwatch.sampling.schema import custody_events, samples, sampling_plan_items, sampling_plans
from envwatch.sampling.stats import agency_statistics, period
from envwatch.web.accounts.store import create_user, user_for_login
from envwatch.web.auth import principal_of
from envwatch.web.scope import resolve_scope

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 China time
TODAY = date(2026, 11, 22)
SIMS = demo_devices(8, "2017", seed=1) + demo_devices(4, "2025", seed=2)
TABLES: tuple[Table, ...] = (
    agencies, agency_staff, agency_trainings, sampling_plans, sampling_plan_items, samples, custody_events,
)  # fmt: skip


def _world(engine: Engine, settings: Settings) -> None:
    demo.install_registry(engine, settings.data_dir, SIMS, NOW - demo_om.REGISTRY_AGE)
    demo.install_users(engine, settings.data_dir, NOW, settings.password_min_length)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in TABLES}


def test_installed_once_with_every_state(settings: Settings, engine: Engine) -> None:
    _world(engine, settings)
    lines = demo_sampling.install_sampling(engine, settings, NOW)
    assert (
        lines[0]
        == "testing agency 山西示范检测有限公司 (SXJC, 140105): 5 staff, samplers trained today 2 of 3"
    )
    assert lines[2].startswith("samples: 11 (")
    assert any(line.startswith("login agency1 (agency, 张伟) ") for line in lines)
    counts = _counts(engine)
    assert counts == {
        "agencies": 1, "agency_staff": 5, "agency_trainings": 4, "sampling_plans": 3, "sampling_plan_items": 9,
        "samples": 11, "custody_events": counts["custody_events"],
    }  # fmt: skip
    with engine.connect() as conn:
        states = {s for (s,) in conn.execute(select(samples.c.state).distinct())}
        latest = conn.execute(select(func.max(custody_events.c.at))).scalar_one()
        videos = [
            v
            for (v,) in conn.execute(
                select(custody_events.c.video_sha256).where(custody_events.c.event == "reprint")
            )
        ]
        agency_id = conn.execute(select(agencies.c.id)).scalar_one()
        stats = agency_statistics(
            conn, period(TODAY - timedelta(days=7), TODAY + timedelta(days=1)), TODAY, agency_ids=None
        )
    assert states == set(STATES)
    assert latest.astimezone(UTC) <= NOW  # nothing recorded after now
    assert len(videos) == 1 and BlobStore.from_settings(settings).get(videos[0])[4:12] == b"ftypisom"
    f = stats.agencies[0]
    assert (f.registered, f.on_site, f.self_delivered) == (11, 10, 1)
    assert (f.offline_entries, f.clock_skew_entries, f.questioned, f.pending_review) == (2, 1, 1, 1)
    assert (f.reprints, f.anomalies, f.rejections) == (1, 2, 1)
    assert (f.samplers, f.samplers_trained) == (3, 2)

    again = demo_sampling.install_sampling(engine, settings, NOW + timedelta(minutes=5))
    assert again == ["山西示范检测有限公司 already has 11 samples: nothing added"]
    assert _counts(engine) == counts
    _the_login_acts_for_the_agency(engine, settings, agency_id)


def _the_login_acts_for_the_agency(engine: Engine, settings: Settings, agency_id: int) -> None:
    with engine.connect() as conn:
        user = user_for_login(conn, "agency1")
        assert user is not None and (user["role"], user["agency_id"]) == ("agency", agency_id)
        person = conn.execute(
            select(agency_staff.c.name).where(agency_staff.c.username == "agency1")
        ).scalar_one()
        scope = resolve_scope(conn, principal_of(user), TODAY)
    assert person == "张伟" and scope.agency_ids == frozenset({agency_id})
    kept = (settings.data_dir / "demo-passwords").read_text().splitlines()
    assert [line.split()[0] for line in kept].count("agency1") == 1
    # the demo's users listing keeps the agency login's password too
    listed = dict(
        (n, p)
        for n, _r, p in demo.install_users(engine, settings.data_dir, NOW, settings.password_min_length)
    )
    assert "agency1" not in listed and any(line.startswith("agency1 ") for line in kept)


def test_an_existing_agency_login_is_pointed_at_the_demo_agency(
    settings: Settings, sqlite_engine: Engine
) -> None:
    _world(sqlite_engine, settings)
    with sqlite_engine.begin() as conn:  # an earlier agency1, of some other agency
        other = create_agency(
            conn, {"name": "别的检测", "credit_code": "91330302MA2H00000U", "code": "OTHER", "region_code": "330302"},
            NOW,
        )  # fmt: skip
        create_user(
            conn, "agency1", "a long enough password", {"role": "agency", "agency_id": other["id"]}, NOW,
            min_password_length=settings.password_min_length,
        )  # fmt: skip
    lines = demo_sampling.install_sampling(sqlite_engine, settings, NOW)
    with sqlite_engine.connect() as conn:
        agency_id = conn.execute(select(agencies.c.id).where(agencies.c.code != "OTHER")).scalar_one()
        user = user_for_login(conn, "agency1")
    assert user is not None and user["agency_id"] == agency_id
    assert f"login agency1 now belongs to 山西示范检测有限公司 (agency {agency_id})" in lines
    assert not (settings.data_dir / "demo-passwords").read_text().count("agency1")  # its password is not ours


def test_without_the_demo_registry_nothing_is_added(settings: Settings, sqlite_engine: Engine) -> None:
    assert demo_sampling.install_sampling(sqlite_engine, settings, NOW) == [
        "no demo registry (太原示范热电 missing): nothing added"
    ]
    assert _counts(sqlite_engine)["agencies"] == 0
