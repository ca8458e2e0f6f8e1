"""Raw HJ 212 packets in the evidence log: one ``raw_batch`` entry per committed writer transaction.

The digest is recomputed here from its definition (not with the module's own function), on SQLite and
PostgreSQL (ids from a sequence there), in-process (``BatchApplier``) and through the writer process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Connection, Engine, select

from envwatch.evidence.sources import recheck
from envwatch.ingest.raw_evidence import id_runs
from envwatch.ingest.schema import raw_packets
from envwatch.ingest.store import FrameOutcome, InboundFrame
from envwatch.ingest.writer_child import BatchApplier, frame_to_wire
from tests.evidence.test_wiring_support import Entry, entries, recheck_all, remove, tamper
from tests.helpers import GAS_MN, NOW, register_demo_devices
from tests.ingest.test_store import frame, write

CLOCK = NOW + timedelta(seconds=3)


def applier(engine: Engine) -> BatchApplier:
    made = BatchApplier(engine)
    made.store.evidence.clock = lambda: CLOCK
    return made


def frames(device_id: int, n: int, start: int = 0) -> list[InboundFrame]:
    return [
        replace(
            frame(device_id, {"a21026": str(i)}, data_time=f"202611221{i // 60 % 10}{i % 60:02d}00"),
            raw=f"##frame {i}\r\n".encode(),
            qn=str(i),
        )
        for i in range(start, start + n)
    ]


def packet_ids(outcomes: Sequence[object]) -> list[int]:
    ids = []
    for outcome in outcomes:
        assert isinstance(outcome, FrameOutcome) and outcome.packet_id is not None
        ids.append(outcome.packet_id)
    return ids


def digest_of(conn: Connection, ids: list[int]) -> str:
    """SHA-256 over (id as 8 bytes big-endian ‖ SHA-256 of the stored bytes) in id order."""
    digest = hashlib.sha256()
    query = (
        select(raw_packets.c.id, raw_packets.c.raw)
        .where(raw_packets.c.id.in_(ids))
        .order_by(raw_packets.c.id)
    )
    for packet_id, raw in conn.execute(query):
        digest.update(packet_id.to_bytes(8, "big") + hashlib.sha256(bytes(raw)).digest())
    return digest.hexdigest()


def check_batch(conn: Connection, entry: Entry, ids: list[int]) -> None:
    assert entry.kind == "raw_batch" and entry.submitted_at == CLOCK
    assert entry.ref == f"raw_packets/{min(ids)}-{max(ids)}"
    assert entry.payload == {"ids": id_runs(ids), "count": len(ids), "sha256": digest_of(conn, ids)}


def test_one_entry_per_committed_batch(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    writer = applier(engine)
    first = writer.apply([("f", frame_to_wire(f)) for f in frames(dev, 5)])
    # a statement between frames: still one transaction, one entry for all its packets
    second = writer.apply(
        [("f", frame_to_wire(f)) for f in frames(dev, 2, 10)]
        + [("s", ("UPDATE device_status SET online = FALSE", ()))]
        + [("f", frame_to_wire(f)) for f in frames(dev, 3, 20)]
    )
    writer.apply([("s", ("SELECT 1", ()))])  # no packet: no entry
    with engine.connect() as conn:
        made = entries(conn)
        assert len(made) == 2
        check_batch(conn, made[0], packet_ids(first))
        check_batch(conn, made[1], packet_ids([o for o in second if o is not None]))
        assert made[1].payload["count"] == 5
        assert recheck_all(conn) == []


def test_a_failed_batch_leaves_no_entry_and_its_retries_have_their_own(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    good, poison = frames(dev, 2)
    poison = replace(poison, device_id=dev + 1000)  # no such device: the batch fails, then item by item
    outcomes = applier(engine).apply([("f", frame_to_wire(good)), ("f", frame_to_wire(poison))])
    with engine.connect() as conn:
        made = entries(conn)
        stored = list(
            conn.execute(select(raw_packets.c.id, raw_packets.c.verdict).order_by(raw_packets.c.id))
        )
    assert [v for _i, v in stored] == ["ok", "store_failed"]  # the poison kept raw, alone
    assert packet_ids(outcomes) == [i for i, _v in stored]
    # the first try rolled back with its entry; each retry committed one packet and one entry
    assert [e.payload["ids"] for e in made] == [[[stored[0][0]] * 2], [[stored[1][0]] * 2]]
    with engine.connect() as conn:
        assert recheck_all(conn) == []


def test_recheck_finds_changed_and_removed_packets(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    outcomes = applier(engine).apply([("f", frame_to_wire(f)) for f in frames(dev, 6)])
    ids = packet_ids(outcomes)
    with engine.connect() as conn:
        (entry,) = entries(conn)
    tamper(engine, raw_packets, ids[2], verdict="bad_crc")  # not what the batch digest covers
    with engine.connect() as conn:
        assert recheck(conn, entry.kind, entry.ref, entry.payload) == []
    tamper(engine, raw_packets, ids[2], raw=b"##frame 9\r\n")
    with engine.connect() as conn:
        (line,) = recheck(conn, entry.kind, entry.ref, entry.payload)
    assert line.startswith(f"{entry.ref}: the stored bytes no longer match the logged digest (logged ")
    remove(engine, raw_packets, ids[3])
    remove(engine, raw_packets, ids[4])
    with engine.connect() as conn:
        assert recheck(conn, entry.kind, entry.ref, entry.payload) == [
            f"{entry.ref}: 2 of 6 packets missing: raw_packets/{ids[3]}-{ids[4]}"
        ]


def test_the_writer_process_logs_its_batches(sqlite_engine: Engine) -> None:
    dev = register_demo_devices(sqlite_engine)[GAS_MN]
    outcomes = write(sqlite_engine, *frames(dev, 20))
    assert all(o.committed for o in outcomes)
    with sqlite_engine.connect() as conn:
        made = entries(conn, kind="raw_batch")
        covered = sorted(i for e in made for first, last in e.payload["ids"] for i in range(first, last + 1))
        assert covered == sorted(packet_ids(outcomes))  # each packet once
        assert recheck_all(conn) == []
