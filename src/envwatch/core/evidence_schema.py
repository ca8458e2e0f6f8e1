"""The two evidence tables every context writes into (证据): stored files and submitted evidence entries.

They live in ``core`` because contexts below ``evidence`` in the import graph (``ingest``, ``monitoring``)
submit evidence too; the log that makes them tamper-evident (leaves, tree nodes, signed checkpoints) is the
``evidence`` context's own (``evidence.schema``).

- ``blob_records``: one row each time a file is stored for a purpose, with its SHA-256 and SM3, where it is
  (local path or S3 key and object version) and until when it must be kept. A file stored twice has one
  copy and two rows; the retention that applies is the latest ``retain_until`` of its rows. Append-only.
- ``evidence_entries``: one row per piece of evidence submitted to the log, written in the same transaction
  as the fact it records (a custody event, a mark, a raw-packet batch, a video record, …), so nothing is
  recorded without its entry and no entry exists for a fact that was rolled back. ``body`` is the entry's
  canonical JSON (RFC 8785), the exact bytes the Merkle leaf hashes; ``kind`` and ``ref`` repeat two of its
  fields for search. The sequencer (``evidence.log``) gives each entry its leaf later. Append-only.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from envwatch.core.db import BigId, UtcDateTime, metadata

blob_records = Table(
    "blob_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False),
    Column("sm3", String(64), nullable=False, comment="国密 SM3 of the same bytes"),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("purpose", String(40), nullable=False, comment="video, photo, attachment, reprint_video, …"),
    Column("backend", String(20), nullable=False, comment="local | s3"),
    Column("location", String(500), nullable=False, comment="path under the blob root, or s3://bucket/key"),
    Column(
        "version_id", String(200), nullable=True, comment="S3 object version (Object Lock is per version)"
    ),
    Column("retain_until", UtcDateTime, nullable=False, comment="may not be deleted before (保存期限)"),
    Column("stored_by", String(100), nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
    Index("ix_blob_records_sha256", "sha256"),
)

evidence_entries = Table(
    "evidence_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False, comment="custody_event, mark, raw_batch, video_record, …"),
    Column("ref", String(200), nullable=False, comment="what it is about, e.g. custody_events/17"),
    Column("body", Text, nullable=False, comment="canonical JSON (RFC 8785): the bytes the leaf hashes"),
    Column("submitted_at", UtcDateTime, nullable=False),
    Index("ix_evidence_entries_ref", "ref"),
    Index("ix_evidence_entries_kind", "kind", "id"),
)
