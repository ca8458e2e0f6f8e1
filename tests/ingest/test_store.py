"""Storage behaviour of the raw log and measurements, on SQLite and PostgreSQL (real databases)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DatabaseError

from envwatch.ingest.schema import device_status, raw_packets
from envwatch.ingest.store import FrameOutcome, InboundFrame, PacketData
from envwatch.ingest.writer import Writer
from envwatch.monitoring.schema import measurement_conflicts, measurements
from tests.helpers import GAS_MN, NOW, register_demo_devices, stored_factors


def frame(
    device_id: int, values: dict[str, str], *, data_time: str = "20261122120000", raw: bytes = b"##x"
) -> InboundFrame:
    factors = {code: {"Rtd": v, "Flag": "N"} for code, v in values.items()}
    return InboundFrame(
        received_at=NOW,
        peer="127.0.0.1:5000",
        raw=raw,
        verdict="ok",
        device_id=device_id,
        mn=GAS_MN,
        cn="2011",
        qn="20261122120000001",
        data=PacketData({"DataTime": data_time}, factors, False),
    )


def write(engine: Engine, *frames: InboundFrame) -> list[FrameOutcome]:
    writer = Writer(engine)
    outcomes: list[FrameOutcome] = []
    for f in frames:
        f.done = outcomes.append
        writer.submit(f)
    writer.start()
    writer.stop()
    return outcomes


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())


def test_frame_is_stored_with_exact_values(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    raw = b"##0101QN=1;CN=2011\xe6\xb1\xa1\r\n"
    [out] = write(
        engine, frame(dev, {"a21026": "12345678901234.56", "a19001": "0.000000000000000001"}, raw=raw)
    )
    assert out.verdict == "ok" and out.stored == 2 and out.committed
    with engine.connect() as c:
        stored_raw = c.execute(select(raw_packets.c.raw)).scalar_one()
    vals = {r["factor"]: r["value"] for r in stored_factors(engine)}
    ts = stored_factors(engine)[0]["data_time"]
    assert vals == {"a21026": Decimal("12345678901234.56"), "a19001": Decimal("0.000000000000000001")}
    assert bytes(stored_raw) == raw
    assert ts is not None and ts.utcoffset() == timedelta(0) and ts.hour == 4  # 12:00 China time = 04:00 UTC


def test_resend_is_idempotent_and_a_changed_resend_is_a_conflict(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    first, same, changed = write(
        engine,
        frame(dev, {"a21026": "10.0", "a21002": "20.0"}),
        frame(dev, {"a21026": "10.0", "a21002": "20.0"}),
        frame(dev, {"a21026": "99.9", "a21002": "20.0"}),
    )
    assert (first.verdict, first.stored) == ("ok", 2)
    assert (same.verdict, same.stored, same.duplicates) == ("duplicate", 0, 2)
    assert (changed.verdict, changed.conflicts, changed.duplicates) == ("conflict", 1, 1)
    assert count(engine, measurements) == 1  # one record: the first packet's
    assert count(engine, raw_packets) == 3  # every frame is in the raw log
    [kept] = [r["value"] for r in stored_factors(engine) if r["factor"] == "a21026"]
    with engine.connect() as c:
        conflict = c.execute(select(measurement_conflicts)).mappings().one()
        verdicts = c.execute(select(raw_packets.c.verdict).order_by(raw_packets.c.id)).scalars().all()
    assert kept == Decimal("10.0")  # never silently overwritten
    assert conflict["stored_packet_id"] == first.packet_id and conflict["packet_id"] == changed.packet_id
    assert conflict["new_fields"]["Rtd"] == "99.9" and conflict["stored_fields"]["Rtd"] == "10.0"
    assert verdicts == ["ok", "duplicate", "conflict"]


def test_duplicates_across_batches(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    write(engine, frame(dev, {"a21026": "1"}))
    [again] = write(engine, frame(dev, {"a21026": "1"}))
    assert again.verdict == "duplicate"
    [other_time] = write(engine, frame(dev, {"a21026": "1"}, data_time="20261122120030"))
    assert other_time.verdict == "ok" and count(engine, measurements) == 2


def test_a_resend_with_more_factors_adds_them_without_touching_the_stored_ones(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    first, more, more_again = write(
        engine,
        frame(dev, {"a21026": "10.0"}),
        frame(dev, {"a21026": "10.0", "a21002": "20.0"}),
        frame(dev, {"a21026": "11.0", "a21002": "20.0", "a19001": "5"}),
    )
    assert (first.stored, more.stored, more.duplicates, more.verdict) == (1, 1, 1, "ok")
    assert (more_again.stored, more_again.duplicates, more_again.conflicts) == (1, 1, 1)
    assert more_again.verdict == "conflict"
    values = {r["factor"]: (str(r["value"]), r["packet_id"]) for r in stored_factors(engine)}
    assert values == {
        "a21026": ("10.0", first.packet_id),
        "a21002": ("20.0", more.packet_id),
        "a19001": ("5", more_again.packet_id),
    }
    assert count(engine, measurements) == 3  # part 0, 1 and 2 of one DataTime
    [again] = write(engine, frame(dev, {"a21026": "10.0", "a21002": "20.0", "a19001": "5"}))
    assert (again.verdict, again.duplicates) == ("duplicate", 3)


def test_rejected_frames_are_logged_without_measurements(engine: Engine) -> None:
    register_demo_devices(engine)
    bad = InboundFrame(
        received_at=NOW, peer="10.0.0.9:1", raw=b"garbage\x00\xff", verdict="garbage", reason="no ##"
    )
    [out] = write(engine, bad)
    assert out.verdict == "garbage" and out.committed
    assert count(engine, raw_packets) == 1 and count(engine, measurements) == 0


def test_one_bad_frame_does_not_take_the_batch_down(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    poison = frame(dev + 1000, {"a21026": "1"})  # no such device: the foreign key refuses it
    good = frame(dev, {"a21026": "2"})
    out_poison, out_good = write(engine, poison, good)
    assert out_good.verdict == "ok" and out_good.stored == 1
    assert out_poison.verdict == "store_failed" and out_poison.committed  # raw bytes kept as evidence
    assert count(engine, raw_packets) == 2 and count(engine, measurements) == 1


def test_last_seen_is_tracked(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    write(engine, frame(dev, {"a21026": "1"}))
    with engine.connect() as c:
        row = c.execute(select(device_status)).mappings().one()
    assert row["device_id"] == dev and row["online"] and row["last_seen"] == NOW


@pytest.mark.parametrize("table", ["raw_packets", "measurements"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET device_id = device_id", "DELETE FROM {t}"])
def test_evidence_tables_refuse_update_and_delete(engine: Engine, table: str, statement: str) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    write(engine, frame(dev, {"a21026": "1"}))
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
        c.execute(text(statement.format(t=table)))
    assert count(engine, measurements) == 1


def test_a_dead_writer_process_is_replaced_and_nothing_is_falsely_committed(sqlite_engine: Engine) -> None:
    dev = register_demo_devices(sqlite_engine)[GAS_MN]
    writer = Writer(sqlite_engine)
    outcomes: list[FrameOutcome] = []
    writer.start()
    first = frame(dev, {"a21026": "1"}, data_time="20261122120000")
    first.done = outcomes.append
    writer.submit(first)
    writer.flush()
    assert writer._child is not None
    writer._child.process.kill()  # the writer process dies
    writer._child.process.join(5)
    later = [frame(dev, {"a21026": "2"}, data_time=f"202611221201{s:02d}") for s in range(0, 50, 10)]
    for f in later:
        f.done = outcomes.append
        writer.submit(f)
        writer.flush()  # one batch each: the batch that meets the dead process is reported lost, not more
    writer.stop()
    assert writer.restarts == 1
    assert len(outcomes) == 6
    committed = [o for o in outcomes if o.committed]
    assert committed[0] is outcomes[0] and len(committed) >= 5
    with sqlite_engine.connect() as c:
        stored = set(c.execute(select(raw_packets.c.id)).scalars())
    assert {o.packet_id for o in committed} <= stored  # every frame reported committed is on disk


def test_a_data_packet_without_datatime_is_bad_data(engine: Engine) -> None:
    dev = register_demo_devices(engine)[GAS_MN]
    bad = frame(dev, {"a21026": "1"})
    bad.data = PacketData({}, {"a21026": {"Rtd": "1"}}, False)
    odd = frame(dev, {"a21026": "1"})
    odd.data = PacketData({"DataTime": "20261122120000"}, {"a 2;": {"Rtd": "1"}}, False)
    out_bad, out_odd = write(engine, bad, odd)
    assert (out_bad.verdict, out_odd.verdict) == ("bad_data", "bad_data")
    with engine.connect() as c:
        reasons = c.execute(select(raw_packets.c.reason).order_by(raw_packets.c.id)).scalars().all()
    assert reasons[0] == "CN 2011 data packet without DataTime" and "factor code" in reasons[1]
    assert count(engine, measurements) == 0


def _a_blocked_writer(settings, engine: Engine, n: int, *, raw: bytes, pause_s: float = 0.0):  # type: ignore[no-untyped-def]
    """A started writer with ``n`` frames submitted while another connection holds the database's write
    lock; returns (writer, outcomes, release)."""
    import sqlite3
    import time

    dev = register_demo_devices(engine)[GAS_MN]
    writer = Writer(engine)
    outcomes: list[FrameOutcome] = []
    blocker = sqlite3.connect(settings.data_dir / "envwatch.db", timeout=30, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database for a while
    writer.start()
    for i in range(n):
        f = frame(
            dev,
            {"a21026": "1"},
            data_time=f"20261122{10 + i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}",
            raw=raw,
        )
        f.done = outcomes.append
        writer.submit(f)
        if pause_s:
            time.sleep(pause_s)

    def release() -> None:
        blocker.rollback()
        blocker.close()

    return writer, outcomes, release


def test_messages_larger_than_the_pipes_both_ways_do_not_deadlock(settings, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    import threading

    # 2,000 frames of 2 kB a message (4 MB) and 2,000 outcomes an answer: both exceed a pipe's buffer, so
    # the feeder's send and the writer's answer each block until the other side reads
    writer, outcomes, release = _a_blocked_writer(settings, sqlite_engine, 6000, raw=b"#" * 2000)
    threading.Timer(0.5, release).start()
    writer.flush(timeout=60)
    writer.stop()
    assert len(outcomes) == 6000 and all(o.committed and o.verdict == "ok" for o in outcomes)


def test_at_most_two_messages_wait_for_the_writer(settings, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from envwatch.ingest.writer import MAX_MESSAGES_IN_FLIGHT

    # frames trickle in while the writer cannot commit: the feeder sends two messages, then waits for an
    # answer, and what arrives meanwhile waits in the queue to go as one message
    writer, outcomes, release = _a_blocked_writer(settings, sqlite_engine, 60, raw=b"##x", pause_s=0.005)
    child = writer._child
    assert child is not None
    with child.lock:
        in_flight = len(child.inflight)
        assert in_flight <= MAX_MESSAGES_IN_FLIGHT == 2
    assert writer.backlog == 60 and not outcomes  # nothing is answered before it is committed
    release()
    writer.flush(timeout=60)
    writer.stop()
    assert len(outcomes) == 60 and all(o.committed and o.verdict == "ok" for o in outcomes)
    assert writer.batches <= in_flight + 3  # the two sent, the rest in one or two more, the flush


def _transactions(engine: Engine) -> int:
    """Writer transactions that stored packets: each writes one raw_batch evidence entry."""
    with engine.connect() as c:
        return int(
            c.execute(text("SELECT count(*) FROM evidence_entries WHERE kind = 'raw_batch'")).scalar_one()
        )


def test_a_commit_gap_groups_a_busy_writers_frames_and_delays_no_idle_one(sqlite_engine: Engine) -> None:
    import threading
    import time

    dev = register_demo_devices(sqlite_engine)[GAS_MN]
    writer = Writer(sqlite_engine, commit_gap_s=1.0)
    writer.start()
    writer.flush()  # the writer process is up; its last transaction began now
    time.sleep(1.1)  # idle for longer than the gap
    done = threading.Event()
    first = frame(dev, {"a21026": "1"}, data_time="20261122100000")
    first.done = lambda _outcome: done.set()
    started = time.monotonic()
    writer.submit(first)
    assert done.wait(10)
    assert time.monotonic() - started < 0.8  # committed at once, not after the gap
    before = _transactions(sqlite_engine)
    outcomes: list[FrameOutcome] = []
    for i in range(6):  # frames 20 ms apart: without the gap each would be a transaction of its own
        f = frame(dev, {"a21026": "1"}, data_time=f"202611221001{i:02d}")
        f.done = outcomes.append
        writer.submit(f)
        time.sleep(0.02)
    writer.flush()
    writer.stop()
    assert len(outcomes) == 6 and all(o.committed and o.verdict == "ok" for o in outcomes)
    # the first goes at the end of the gap with the one sent beside it (two messages in flight), the
    # rest at the end of the next gap
    assert _transactions(sqlite_engine) - before <= 3
