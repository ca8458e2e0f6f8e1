"""Regulator statistics per testing agency (识别标识系统实施情况, WZ-A2-14): how an agency uses the label
system, as input to its environmental credit evaluation (环境信用评价).

The figures of a period ``[first, end)`` (China days, ``end`` excluded) are about the **samples registered
in it** (a cohort): of the samples an agency registered in November, how many were entered late, reprinted,
found abnormal, rejected… whenever that happened. Every rate therefore has its own samples as denominator
and every figure can be opened as the list of those samples. A reprint in December of a November sample
counts in November: figures of a past period can still grow while its samples travel on.

- ``registered``: samples whose code was issued in the period; ``on_site`` (现场录入) and ``self_delivered``
  (自送样品, WZ-A2-4);
- ``late_entries``: on-site registrations not entered live on site: captured offline and synced later
  (``offline``) or made with a phone clock off by more than the allowed skew (``clock_skew``), WZ-A2-6;
- ``questioned``: entries a regulator's review found questionable; ``pending_review``: flagged entries
  nobody has reviewed yet;
- ``reprints``: reprint events (补打, WZ-A2-8: each needed a video);
- ``anomalies``: hand-overs and openings whose seal and label check was ``abnormal`` (WZ-A2-9/10);
- ``rejections``: samples rejected (damaged or missing seal or label, WZ-A2-9);
- ``handed_over``: samples that reached the lab (a hand-over, or registered there when self-delivered);
- training coverage (WZ-A2-5, "100 % trained"): of the agency's active samplers, how many hold a passed
  label-system training valid on ``today`` (not the period: it is the agency's state now).

Rates are per 100 samples (per 100 on-site entries for late entries), half-up to 0.1, None when there is no
sample to divide by. Each figure family is one grouped query over all agencies asked for, never one per
sample or per agency: 100,000 samples take well under a second on SQLite (``tests/sampling/test_stats.py``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, Text, and_, case, cast, exists, func, or_, select

from envwatch.core.clock import CHINA_TZ
from envwatch.core.errors import InvalidInput
from envwatch.registry.agencies import counting_trainings
from envwatch.registry.agencies_schema import agencies, agency_staff, agency_trainings
from envwatch.sampling.schema import custody_events, samples

EARLIEST = date(2000, 1, 1)  # periods outside these years are typing mistakes, not statistics
LATEST = date(2100, 1, 1)

_s = samples.c
_e = custody_events.c


@dataclass(frozen=True)
class Period:
    """China days ``first`` .. ``end`` (excluded), and the UTC instants bounding them."""

    first: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.first, time(), CHINA_TZ)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time(), CHINA_TZ)

    @property
    def last(self) -> date:
        """The last day included."""
        return self.end - timedelta(days=1)


def period(first: date, end: date) -> Period:
    """The period [first, end); InvalidInput when it is empty or outside the years 2000..2099."""
    if end <= first:
        raise InvalidInput(
            f"to ({end}) must come after from ({first}): the period is [from, to), to excluded"
        )
    if first < EARLIEST or end > LATEST:
        raise InvalidInput(f"the period must lie within {EARLIEST}..{LATEST}")
    return Period(first, end)


def month_of(day: date) -> Period:
    """The calendar month holding ``day`` (the default period of the pages and the CLI)."""
    first = day.replace(day=1)
    end = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return Period(first, end)


def per_100(count: int, base: int) -> Decimal | None:
    """``count`` per 100 of ``base``, half-up to 0.1; None without a base."""
    if base <= 0:
        return None
    return (Decimal(100 * count) / Decimal(base)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class AgencyFigures:
    """One agency's figures (module docstring); counts first, then the derived rates."""

    agency_id: int
    agency: str
    code: str
    region_code: str
    active: bool
    registered: int = 0
    on_site: int = 0
    self_delivered: int = 0
    late_entries: int = 0
    offline_entries: int = 0
    clock_skew_entries: int = 0
    questioned: int = 0
    pending_review: int = 0
    reprints: int = 0
    anomalies: int = 0
    rejections: int = 0
    handed_over: int = 0
    samplers: int = 0  # active samplers today
    samplers_trained: int = 0  # … holding a valid passed training today
    rates: dict[str, Decimal | None] = field(default_factory=dict)

    def finish(self) -> AgencyFigures:
        self.rates = {
            "late_entries": per_100(self.late_entries, self.on_site),
            "reprints": per_100(self.reprints, self.registered),
            "anomalies": per_100(self.anomalies, self.registered),
            "rejections": per_100(self.rejections, self.registered),
            "training_coverage": per_100(self.samplers_trained, self.samplers),
        }
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_NOT_COUNTS = frozenset({"agency_id", "agency", "code", "region_code", "active", "rates"})
# the counted fields, in table order (the totals add them up)
COUNTS: tuple[str, ...] = tuple(f.name for f in fields(AgencyFigures) if f.name not in _NOT_COUNTS)


@dataclass(frozen=True)
class Statistics:
    period: Period
    today: date
    agencies: list[AgencyFigures]
    totals: AgencyFigures  # the sums over ``agencies`` (agency_id 0), with their own rates


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _in_period(p: Period) -> ColumnElement[bool]:
    return and_(_s.created_at >= p.start_at, _s.created_at < p.end_at)


def _scoped(query: Any, column: Any, agency_ids: Collection[int] | None) -> Any:
    return query if agency_ids is None else query.where(column.in_(list(agency_ids)))


def _sample_counts(conn: Connection, p: Period, agency_ids: Collection[int] | None) -> dict[int, Any]:
    """Family 1, from the samples' projection: registered, how, and reviews still waiting."""
    query = select(
        _s.agency_id,
        func.count().label("registered"),
        _sum(_s.self_delivered.is_(True)).label("self_delivered"),
        _sum(_s.needs_review.is_(True)).label("pending_review"),
    ).where(_in_period(p))
    query = _scoped(query, _s.agency_id, agency_ids).group_by(_s.agency_id)
    return {r.agency_id: r for r in conn.execute(query)}


def _event_counts(conn: Connection, p: Period, agency_ids: Collection[int] | None) -> dict[int, Any]:
    """Family 2, from the chain of custody of the period's samples: one pass over their events."""
    # flags and details are JSON written by the store; their text is searched rather than their
    # structure, which reads the same on SQLite and PostgreSQL (json has no containment operator there)
    clock_skew = cast(_e.flags, Text).like('%"clock_skew"%')
    register = _e.event == "register"
    query = (
        select(
            _s.agency_id,
            _sum(and_(register, or_(_e.offline.is_(True), clock_skew))).label("late_entries"),
            _sum(and_(register, _e.offline.is_(True))).label("offline_entries"),
            _sum(and_(register, _e.offline.is_(False), clock_skew)).label("clock_skew_entries"),
            _sum(and_(_e.event == "review", cast(_e.details, Text).like('%"questioned"%'))).label(
                "questioned"
            ),
            _sum(_e.event == "reprint").label("reprints"),
            _sum(and_(_e.event.in_(("hand_over", "open")), _e.check_result == "abnormal")).label("anomalies"),
            _sum(_e.event == "reject").label("rejections"),
            _sum(_e.event.in_(("hand_over", "register_self_delivered"))).label("handed_over"),
        )
        .select_from(custody_events.join(samples, _s.id == _e.sample_id))
        .where(_in_period(p))
    )
    query = _scoped(query, _s.agency_id, agency_ids).group_by(_s.agency_id)
    return {r.agency_id: r for r in conn.execute(query)}


def sampler_coverage(conn: Connection, today: date, agency_ids: Collection[int] | None) -> dict[int, Any]:
    """Family 3, per agency: ``samplers`` (active) and ``samplers_trained`` (holding a passed training
    valid ``today``, WZ-A2-5: what ``registry.agency_trainings.coverage`` counts, for all agencies at once)."""
    t = agency_trainings.c
    trained = exists().where(
        t.staff_id == agency_staff.c.id,
        t.passed.is_(True),
        t.held_on <= today,
        t.valid_until >= today,
        counting_trainings(),
    )
    query = select(
        agency_staff.c.agency_id,
        func.count().label("samplers"),
        _sum(trained).label("samplers_trained"),
    ).where(agency_staff.c.position == "sampler", agency_staff.c.active.is_(True))
    query = _scoped(query, agency_staff.c.agency_id, agency_ids).group_by(agency_staff.c.agency_id)
    return {r.agency_id: r for r in conn.execute(query)}


def agency_statistics(
    conn: Connection, p: Period, today: date, *, agency_ids: Collection[int] | None
) -> Statistics:
    """The figures of every agency in ``agency_ids`` (None: all) that is active or registered a sample in
    the period, by region and name; training coverage as of ``today``."""
    by_samples = _sample_counts(conn, p, agency_ids)
    by_events = _event_counts(conn, p, agency_ids)
    by_training = sampler_coverage(conn, today, agency_ids)
    query = _scoped(select(agencies), agencies.c.id, agency_ids).order_by(
        agencies.c.region_code, agencies.c.name, agencies.c.id
    )
    rows: list[AgencyFigures] = []
    for a in conn.execute(query).mappings():
        if not a["active"] and a["id"] not in by_samples:
            continue
        figures = AgencyFigures(a["id"], a["name"], a["code"], a["region_code"], a["active"])
        for found in (by_samples.get(a["id"]), by_events.get(a["id"]), by_training.get(a["id"])):
            if found is not None:
                for name, value in found._mapping.items():
                    if name != "agency_id":
                        setattr(figures, name, int(value))
        figures.on_site = figures.registered - figures.self_delivered
        rows.append(figures.finish())
    totals = AgencyFigures(0, "", "", "", True)
    for name in COUNTS:
        setattr(totals, name, sum(getattr(r, name) for r in rows))
    return Statistics(p, today, rows, totals.finish())
