"""``envwatch evidence verify`` (存证核验): re-check everything and name exactly what is missing or changed.

One run checks, streaming in id order and in pages (the log may hold millions of entries):

- the Merkle log (``evidence.verify_tree``): each entry body against its leaf, gap-free leaf indices, every
  ``evidence_nodes`` row against its recomputed children, every checkpoint's signature (platform key), root
  and consistency with the one before;
- each entry's columns (``kind``, ``ref``, ``submitted_at``) against its body, and entries still without a
  leaf after a grace period (the sequencer stopped?);
- each entry's *source* (``evidence.sources.recheck``): the row or batch it logged still equals the copy;
- each stored file (``blob_records``): re-hashed by the blob store, SHA-256 and SM3 (``BlobStore.verify``);
- stored RFC 3161 tokens of checkpoints (``evidence.timestamps.verify_stored``).

Each problem is typed (:class:`Problem`: what, where, detail). The run is recorded in
``evidence_verify_runs`` (problems capped at :data:`MAX_PROBLEMS`, with the full count) and that row is itself
submitted to the log (kind ``verify_run``), so the audit trail of verification is tamper-evident too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from envwatch.core.blobs import BlobStore
from envwatch.core.evidence import submit_row, utc_text
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import keys
from envwatch.evidence.schema import evidence_leaves, evidence_timestamps, evidence_verify_runs
from envwatch.evidence.sources import recheck as sources_recheck
from envwatch.evidence.timestamps import verify_stored
from envwatch.evidence.verify_tree import TreeCheck

MAX_PROBLEMS = 1000
"""Problems kept in a run's record and report; the count goes on (a wrecked store does not flood it)."""
PAGE = 1000
GRACE_RUNS = 10
"""An entry without a leaf after this many sequencer intervals (at least a minute) is reported."""

Progress = Callable[[str, int, int], None]
"""``(phase, done, total)``: phases tree, checkpoints, entries, blobs, timestamps."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing found wrong: ``what`` (a code such as ``blob_changed``), ``where`` (table/id and position),
    ``detail`` (what was expected and what was found)."""

    what: str
    where: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"what": self.what, "where": self.where, "detail": self.detail}

    def line(self) -> str:
        return f"{self.what}: {self.where}: {self.detail}"


@dataclass(slots=True)
class VerifyReport:
    """What one run checked (``counts``) and found (``problems``, capped; ``problem_count``, all)."""

    started_at: datetime
    finished_at: datetime | None = None
    tree_size: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    run_id: int | None = None
    entry_id: int | None = None
    on_problem: Callable[[Problem], None] | None = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, what: str, where: str, detail: str) -> None:
        problem = Problem(what, where, detail)
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        if self.on_problem is not None:  # the CLI prints every problem, past the cap too
            self.on_problem(problem)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started_at": utc_text(self.started_at),
            "finished_at": utc_text(self.finished_at) if self.finished_at else None,
            "tree_size": self.tree_size,
            "counts": self.counts,
            "problem_count": self.problem_count,
            "problems": [p.as_dict() for p in self.problems],
            "run_id": self.run_id,
            "entry_id": self.entry_id,
        }


def grace(settings: Settings) -> timedelta:
    return timedelta(seconds=max(60.0, GRACE_RUNS * settings.evidence_integrate_every_s))


def verify(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    progress: Progress | None = None,
    blobs: bool = True,
    sources: bool = True,
    run_by: str = "cli",
    on_problem: Callable[[Problem], None] | None = None,
) -> VerifyReport:
    """Re-check the whole evidence store (module docstring); record the run and log it. ``on_problem`` sees
    every problem as it is found (the report keeps the first :data:`MAX_PROBLEMS`)."""
    clock = time.monotonic()
    report = VerifyReport(started_at=now, on_problem=on_problem)
    with engine.connect() as conn:
        top_entry = int(conn.execute(select(func.max(evidence_entries.c.id))).scalar() or 0)
    tree = TreeCheck(report.add, progress)
    report.tree_size = tree.check_tree(engine)
    report.counts["leaves"] = report.tree_size
    report.counts["checkpoints"] = tree.check_checkpoints(engine, keys.public_vkey(settings))
    report.counts["entries"] = _check_entries(engine, settings, now, top_entry, report, progress, sources)
    report.counts["nodes"] = tree.nodes_checked
    report.counts["blobs"] = _check_blobs(engine, settings, report, progress) if blobs else 0
    report.counts["timestamps"] = _check_timestamps(engine, settings, report)
    report.finished_at = now + timedelta(seconds=time.monotonic() - clock)
    _record(engine, report, run_by)
    return report


def _check_entries(
    engine: Engine,
    settings: Settings,
    now: datetime,
    top: int,
    report: VerifyReport,
    progress: Progress | None,
    sources: bool,
) -> int:
    """Columns against body, pending entries past the grace period, and (``sources``) each source row."""
    recheck = sources_recheck if sources else None
    e = evidence_entries.c
    late = now - grace(settings)
    done, last = 0, 0
    with engine.connect() as conn:
        while last < top:
            rows = conn.execute(
                select(e.id, e.kind, e.ref, e.body, e.submitted_at, evidence_leaves.c.leaf_index)
                .select_from(evidence_entries.outerjoin(evidence_leaves, evidence_leaves.c.entry_id == e.id))
                .where(e.id > last, e.id <= top)
                .order_by(e.id)
                .limit(PAGE)
            ).all()
            if not rows:
                break
            for row in rows:
                _check_entry(conn, row, late, report, recheck)
            done += len(rows)
            last = int(rows[-1].id)
            conn.rollback()  # one short read transaction per page
            if progress:
                progress("entries", done, top)
    return done


def _check_entry(
    conn: Connection,
    row: Any,
    late: datetime,
    report: VerifyReport,
    recheck: Callable[[Connection, str, str, Mapping[str, Any]], list[str]] | None,
) -> None:
    where = f"evidence_entries/{row.id}" + ("" if row.leaf_index is None else f" (leaf {row.leaf_index})")
    try:
        body = json.loads(row.body)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        report.add("entry_unreadable", where, f"the body is not an entry's JSON object: {exc}")
        return
    for column, logged in (("kind", body.get("kind")), ("ref", body.get("ref"))):
        if getattr(row, column) != logged:
            report.add(
                "entry_changed",
                where,
                f"column {column} is {getattr(row, column)!r}; the body says {logged!r}",
            )
    if utc_text(row.submitted_at) != body.get("submitted_at"):
        report.add(
            "entry_changed",
            where,
            f"column submitted_at is {utc_text(row.submitted_at)}; the body says {body.get('submitted_at')}",
        )
    if row.leaf_index is None and row.submitted_at < late:
        report.add(
            "entry_not_integrated",
            where,
            f"submitted {utc_text(row.submitted_at)} and still without a leaf: is the evidence sequencer running? "
            "(`envwatch evidence integrate`)",
        )
    if recheck is not None:
        payload = body.get("payload")
        payload = payload if isinstance(payload, Mapping) else {}
        for line in recheck(conn, str(body.get("kind")), str(body.get("ref")), payload):
            report.add("source_changed", f"{body.get('ref')} ({where})", line)


def _check_blobs(engine: Engine, settings: Settings, report: VerifyReport, progress: Progress | None) -> int:
    """Each distinct stored file once, against every ``blob_records`` row that names it."""
    store = BlobStore.from_settings(settings)
    b = blob_records.c
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count(func.distinct(b.sha256)))).scalar_one())
        conn.rollback()
        done, last = 0, ""
        while True:
            shas = list(
                conn.execute(
                    select(b.sha256).distinct().where(b.sha256 > last).order_by(b.sha256).limit(PAGE // 10)
                ).scalars()
            )
            if not shas:
                break
            rows = conn.execute(
                select(b.id, b.sha256, b.sm3, b.size).where(b.sha256.in_(shas)).order_by(b.id)
            ).all()
            conn.rollback()  # no transaction open while files are read
            for sha in shas:
                _check_blob(store, sha, [r for r in rows if r.sha256 == sha], report)
                done += 1
                if progress:
                    progress("blobs", done, total)
            last = shas[-1]
    return done


def _check_blob(store: BlobStore, sha: str, rows: list[Any], report: VerifyReport) -> None:
    where = ", ".join(f"blob_records/{r.id}" for r in rows) + f" (sha256 {sha})"
    recorded = {str(r.sm3) for r in rows}
    if len(recorded) > 1:
        report.add("blob_record_changed", where, f"the rows record different SM3 digests: {sorted(recorded)}")
    try:
        check = store.verify(sha, expected_sm3=min(recorded))
    except Exception as exc:  # the backend could not read it at all (S3 down, bad digest): say so, go on
        report.add("blob_unreadable", where, f"could not be re-read: {exc}")
        return
    if check.status == "missing":
        report.add("blob_missing", where, f"the file is gone from the store. {check.detail}".strip())
    elif check.status == "changed":
        report.add("blob_changed", where, check.detail or "the file no longer hashes to what was recorded")
    sizes = {int(r.size) for r in rows}
    if check.status == "ok" and check.size is not None and sizes != {check.size}:
        report.add(
            "blob_record_changed", where, f"recorded size {sorted(sizes)}, the file has {check.size} bytes"
        )


def _check_timestamps(engine: Engine, settings: Settings, report: VerifyReport) -> int:
    """Every checkpoint that has RFC 3161 tokens: each token re-verified (evidence.timestamps)."""
    done, last = 0, 0
    with engine.connect() as conn:
        while True:
            ids = list(
                conn.execute(
                    select(evidence_timestamps.c.checkpoint_id)
                    .distinct()
                    .where(evidence_timestamps.c.checkpoint_id > last)
                    .order_by(evidence_timestamps.c.checkpoint_id)
                    .limit(PAGE)
                ).scalars()
            )
            if not ids:
                break
            for checkpoint_id in ids:
                for line in verify_stored(conn, settings, int(checkpoint_id)):
                    where, _, detail = line.partition(": ")
                    report.add("timestamp", where, detail)
                done += 1
            last = int(ids[-1])
            conn.rollback()
    return done


def _record(engine: Engine, report: VerifyReport, run_by: str) -> None:
    """The run's row and its log entry (kind ``verify_run``), in one transaction."""
    assert report.finished_at is not None
    with engine.begin() as conn:
        result = conn.execute(
            insert(evidence_verify_runs).values(
                started_at=report.started_at,
                finished_at=report.finished_at,
                tree_size=report.tree_size,
                blobs_checked=report.counts.get("blobs", 0),
                ok=report.ok,
                problems=[p.as_dict() for p in report.problems],
                problem_count=report.problem_count,
                run_by=run_by,
            )
        )
        (run_id,) = result.inserted_primary_key or (None,)
        if run_id is None:  # pragma: no cover - every backend we support returns the new key
            raise RuntimeError("the database did not return the new verify run's id")
        report.run_id = int(run_id)
        report.entry_id = submit_row(
            conn, evidence_verify_runs, report.run_id, kind="verify_run", now=report.finished_at
        )


# --- the log's state, for ``envwatch evidence status`` and the /evidence page -------------------------------


def pending_entries(conn: Connection) -> int:
    """Entries submitted but not yet given a leaf (the sequencer's queue): every leaf has one entry, so the
    difference of two counts (cheaper than an anti-join over millions of entries)."""
    entries = conn.execute(select(func.count()).select_from(evidence_entries)).scalar_one()
    leaves = conn.execute(select(func.count()).select_from(evidence_leaves)).scalar_one()
    return int(entries) - int(leaves)


def last_runs(conn: Connection, limit: int = 5) -> list[dict[str, Any]]:
    """The newest verification runs, newest first, with their (capped) problems."""
    rows = conn.execute(select(evidence_verify_runs).order_by(evidence_verify_runs.c.id.desc()).limit(limit))
    return [dict(row) for row in rows.mappings()]
