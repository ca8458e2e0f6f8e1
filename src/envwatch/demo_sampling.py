"""The sampling part of the demo world (采样与样品识别标识演示数据): a testing agency of 太原, its people, plans
and samples in every custody state, so that ``make demo`` shows /sampling with believable content.

Everything goes through the stores with every check they make (``registry.agencies``, ``agency_staff``,
``agency_trainings``, ``sampling.plans``, ``registration``, ``steps``; the account store for the login):
on-site entries are made at the plan's point inside its window, each act recorded as of when it happened
(the ``now`` the store is given), never after the real ``now``.

The agency account ``agency1``: ``demo.demo_users`` creates no agency user (an agency does not exist before
this module makes it), so it is made here through the account store with ``agency_id`` = the demo agency,
its password added to ``<data_dir>/demo-passwords`` like the others; if an ``agency1`` of role ``agency``
already exists (made by hand, or by a later ``demo_users``) its ``agency_id`` is pointed at the demo agency
through ``update_user``, never by writing the table. The account is linked to the sampler 张伟, so logged in
as ``agency1`` one acts as him (on-site entry, labels).

:func:`install_sampling` is idempotent: when the demo agency exists it adds nothing (it only re-checks the
account's link).

The story, relative to ``now`` (China days):

- agency 山西示范检测有限公司 (code SXJC, seat 太原市小店区 140105, so both demo regulators see it); staff: samplers
  张伟 (``agency1``) and 刘洋 with a valid label-system training, 孙磊 whose training expired 10 days ago (he
  cannot enter samples), receiver 何静, analyst 马丽;
- plans: one 7 days ago at 太原示范热电's outlet (its samples travelled on), one open now at 山西示范焦化's
  outlet, one tomorrow at 太原示范钢铁 (planned ahead);
- samples of last week's plan in every state after labelling: disposed, analysed (entry with a wrong phone
  clock, accepted on review), opened (the lab's re-check found the label smudged), received (entered offline,
  questioned on review), handed over (seal wrinkled at hand-over), rejected (seal broken), in transport
  (label reprinted with its video), labelled (entered offline, still waiting for review); today's plan: one
  registered and one labelled; a self-delivered sample of 大同示范化工 received at the lab two days ago.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from envwatch.core.blob_records import store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.settings import Settings
from envwatch.demo import ENTERPRISES, credit_code
from envwatch.demo_om import Clock
from envwatch.registry import agency_staff, agency_trainings
from envwatch.registry.agencies import create_agency
from envwatch.registry.agencies_schema import agencies
from envwatch.registry.schema import enterprises, outlets
from envwatch.sampling import plans as plan_store
from envwatch.sampling.entry import Position
from envwatch.sampling.registration import (
    OnSiteEntry,
    SelfDelivered,
    register_on_site,
    register_self_delivered,
)
from envwatch.sampling.schema import samples
from envwatch.sampling.steps import Step, StepInput, record_reprint, record_review, record_step
from envwatch.web.accounts.store import create_user, update_user, user_for_login
from envwatch.web.api.agencies import require_agency_account
from envwatch.web.api.sampling_common import entry_rules

AGENCY_NAME = "山西示范检测有限公司"
AGENCY_CODE = "SXJC"
AGENCY_REGION = "140105"  # 太原市小店区: under ty_regulator (1401) and sx_regulator (14)
AGENCY_CREDIT = credit_code("140100", 950)
ACCOUNT = "agency1"
REVIEWER = "ty_regulator"
TRAINING = "识别标识系统操作培训及考核 (上岗)"
NEAR = Decimal("0.0002")  # about 20 m north of the point: a phone's GPS is never exactly on it


@dataclass(frozen=True)
class _Person:
    key: str
    name: str
    position: str
    phone: str
    account: str | None
    trained: tuple[int, int] | None  # (held, valid until) as day offsets from today


PEOPLE = (
    _Person("zhang", "张伟", "sampler", "13835100101", ACCOUNT, (-200, 165)),
    _Person("liu", "刘洋", "sampler", "13835100102", None, (-120, 245)),
    _Person("sun", "孙磊", "sampler", "13835100103", None, (-375, -10)),  # expired 10 days ago
    _Person("he", "何静", "receiver", "13835100104", None, (-200, 165)),
    _Person("ma", "马丽", "analyst", "13835100105", None, None),
)


def install_sampling(engine: Engine, settings: Settings, now: datetime) -> list[str]:
    """Add the demo agency's files (module docstring) in one transaction; lines saying what was added.
    Needs the demo registry and users (``demo.install_registry``, ``demo.install_users``)."""
    with engine.begin() as conn:
        found = conn.execute(select(agencies.c.id).where(agencies.c.credit_code == AGENCY_CREDIT)).scalar()
        if found is not None:
            lines = [f"{AGENCY_NAME} already has {_count(conn, int(found))} samples: nothing added"]
            return lines + _link_account(conn, settings, int(found), now)[1]
        ents = _demo_enterprises(conn)
        if ents is None:
            return ["no demo registry (太原示范热电 missing): nothing added"]
        world = _World(conn, settings, Clock(now), ents)
        lines = world.build()
    return lines


def _count(conn: Connection, agency_id: int) -> int:
    return int(conn.execute(select(func.count()).where(samples.c.agency_id == agency_id)).scalar_one())


def _demo_enterprises(conn: Connection) -> list[int] | None:
    codes = [credit_code(e.region_code, n) for n, e in enumerate(ENTERPRISES, start=1)]
    rows = dict(conn.execute(select(enterprises.c.credit_code, enterprises.c.id).where(
        enterprises.c.credit_code.in_(codes))).all())  # fmt: skip
    if codes[0] not in rows:
        return None
    first: int = rows[codes[0]]
    return [int(rows.get(c, first)) for c in codes]


def _link_account(conn: Connection, settings: Settings, agency_id: int, now: datetime) -> tuple[str | None, list[str]]:  # fmt: skip
    """The agency login: created (its password kept with the demo's others) or pointed at ``agency_id``
    through the account store. Returns the username to link to a staff member (None: not an agency account)
    and what was done."""
    user = user_for_login(conn, ACCOUNT)
    if user is None:
        password = secrets.token_urlsafe(12)
        create_user(
            conn,
            ACCOUNT,
            password,
            {"role": "agency", "display_name": "示范检测 采样员张伟", "agency_id": agency_id},
            now,
            min_password_length=settings.password_min_length,
        )
        path = settings.data_dir / "demo-passwords"
        kept = path.read_text() if path.exists() else ""
        path.write_text(kept + f"{ACCOUNT} {password}\n")
        path.chmod(0o600)
        return ACCOUNT, [f"login {ACCOUNT} (agency, 张伟) {password}"]
    if user["role"] != "agency":
        return None, [f"user {ACCOUNT} exists with role {user['role']}: not linked to the demo agency"]
    if user["agency_id"] != agency_id:
        update_user(
            conn, user["id"], {"agency_id": agency_id}, now, min_password_length=settings.password_min_length
        )
        return ACCOUNT, [f"login {ACCOUNT} now belongs to {AGENCY_NAME} (agency {agency_id})"]
    return ACCOUNT, []


def _png() -> bytes:
    """A small photo stand-in (a seal close-up would be here): a real PNG, so pages can show it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (160, 120), (236, 228, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 40, 130, 80), outline=(170, 40, 40), width=4)  # the seal, wrinkled
    draw.line((40, 60, 120, 62), fill=(170, 40, 40), width=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _video() -> bytes:
    """A small video stand-in for the reprint (WZ-A2-8): an ISO-BMFF file header (ftyp) and padding."""
    ftyp = b"ftypisom" + (512).to_bytes(4, "big") + b"isomiso2avc1mp41"
    box = (8 + len(ftyp)).to_bytes(4, "big") + ftyp
    free = (8 + 256).to_bytes(4, "big") + b"free" + b"\x00" * 256
    return box + free


class _World:
    """The demo agency's files, in one connection (one transaction)."""

    def __init__(self, conn: Connection, settings: Settings, clock: Clock, ents: list[int]) -> None:
        self.conn, self.settings, self.clock, self.ents = conn, settings, clock, ents
        self.rules = entry_rules(settings)
        self.chars = settings.sampling_code_random_chars
        blobs = BlobStore.from_settings(settings)
        stored: dict[str, Any] = {"stored_by": "demo", "now": clock.live}
        self.photo = store_recorded(
            conn, blobs, _png(), purpose="photo", media_type="image/png", **stored
        ).sha256
        self.video = store_recorded(
            conn, blobs, _video(), purpose="reprint_video", media_type="video/mp4", **stored
        ).sha256
        self.staff: dict[str, int] = {}
        self.states: dict[str, str] = {}

    def build(self) -> list[str]:
        c = self.clock
        agency = create_agency(
            self.conn,
            {
                "name": AGENCY_NAME, "credit_code": AGENCY_CREDIT, "code": AGENCY_CODE,
                "region_code": AGENCY_REGION, "contact": "赵经理", "phone": "0351-7000000",
            },
            c.live,
        )  # fmt: skip
        self.agency = int(agency["id"])
        account, lines = _link_account(self.conn, self.settings, self.agency, c.live)
        self.add_staff(account)
        past, today_plan, ahead = self.add_plans()
        self.last_week(past)
        self.today(today_plan)
        self.self_delivered()
        states = ", ".join(f"{s} {n}" for s, n in sorted(self._states().items()))
        return [
            f"testing agency {AGENCY_NAME} ({AGENCY_CODE}, {AGENCY_REGION}): {len(self.staff)} staff, "
            f"samplers trained today {self._coverage()}",
            f"sampling plans: {past['id']} (7 days ago), {today_plan['id']} (open now), {ahead['id']} (tomorrow)",
            f"samples: {sum(self._states().values())} ({states})",
            *lines,
        ]

    # ---- people ----

    def add_staff(self, account: str | None) -> None:
        c = self.clock
        for p in PEOPLE:
            username = p.account if p.account == account else None
            require_agency_account(self.conn, username, self.agency)  # the web layer's link check
            row = agency_staff.add_staff(
                self.conn, self.agency, name=p.name, position=p.position, phone=p.phone, username=username,
                now=c.live,
            )  # fmt: skip
            self.staff[p.key] = int(row["id"])
            if p.trained is not None:
                held, until = p.trained
                facts = agency_trainings.TrainingFacts(
                    title=TRAINING, held_on=c.day(held), passed=True, valid_until=c.day(until), score="92"
                )
                agency_trainings.record_training(self.conn, row["id"], facts, recorded_by="admin", now=c.live)

    def _coverage(self) -> str:
        found = agency_trainings.coverage(self.conn, self.agency, self.clock.today)
        return f"{found.trained} of {found.total}"

    # ---- plans ----

    def _outlet(self, enterprise: int) -> int | None:
        query = select(outlets.c.id).where(
            outlets.c.enterprise_id == enterprise,
            outlets.c.latitude.is_not(None),
            outlets.c.longitude.is_not(None),
        )
        found = self.conn.execute(query.order_by(outlets.c.code)).scalar()
        return None if found is None else int(found)

    def _plan(self, enterprise_n: int, point: str, start: datetime, hours: int, created: datetime) -> dict[str, Any]:  # fmt: skip
        enterprise = self.ents[enterprise_n]
        outlet = self._outlet(enterprise)
        demo = ENTERPRISES[enterprise_n]
        draft = plan_store.PlanDraft(
            agency_id=self.agency,
            enterprise_id=enterprise,
            outlet_id=outlet,
            latitude=None if outlet else Decimal(demo.latitude),
            longitude=None if outlet else Decimal(demo.longitude),
            point_name=point,
            window_start=start,
            window_end=start + timedelta(hours=hours),
            team=[self.staff[k] for k in ("zhang", "liu", "sun")],
            items=[
                plan_store.PlanItemDraft("化学需氧量", "500 mL 玻璃瓶", "加 H2SO4 至 pH<2，0–4 ℃ 冷藏", 2),
                plan_store.PlanItemDraft("氨氮", "500 mL 聚乙烯瓶", "加 H2SO4 至 pH<2，0–4 ℃ 冷藏", 2),
                plan_store.PlanItemDraft("总磷", "250 mL 玻璃瓶", "加 H2SO4 至 pH≤2", 1),
            ],
            note="演示计划",
        )
        return plan_store.create_plan(self.conn, draft, actor=ACCOUNT, now=created)

    def add_plans(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Last week's (8 hours from 09:00 seven days ago), today's (open from two hours ago), tomorrow's."""
        c = self.clock
        past = self._plan(0, "废水总排放口 采样点", c.at(-7, 9), 8, c.at(-9, 16))
        today = self._plan(1, "废水总排放口 采样点", c.now - timedelta(hours=2), 8, c.now - timedelta(days=1))
        ahead = self._plan(2, "雨水排放口 采样点", c.at(1, 9), 8, c.now - timedelta(hours=3))
        return past, today, ahead

    # ---- samples ----

    def _entry(
        self, plan: dict[str, Any], item: int, who: str, at: datetime, *, offline: bool = False,
        synced: datetime | None = None, skew: timedelta = timedelta(seconds=20),
    ) -> str:  # fmt: skip
        """An on-site entry at ``at`` (phone time), at the point; online unless ``offline`` (then ``synced``
        is when it reached the server)."""
        entry = OnSiteEntry(
            plan_item_id=int(plan["items"][item]["id"]),
            sampler_staff_id=self.staff[who],
            appearance=("淡黄色微浊，无明显异味", "无色透明", "浅灰色，略有悬浮物")[item],
            preservative="H2SO4, pH<2",
            device_at=at,
            position=Position(plan["latitude"] + NEAR, plan["longitude"]),
            offline=offline,
        )
        server = (synced or at) if offline else at + skew
        actor = ACCOUNT if who == "zhang" else "admin"
        row = register_on_site(
            self.conn, entry, actor=actor, now=server, rules=self.rules, random_chars=self.chars
        )
        return str(row["code"])

    def _step(self, code: str, step: Step, who: str, at: datetime, **given: Any) -> None:
        actor = ACCOUNT if who == "zhang" else "admin"
        record_step(self.conn, code, step, StepInput(staff_id=self.staff[who], **given), actor=actor, now=at)

    def _travel(self, code: str, day: int, *, until: str, check: str = "intact", note: str = "") -> None:
        """Label, transport and lab steps of a sample taken on ``day``, as far as state ``until``."""
        c = self.clock
        evidence = {"photo_sha256": self.photo, "note": note} if check != "intact" else {}
        path: list[tuple[str, Step, str, datetime, dict[str, Any]]] = [
            ("labelled", "print_label", "zhang", c.at(day, 10, 40), {"seal_no": f"FT{code[-8:-2]}"}),
            ("in_transport", "dispatch", "zhang", c.at(day, 11, 30), {"preservation": {"cold": True, "dark": True}}),
            ("handed_over", "hand_over", "he", c.at(day, 15, 10), {"check_result": "intact"}),
            ("received", "receive", "he", c.at(day, 15, 25), {}),
            ("opened", "open", "ma", c.at(day + 1, 9, 5), {"check_result": check, **evidence}),
            ("analysed", "analyse", "ma", c.at(day + 1, 16, 30), {}),
            ("disposed", "dispose", "ma", c.at(day + 5, 10), {"note": "按规定留样期满后处置"}),
        ]  # fmt: skip
        for state, step, who, at, given in path:
            self._step(code, step, who, at, **given)
            if state == until:
                return

    def last_week(self, plan: dict[str, Any]) -> None:
        c, day = self.clock, -7
        disposed = self._entry(plan, 0, "zhang", c.at(day, 9, 40))
        self._travel(disposed, day, until="disposed")
        analysed = self._entry(plan, 1, "zhang", c.at(day, 9, 50), skew=timedelta(minutes=9))
        self._travel(analysed, day, until="analysed")
        record_review(self.conn, analysed, outcome="accepted", note="手机时间偏差，现场照片与定位一致", actor=REVIEWER, now=c.at(day + 1, 11))  # fmt: skip
        opened = self._entry(plan, 2, "liu", c.at(day, 10, 0))
        self._travel(opened, day, until="opened", check="abnormal", note="标识码边缘模糊，可扫描")
        received = self._entry(plan, 0, "liu", c.at(day, 10, 10), offline=True, synced=c.at(day, 13, 20))
        self._travel(received, day, until="received")
        record_review(self.conn, received, outcome="questioned", note="离线录入，同步延迟3小时，请机构说明", actor=REVIEWER, now=c.at(day + 2, 10))  # fmt: skip
        handed = self._entry(plan, 1, "zhang", c.at(day, 10, 20))
        self._travel(handed, day, until="in_transport")
        self._step(handed, "hand_over", "he", c.at(day, 15, 12), check_result="abnormal", photo_sha256=self.photo, note="封条有褶皱，未破损")  # fmt: skip
        rejected = self._entry(plan, 0, "zhang", c.at(day, 10, 30))
        self._travel(rejected, day, until="in_transport")
        self._step(rejected, "reject", "he", c.at(day, 15, 15), check_result="damaged", photo_sha256=self.photo, note="封条破损，拒收")  # fmt: skip
        reprinted = self._entry(plan, 1, "liu", c.at(day, 10, 35))
        self._travel(reprinted, day, until="labelled")
        record_reprint(self.conn, reprinted, staff_id=self.staff["liu"], video_sha256=self.video, reason="标签被雨水浸湿，无法扫描", actor="admin", now=c.at(day, 11, 5))  # fmt: skip
        self._step(reprinted, "dispatch", "liu", c.at(day, 11, 40), preservation={"cold": True, "dark": True, "shockproof": True})  # fmt: skip
        waiting = self._entry(plan, 2, "zhang", c.at(day, 10, 45), offline=True, synced=c.at(day, 16, 50))
        self._travel(waiting, day, until="labelled")

    def today(self, plan: dict[str, Any]) -> None:
        c = self.clock
        labelled = self._entry(plan, 0, "zhang", c.now - timedelta(minutes=70))
        self._step(labelled, "print_label", "zhang", c.now - timedelta(minutes=68))
        self._entry(plan, 1, "liu", c.now - timedelta(minutes=30))

    def self_delivered(self) -> None:
        c = self.clock
        delivery = SelfDelivered(
            agency_id=self.agency, receiver_staff_id=self.staff["he"], point_name="废水总排放口",
            item="化学需氧量", check_result="intact", enterprise_id=self.ents[5], container="500 mL 玻璃瓶",
            appearance="浅黄色透明", preservative="H2SO4", sampled_at=c.at(-2, 8, 30), seal_no="ZS-0001",
            note="企业自行采样送检",
        )  # fmt: skip
        row = register_self_delivered(
            self.conn, delivery, actor="admin", now=c.at(-2, 14), random_chars=self.chars
        )
        self._step(row["code"], "print_label", "he", c.at(-2, 14, 3))
        self._step(row["code"], "receive", "he", c.at(-2, 14, 10))

    def _states(self) -> dict[str, int]:
        query = select(samples.c.state, func.count()).where(samples.c.agency_id == self.agency)
        return {s: int(n) for s, n in self.conn.execute(query.group_by(samples.c.state))}
