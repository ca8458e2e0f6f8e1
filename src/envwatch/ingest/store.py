"""Storing a batch of received frames in one transaction: raw log, measurements, conflicts, last seen.

Theory of operation
-------------------
The hot path uses plain DB-API ``executemany`` with SQL written once per dialect (SQLite, PostgreSQL):
thousands of rows per second go through here and the ORM's per-row work would cost most of a core.

Idempotency without overwriting: a data packet's measurement record is inserted with ``ON CONFLICT DO
NOTHING`` on the key (device, kind, DataTime, part 0). When fewer records went in than were offered, the
ones that did not are compared with what is stored, factor by factor: the same fields → a duplicate (a
re-send or back-fill of data we have); other fields → a conflict row pointing at both packets; a factor
the stored record lacks → stored in a further part. A stored value is never replaced. Records and
conflicts point at their raw packet, so the writer hands out raw packet ids itself (``allocate_ids``).

On PostgreSQL the batch goes in by ``COPY`` (psycopg 3 ``cursor.copy``): raw packets straight into
``raw_packets``; measurement records into a temporary table, then one ``INSERT … SELECT … ORDER BY n ON
CONFLICT DO NOTHING`` that empties it, so that the first record of a key in the batch wins exactly as
with one insert per row, and the count of rows that went in is what tells the sorting-out to start.

Invariants: a frame's raw bytes are stored in the same transaction as its measurements; a frame's
verdict says what happened to it (ok / duplicate / conflict / the protocol or auth failure).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from orjson import dumps
from sqlalchemy import Engine

from envwatch.hj212 import HJ212Error
from envwatch.hj212.segment import parse_cp
from envwatch.ingest.raw_evidence import RawBatchLog
from envwatch.monitoring.records import BadDataPacket, MeasurementRecord, record_from_packet

Verdict = (
    str  # ok | duplicate | conflict | <hj212 ErrorKind value> | unknown_mn | bad_pw | bad_data | store_failed
)


class PacketData(NamedTuple):
    """The content of a data packet (CN 2011/2051/2061/2031); the writer turns it into a measurement record.

    Building rows (times, decimals) happens in the writer process, off the gateway's event loop.
    """

    cp: Mapping[str, str]
    factors: Mapping[str, Mapping[str, str]]
    backfill: bool
    cp_text: str | None = None  # the CP area still to parse (cp and factors then empty): see _record


class Refusal(NamedTuple):
    """Why a data frame gets no measurement record: its verdict and the reason."""

    verdict: Verdict
    reason: str


@dataclass
class InboundFrame:
    """One frame as the gateway saw it, waiting to be stored."""

    received_at: datetime
    peer: str
    raw: bytes
    verdict: Verdict
    device_id: int | None = None
    mn: str | None = None
    cn: str | None = None
    qn: str | None = None
    reason: str | None = None
    data: PacketData | None = None  # set on data packets of an authenticated device
    done: Callable[[FrameOutcome], None] | None = None


@dataclass(frozen=True)
class FrameOutcome:
    packet_id: int | None
    verdict: Verdict
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    error: str | None = None  # set when the frame could not be committed (do not acknowledge it)

    @property
    def committed(self) -> bool:
        return self.error is None


@dataclass
class SqlDialect:
    """How values are bound in hand-written SQL on each database."""

    name: str
    param: str
    json_param: str  # placeholder of a JSON column: the value is bound as text
    time: Callable[[datetime], Any]
    flag_true: Any = field(default=True)
    flag_false: Any = field(default=False)

    @staticmethod
    def json(m: Mapping[str, Any]) -> str:
        return orjson.dumps(m).decode()


def sql_dialect(engine: Engine) -> SqlDialect:
    if engine.dialect.name == "sqlite":
        return SqlDialect(
            name="sqlite",
            param="?",
            json_param="?",
            time=_sqlite_time,
            flag_true=1,
            flag_false=0,
        )
    return SqlDialect(name="postgresql", param="%s", json_param="%s::json", time=lambda t: t)


def _sqlite_time(moment: datetime) -> str:
    # SQLAlchemy's DateTime storage format on SQLite (core.db.SQLITE_TIME_FORMAT); isoformat is ~5x faster
    # than strftime and this runs for every stored row
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class PacketStore:
    """Writes batches of frames; used by one writer at a time (see ingest.writer)."""

    MEASUREMENT_COLUMNS = "device_id, kind, data_time, part, factors, packet_id, backfill, received_at"

    def __init__(self, engine: Engine, *, seen_every_s: float = 0.0, offline_grace_s: float = 600.0) -> None:
        self.engine = engine
        # the stored deadline of DESIGN convention 7: silent from alert_after on (alarms.offline reads it)
        self.offline_grace = timedelta(seconds=offline_grace_s)
        # last_seen is written at most this often per device (and on every change of peer): at 5,000
        # packets/s from 1,000 devices one upsert per packet cost ~10 % of the writer. Only what was
        # committed counts as written (see committed / rolled_back).
        self.seen_every = timedelta(seconds=seen_every_s)
        self._seen_written: dict[int, tuple[datetime, str]] = {}
        self._seen_pending: dict[int, tuple[datetime, str]] = {}
        self.d = sql_dialect(engine)
        # a batch's records share few DataTimes (a fleet reports on the same minutes and hours): each
        # is turned into its SQL form once
        self._data_time = functools.lru_cache(maxsize=4096)(self.d.time)
        p = self.d.param
        self.sql_raw = (
            "INSERT INTO raw_packets (id, received_at, peer, device_id, mn, cn, qn, verdict, reason, raw) "
            f"VALUES ({', '.join([p] * 10)})"
        )
        factors_param = "%s::jsonb" if self.d.name == "postgresql" else p
        self.sql_measure = (
            f"INSERT INTO measurements ({self.MEASUREMENT_COLUMNS}) "
            f"VALUES ({p}, {p}, {p}, {p}, {factors_param}, {p}, {p}, {p}) "
            "ON CONFLICT (device_id, kind, data_time, part) DO NOTHING"
        )
        self.sql_stored = (
            "SELECT part, packet_id, factors FROM measurements "
            f"WHERE device_id = {p} AND kind = {p} AND data_time = {p} ORDER BY part"
        )
        self.sql_conflict = (
            "INSERT INTO measurement_conflicts (device_id, kind, data_time, factor, packet_id, "
            f"stored_packet_id, stored_fields, new_fields, detected_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {self.d.json_param}, {self.d.json_param}, {p})"
        )
        self.sql_seen = (
            "INSERT INTO device_status (device_id, online, last_seen, last_peer, changed_at, alert_after) "
            f"VALUES ({p}, TRUE, {p}, {p}, {p}, {p}) ON CONFLICT (device_id) DO UPDATE SET "
            "online = TRUE, last_seen = excluded.last_seen, last_peer = excluded.last_peer, "
            "alert_after = excluded.alert_after, "
            "changed_at = CASE WHEN device_status.online THEN device_status.changed_at "
            "ELSE excluded.changed_at END"
        )
        columns = self.MEASUREMENT_COLUMNS
        # PostgreSQL's COPY path (see the module docstring); the temporary table lives as long as the
        # connection and is empty between batches
        self.sql_copy_raw = (
            "COPY raw_packets (id, received_at, peer, device_id, mn, cn, qn, verdict, reason, raw) FROM STDIN"
        )
        self.sql_temp = (
            "DO $$ BEGIN IF to_regclass('pg_temp.ingest_measurements') IS NULL THEN "
            "CREATE TEMPORARY TABLE ingest_measurements (n integer, device_id integer, kind text, "
            "data_time timestamptz, part smallint, factors jsonb, packet_id bigint, backfill boolean, "
            "received_at timestamptz); END IF; END $$"
        )
        self.sql_copy_measure = f"COPY ingest_measurements (n, {columns}) FROM STDIN"
        self.sql_move_measure = (
            f"WITH batch AS (DELETE FROM ingest_measurements RETURNING *) INSERT INTO measurements ({columns}) "
            f"SELECT {columns} FROM batch ORDER BY n ON CONFLICT (device_id, kind, data_time, part) DO NOTHING"
        )
        self._next_id: int | None = None
        # the evidence entry of the packets written in the open transaction (written before its commit)
        self.evidence = RawBatchLog(p, self.d.time)

    # --- ids ------------------------------------------------------------------------------------
    def allocate_ids(self, cursor: Any, n: int) -> list[int]:
        if self.d.name == "postgresql":
            cursor.execute("SELECT nextval('raw_packets_id_seq') FROM generate_series(1, %s)", (n,))
            return [r[0] for r in cursor.fetchall()]
        # SQLite: only this writer inserts raw packets (guarded by the writer lock), so max(id) read
        # once is a safe start; ids skipped by a rolled-back batch simply stay unused.
        if self._next_id is None:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM raw_packets")
            self._next_id = int(cursor.fetchone()[0]) + 1
        start = self._next_id
        self._next_id += n
        return list(range(start, start + n))

    # --- one batch ------------------------------------------------------------------------------
    def write(self, cursor: Any, frames: Sequence[InboundFrame]) -> list[FrameOutcome]:
        """Store ``frames`` with the cursor's open transaction; the caller commits."""
        d = self.d
        ids = self.allocate_ids(cursor, len(frames))
        verdicts = [f.verdict for f in frames]
        reasons = [f.reason for f in frames]
        received = [d.time(f.received_at) for f in frames]  # once: both the record and the raw row carry it
        records: list[MeasurementRecord | None] = []
        rows: list[tuple[Any, ...]] = []
        for index, (packet_id, frame) in enumerate(zip(ids, frames, strict=True)):
            record = self._record(frame)
            if isinstance(record, Refusal):
                verdicts[index], reasons[index], record = record.verdict, record.reason, None
            records.append(record)
            if record is None:
                continue
            rows.append(
                (
                    record.device_id,
                    record.kind,
                    self._data_time(record.data_time),
                    0,
                    dumps(record.factors).decode(),
                    packet_id,
                    d.flag_true if record.backfill else d.flag_false,
                    received[index],
                )
            )
        stored = [0 if r is None else len(r.factors) for r in records]
        duplicates = [0] * len(frames)
        conflicts = [0] * len(frames)
        if rows and self._insert_measurements(cursor, rows) != len(rows):
            for i, record in enumerate(records):
                if record is not None:
                    stored[i], duplicates[i], conflicts[i] = self._sort_out(cursor, ids[i], frames[i], record)
        raw_rows = []
        outcomes = []
        for i, (packet_id, frame) in enumerate(zip(ids, frames, strict=True)):
            verdict = verdicts[i]
            if verdict == "ok" and records[i] is not None:
                if conflicts[i]:
                    verdict = "conflict"
                elif duplicates[i] and not stored[i]:
                    verdict = "duplicate"
            raw_rows.append(
                (
                    packet_id,
                    received[i],
                    frame.peer,
                    frame.device_id,
                    frame.mn,
                    frame.cn,
                    frame.qn,
                    verdict,
                    reasons[i],
                    frame.raw,
                )
            )
            outcomes.append(
                FrameOutcome(
                    packet_id=packet_id,
                    verdict=verdict,
                    stored=stored[i],
                    duplicates=duplicates[i],
                    conflicts=conflicts[i],
                )
            )
        self._insert_raw(cursor, raw_rows)
        self.evidence.add(ids, [frame.raw for frame in frames])
        self._mark_seen(cursor, frames)
        return outcomes

    def _insert_raw(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.d.name != "postgresql":
            cursor.executemany(self.sql_raw, rows)
            return
        with cursor.copy(self.sql_copy_raw) as copy:
            for row in rows:
                copy.write_row(row)

    def _insert_measurements(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert the records that are not stored yet; returns how many went in."""
        if self.d.name != "postgresql":
            cursor.executemany(self.sql_measure, rows)
            return int(cursor.rowcount)
        cursor.execute(self.sql_temp)
        with cursor.copy(self.sql_copy_measure) as copy:
            for n, row in enumerate(rows):
                copy.write_row((n, *row))
        cursor.execute(self.sql_move_measure)
        return int(cursor.rowcount)

    @staticmethod
    def _record(frame: InboundFrame) -> MeasurementRecord | Refusal | None:
        """The measurement record of an ``ok`` data frame with factors, or the verdict and reason why it has
        none: ``malformed`` for a CP the gateway left unparsed that does not parse (as the gateway itself
        would have judged it), ``bad_data`` for a record that cannot be stored."""
        data = frame.data
        if data is None or frame.verdict != "ok" or frame.device_id is None or frame.cn is None:
            return None
        cp, factors = data.cp, data.factors
        if data.cp_text is not None:
            try:
                cp, factors = parse_cp(data.cp_text)
            except HJ212Error as exc:
                return Refusal(exc.kind.value, exc.reason)
        try:
            record = record_from_packet(
                device_id=frame.device_id, cn=frame.cn, cp=cp, factors=factors, backfill=data.backfill
            )
        except BadDataPacket as exc:
            return Refusal("bad_data", str(exc))
        return record if record.factors else None

    def _sort_out(
        self, cursor: Any, packet_id: int, frame: InboundFrame, record: MeasurementRecord
    ) -> tuple[int, int, int]:
        """A record that may not have gone in: the same key was stored before (or earlier in this batch).

        Returns (factors stored, duplicates, conflicts) for this packet.
        """
        d = self.d
        key = (record.device_id, record.kind, d.time(record.data_time))
        cursor.execute(self.sql_stored, key)
        parts = cursor.fetchall()
        if any(stored_packet == packet_id for _part, stored_packet, _factors in parts):
            return len(record.factors), 0, 0  # this packet's record is the one stored
        known: dict[str, tuple[int, Mapping[str, str]]] = {}  # factor → (packet, fields) first stored
        for _part, stored_packet, stored_factors in parts:
            if isinstance(stored_factors, str):
                stored_factors = json.loads(stored_factors)
            for code, fields in stored_factors.items():
                known.setdefault(code, (stored_packet, fields))
        added: dict[str, Mapping[str, str]] = {}
        duplicates = 0
        new_conflicts = []
        for code, fields in record.factors.items():
            if code not in known:
                added[code] = fields
                continue
            stored_packet, stored_fields = known[code]
            if dict(stored_fields) == dict(fields):
                duplicates += 1
                continue
            new_conflicts.append(
                (
                    *key,
                    code,
                    packet_id,
                    stored_packet,
                    d.json(stored_fields),
                    d.json(fields),
                    d.time(frame.received_at),
                )
            )
        if new_conflicts:
            cursor.executemany(self.sql_conflict, new_conflicts)
        if added:
            # factors the stored record lacks: a further part, so that nothing is lost or overwritten
            next_part = max(part for part, _packet, _factors in parts) + 1
            cursor.execute(
                self.sql_measure,
                (
                    *key,
                    next_part,
                    dumps(added).decode(),
                    packet_id,
                    d.flag_true if record.backfill else d.flag_false,
                    d.time(frame.received_at),
                ),
            )
        return len(added), duplicates, len(new_conflicts)

    def _mark_seen(self, cursor: Any, frames: Sequence[InboundFrame]) -> None:
        latest: dict[int, InboundFrame] = {}
        for frame in frames:
            # a frame that failed authentication says nothing about the registered device
            if frame.device_id is not None and frame.verdict not in ("bad_pw", "store_failed"):
                latest[frame.device_id] = frame
        due = []
        for device_id, f in latest.items():
            written = self._seen_pending.get(device_id) or self._seen_written.get(device_id)
            if written is None or written[1] != f.peer or f.received_at - written[0] >= self.seen_every:
                due.append((device_id, f))
                self._seen_pending[device_id] = (f.received_at, f.peer)
        if due:
            d = self.d
            cursor.executemany(
                self.sql_seen,
                [
                    (
                        device_id,
                        d.time(f.received_at),
                        f.peer,
                        d.time(f.received_at),
                        d.time(f.received_at + self.offline_grace),
                    )
                    for device_id, f in due
                ],
            )

    # --- the caller's transaction ---------------------------------------------------------------
    def committed(self) -> None:
        """The transaction holding the last writes was committed."""
        self._seen_written.update(self._seen_pending)
        self._seen_pending.clear()
        self.evidence.clear()

    def rolled_back(self) -> None:
        self._seen_pending.clear()
        self.evidence.clear()

    def forget_seen(self) -> None:
        """A statement may have changed device_status (marked a device offline): write the next frame's
        last_seen whatever its age, so that it sets the device online again."""
        self._seen_written.clear()
        self._seen_pending.clear()
