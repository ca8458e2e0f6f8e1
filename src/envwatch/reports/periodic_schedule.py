"""Which periodic reports are due, and one scheduled round making them (定期报告 自动生成).

For each kind in the setting ``report_schedule`` (day, month, quarter, year), the last *complete* period of
that kind before ``now`` (China calendar) is due for scope ``all`` unless a ``report_files`` row of that
period and scope exists (made by the schedule or by a person); likewise for each region at
``report_schedule_regions`` digits (2 province, 4 city, 6 county; 0 = none) that has enterprises. A round
makes what is due and nothing else, so a second round right after makes nothing (idempotent); a day the
server was down is not made up later (ask for it on demand).

``schedule_round`` is what the ``serve`` loop calls; each report is made on its own (its own transaction),
and one that fails is named in the round's summary without stopping the others.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from envwatch.core.blobs import BlobStore
from envwatch.core.settings import Settings
from envwatch.registry.schema import enterprises
from envwatch.reports.periodic_period import PERIOD_KINDS, Period, ReportScope, check_kind, last_complete
from envwatch.reports.periodic_store import exists, generate

log = logging.getLogger(__name__)
SCHEDULER = "schedule"


def scheduled_regions(conn: Connection, digits: int) -> list[str]:
    """The region prefixes (``digits`` long) that hold at least one enterprise, sorted."""
    if digits not in (2, 4, 6):
        return []
    codes = conn.execute(select(enterprises.c.region_code).distinct()).scalars()
    return sorted({code[:digits] for code in codes if code and len(code) >= digits})


def due_reports(conn: Connection, settings: Settings, now: datetime) -> list[tuple[Period, ReportScope]]:
    """The (period, scope) pairs a round at ``now`` would make, by kind (day first) then scope."""
    kinds = [check_kind(k) for k in settings.report_schedule]
    scopes = [ReportScope("all")]
    scopes += [ReportScope("region", r) for r in scheduled_regions(conn, settings.report_schedule_regions)]
    due = []
    for kind in sorted(set(kinds), key=PERIOD_KINDS.index):
        period = last_complete(kind, now)
        due += [(period, scope) for scope in scopes if not exists(conn, period, scope)]
    return due


def schedule_round(engine: Engine, settings: Settings, store: BlobStore, now: datetime) -> str | None:
    """Make every due report; a one-line summary, or None when nothing was due."""
    with engine.connect() as conn:
        due = due_reports(conn, settings, now)
    if not due:
        return None
    made, failed = [], []
    for period, scope in due:
        name = f"{period.kind} {period.label} {scope.label}"
        try:
            row = generate(engine, settings, store, period, scope, trigger="schedule", by=SCHEDULER, now=now)
        except Exception as exc:  # one report's failure must not stop the round: named in the summary
            log.exception("periodic report %s failed", name)
            failed.append(f"{name} ({exc})")
            continue
        made.append(f"{name} #{row['id']}")
    summary = f"periodic reports made: {len(made)}" + (f" ({', '.join(made)})" if made else "")
    if failed:
        summary += f"; failed: {len(failed)} ({', '.join(failed)})"
    return summary
