"""Tables of the periodic reports and the certification evidence pack (issue 9).

- ``report_files``: one generated periodic report (日报/月报/季报/年报): its period, whom it covers
  (region, enterprise, operator or everything), the stored xlsx and PDF (blob store, SHA-256), the figures
  it shows (JSON, so a page can show them without opening the files) and whether the schedule or a person
  asked for it. Append-only: a regenerated report is a new row; the newest of a (period, scope) wins.
- ``certification_packs``: each certification evidence pack (认证证据包, CS-5/6) made: operator, period,
  the zip's SHA-256 and size. The zip itself is rebuilt from the data on demand; its hash recorded here
  shows that the same data gives the same bytes. Append-only.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, ForeignKey, Index, Integer, String, Table

from envwatch.core.db import BigId, UtcDateTime, metadata

report_files = Table(
    "report_files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("period_kind", String(8), nullable=False, comment="day | month | quarter | year"),
    Column("first_day", Date, nullable=False, comment="first China day of the period"),
    Column("last_day", Date, nullable=False, comment="last China day of the period"),
    Column("scope_kind", String(12), nullable=False, comment="all | region | enterprise | operator"),
    Column("scope_ref", String(20), nullable=False, comment="region code or id; '' for all"),
    Column("xlsx_sha256", String(64), nullable=False),
    Column("pdf_sha256", String(64), nullable=False),
    Column("figures", JSON, nullable=False),
    Column("trigger", String(12), nullable=False, comment="schedule | demand"),
    Column("generated_by", String(100), nullable=False),
    Column("generated_at", UtcDateTime, nullable=False),
    Index("ix_report_files_period", "period_kind", "first_day", "scope_kind", "scope_ref"),
)

certification_packs = Table(
    "certification_packs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("made_by", String(100), nullable=False),
    Column("made_at", UtcDateTime, nullable=False),
    Index("ix_certification_packs_operator", "operator_id", "first_day"),
)

APPEND_ONLY = ("report_files", "certification_packs")
