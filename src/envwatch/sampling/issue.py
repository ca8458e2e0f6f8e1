"""Issuing sample codes: the next sequence of an agency's China day, safely under concurrency.

One upsert bumps the day's counter and returns it (``INSERT … ON CONFLICT DO UPDATE … RETURNING``). On
PostgreSQL the conflicting row is locked until the issuing transaction ends, so two transactions issuing
for the same agency and day get consecutive numbers, never the same; SQLite has one writer at a time. A
transaction that fails later rolls its bump back with everything else, so no number is lost to an entry
that was refused. The unique constraints on ``samples`` stay the last word.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from envwatch.sampling.codes import SampleCode, new_code
from envwatch.sampling.schema import sample_code_days


def next_sequence(conn: Connection, agency_id: int, day: date) -> int:
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(sample_code_days).values(agency_id=agency_id, day=day, issued=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["agency_id", "day"], set_={"issued": sample_code_days.c.issued + 1}
    ).returning(sample_code_days.c.issued)
    return int(conn.execute(stmt).scalar_one())


def issue_code(conn: Connection, agency: dict[str, Any], day: date, random_chars: int) -> SampleCode:
    """A new code for ``agency`` (its row: region_code, code) on China day ``day``."""
    seq = next_sequence(conn, agency["id"], day)
    return new_code(agency["region_code"], agency["code"], day, seq, random_chars)
