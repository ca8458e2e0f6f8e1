"""The KPIs of a certification evidence pack (认证证据包 关键指标, CS-5/6): one operator, China days first..last.

Each KPI names its requirement, its target, the figure and whether the target is met (``met`` None: no
figure, or not decidable yet). The figures are the platform's own, computed exactly as the APIs compute
them, so an auditor who asks the API gets the same number:

- **effective transmission rate ≥ 95 %** (有效传输率, CS-4.3.2.1): ``monitoring.rates.compute_rates`` grouped
  by operator over the whole fleet (``GET /api/v1/rates?group=operator`` as an administrator); the target is
  ``rates_operator_min_pct`` and is met when the rate is not flagged (rate ≥ target);
- **responded within 1 h** and **on site within 4 h / 8 h** (响应及时率 / 到场及时率, CS-4.3.3):
  ``operations.ticket_stats.sla_statistics`` as ``GET /api/v1/om/tickets/satisfaction``: the clause binds
  every request, so the target is 100 % and one late clock misses it;
- **satisfaction ≥ 85 %** (满意度, CS-4.3.3): ``ticket_stats.satisfaction`` (surveys recorded in the period);
- **drills** (应急演练, CS-4.2.3): at least one a year. A calendar year that ended inside the period needs
  one held in it; a year still running at the period's end is met once one was held, else not decidable;
- **certificates valid on the last day** (持证上岗, CS-4.5): the people who need one — active field engineers
  and samplers, and everyone who recorded field work in the period — holding a current certificate valid on
  the period's last day (``operations.certificates.certificate_status``);
- **quarterly re-training** (季度再培训, CS-4.5): every calendar quarter the period touches needs a
  ``quarterly`` training held in it; a quarter not over at the period's end without one is not decidable yet;
- **daily audit signed** (数据审核, CS-4.3.2.2): the days the operator looked after at least one device
  (its contracts that day) that are over, signed off (``alarms.audit_days``) / all such days; target 100 %;
- **inspections done vs due** (巡检, SX-20.3): for each device, the period is cut into whole windows of
  ``om_inspection_every_days`` days from its first day; a window during all of which the operator looked
  after the device is due, and done when a current inspection record of the operator falls in it;
- **findings** (合规问题): the operator's findings touching the period, by state; met when none is open.

``now`` matters only for the service clocks (a ticket still inside its limit counts as neither met nor
late); once the period has been over for longer than the longest limit, the figures depend on the data
alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import Connection, Engine, and_, exists, func, or_, select

from envwatch.alarms.audit_days import audit_status
from envwatch.compliance.schema import findings
from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.monitoring.rates import OPERATOR_GROUP, RateQuery, compute_rates
from envwatch.operations.certificates import certificate_status, certificates_of
from envwatch.operations.emergency import list_drills
from envwatch.operations.records_schema import field_records
from envwatch.operations.staff_schema import staff
from envwatch.operations.ticket_sla import SlaRules
from envwatch.operations.ticket_stats import quarter_of, satisfaction, sla_statistics
from envwatch.operations.trainings import quarterly_status
from envwatch.registry.schema import contracts, devices, outlets
from envwatch.registry.service_operators import get_operator

PERIOD_MAX_DAYS: Final = 366  # one certification year (CS-5/6 yearly surveillance) at most
HUNDRED: Final = Decimal(100)
NEEDS_CERTIFICATE: Final = ("field_engineer", "sampler")  # positions doing field work (CS-4.5)
FINDING_STATES: Final = ("open", "resolved", "waived")
_f = field_records.c


@dataclass(frozen=True)
class Kpi:
    """One figure of the pack: ``value`` is a percent (``unit`` "%") or a count; ``numerator`` /
    ``denominator`` the counts behind a percent; ``met`` None when there is no figure or it cannot be
    decided yet; ``detail`` the figures behind it (JSON-ready)."""

    key: str
    requirement: str
    title: str
    title_zh: str
    target: str
    value: Decimal | int | None
    unit: str
    met: bool | None
    numerator: int | None = None
    denominator: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "requirement": self.requirement,
            "title": self.title,
            "title_zh": self.title_zh,
            "target": self.target,
            "value": None if self.value is None else str(self.value),
            "unit": self.unit,
            "met": self.met,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class KpiSet:
    operator_id: int
    first: date
    last: date
    kpis: list[Kpi]

    def by_key(self) -> dict[str, Kpi]:
        return {k.key: k for k in self.kpis}

    def as_dict(self) -> dict[str, Any]:
        return {
            "operator_id": self.operator_id,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "kpis": [k.as_dict() for k in self.kpis],
        }


def check_period(first: date, last: date) -> None:
    """InvalidInput unless first..last is a period of 1 to 366 China days."""
    if first > last:
        raise InvalidInput(f"from {first.isoformat()} is after to {last.isoformat()}")
    days = (last - first).days + 1
    if days > PERIOD_MAX_DAYS:
        raise InvalidInput(
            f"the period covers {days} days; a pack covers at most {PERIOD_MAX_DAYS}: ask per year"
        )


def china_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """China days first..last as UTC-comparable instants [start, end)."""
    start = datetime(first.year, first.month, first.day, tzinfo=CHINA_TZ)
    end_day = last + timedelta(days=1)
    return start, datetime(end_day.year, end_day.month, end_day.day, tzinfo=CHINA_TZ)


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def share(part: int, whole: int) -> Decimal | None:
    """part / whole in percent, half-up to 0.1 (None when whole is 0)."""
    if whole == 0:
        return None
    return (HUNDRED * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


# ---- which devices the operator looked after, day by day ----


def contracted_devices(
    conn: Connection, operator_id: int, first: date, last: date
) -> dict[date, frozenset[int]]:
    """Each day of first..last with the devices on the outlets the operator's contracts in force that day
    cover (a contract without an outlet covers every outlet of its enterprise: the rule of
    ``registry.service_operators.contracted_outlets``, applied day by day from one read)."""
    rows = conn.execute(
        select(
            contracts.c.enterprise_id, contracts.c.outlet_id, contracts.c.valid_from, contracts.c.valid_to
        ).where(
            contracts.c.operator_id == operator_id,
            contracts.c.valid_from <= last,
            or_(contracts.c.valid_to.is_(None), contracts.c.valid_to >= first),
        )
    ).all()
    enterprise_ids = {r.enterprise_id for r in rows if r.outlet_id is None}
    outlets_of: dict[int, set[int]] = {}
    if enterprise_ids:
        query = select(outlets.c.id, outlets.c.enterprise_id).where(
            outlets.c.enterprise_id.in_(sorted(enterprise_ids))
        )
        for outlet_id, enterprise_id in conn.execute(query):
            outlets_of.setdefault(enterprise_id, set()).add(outlet_id)
    devices_on: dict[int, set[int]] = {}
    for device_id, outlet_id in conn.execute(
        select(devices.c.id, devices.c.outlet_id).where(devices.c.outlet_id.is_not(None))
    ):
        devices_on.setdefault(outlet_id, set()).add(device_id)
    out: dict[date, frozenset[int]] = {}
    for day in days_of(first, last):
        covered: set[int] = set()
        for r in rows:
            if r.valid_from <= day and (r.valid_to is None or r.valid_to >= day):
                covered |= outlets_of.get(r.enterprise_id, set()) if r.outlet_id is None else {r.outlet_id}
        out[day] = frozenset(d for o in covered for d in devices_on.get(o, ()))
    return out


# ---- the KPIs ----


def rate_kpi(
    engine: Engine, settings: Settings, operator_id: int, first: date, last: date, now: datetime
) -> Kpi:
    """CS-4.3.2.1: the operator's row of ``compute_rates`` grouped by operator (every device)."""
    rows = compute_rates(engine, settings, RateQuery(first, last, group=OPERATOR_GROUP), now)
    row = next((r for r in rows if r.get("operator_id") == operator_id), None)
    target = Decimal(str(settings.rates_operator_min_pct))
    rate: Decimal | None = None if row is None else row["effective_rate"]
    met = None if rate is None else rate >= target
    detail: dict[str, Any] = {}
    if row is not None:
        detail = {
            "transmission_rate": None if row["transmission_rate"] is None else str(row["transmission_rate"]),
            "validity_rate": None if row["validity_rate"] is None else str(row["validity_rate"]),
            "received": row["received"],
            "faults": row["faults"],
            "flags": [f["requirement"] for f in row["flags"]],
        }
    return Kpi(
        "effective_rate", "CS-4.3.2.1", "Effective transmission rate", "有效传输率", f"≥ {target} %", rate, "%",
        met, None if row is None else row["valid"], None if row is None else row["expected"], detail,
    )  # fmt: skip


def ticket_kpis(
    conn: Connection, settings: Settings, operator_id: int, first: date, last: date, now: datetime
) -> list[Kpi]:
    """CS-4.3.3: the on-time shares of the two clocks and the satisfaction rate, as the tickets API."""
    rules = SlaRules.from_settings(settings)
    stats = sla_statistics(conn, operator_id, first, last, now, rules)
    got = satisfaction(conn, operator_id, first, last, rules)
    out = []
    titles = {
        "respond": ("respond_1h", "Requests responded to within the limit (1 h)", "1小时内响应率"),
        "on_site": ("on_site_4h_8h", "Requests reached on site within the limit (4 h urban / 8 h suburban)", "4小时/8小时内到场率"),
    }  # fmt: skip
    for name, (key, title, title_zh) in titles.items():
        clock = stats.clocks[name]  # type: ignore[index]
        decided = clock.met + clock.late
        detail = {"tickets": stats.tickets, "met": clock.met, "late": clock.late, "running": clock.running, "not_applicable": clock.not_applicable}  # fmt: skip
        out.append(
            Kpi(key, "CS-4.3.3", title, title_zh, "100 %", clock.percent, "%",
                None if decided == 0 else clock.late == 0, clock.met, decided, detail)
        )  # fmt: skip
    rate = got.rate
    out.append(
        Kpi("satisfaction", "CS-4.3.3", "Satisfaction of the service surveys", "满意度", f"≥ {got.target} %",
            rate.percent, "%", rate.meets_target, rate.satisfied, rate.n, {"surveys": rate.n})
    )  # fmt: skip
    return out


def drill_kpi(conn: Connection, operator_id: int, first: date, last: date) -> Kpi:
    """CS-4.2.3: at least one drill a year (module docstring)."""
    held = [d for d in list_drills(conn, [operator_id]) if d["held_on"] <= last]
    in_period = [d for d in held if d["held_on"] >= first]
    years: list[dict[str, Any]] = []
    for year in range(first.year, last.year + 1):
        count = sum(1 for d in held if d["held_on"].year == year)
        over = date(year, 12, 31) <= last
        years.append({"year": year, "drills": count, "met": True if count else (False if over else None)})
    verdicts = [y["met"] for y in years]
    met = False if False in verdicts else (True if all(v is True for v in verdicts) else None)
    return Kpi(
        "drills", "CS-4.2.3", "Emergency drills (at least one a year)", "应急演练（每年至少一次）", "≥ 1 / year",
        len(in_period), "count", met, detail={"years": years, "drill_ids": sorted(int(d["id"]) for d in in_period)},
    )  # fmt: skip


def certificate_kpi(conn: Connection, settings: Settings, operator_id: int, first: date, last: date) -> Kpi:
    """CS-4.5: the people doing field work hold a certificate valid on the period's last day."""
    start, end = china_bounds(first, last)
    worked = select(_f.staff_id).where(
        _f.operator_id == operator_id, _f.performed_at >= start, _f.performed_at < end
    )
    query = select(staff.c.id).where(
        staff.c.operator_id == operator_id,
        or_(and_(staff.c.active.is_(True), staff.c.position.in_(NEEDS_CERTIFICATE)), staff.c.id.in_(worked)),
    )
    people = sorted(int(i) for i in conn.execute(query).scalars())
    certs = certificates_of(conn, people)
    warn = int(settings.om_certificate_warn_days)
    lacking = [
        p for p in people if certificate_status(certs[p], last, warn).status not in ("valid", "expiring")
    ]
    valid = len(people) - len(lacking)
    return Kpi(
        "certificates", "CS-4.5", "Field staff with a certificate valid on the last day", "持证上岗（期末有效）",
        "100 %", share(valid, len(people)), "%", None if not people else not lacking, valid, len(people),
        {"without_valid_certificate": lacking},
    )  # fmt: skip


def training_kpi(conn: Connection, operator_id: int, first: date, last: date) -> Kpi:
    """CS-4.5: a quarterly re-training held in every quarter the period touches."""
    quarters: list[dict[str, Any]] = []
    q_first, q_last = quarter_of(first)
    while q_first <= last:
        status = quarterly_status(conn, operator_id, q_first.year, (q_first.month - 1) // 3 + 1)
        held = [t for t in status.trainings if t["held_on"] <= last]
        met = True if held else (False if q_last <= last else None)
        quarters.append(
            {"quarter": f"{q_first.year}Q{(q_first.month - 1) // 3 + 1}", "held": len(held), "met": met,
             "passed": status.passed, "staff": status.total}
        )  # fmt: skip
        q_first, q_last = quarter_of(q_last + timedelta(days=1))
    verdicts = [q["met"] for q in quarters]
    held_quarters = sum(1 for v in verdicts if v)
    met = False if False in verdicts else (True if all(v is True for v in verdicts) else None)
    return Kpi(
        "trainings", "CS-4.5", "Quarters with a quarterly re-training held", "季度再培训", "every quarter",
        held_quarters, "count", met, held_quarters, len(quarters), {"quarters": quarters},
    )  # fmt: skip


def audit_kpi(conn: Connection, operator_id: int, covered: dict[date, frozenset[int]], now: datetime) -> Kpi:
    """CS-4.3.2.2: days signed off / days (over by ``now``) on which the operator looked after a device."""
    today = to_china(now).date()
    days = [d for d, devs in covered.items() if devs and d < today]
    signed = 0
    if days:
        status = {s.day: s.signed for s in audit_status(conn, operator_id, min(covered), max(covered))}
        signed = sum(1 for d in days if status.get(d) is not None)
    return Kpi(
        "daily_audit", "CS-4.3.2.2", "Days of data audited and signed off", "每日数据审核签字", "100 %",
        share(signed, len(days)), "%", None if not days else signed == len(days), signed, len(days),
        {"unsigned": len(days) - signed},
    )  # fmt: skip


def inspection_windows(
    conn: Connection, operator_id: int, covered: dict[date, frozenset[int]], every_days: int
) -> list[dict[str, Any]]:
    """The due inspection windows of the period (module docstring), each with ``done``."""
    days = sorted(covered)
    if not days or every_days < 1:
        return []
    start, end = china_bounds(days[0], days[-1])
    later = field_records.alias("later_inspection")
    query = select(_f.device_id, _f.performed_at).where(
        _f.kind == "inspection", _f.operator_id == operator_id, _f.performed_at >= start, _f.performed_at < end,
        ~exists().where(later.c.supersedes_id == _f.id),
    )  # fmt: skip
    seen: dict[int, set[date]] = {}
    for device_id, at in conn.execute(query):
        seen.setdefault(int(device_id), set()).add(to_china(at).date())
    out = []
    for i in range(len(days) // every_days):
        window = days[i * every_days : (i + 1) * every_days]
        looked_after = frozenset.intersection(*(covered[d] for d in window))
        for device_id in sorted(looked_after):
            done = any(d in seen.get(device_id, set()) for d in window)
            out.append({"device_id": device_id, "from": window[0], "to": window[-1], "done": done})
    return out


def inspection_kpi(
    conn: Connection, settings: Settings, operator_id: int, covered: dict[date, frozenset[int]]
) -> Kpi:
    every = int(settings.om_inspection_every_days)
    windows = inspection_windows(conn, operator_id, covered, every)
    done = sum(1 for w in windows if w["done"])
    return Kpi(
        "inspections", "SX-20.3", f"Inspection windows of {every} days with an inspection",
        f"巡检（每{every}天至少一次）", "100 %", share(done, len(windows)), "%",
        None if not windows else done == len(windows), done, len(windows),
        {"every_days": every, "missed": [{**w, "from": w["from"].isoformat(), "to": w["to"].isoformat()} for w in windows if not w["done"]]},
    )  # fmt: skip


def findings_touching(operator_id: int, first: date, last: date) -> Any:
    """The condition selecting the operator's findings touching first..last: their period overlaps it, or,
    without a period, they were seen during it."""
    start, end = china_bounds(first, last)
    c = findings.c
    by_period = and_(
        c.period_start.is_not(None), c.period_start < end, or_(c.period_end.is_(None), c.period_end > start)
    )
    by_seen = and_(c.period_start.is_(None), c.first_seen < end, c.last_seen >= start)
    return and_(c.operator_id == operator_id, or_(by_period, by_seen))


def finding_kpi(conn: Connection, operator_id: int, first: date, last: date) -> Kpi:
    c = findings.c
    query = select(c.state, func.count()).where(findings_touching(operator_id, first, last)).group_by(c.state)
    counts = {state: 0 for state in FINDING_STATES} | {str(s): int(n) for s, n in conn.execute(query)}
    return Kpi(
        "findings", "CS-5/6", "Compliance findings touching the period still open", "期内未整改的合规问题",
        "0 open", counts["open"], "count", counts["open"] == 0, detail={"by_state": counts},
    )  # fmt: skip


def certification_kpis(
    engine: Engine, settings: Settings, operator_id: int, first: date, last: date, now: datetime,
    *, conn: Connection | None = None,
) -> KpiSet:  # fmt: skip
    """Every KPI of the pack for ``operator_id`` over China days first..last as of ``now`` (NotFound for an
    unknown operator, InvalidInput for a bad period). ``conn``: read the tables there (the pack reads them in
    one transaction); the rates use ``engine`` (the rates service opens its own connection)."""
    check_period(first, last)
    if conn is None:
        with engine.connect() as own:
            return certification_kpis(engine, settings, operator_id, first, last, now, conn=own)
    get_operator(conn, operator_id)
    covered = contracted_devices(conn, operator_id, first, last)
    kpis = [
        rate_kpi(engine, settings, operator_id, first, last, now),
        *ticket_kpis(conn, settings, operator_id, first, last, now),
        drill_kpi(conn, operator_id, first, last),
        certificate_kpi(conn, settings, operator_id, first, last),
        training_kpi(conn, operator_id, first, last),
        audit_kpi(conn, operator_id, covered, now),
        inspection_kpi(conn, settings, operator_id, covered),
        finding_kpi(conn, operator_id, first, last),
    ]
    return KpiSet(operator_id, first, last, kpis)


def requirement_ids(kpis: Iterable[Kpi]) -> list[str]:
    return sorted({k.requirement for k in kpis})
