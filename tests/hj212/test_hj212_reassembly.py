"""Split messages (PNUM/PNO): parts as they arrive, MessageComplete, timeouts, bounds."""

from envwatch.hj212 import Connection, ErrorKind, MessageComplete, Packet, ProtocolError
from tests.hj212.hj212_helpers import drain, frame, kinds, seg


def part(
    pno: int, pnum: int = 3, *, qn: str = "20240101000000001", mn: str = "MN0001", cp: str | None = None
) -> bytes:
    body = cp if cp is not None else f"DataTime=20240101000000;a{pno:05d}-Avg={pno}.0,a{pno:05d}-Flag=N"
    return frame(seg(QN=qn, MN=mn, Flag="7", PNUM=str(pnum), PNO=str(pno), cp=body))


def test_parts_emitted_as_they_arrive_then_complete() -> None:
    conn = Connection()
    conn.receive_data(part(2) + part(1))
    assert kinds(drain(conn)) == ["packet", "packet"]
    assert conn.pending_messages == 1
    conn.receive_data(part(3))
    events = drain(conn)
    assert kinds(events) == ["packet", "complete"]
    done = events[1]
    assert isinstance(done, MessageComplete)
    assert (done.mn, done.qn, done.cn) == ("MN0001", "20240101000000001", "2011")
    assert [p.pno for p in done.parts] == [1, 2, 3]
    assert done.header["CN"] == "2011"
    (record,) = done.records
    assert record.data_time == "20240101000000"
    assert set(record.factors) == {"a00001", "a00002", "a00003"}
    assert conn.pending_messages == 0


def test_records_grouped_by_data_time() -> None:
    conn = Connection()
    conn.receive_data(
        part(1, 2, cp="DataTime=20240101000000;a-Avg=1")
        + part(2, 2, cp="DataTime=20240101010000;a-Avg=2;b-Avg=3")
    )
    done = drain(conn)[-1]
    assert isinstance(done, MessageComplete)
    assert [(r.data_time, dict(r.factors)) for r in done.records] == [
        ("20240101000000", {"a": {"Avg": "1"}}),
        ("20240101010000", {"a": {"Avg": "2"}, "b": {"Avg": "3"}}),
    ]


def test_duplicate_part_replaces_and_does_not_complete_early() -> None:
    conn = Connection()
    conn.receive_data(part(1) + part(1) + part(2))
    assert kinds(drain(conn)) == ["packet"] * 3
    conn.receive_data(part(3))
    assert kinds(drain(conn)) == ["packet", "complete"]


def test_messages_keyed_by_mn_qn_cn() -> None:
    conn = Connection()
    conn.receive_data(part(1, 2, qn="1") + part(1, 2, qn="2") + part(1, 2, mn="OTHER") + part(2, 2, qn="2"))
    events = drain(conn)
    assert kinds(events) == ["packet"] * 4 + ["complete"]
    assert events[-1].qn == "2"  # type: ignore[union-attr]
    assert conn.pending_messages == 2


def test_timeout_via_expire() -> None:
    conn = Connection(reassembly_timeout=10.0)
    conn.receive_data(part(1), now=100.0)
    conn.receive_data(part(3), now=105.0)
    drain(conn)
    conn.expire(114.9)  # quiet for 9.9 s since the latest part
    assert drain(conn) == []
    conn.expire(115.0)
    (error,) = drain(conn)
    assert isinstance(error, ProtocolError) and error.kind is ErrorKind.INCOMPLETE_MESSAGE
    assert "missing 2" in error.reason and "have PNO 1,3 of PNUM 3" in error.reason
    assert [p.pno for p in error.parts] == [1, 3]
    assert error.mn == "MN0001" and error.qn == "20240101000000001"
    assert conn.pending_messages == 0


def test_timeout_checked_on_receive_data() -> None:
    conn = Connection(reassembly_timeout=10.0)
    conn.receive_data(part(1), now=0.0)
    conn.receive_data(part(2), now=30.0)  # the old message expires first, then this part starts anew
    events = drain(conn)
    assert kinds(events) == ["packet", "incomplete_message", "packet"]
    assert conn.pending_messages == 1


def test_pending_messages_are_bounded() -> None:
    conn = Connection(max_pending_messages=2)
    conn.receive_data(part(1, qn="1") + part(1, qn="2") + part(1, qn="3"))
    events = drain(conn)
    assert kinds(events) == ["packet", "packet", "packet", "incomplete_message"]
    assert "evicted" in events[3].reason and events[3].qn == "1"  # type: ignore[union-attr]
    assert conn.pending_messages == 2


def test_pnum_change_restarts_the_message() -> None:
    conn = Connection()
    conn.receive_data(part(1, 3) + part(1, 2) + part(2, 2))
    # the part with the new PNUM is emitted first, then the old message is reported incomplete
    assert kinds(drain(conn)) == ["packet", "packet", "incomplete_message", "packet", "complete"]


def test_eof_reports_pending_messages() -> None:
    conn = Connection()
    conn.receive_data(part(1) + part(2))
    conn.receive_data(b"")
    events = drain(conn)
    assert kinds(events) == ["packet", "packet", "incomplete_message"]
    assert "closed" in events[-1].reason and "missing 3" in events[-1].reason  # type: ignore[union-attr]


def test_single_part_message_completes_at_once() -> None:
    conn = Connection()
    conn.receive_data(part(1, 1))
    events = drain(conn)
    assert kinds(events) == ["packet", "complete"] and isinstance(events[0], Packet)


def test_big_pnum_reason_uses_ranges() -> None:
    conn = Connection(reassembly_timeout=1.0)
    conn.receive_data(b"".join(part(n, 100) for n in range(1, 51) if n != 20))
    drain(conn)
    conn.expire(5.0)
    (error,) = drain(conn)
    assert "have PNO 1-19,21-50 of PNUM 100, missing 20,51-100" in error.reason  # type: ignore[union-attr]
