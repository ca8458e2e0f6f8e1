"""Tables of the evidence context (证据存证): the Merkle log, video records (视频记录) and self-inspection.

The log (RFC 9162 style, ``evidence.merkle`` for the hashing and proofs):

- ``evidence_leaves``: leaf *i* of the tree is entry ``entry_id``; ``leaf_hash`` = SHA-256(0x00 ‖ body).
  Leaf indices are 0, 1, 2, … without gaps, given by one sequencer at a time (``evidence.log``).
- ``evidence_nodes``: the hash of every *perfect* subtree the tree has completed: level ``k``, index ``j``
  covers leaves ``j·2^k … (j+1)·2^k − 1`` (level 0 are the leaf hashes). Any root or proof is assembled from
  O(log² n) of these rows, so proofs never walk the leaves.
- ``evidence_checkpoints``: signed tree heads (C2SP tlog-checkpoint as a signed note, Ed25519): the tree of
  ``tree_size`` leaves had root ``root_hash``. ``evidence_timestamps``: RFC 3161 tokens over checkpoints.
- ``evidence_verify_runs``: each run of ``envwatch evidence verify`` and what it found.

Video (WZ-A1): ``video_uploads`` are resumable upload sessions (tus; not evidence until finished, the only
table here whose rows may be removed once expired); ``video_records`` is one finished recording with its
metadata; ``video_record_links`` the sample codes and staff it shows (for search); ``video_annotations``
text notes added later (文字注释). ``self_inspection_*``: the monthly random draw of an agency's video
records for review (自查, WZ-A1-14) and the outcomes. ``storage_checks``: periodic capacity checks (WZ-A1-13).

Everything except ``video_uploads`` is append-only (the migration installs the triggers).
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
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from envwatch.core.db import BigId, ExactDecimal, UtcDateTime, metadata

evidence_leaves = Table(
    "evidence_leaves",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_id", BigInteger, ForeignKey("evidence_entries.id"), nullable=False, unique=True),
    Column("leaf_hash", String(64), nullable=False),
    Column("integrated_at", UtcDateTime, nullable=False),
)

evidence_nodes = Table(
    "evidence_nodes",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("node_index", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("level", "node_index"),
)

evidence_checkpoints = Table(
    "evidence_checkpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("note", Text, nullable=False, comment="the signed note exactly as published"),
    Column("key_name", String(200), nullable=False, comment="signer name + key id of the signature"),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_evidence_checkpoints_size", "tree_size"),
)

evidence_timestamps = Table(
    "evidence_timestamps",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checkpoint_id", BigInteger, ForeignKey("evidence_checkpoints.id"), nullable=False),
    Column("tsa_url", String(500), nullable=False),
    Column("token", LargeBinary, nullable=False, comment="RFC 3161 TimeStampToken (DER)"),
    Column("gen_time", UtcDateTime, nullable=False, comment="the TSA's time in the token"),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_evidence_timestamps_checkpoint", "checkpoint_id"),
)

evidence_verify_runs = Table(
    "evidence_verify_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("blobs_checked", BigInteger, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column(
        "problems", JSON, nullable=False, comment="[{what, where, detail}], capped; count in problem_count"
    ),
    Column("problem_count", Integer, nullable=False),
    Column("run_by", String(100), nullable=False),
)

video_uploads = Table(
    "video_uploads",
    metadata,
    Column("id", String(36), primary_key=True, comment="tus upload id (uuid4)"),
    Column("length", BigInteger, nullable=False, comment="Upload-Length: the whole file's size"),
    Column("meta", JSON, nullable=False, comment="Upload-Metadata as sent (file name, type)"),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

video_records = Table(
    "video_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("upload_id", String(36), nullable=True, unique=True, comment="the tus upload it came from"),
    Column("blob_sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column(
        "stage", String(30), nullable=False, comment="evidence.video_stages: 领用/采样/保存运输/交接/分析"
    ),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("enterprise_id", Integer, ForeignKey("enterprises.id"), nullable=True),
    Column("plan_id", BigInteger, ForeignKey("sampling_plans.id"), nullable=True),
    Column("recorded_start", UtcDateTime, nullable=False),
    Column("recorded_end", UtcDateTime, nullable=False),
    Column("latitude", ExactDecimal, nullable=True, comment="WGS-84, when no landmark is filmed"),
    Column("longitude", ExactDecimal, nullable=True),
    Column(
        "landmark", String(200), nullable=False, default="", comment="标志性建筑物 filmed before sampling"
    ),
    Column("device_numbers", JSON, nullable=False, comment="设备编号 shown in the video"),
    Column("annotation", Text, nullable=False, default="", comment="文字注释 given at upload"),
    Column("uploaded_by", String(100), nullable=False),
    Column("archived_at", UtcDateTime, nullable=False, comment="server time it was stored (WZ-A1-13, 72 h)"),
    Index("ix_video_records_agency", "agency_id", "recorded_start"),
    Index("ix_video_records_enterprise", "enterprise_id", "recorded_start"),
    Index("ix_video_records_stage", "stage", "recorded_start"),
    Index("ix_video_records_blob", "blob_sha256"),
)

video_record_links = Table(
    "video_record_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("video_id", BigInteger, ForeignKey("video_records.id"), nullable=False),
    Column("kind", String(20), nullable=False, comment="sample (a sample code) | staff (agency_staff id)"),
    Column("value", String(100), nullable=False),
    Index("ix_video_record_links_value", "kind", "value"),
    Index("ix_video_record_links_video", "video_id"),
)

video_annotations = Table(
    "video_annotations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("video_id", BigInteger, ForeignKey("video_records.id"), nullable=False),
    Column("at_second", Integer, nullable=True, comment="where in the video, when about a moment"),
    Column("text", Text, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_video_annotations_video", "video_id"),
)

self_inspection_draws = Table(
    "self_inspection_draws",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("month", Date, nullable=False, comment="first day of the China month drawn from"),
    Column("seed", String(64), nullable=False, comment="the random seed: anyone can redo the draw"),
    Column("population", Integer, nullable=False, comment="video records of the month at draw time"),
    Column("drawn_by", String(100), nullable=False),
    Column("drawn_at", UtcDateTime, nullable=False),
    UniqueConstraint("agency_id", "month"),
)

self_inspection_items = Table(
    "self_inspection_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("draw_id", BigInteger, ForeignKey("self_inspection_draws.id"), nullable=False),
    Column("video_id", BigInteger, ForeignKey("video_records.id"), nullable=False),
    UniqueConstraint("draw_id", "video_id"),
)

self_inspection_outcomes = Table(
    "self_inspection_outcomes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", BigInteger, ForeignKey("self_inspection_items.id"), nullable=False),
    Column("outcome", String(20), nullable=False, comment="ok | problem"),
    Column("note", Text, nullable=False, default=""),
    Column("reviewed_by", String(100), nullable=False),
    Column("reviewed_at", UtcDateTime, nullable=False),
    Index("ix_self_inspection_outcomes_item", "item_id"),
)

storage_checks = Table(
    "storage_checks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checked_at", UtcDateTime, nullable=False),
    Column("target", String(200), nullable=False, comment="what was measured: the blob root or the bucket"),
    Column("total_bytes", BigInteger, nullable=True),
    Column("used_bytes", BigInteger, nullable=False),
    Column("free_bytes", BigInteger, nullable=True),
    Column("level", String(10), nullable=False, comment="ok | warn | critical (settings thresholds)"),
)

APPEND_ONLY = (
    "evidence_leaves",
    "evidence_nodes",
    "evidence_checkpoints",
    "evidence_timestamps",
    "evidence_verify_runs",
    "video_records",
    "video_record_links",
    "video_annotations",
    "self_inspection_draws",
    "self_inspection_items",
    "self_inspection_outcomes",
    "storage_checks",
)
