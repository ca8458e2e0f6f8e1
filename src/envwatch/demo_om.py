"""The O&M part of the demo world (运维演示数据): what the demo operator 山西示范环境运维有限公司 has on file,
so that ``make demo`` shows the /om pages with believable content.

Everything goes through the O&M stores (``envwatch.operations.*``) with every check they make; nothing is
written to a table directly. Each act is recorded as of a plausible moment: a field record, a fault event,
a ticket step is recorded a few minutes after it happened (the ``now`` the store is given), never after the
real ``now``. Files that predate the platform (staff, certificates, the equipment ledger, registrations)
were entered when the platform went live, :data:`REGISTRY_AGE` before ``now``: ``envwatch demo``
imports the demo registry as of then, so the devices exist for the past weeks' field records. A field
record dated before its device was registered (a data directory from an earlier demo, whose registry was
imported later) is refused by the records store; it is skipped, and the lines say so.

:func:`install_om` is idempotent: when the demo operator already has staff, it adds nothing.

The story, relative to ``now`` (China days):

- staff: 王磊 (field engineer, account ``field1``, certificate valid ~10 more months), 李娜 (manager,
  ``operator1``), 赵强 (sampler, certificate expired 10 days ago: field work blocked), 陈静 (field engineer,
  certificate expiring in 20 days); registrations with the bureaus of 太原 (140100) and 大同 (140200);
- reference materials: SO2 standard gas and COD standard solution valid for months, an NH3-N solution expired;
- 王磊's field records on the operator's devices: weekly inspections over three weeks (some devices done,
  some due, one with a failed item), calibrations (one failing on drift, then one passing), a standard check,
  this quarter's comparison, a consumable change, a parameter change, a repair;
- a fault opened 30 hours ago (the 24 h backup clock overdue) and one restored last week (its mark);
- enterprise1's production stops: one for next week awaiting the regulator, one approved and restarted;
- service tickets: one requested 40 minutes ago, one closed with a 5-star survey, one fixed remotely;
- equipment (an analyser whose verification is due in 20 days), spare parts (one below its minimum),
  emergency plans for device failure and power outage with a drill this year; last quarter's re-training
  (one person failed), a sample-label training, and this quarter's training planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from envwatch.core.clock import CHINA_TZ, to_china
from envwatch.core.settings import Settings
from envwatch.demo import ENTERPRISES, OPERATED, OPERATOR_NAME, credit_code
from envwatch.monitoring.marks import MarkPolicy
from envwatch.operations import (
    emergency,
    equipment,
    faults,
    production_stops,
    record_due,
    registrations,
    spare_parts,
    tickets,
    trainings,
)
from envwatch.operations import staff as staff_store
from envwatch.operations.materials import MaterialDraft, add_material
from envwatch.operations.records import RecordDraft, add_record
from envwatch.registry.schema import devices, enterprises, operators, outlets
from envwatch.web.api.om_staff import require_staff_account

# The platform went live this long before ``now``: ``envwatch demo`` imports the registry as of then, and
# the operator's older files were entered then. Three weeks of history need devices at least that old.
REGISTRY_AGE = timedelta(days=30)
ENTERED_AFTER = timedelta(minutes=7)  # a field act is typed in this long after it happened
BY_OFFICE, BY_FIELD, BY_ENTERPRISE, BY_REGULATOR = "operator1", "field1", "enterprise1", "ty_regulator"
ISSUER = "山西省环境保护产业协会 (演示)"


@dataclass(frozen=True)
class Device:
    id: int
    mn: str
    kind: str
    created_at: datetime
    outlet_id: int
    enterprise_id: int
    latitude: Decimal | None
    longitude: Decimal | None


class Clock:
    """The demo's moments: China wall-clock times on days relative to today, and when each was entered."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today = to_china(now).date()
        self.live = now - REGISTRY_AGE

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)

    def at(self, offset: int, hour: int, minute: int = 0) -> datetime:
        """``hour:minute`` China time, ``offset`` days from today, as an aware UTC time."""
        return datetime.combine(self.day(offset), time(hour, minute), CHINA_TZ).astimezone(UTC)

    def entered(self, moment: datetime) -> datetime:
        """When an act at ``moment`` was recorded: shortly after, not before the platform went live, never
        after the real now."""
        return min(max(self.live, moment + ENTERED_AFTER), self.now)


class Report:
    """What was added and what was skipped, as the lines :func:`install_om` returns."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.skipped: list[str] = []
        self.early: dict[str, datetime] = {}

    def add(self, line: str) -> None:
        self.lines.append(line)

    def skip(self, why: str) -> None:
        if why not in self.skipped:
            self.skipped.append(why)

    def skip_record(self, mn: str, registered: datetime) -> None:
        """A field record dated before its device was registered (the records store refuses it)."""
        self.early[mn] = registered


def install_om(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Add the demo operator's O&M files (module docstring), in one transaction; lines saying what was
    added. Needs the demo registry and users (``demo.install_registry``, ``demo.install_users``)."""
    clock = Clock(now)
    with engine.begin() as conn:
        operator_id = conn.execute(
            select(operators.c.id).where(operators.c.credit_code == credit_code("140100", 900))
        ).scalar()
        if operator_id is None:
            return [f"O&M demo: no demo operator ({OPERATOR_NAME}) in the registry: nothing added"]
        warn = settings.om_certificate_warn_days
        present = staff_store.list_staff(conn, int(operator_id), today=clock.today, warn_days=warn)
        if present:
            return [f"O&M demo: {OPERATOR_NAME} already has {len(present)} staff files: nothing added"]
        report = Report()
        world = _World(conn, settings, clock, int(operator_id), report)
        world.build()
    if report.early:
        since = min(report.early.values())
        report.skip(
            f"field records dated before their device was registered ({len(report.early)} devices, registered "
            f"from {to_china(since):%Y-%m-%d %H:%M} China time)"
        )
    if report.skipped:
        report.add("skipped: " + "; ".join(report.skipped))
    return report.lines


class _World:
    """The demo operator's files, section by section, in one connection (one transaction)."""

    def __init__(
        self, conn: Connection, settings: Settings, clock: Clock, operator_id: int, report: Report
    ) -> None:
        self.conn, self.settings, self.clock = conn, settings, clock
        self.op, self.report = operator_id, report
        self.devices = _operated_devices(conn)
        self.staff: dict[str, int] = {}
        self.materials: dict[str, int] = {}
        self.records = 0
        self.policy = MarkPolicy.from_settings(settings)

    def device(self, enterprise: int, kind: str) -> Device | None:
        return self.devices.get((enterprise, kind))

    def build(self) -> None:
        self.add_staff()
        self.add_registrations()
        self.add_materials()
        self.add_records()
        self.add_faults()
        self.add_stops()
        self.add_tickets()
        self.add_ledger()
        self.add_trainings()

    # ---- staff and registrations ----

    def add_staff(self) -> None:
        c, entered = self.clock, self.clock.live
        people = (
            # key, name, position, phone, account, certificate number, issued (days ago), valid until (offset)
            ("field", "王磊", "field_engineer", "13935100001", BY_FIELD, "SXYW-2024-0456", 795, 300),
            ("manager", "李娜", "manager", "13935100002", BY_OFFICE, "SXYW-2023-0131", 600, 495),
            ("sampler", "赵强", "sampler", "13935100003", None, "SXYW-2023-0087", 1105, -10),
            ("field2", "陈静", "field_engineer", "13935100004", None, "SXYW-2023-0342", 1075, 20),
        )
        for key, name, position, phone, account, number, issued_ago, until in people:
            require_staff_account(self.conn, account, self.op)  # the web layer's account-link check
            person = staff_store.add_staff(
                self.conn,
                operator_id=self.op,
                name=name,
                position=position,
                phone=phone,
                username=account,
                now=entered,
            )
            staff_store.add_certificate(
                self.conn,
                person["id"],
                kind="污染源自动监测设备运维上岗证",
                number=number,
                issuer=ISSUER,
                issued_on=c.day(-issued_ago),
                valid_until=c.day(until),
                recorded_by=BY_OFFICE,
                now=entered,
            )
            self.staff[key] = int(person["id"])
        self.report.add(
            f"O&M staff: 4 (王磊 field1, certificate valid until {c.day(300)}; 李娜 operator1; 赵强's certificate "
            f"expired {c.day(-10)}: field work blocked; 陈静's expires {c.day(20)})"
        )

    def add_registrations(self) -> None:
        c = self.clock
        for city, bureau, number, registered, until in (
            ("140100", "太原市生态环境局", "并环运备〔2025〕017号", c.day(-400), c.day(-400 + 3 * 365)),
            ("140200", "大同市生态环境局", "同环运备〔2026〕005号", c.day(-120), None),
        ):
            registrations.register(
                self.conn,
                operator_id=self.op,
                region_code=city,
                bureau=bureau,
                reference_no=number,
                registered_on=registered,
                valid_until=until,
                recorded_by=BY_OFFICE,
                now=c.live,
            )
        self.report.add("operator registrations (报备): 太原市 140100, 大同市 140200")

    def add_materials(self) -> None:
        c = self.clock
        for key, kind, name, number, lot, conc, unit, maker, until in _MATERIALS:
            draft = MaterialDraft(
                operator_id=self.op,
                kind=kind,
                name=name,
                certificate_no=number,
                lot=lot,
                unit=unit,
                uncertainty="U=2%, k=2",
                maker=maker,
                valid_until=c.day(until),
                concentration=Decimal(conc),
            )
            self.materials[key] = int(add_material(self.conn, draft, BY_OFFICE, c.live)["id"])
        self.report.add(
            f"reference materials: SO2 standard gas (until {c.day(270)}), COD standard solution (until "
            f"{c.day(180)}), an NH3-N solution expired {c.day(-15)}"
        )

    # ---- field records ----

    def record(
        self,
        dev: Device | None,
        kind: str,
        when: datetime,
        payload: dict[str, Any],
        *,
        materials: tuple[str, ...] = (),
        note: str = "",
    ) -> bool:
        """One field record by the field engineer, signed in a few metres from the outlet; False when it
        was skipped (no such device, or dated before the device was registered)."""
        if dev is None:
            self.report.skip(f"a {kind} record (the demo has no such device)")
            return False
        if when < dev.created_at:
            self.report.skip_record(dev.mn, dev.created_at)
            return False
        lat = lon = None
        if dev.latitude is not None and dev.longitude is not None:
            lat, lon = dev.latitude + Decimal("0.0002"), dev.longitude - Decimal("0.0001")
        draft = RecordDraft(
            device_id=dev.id,
            kind=kind,
            operator_id=self.op,
            staff_id=self.staff["field"],
            performed_at=when,
            payload=payload,
            latitude=lat,
            longitude=lon,
            material_ids=tuple(self.materials[m] for m in materials),
            note=note,
        )
        add_record(self.conn, draft, BY_FIELD, self.clock.entered(when), self.settings)
        self.records += 1
        return True

    def add_records(self) -> None:
        c = self.clock
        g1, w1 = self.device(0, "gas"), self.device(0, "water")
        # weekly inspections (SX-20.3, every 7 days): 太原示范热电's (enterprise1's) devices last 6 days ago and
        # 太原示范钢铁's recently (not due); 山西示范焦化's 9 days ago and 太原示范水务's never (due)
        schedule = {(0, "gas"): (-20, -13, -6), (0, "water"): (-20, -13, -6), (1, "gas"): (-16, -9),
                    (1, "water"): (-16, -9), (2, "gas"): (-2,), (2, "water"): (-14, -1)}  # fmt: skip
        for n, ((ent, kind), days) in enumerate(schedule.items()):
            for day in days:
                failed = (ent, kind, day) == (1, "gas", -9)
                items = _checklist(kind, failed)
                note = "冷凝器排水不畅, 已疏通, 下次巡检复查" if failed else ""
                when = c.at(day, 9 + n // 2, 10 + 25 * (n % 2))
                self.record(self.device(ent, kind), "inspection", when, {"items": items}, note=note)
        # calibrations of SO2 on enterprise1's gas device (range 0-200 mg/m3, span gas 160): drift beyond
        # the 2.5 % F.S. criterion three days ago, adjusted and passed yesterday
        so2 = {"factor": "a21026", "zero_reference": "0", "span_reference": "160", "mode": "manual"}
        self.record(
            g1,
            "calibration",
            c.at(-3, 10, 20),
            {**so2, "zero_reading": "1.6", "span_reading": "167.4"},
            materials=("so2",),
            note="量程漂移超出 2.5% F.S., 已调整, 安排复校",
        )
        self.record(
            g1,
            "calibration",
            c.at(-1, 10, 5),
            {**so2, "zero_reading": "0.4", "span_reading": "161.8"},
            materials=("so2",),
            note="复校合格",
        )
        self.record(
            g1,
            "parameter_change",
            c.at(-1, 10, 40),
            {
                "parameter": "SO2 斜率 K",
                "before": "1.000",
                "after": "0.994",
                "factor": "a21026",
                "reason": "复校后按标准气体修正斜率",
            },
        )
        # the water device after the production stop (restart check, SX-18.4) and a standard-sample check
        cod = {"factor": "w01018", "zero_reference": "0", "span_reference": "100", "mode": "manual"}
        self.record(
            w1,
            "calibration",
            c.at(-6, 15, 30),
            {**cod, "zero_reading": "2.1", "span_reading": "103.6"},
            materials=("cod",),
            note="停产后开机校准",
        )
        self.record(
            w1,
            "standard_check",
            c.at(-2, 11, 0),
            {"factor": "w01018", "standard_value": "100", "measured_value": "104.5"},
            materials=("cod",),
        )
        self.record(
            w1,
            "consumable",
            c.at(-8, 14, 0),
            {
                "items": [
                    {"name": "COD 试剂 (重铬酸钾-硫酸银)", "quantity": "1", "unit": "瓶", "lot": "R2409-3"},
                    {"name": "蠕动泵管", "quantity": "2", "unit": "根", "lot": ""},
                ]
            },
        )
        self.record(g1, "comparison", self.this_quarter(), _comparison())
        # the repair that ended last week's fault on 太原示范钢铁's water device (add_faults)
        self.record(
            self.device(2, "water"),
            "repair",
            c.at(-7, 9, 30),
            {
                "part": "氨氮分析仪进样蠕动泵",
                "symptom": "进样管堵塞, 无法取样",
                "action": "疏通进样管, 更换泵管",
                "result": "恢复正常, 出数稳定",
            },
        )
        every = self.settings.om_inspection_every_days
        due = record_due.inspection_due(self.conn, self.op, c.now, every)
        self.report.add(
            f"field records by 王磊: {self.records}; inspections due now on {len(due)} of "
            f"{len(self.devices)} devices under contract"
        )

    def this_quarter(self) -> datetime:
        """Five days ago at 10:00, or the quarter's first morning when that was in the last quarter (the
        comparison is this quarter's, SX-18.6)."""
        c = self.clock
        first, _last = record_due.period_of("gas", c.today)
        start = datetime.combine(first, time(2, 0), CHINA_TZ).astimezone(UTC)
        return min(max(c.at(-5, 10, 0), start), c.now - timedelta(minutes=1))

    # ---- faults and production stops ----

    def add_faults(self) -> None:
        c, lines = self.clock, []
        down = self.device(1, "gas")
        if down is not None:
            started = c.now - timedelta(hours=30)
            fault = faults.open_fault(
                self.conn,
                device_id=down.id,
                started_at=started,
                description="颗粒物监测仪测量值跳变至量程上限, 疑似光学镜头污染",
                factors=["a34013"],
                opened_by=BY_FIELD,
                now=started + timedelta(minutes=20),
            )
            later = c.now - timedelta(hours=6)
            faults.record_event(
                self.conn,
                fault["id"],
                event="commented",
                at=later,
                comment="已清洁镜头, 仍异常; 备件 (光源模块) 已向厂家订购, 预计明日到货",
                by=BY_FIELD,
                now=later,
            )
            lines.append(
                f"1 open on {down.mn} since {to_china(started):%Y-%m-%d %H:%M} China time (no backup yet)"
            )
        fixed = self.device(2, "water")
        if fixed is not None:
            started, restored = c.at(-8, 14, 20), c.at(-7, 9, 40)
            fault = faults.open_fault(
                self.conn,
                device_id=fixed.id,
                started_at=started,
                description="氨氮分析仪进样管堵塞, 无法取样",
                factors=["w21003"],
                opened_by=BY_FIELD,
                now=started + timedelta(minutes=25),
            )
            faults.record_event(
                self.conn,
                fault["id"],
                event="restored",
                at=restored,
                comment="更换泵管后恢复",
                by=BY_FIELD,
                now=restored + timedelta(minutes=10),
                policy=self.policy,
            )
            lines.append(f"1 restored on {fixed.mn} (its period marked 故障)")
        self.report.add("faults: " + ("; ".join(lines) or "none (no devices)"))

    def add_stops(self) -> None:
        c = self.clock
        gas, water = self.device(0, "gas"), self.device(0, "water")
        lines = []
        if gas is not None:
            production_stops.submit_stop(
                self.conn,
                enterprise_id=gas.enterprise_id,
                outlet_id=gas.outlet_id,
                start_at=c.at(7, 8),
                end_at=c.at(10, 18),
                reason="1号机组计划停机检修 (年度小修)",
                by=BY_ENTERPRISE,
                now=c.now - timedelta(hours=2),
            )
            lines.append(f"1 for {c.day(7)} awaiting the regulator")
        if water is not None:
            stop = production_stops.submit_stop(
                self.conn,
                enterprise_id=water.enterprise_id,
                outlet_id=water.outlet_id,
                start_at=c.at(-9, 8),
                end_at=c.at(-7, 20),
                reason="污水处理站调节池清淤, 停止排水",
                by=BY_ENTERPRISE,
                now=c.at(-12, 15),
            )
            production_stops.decide(
                self.conn,
                stop["id"],
                approve=True,
                comment="同意, 恢复生产后按要求校准",
                by=BY_REGULATOR,
                now=c.at(-11, 10, 30),
                policy=self.policy,
            )
            production_stops.restarted(
                self.conn,
                stop["id"],
                at=c.at(-7, 16),
                comment="清淤提前完成",
                by=BY_ENTERPRISE,
                now=c.at(-7, 16, 10),
                policy=self.policy,
            )
            lines.append("1 approved, restarted early (marks shortened)")
        self.report.add("production stops of enterprise1: " + ("; ".join(lines) or "none (no outlets)"))

    # ---- service tickets ----

    def add_tickets(self) -> None:
        c = self.clock
        gas, water = self.device(0, "gas"), self.device(0, "water")
        if gas is None or water is None:
            self.report.skip("service tickets (enterprise1 has no gas and water device)")
            return

        def request(dev: Device, at: datetime, channel: str, subject: str, description: str) -> int:
            row = tickets.request_ticket(
                self.conn,
                enterprise_id=dev.enterprise_id,
                outlet_id=dev.outlet_id,
                device_id=dev.id,
                subject=subject,
                description=description,
                channel=channel,
                requested_at=at,
                by=BY_ENTERPRISE,
                now=c.entered(at),
            )
            return int(row["id"])

        def step(ticket_id: int, event: str, at: datetime, by: str, **extra: Any) -> None:
            tickets.record_event(self.conn, ticket_id, event=event, at=at, by=by, now=c.entered(at), **extra)

        asked = c.now - timedelta(minutes=40)
        request(gas, asked, "phone", "SO2 数据持续偏低", "今早 7 点起 SO2 小时值明显低于往常, 请核查分析仪")
        closed = request(
            water,
            c.at(-10, 9, 12),
            "web",
            "COD 分析仪报警",
            "COD 分析仪显示\u201c消解温度异常\u201d, 数据中断",
        )
        step(closed, "respond", c.at(-10, 9, 25), BY_OFFICE, comment="已受理, 安排王磊前往")
        step(closed, "arrive", c.at(-10, 11, 40), BY_FIELD, staff_id=self.staff["field"])
        step(closed, "resolve", c.at(-10, 15, 10), BY_FIELD, comment="更换消解加热模块, 标样核查合格")
        step(closed, "confirm", c.at(-10, 17, 30), BY_ENTERPRISE)
        step(closed, "survey", c.at(-9, 10), BY_ENTERPRISE, score=5, comment="响应及时, 处理专业")
        remote = request(gas, c.at(-4, 14, 2), "phone", "平台缺少昨夜数据", "平台上昨夜 2 点到 5 点没有数据")
        step(remote, "respond", c.at(-4, 14, 10), BY_OFFICE)
        step(
            remote,
            "resolve_remotely",
            c.at(-4, 14, 48),
            BY_OFFICE,
            comment="远程重启数采仪, 已补传缺失时段数据",
        )
        self.report.add(
            "service tickets of enterprise1: 3 (one requested 40 minutes ago, one closed with a 5-star survey, "
            "one fixed remotely awaiting confirmation)"
        )

    # ---- equipment ledger, spare parts, emergency plans ----

    def add_ledger(self) -> None:
        c = self.clock
        g1, w1 = self.device(0, "gas"), self.device(0, "water")

        def file(kind: str, name: str, model: str, serial: str, bought: int) -> int:
            row = equipment.add_equipment(
                self.conn,
                operator_id=self.op,
                kind=kind,
                name=name,
                model=model,
                serial=serial,
                purchased_on=c.day(bought),
                recorded_by=BY_OFFICE,
                now=c.live,
            )
            return int(row["id"])

        def event(item: int, what: str, day: int, **extra: Any) -> None:
            moment = c.entered(c.at(day, 17))
            equipment.record_event(
                self.conn, item, event=what, on=c.day(day), recorded_by=BY_OFFICE, now=moment, **extra
            )

        files = 0
        if g1 is not None:
            gas = file("analyser", "SO2/NOx 气体分析仪", "EW-GA300", "GA2024-0381", -370)
            event(gas, "installed", -355, device_id=g1.id, comment="随 CEMS 安装投运")
            event(gas, "verified", -345, next_due=c.day(20), comment="年度检定合格")
            files += 1
        if w1 is not None:
            cod = file("analyser", "COD 在线分析仪", "EW-COD100", "COD2025-1107", -300)
            event(cod, "installed", -290, device_id=w1.id)
            event(cod, "verified", -100, next_due=c.day(265), comment="校准合格")
            files += 1
        tool = file("tool", "便携式烟气分析仪 (比对用)", "EW-PG60", "PG2025-0042", -200)
        event(tool, "verified", -60, next_due=c.day(305), comment="检定合格")
        event(tool, "maintained", -20, comment="更换电化学传感器滤膜")
        self.report.add(
            f"equipment files: {files + 1} (SO2/NOx analyser verification due {c.day(20)}, a portable "
            "gas analyser)"
        )
        self.add_parts(g1, w1)
        self.add_plans()

    def add_parts(self, g1: Device | None, w1: Device | None) -> None:
        c = self.clock

        def part(name: str, model: str, unit: str, least: int, delivered: int) -> int:
            row = spare_parts.add_part(
                self.conn, operator_id=self.op, name=name, model=model, unit=unit, min_stock=least, now=c.live
            )
            spare_parts.move(self.conn, row["id"], delivered, "采购入库", recorded_by=BY_OFFICE, now=c.live)
            return int(row["id"])

        def used(part_id: int, quantity: int, dev: Device | None, day: int) -> None:
            if dev is not None:
                moment = c.entered(c.at(day, 16))
                spare_parts.move(
                    self.conn, part_id, -quantity, "现场更换", dev.id, recorded_by=BY_FIELD, now=moment
                )

        tubes = part("蠕动泵管", "PharMed 2.79mm", "根", 10, 30)
        used(tubes, 2, w1, -8)
        filters = part("采样探头滤芯", "EW-F05", "个", 5, 6)
        used(filters, 3, g1, -13)
        part("COD 试剂 (重铬酸钾-硫酸银)", "EW-R-COD", "瓶", 4, 12)
        low = spare_parts.get_part(self.conn, filters)
        self.report.add(
            f"spare parts: 3 (采样探头滤芯 {low['stock']} in stock, below its minimum {low['min_stock']})"
        )

    def add_plans(self) -> None:
        c = self.clock
        plans = {}
        for event_type, title in (
            ("device_failure", "自动监测设备故障应急预案"),
            ("power_outage", "站房停电应急预案"),
        ):
            row = emergency.add_plan(
                self.conn,
                operator_id=self.op,
                event_type=event_type,
                title=title,
                version="V1.0",
                effective_on=c.day(-200),
                body=_PLAN_BODY[event_type],
                recorded_by=BY_OFFICE,
                now=c.live,
            )
            plans[event_type] = int(row["id"])
        held = max(date(c.today.year, 1, 1), c.day(-40))
        emergency.add_drill(
            self.conn,
            plans["device_failure"],
            held_on=held,
            participants=8,
            summary="模拟 SO2 分析仪故障: 10 分钟内启动备机, 30 分钟内完成切换和报告; 发现备机标气余量不足, 已补充",
            recorded_by=BY_OFFICE,
            now=c.entered(datetime.combine(held, time(17), CHINA_TZ)),
        )
        self.report.add(f"emergency plans: device failure, power outage; a drill on {held}")

    # ---- trainings ----

    def add_trainings(self) -> None:
        c = self.clock
        year, quarter = trainings.quarter_of(c.today)
        last_year, last_q = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
        first, _end = trainings.quarter_days(last_year, last_q)
        held_on = first + timedelta(days=45)
        scores = {"field": "92", "manager": "88", "sampler": "55", "field2": "78"}  # 赵强 fails (pass 60)
        self.held_training(
            "quarterly", f"{last_year} 年第 {last_q} 季度运维人员再培训及考核", held_on, scores
        )
        self.held_training(
            "sampling_label", "采样标签系统操作培训", c.day(-25), {"sampler": "85", "field": "90"}
        )
        _first, this_end = trainings.quarter_days(year, quarter)
        trainings.plan_training(
            self.conn,
            operator_id=self.op,
            kind="quarterly",
            title=f"{year} 年第 {quarter} 季度运维人员再培训及考核",
            planned_on=min(c.day(10), this_end),
            pass_score="60",
            recorded_by=BY_OFFICE,
            now=c.now,
        )
        self.report.add(
            f"trainings: {last_year} Q{last_q} re-training held {held_on} (赵强 failed), a sample-label "
            f"training, {year} Q{quarter}'s planned"
        )

    def held_training(self, kind: str, title: str, held_on: date, scores: dict[str, str]) -> None:
        c = self.clock
        planned = datetime.combine(held_on - timedelta(days=14), time(9), CHINA_TZ)
        plan = trainings.plan_training(
            self.conn,
            operator_id=self.op,
            kind=kind,
            title=title,
            planned_on=held_on,
            pass_score="60",
            recorded_by=BY_OFFICE,
            now=c.entered(planned),
        )
        done = c.entered(datetime.combine(held_on, time(17), CHINA_TZ))
        trainings.record_held(
            self.conn, plan["id"], held_on=held_on, note="讲授 + 闭卷考试", recorded_by=BY_OFFICE, now=done
        )
        for key, score in scores.items():
            trainings.add_result(
                self.conn,
                plan["id"],
                staff_id=self.staff[key],
                score=score,
                tested_on=held_on,
                recorded_by=BY_OFFICE,
                now=done,
            )


# ---- helpers ----


def _operated_devices(conn: Connection) -> dict[tuple[int, str], Device]:
    """The first gas and water device of each enterprise the demo operator looks after, by (enterprise
    index in ``demo.ENTERPRISES``, kind)."""
    codes = {credit_code(e.region_code, n): n - 1 for n, e in enumerate(ENTERPRISES, start=1)}
    d, o, e = devices.c, outlets.c, enterprises.c
    query = (
        select(
            d.id,
            d.mn,
            d.kind,
            d.created_at,
            d.outlet_id,
            o.enterprise_id,
            o.latitude,
            o.longitude,
            e.credit_code,
        )
        .join(outlets, o.id == d.outlet_id)
        .join(enterprises, e.id == o.enterprise_id)
        .where(e.credit_code.in_(list(codes)))
        .order_by(d.id)
    )
    found: dict[tuple[int, str], Device] = {}
    for r in conn.execute(query):
        index = codes[r.credit_code]
        if index < OPERATED:
            found.setdefault(
                (index, r.kind),
                Device(
                    r.id, r.mn, r.kind, r.created_at, r.outlet_id, r.enterprise_id, r.latitude, r.longitude
                ),
            )
    return found


# key, kind, name, certificate, lot, concentration, unit, maker, valid until (days from today)
_MATERIALS = (
    ("so2", "gas", "SO2/N2 标准气体", "GBW(E)061234-D", "Q2406-118", "160", "mg/m3", "大连示范特种气体", 270),
    ("cod", "solution", "COD 标准溶液 (邻苯二甲酸氢钾)", "GBW(E)081923-D", "S2410-07", "100", "mg/L",
     "示范标准物质中心", 180),
    ("nh3", "solution", "氨氮标准溶液", "GBW(E)082061-D", "S2405-22", "10", "mg/L", "示范标准物质中心", -15),
)  # fmt: skip


_CHECKLIST = {
    "gas": ("采样探头及伴热管线", "预处理单元 (冷凝器、除湿)", "分析仪示值与显示一致", "数采仪通讯及时钟",
            "标准气体余量及有效期", "站房温湿度及卫生"),
    "water": ("采样泵及管路", "试剂余量及有效期", "废液桶液位", "分析仪运行状态", "数采仪通讯及时钟",
              "站房温湿度及卫生"),
}  # fmt: skip


def _checklist(kind: str, failed: bool) -> list[dict[str, Any]]:
    """An inspection's checklist; ``failed``: the pre-treatment item of a gas device is not ok."""
    items: list[dict[str, Any]] = [{"item": item, "ok": True} for item in _CHECKLIST[kind]]
    if failed:
        items[1] = {"item": items[1]["item"], "ok": False, "note": "冷凝器排水不畅"}
    return items


def _comparison() -> dict[str, Any]:
    """Nine SO2 pairs against the reference method (HJ 75-2017: at least 9), all within ±17 mg/m3."""
    pairs = (("28.4", "26.9"), ("30.1", "29.5"), ("27.6", "25.8"), ("31.2", "30.4"), ("29.8", "28.1"),
             ("26.5", "25.9"), ("32.0", "30.7"), ("28.9", "27.3"), ("30.6", "29.9"))  # fmt: skip
    return {
        "factor": "a21026",
        "pairs": [{"automatic": a, "reference": r} for a, r in pairs],
        "reference_method": "HJ 57-2017 定电位电解法",
        "reference_agency": "山西示范检测有限公司 (演示)",
    }


_PLAN_BODY = {
    "device_failure": (
        "1. 现场运维人员发现或接到设备故障报告后 1 小时内响应, 4 小时内到场。\n"
        "2. 故障超过 24 小时未修复的, 启用备机或开展手工监测, 并向生态环境主管部门报告。\n"
        "3. 故障修复后进行校准和标样核查, 合格后恢复运行, 在平台标记故障时段。"
    ),
    "power_outage": (
        "1. 站房停电后立即检查 UPS 运行状态, 记录停电时间。\n"
        "2. 停电超过 UPS 供电时间的, 通知企业并在平台标记停运时段。\n"
        "3. 来电后检查分析仪、数采仪运行和数据补传情况。"
    ),
}

__all__ = ["REGISTRY_AGE", "install_om"]
