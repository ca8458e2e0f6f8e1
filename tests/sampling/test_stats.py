"""Regulator statistics per agency (WZ-A2-14, ``sampling.stats``): each figure against samples taken through
the real stores, the period's China-day bounds, the scope, training coverage as the trainings store counts
it, and thousands of samples (bulk-inserted) counted by the grouped queries exactly as Python counts them.

``ENVWATCH_STATS_SAMPLES=100000 pytest tests/sampling/test_stats.py -k many -s`` measures a bigger store
(the test prints the time; it asserts the figures, not the time).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.registry.agency_trainings import coverage
from envwatch.sampling.schema import custody_events, samples
from envwatch.sampling.stats import COUNTS, AgencyFigures, agency_statistics, month_of, per_100, period
from envwatch.sampling.steps import record_reprint, record_review
from tests.sampling.conftest import PHOTO, VIDEO, SamplingWorld

DAY = date(2026, 11, 23)  # the world's today (SAMPLING_NOW is 10:00 China time)
TODAY = period(DAY, DAY + timedelta(days=1))


def story(world: SamplingWorld) -> dict[str, str]:
    """Samples of the agency through the real stores, each one figure's case; their codes by role."""
    now = world.now
    codes: dict[str, str] = {}
    with world.engine.begin() as conn:
        live = world.register(conn)
        codes["live"] = live["code"]
        world.step(conn, live["code"], "print_label", "chen")
        record_reprint(
            conn, live["code"], staff_id=world.staff["chen"], video_sha256=VIDEO, reason="标签污损",
            actor="chen", now=now + timedelta(minutes=5),
        )  # fmt: skip
        record_reprint(
            conn, live["code"], staff_id=world.staff["chen"], video_sha256=VIDEO, reason="再次污损",
            actor="chen", now=now + timedelta(minutes=6),
        )  # fmt: skip
        world.step(conn, live["code"], "dispatch", "chen", preservation={"cold": True})
        world.step(
            conn, live["code"], "hand_over", check_result="abnormal", note="封条起皱", photo_sha256=PHOTO
        )
        world.step(conn, live["code"], "receive")
        world.step(
            conn,
            live["code"],
            "open",
            "analyst",
            check_result="abnormal",
            note="标签模糊",
            photo_sha256=PHOTO,
        )

        offline = world.register(conn, world.entry(offline=True, device_at=now - timedelta(minutes=30)))
        codes["offline"] = offline["code"]
        record_review(conn, offline["code"], outcome="questioned", note="离线时间存疑", actor="reg", now=now)

        skewed = world.register(conn, world.entry("nh3", "zhou", device_at=now - timedelta(minutes=10)))
        codes["skewed"] = skewed["code"]  # flagged, nobody reviewed it yet

        waiting = world.register(conn, world.entry(offline=True, device_at=now - timedelta(minutes=20)))
        codes["waiting_offline"] = waiting["code"]
        record_review(conn, waiting["code"], outcome="accepted", note="", actor="reg", now=now)

        rejected = world.register(conn, world.entry(sampler="zhou"))
        codes["rejected"] = rejected["code"]
        world.step(conn, rejected["code"], "print_label", "zhou")
        world.step(
            conn, rejected["code"], "reject", check_result="damaged", note="封条破损", photo_sha256=PHOTO
        )

        delivered = world.register_delivered(conn)
        codes["delivered"] = delivered["code"]
    return codes


def _only(world: SamplingWorld, p: Any = TODAY, today: date = DAY) -> AgencyFigures:
    with world.engine.connect() as conn:
        stats = agency_statistics(conn, p, today, agency_ids=[world.agency])
    assert [r.agency_id for r in stats.agencies] == [world.agency]
    return stats.agencies[0]


def test_each_figure_counts_its_cases(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    story(world)
    f = _only(world)
    assert (f.registered, f.on_site, f.self_delivered) == (6, 5, 1)
    # offline twice (one questioned, one accepted), one clock skew (still waiting)
    assert (f.late_entries, f.offline_entries, f.clock_skew_entries) == (3, 2, 1)
    assert (f.questioned, f.pending_review) == (1, 1)
    assert f.reprints == 2
    assert f.anomalies == 2  # the hand-over and the opening of the live sample, both abnormal
    assert f.rejections == 1
    assert f.handed_over == 2  # the live sample and the self-delivered one
    assert f.rates == {
        "late_entries": Decimal("60.0"),  # 3 of 5 on-site entries
        "reprints": Decimal("33.3"),
        "anomalies": Decimal("33.3"),
        "rejections": Decimal("16.7"),
        "training_coverage": f.rates["training_coverage"],
    }
    assert (f.agency, f.code, f.region_code) == ("温州检测", "WZJC", "330302")


def test_training_coverage_is_what_the_trainings_store_counts(sampling_world_any: SamplingWorld) -> None:
    world = sampling_world_any
    f = _only(world)
    with world.engine.connect() as conn:
        expected = coverage(conn, world.agency, DAY)
    # active samplers: chen, zhou, expired, failed, withdrawn, untrained, corrected, offteam (left is gone)
    assert (f.samplers, f.samplers_trained) == (expected.total, expected.trained) == (8, 4)
    assert f.rates["training_coverage"] == Decimal("50.0")
    # on the day the expired training still counted, one more was trained
    assert _only(world, today=DAY - timedelta(days=1)).samplers_trained == 5


def test_the_period_is_china_days_from_included_to_excluded(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    midnight = datetime(2026, 11, 23, tzinfo=CHINA_TZ).astimezone(UTC)
    with world.engine.begin() as conn:
        world.register_delivered(conn, now=midnight)  # 00:00 China time: the 23rd
        world.register_delivered(conn, now=midnight - timedelta(microseconds=1))  # the 22nd
    assert _only(world).registered == 1
    assert _only(world, period(DAY - timedelta(days=1), DAY)).registered == 1
    assert _only(world, period(DAY - timedelta(days=1), DAY + timedelta(days=1))).registered == 2
    assert _only(world, period(DAY + timedelta(days=1), DAY + timedelta(days=2))).registered == 0


def test_figures_follow_the_sample_not_the_day_of_the_event(sampling_world: SamplingWorld) -> None:
    """A reprint a day later counts for the sample's period (the cohort), not the reprint's."""
    world = sampling_world
    with world.engine.begin() as conn:
        row = world.register(conn)
        world.step(conn, row["code"], "print_label", "chen")
        record_reprint(
            conn, row["code"], staff_id=world.staff["chen"], video_sha256=VIDEO, reason="污损", actor="chen",
            now=world.now + timedelta(days=1),
        )  # fmt: skip
    assert _only(world).reprints == 1
    assert _only(world, period(DAY + timedelta(days=1), DAY + timedelta(days=2))).reprints == 0


def test_scope_agencies_and_inactive_ones(sampling_world: SamplingWorld) -> None:
    world = sampling_world
    story(world)
    with world.engine.connect() as conn:
        everyone = agency_statistics(conn, TODAY, DAY, agency_ids=None)
        other = agency_statistics(conn, TODAY, DAY, agency_ids=[world.other_agency])
        nobody = agency_statistics(conn, TODAY, DAY, agency_ids=[])
    # the inactive agency without samples is left out; the other agency is there with zeros
    assert [r.agency for r in everyone.agencies] == ["杭州检测", "温州检测"]  # by region code, then name
    assert [r.agency_id for r in other.agencies] == [world.other_agency]
    assert other.agencies[0].registered == 0 and other.agencies[0].rates["reprints"] is None
    assert (other.agencies[0].samplers, other.agencies[0].samplers_trained) == (1, 1)
    assert everyone.totals.registered == 6 and everyone.totals.samplers == 9
    assert nobody.agencies == [] and nobody.totals.registered == 0


def test_period_checks() -> None:
    with pytest.raises(InvalidInput, match=r"to \(2026-11-01\) must come after from \(2026-11-01\)"):
        period(date(2026, 11, 1), date(2026, 11, 1))
    with pytest.raises(InvalidInput, match=r"within 2000-01-01\.\.2100-01-01"):
        period(date(1999, 12, 31), date(2000, 2, 1))
    assert month_of(date(2026, 12, 9)) == period(date(2026, 12, 1), date(2027, 1, 1))
    assert month_of(date(2026, 2, 28)).last == date(2026, 2, 28)
    assert per_100(1, 3) == Decimal("33.3") and per_100(2, 3) == Decimal("66.7") and per_100(0, 0) is None


# ---- many samples, bulk-inserted ----

KINDS = ("reprint", "abnormal", "reject", "offline", "skew", "questioned", "delivered")


def _kinds(i: int) -> set[str]:
    """Which cases sample ``i`` has (a fixed, varied mix)."""
    found = {k for k, m in zip(KINDS, (13, 17, 19, 7, 11, 5, 10), strict=True) if i % m == 0}
    if "delivered" in found:  # a self-delivered sample has no on-site entry to flag
        found -= {"offline", "skew", "questioned"}
    if "skew" in found and "offline" in found:
        found.discard("skew")  # an offline entry is never judged for skew
    if "questioned" in found and not found & {"offline", "skew"}:
        found.discard("questioned")
    return found


def _bulk(engine: Engine, agency_ids: list[int], n: int, first: datetime) -> None:
    """``n`` samples over 60 days from ``first``, with their events, in a few executemany batches."""
    sample_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for i in range(n):
        kinds = _kinds(i)
        at = first + timedelta(minutes=(i * 60 * 24 * 60) // n)
        agency = agency_ids[i % len(agency_ids)]
        events: list[dict[str, Any]] = []

        def event(name: str, to: str, **extra: Any) -> None:
            events.append({"event": name, "to_state": to, **extra})  # noqa: B023 - used right away

        if "delivered" in kinds:
            event("register_self_delivered", "handed_over", check_result="intact")
        else:
            flags = ["offline"] if "offline" in kinds else ["clock_skew"] if "skew" in kinds else []
            event("register", "registered", offline="offline" in kinds, flags=flags)
            event("print_label", "labelled")
            if "reprint" in kinds:
                event("reprint", "labelled", details={"print": 2})
            if "questioned" in kinds:
                event("review", "labelled", details={"outcome": "questioned"})
            if "reject" in kinds:
                event("reject", "rejected", check_result="damaged")
            else:
                event(
                    "hand_over", "handed_over", check_result="abnormal" if "abnormal" in kinds else "intact"
                )
        sample_rows.append(
            {
                "id": i + 1, "code": f"BULK-{i:07d}", "agency_id": agency, "issue_day": at.date(), "seq": i + 1,
                "self_delivered": "delivered" in kinds, "point_name": "p", "item": "COD",
                "state": events[-1]["to_state"], "prints": 1 + ("reprint" in kinds),
                "needs_review": bool(kinds & {"offline", "skew"}) and "questioned" not in kinds,
                "last_seq": len(events), "created_at": at,
            }
        )  # fmt: skip
        for seq, e in enumerate(events, 1):
            event_rows.append(
                {
                    "sample_id": i + 1, "seq": seq, "from_state": None, "actor": "bulk", "at": at,
                    "offline": False, "check_result": None, "details": {}, "flags": [], "note": "", **e,
                }
            )  # fmt: skip
    with engine.begin() as conn:
        for start in range(0, n, 20_000):
            conn.execute(insert(samples), sample_rows[start : start + 20_000])
        for start in range(0, len(event_rows), 20_000):
            conn.execute(insert(custody_events), event_rows[start : start + 20_000])


def _expected(n: int, agency_ids: list[int]) -> dict[int, dict[str, int]]:
    out = {a: dict.fromkeys(COUNTS, 0) for a in agency_ids}
    for i in range(n):
        k, f = _kinds(i), out[agency_ids[i % len(agency_ids)]]
        f["registered"] += 1
        f["self_delivered"] += "delivered" in k
        f["on_site"] += "delivered" not in k
        f["late_entries"] += bool(k & {"offline", "skew"})
        f["offline_entries"] += "offline" in k
        f["clock_skew_entries"] += "skew" in k
        f["questioned"] += "questioned" in k
        f["pending_review"] += bool(k & {"offline", "skew"}) and "questioned" not in k
        f["reprints"] += "delivered" not in k and "reprint" in k
        f["anomalies"] += "delivered" not in k and "abnormal" in k and "reject" not in k
        f["rejections"] += "delivered" not in k and "reject" in k
        f["handed_over"] += "delivered" in k or "reject" not in k
    return out


def test_many_samples_are_counted_by_grouped_queries(
    sampling_world_any: SamplingWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world = sampling_world_any
    n = int(os.environ.get("ENVWATCH_STATS_SAMPLES", "3000"))
    agency_ids = [world.agency, world.other_agency]
    first = datetime(2026, 9, 1, tzinfo=CHINA_TZ).astimezone(UTC)
    started = time.perf_counter()
    _bulk(world.engine, agency_ids, n, first)
    built = time.perf_counter() - started
    whole = period(date(2026, 9, 1), date(2026, 10, 31))  # the 60 days
    started = time.perf_counter()
    with world.engine.connect() as conn:
        stats = agency_statistics(conn, whole, DAY, agency_ids=None)
    took = time.perf_counter() - started
    expected = _expected(n, agency_ids)
    for row in stats.agencies:
        got = {name: getattr(row, name) for name in COUNTS if not name.startswith("samplers")}
        assert got == {k: v for k, v in expected[row.agency_id].items() if not k.startswith("samplers")}
    assert stats.totals.registered == n
    with world.engine.connect() as conn:  # a month inside: fewer, and still exact for the first agency
        september = agency_statistics(conn, month_of(date(2026, 9, 5)), DAY, agency_ids=[world.agency])
    assert 0 < september.agencies[0].registered < expected[world.agency]["registered"]
    with capsys.disabled():
        print(
            f"\n{world.engine.dialect.name}: {n} samples built in {built:.2f} s, statistics in {took * 1000:.0f} ms"
        )
