"""Sampling plans, samples and their chain of custody (识别标识系统, WZ-A2).

- ``sampling_plans`` / ``sampling_plan_items``: what an agency means to sample (企业, 点位, 项目, 容器, 保存要求),
  when (the window the on-site entry must fall in) and with whom. Plan data may be entered in advance
  (WZ-A2-6); the facts that must be captured on site (sampling time, sampler, appearance, preservative) have
  no column here. Append-only: a wrong plan is replaced by a new one.
- ``samples``: one sample container with its unique code (样品唯一性标识), created by the on-site entry (or,
  self-delivered, by the hand-over registration, WZ-A2-4). The identity columns never change; ``state``,
  ``prints``, ``needs_review`` and ``last_seq`` are the projection of ``custody_events``, updated in the same
  transaction as the event that explains them (compare-and-set on ``last_seq``).
- ``custody_events``: the chain of custody, append-only; ``seq`` numbers a sample's events 1, 2, … (unique),
  so two people acting on one sample at once cannot both win. Every row says who, when (server time, and
  the device's own time for field entries), where (GPS) and with what evidence (seal check, photo, video).
- ``sample_code_days``: how many codes an agency was issued on a China day; the sequence part of a code
  comes from here (one row per agency and day, bumped in the issuing transaction).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from envwatch.core.db import BigId, ExactDecimal, UtcDateTime, metadata

sampling_plans = Table(
    "sampling_plans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=False),
    Column("outlet_id", Integer, ForeignKey("outlets.id"), nullable=True),
    Column("point_name", String(200), nullable=False, comment="采样点位"),
    Column("latitude", ExactDecimal, nullable=False, comment="of the point (WGS-84): the on-site check"),
    Column("longitude", ExactDecimal, nullable=False),
    Column("window_start", UtcDateTime, nullable=False, comment="on-site entries are accepted from …"),
    Column("window_end", UtcDateTime, nullable=False, comment="… until (exclusive)"),
    Column("team", JSON, nullable=False, comment="agency_staff ids of the sampling team"),
    Column("note", Text, nullable=False, default=""),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_sampling_plans_agency", "agency_id", "window_start"),
    Index("ix_sampling_plans_enterprise", "enterprise_id"),
)

sampling_plan_items = Table(
    "sampling_plan_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("plan_id", BigInteger, ForeignKey("sampling_plans.id"), nullable=False),
    Column("item", String(100), nullable=False, comment="监测项目, e.g. 化学需氧量"),
    Column("container", String(100), nullable=False, comment="容器, e.g. 500 mL 玻璃瓶"),
    Column(
        "preservation",
        String(200),
        nullable=False,
        default="",
        comment="保存要求 of the method (the preservative actually added is entered on site)",
    ),
    Column("quantity", Integer, nullable=False, comment="containers planned"),
    Index("ix_sampling_plan_items_plan", "plan_id"),
)

samples = Table(
    "samples",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("code", String(48), nullable=False, unique=True, comment="样品唯一性标识码"),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("issue_day", Date, nullable=False, comment="China day the code was issued"),
    Column("seq", Integer, nullable=False, comment="the code's sequence that day"),
    Column("plan_id", BigInteger, ForeignKey("sampling_plans.id"), nullable=True),
    Column("plan_item_id", BigInteger, ForeignKey("sampling_plan_items.id"), nullable=True),
    Column("self_delivered", Boolean, nullable=False, comment="自送样品: custody starts at hand-over"),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=True),
    Column("client_name", String(200), nullable=False, default="", comment="self-delivered: who brought it"),
    Column("point_name", String(200), nullable=False),
    Column("item", String(100), nullable=False),
    Column("container", String(100), nullable=False, default=""),
    # the on-site facts (WZ-A2-6), written once with the code
    Column("sampled_at", UtcDateTime, nullable=True, comment="采样时间 (device time of the entry)"),
    Column("sampler_staff_id", Integer, ForeignKey("agency_staff.id"), nullable=True, comment="采样人员"),
    Column("appearance", String(200), nullable=False, default="", comment="样品性状"),
    Column("preservative", String(200), nullable=False, default="", comment="固定剂 added"),
    # projection of custody_events
    Column("state", String(16), nullable=False),
    Column("prints", Integer, nullable=False, comment="labels printed: 1 original + reprints"),
    Column(
        "needs_review", Boolean, nullable=False, comment="an entry flagged (offline, clock) not yet reviewed"
    ),
    Column("last_seq", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column(
        "entry_id",
        String(64),
        nullable=True,
        comment="the phone's own id of the on-site entry: an entry sent twice (offline sync) registers once",
    ),
    UniqueConstraint("agency_id", "issue_day", "seq", name="uq_samples_agency_day_seq"),
    UniqueConstraint("entry_id", name="uq_samples_entry_id"),
    Index("ix_samples_agency_state", "agency_id", "state"),
    Index("ix_samples_plan", "plan_id"),
    Index("ix_samples_enterprise", "enterprise_id", "sampled_at"),
)

custody_events = Table(
    "custody_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sample_id", BigInteger, ForeignKey("samples.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("event", String(24), nullable=False, comment="sampling.custody.EVENTS"),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(100), nullable=False, comment="account that recorded it"),
    Column("staff_id", Integer, ForeignKey("agency_staff.id"), nullable=True, comment="the person acting"),
    Column("at", UtcDateTime, nullable=False, comment="server time of recording"),
    Column("device_at", UtcDateTime, nullable=True, comment="the phone's own time of the entry"),
    Column("latitude", ExactDecimal, nullable=True),
    Column("longitude", ExactDecimal, nullable=True),
    Column("distance_m", Integer, nullable=True, comment="from the sampling point, for field entries"),
    Column("offline", Boolean, nullable=False, comment="captured offline, synced later"),
    Column(
        "check_result",
        String(16),
        nullable=True,
        comment="seal and label check: intact | abnormal | damaged | missing",
    ),
    Column("seal_no", String(64), nullable=True, comment="封条编号, when the seal has one"),
    Column("details", JSON, nullable=False, comment="event facts: preservation, review outcome, label size…"),
    Column("flags", JSON, nullable=False, comment="review flags raised by this entry (offline, clock_skew)"),
    Column("photo_sha256", String(64), nullable=True, comment="blob store"),
    Column("video_sha256", String(64), nullable=True, comment="blob store: reprint video (WZ-A2-8)"),
    Column("note", Text, nullable=False, default=""),
    UniqueConstraint("sample_id", "seq", name="uq_custody_events_sample_seq"),
    Index("ix_custody_events_at", "at"),
)

sample_code_days = Table(
    "sample_code_days",
    metadata,
    Column("agency_id", Integer, ForeignKey("agencies.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("issued", Integer, nullable=False, comment="codes issued that day; the next gets issued + 1"),
)
