"""Framing a byte stream: several frames per read, byte-at-a-time, garbage, oversize, truncation."""

import pytest

from envwatch.hj212 import Connection, ErrorKind, Packet, ProtocolError
from envwatch.hj212.framing import Framer, RawFrame
from tests.hj212.hj212_helpers import drain, feed, frame, kinds, load_examples, seg

A = frame(seg(QN="20240101000000001"))
B = frame(seg(QN="20240101000000002", cp="DataTime=20240101000100;w01018-Rtd=21.5,w01018-Flag=N"))
C = frame(seg(QN="20240101000000003", cp="i12001-Info=仪器正常"))  # Chinese: bytes != chars


def _qns(events: list[object]) -> list[str | None]:
    return [e.qn for e in events if isinstance(e, Packet)]


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7, 64])
def test_several_frames_any_chunking(chunk: int | None) -> None:
    events = feed(A + B + C, chunk=chunk)
    assert kinds(events) == ["packet"] * 3
    assert _qns(events) == ["20240101000000001", "20240101000000002", "20240101000000003"]
    assert [e.raw for e in events] == [A, B, C]  # type: ignore[union-attr]


def test_all_standard_examples_as_one_stream_byte_at_a_time() -> None:
    from envwatch.hj212 import DevicePolicy

    stream = b"".join(e["packet"].encode() + b"\r\n" for e in load_examples())
    policy = DevicePolicy(sm4_key=b"0" * 16)
    events = feed(stream, chunk=1, policy_for=lambda _mn: policy)
    assert kinds(events) == ["packet"] * 6


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(
            b"\r\n\r\n  " + A + b"\n\n" + B + b"\r\n", ["packet", "packet"], id="whitespace-skipped"
        ),
        pytest.param(b"hello" + A, ["garbage", "packet"], id="garbage-before"),
        pytest.param(A + b"junk\r\n" + B, ["packet", "garbage", "packet"], id="garbage-line-between"),
        pytest.param(A + b"\x00\xff\x01" + B, ["packet", "garbage", "packet"], id="binary-between"),
        pytest.param(b"#" + A, ["garbage", "packet"], id="single-hash"),
        pytest.param(b"##" + A, ["garbage", "packet"], id="double-hash-run"),
        pytest.param(
            A + b"AT+CSQ\r\nOK\r\n" + B, ["packet", "garbage", "garbage", "packet"], id="modem-chatter"
        ),
    ],
)
def test_garbage_and_whitespace(stream: bytes, expected: list[str]) -> None:
    for chunk in (None, 1):
        assert kinds(feed(stream, chunk=chunk, eof=True)) == expected


def test_garbage_event_details() -> None:
    events = feed(b"hello\x00" + A)
    error = events[0]
    assert isinstance(error, ProtocolError)
    assert error.raw == b"hello\x00" and "6 bytes" in error.reason and error.mn is None


def test_garbage_without_end_is_cut_at_max_frame_bytes() -> None:
    conn = Connection(max_frame_bytes=64)
    conn.receive_data(b"x" * 200)
    events = drain(conn)
    assert kinds(events) == ["garbage"] * 3
    assert all(len(e.raw) == 64 for e in events)  # type: ignore[union-attr]
    assert conn.buffered_bytes == 8
    conn.receive_data(b"")
    assert kinds(drain(conn)) == ["garbage"]


def test_oversize_frame_then_resync() -> None:
    big = frame(seg(cp="a-Info=" + "x" * 300))
    for chunk in (None, 1, 50):
        events = feed(big + A + b"##9999" + b"A" * 500 + b"\r\n" + B, chunk=chunk, max_frame_bytes=200)
        assert kinds(events) == ["oversize", "packet", "oversize", "packet"]
        assert len(events[0].raw) == 200  # type: ignore[union-attr]
        assert events[0].mn == "MN0001"  # type: ignore[union-attr]


def test_oversize_resyncs_on_next_frame_start_without_line_end() -> None:
    events = feed(b"##9999" + b"A" * 300 + A, max_frame_bytes=200)
    assert kinds(events) == ["oversize", "packet"]


def test_frame_of_exactly_max_frame_bytes_fits() -> None:
    assert kinds(feed(A, max_frame_bytes=len(A))) == ["packet"]
    assert kinds(feed(A + A, max_frame_bytes=len(A) - 1)) == ["oversize", "oversize"]
    assert kinds(feed(A + A, max_frame_bytes=len(A) - 1, chunk=1)) == ["oversize", "oversize"]


def test_truncated_at_eof() -> None:
    for chunk in (None, 1):
        events = feed(A + B[:80], chunk=chunk, eof=True)
        assert kinds(events) == ["packet", "truncated"]
        assert events[1].raw == B[:80] and "stream closed" in events[1].reason  # type: ignore[union-attr]
        assert events[1].mn == "MN0001"  # type: ignore[union-attr]


def test_truncated_by_a_new_frame() -> None:
    events = feed(B[:50] + A)
    assert kinds(events) == ["truncated", "packet"]
    assert events[0].raw == B[:50] and "new '##'" in events[0].reason  # type: ignore[union-attr]


def test_length_mismatch_resyncs_on_crlf() -> None:
    wrong = frame(seg(), length=200)
    for chunk in (None, 1):
        events = feed(wrong + A + frame(seg(), length=3) + B, chunk=chunk)
        assert kinds(events) == ["length_mismatch", "packet", "length_mismatch", "packet"]


def test_crlf_missing_between_frames_is_tolerated_when_length_and_crc_fit() -> None:
    for chunk in (None, 1):
        events = feed(A[:-2] + B[:-2] + C, chunk=chunk)
        assert kinds(events) == ["packet"] * 3


def test_crlf_missing_at_eof() -> None:
    assert kinds(feed(A[:-2], eof=True)) == ["packet"]
    assert kinds(feed(A[:-2], eof=False)) == []  # still waiting: it could go on


def test_crlf_missing_with_bad_length_is_truncated() -> None:
    bad = frame(seg(), length=99, end=b"")
    assert kinds(feed(bad + A)) == ["truncated", "packet"]


def test_hash_pair_inside_data_when_length_is_consistent() -> None:
    odd = frame(seg(PW="ab##cd", cp="i21001-Info=//log ## line//"))
    for chunk in (None, 1):
        events = feed(odd + A, chunk=chunk)
        assert kinds(events) == ["packet", "packet"]
        assert events[0].pw == "ab##cd"  # type: ignore[union-attr]


def test_lf_only_terminator_accepted() -> None:
    assert kinds(feed(A[:-2] + b"\n" + B)) == ["packet", "packet"]


def test_encrypted_frames_found_by_line_end_not_length() -> None:
    examples = [e for e in load_examples() if "encrypted" in e["tags"]]
    from envwatch.hj212 import DevicePolicy

    stream = b"".join(e["packet"].encode() + b"\r\n" for e in examples) + A
    policy = DevicePolicy(sm4_key=b"0" * 16)
    for chunk in (None, 1):
        assert kinds(feed(stream, chunk=chunk, policy_for=lambda _mn: policy)) == ["packet"] * 3


def test_buffered_bytes_stays_bounded() -> None:
    conn = Connection(max_frame_bytes=256)
    conn.receive_data(A[:30])
    assert conn.buffered_bytes == 30
    conn.receive_data(A[30:])
    assert conn.buffered_bytes == 0
    assert kinds(drain(conn)) == ["packet"]
    conn.receive_data(b"##0100" + b"x" * 5000)
    assert conn.buffered_bytes <= 257
    assert kinds(drain(conn)) == ["oversize"]


def test_receive_after_eof_starts_a_fresh_stream() -> None:
    conn = Connection()
    conn.receive_data(A[:10])
    conn.receive_data(b"")
    conn.receive_data(A)
    assert kinds(drain(conn)) == ["truncated", "packet"]


def test_framer_directly() -> None:
    framer = Framer(1024)
    assert framer.feed(A[:5]) == []
    assert framer.feed(A[5:] + b"  ") == [RawFrame(A)]
    assert framer.buffered_bytes == 0
    (error,) = Framer(64).feed(A)
    assert isinstance(error, ProtocolError) and error.kind is ErrorKind.OVERSIZE
    with pytest.raises(ValueError):
        Framer(4)


# --- regressions found by the hypothesis search ------------------------------------------------------


def test_garbage_line_longer_than_the_cap_is_cut_at_the_cap() -> None:
    small = b"##0010QN=1;CN=20" + b"%04X\r\n" % __import__("envwatch.hj212").hj212.crc16(b"QN=1;CN=20")
    for data in (b"y" * 64 + b"\n" + small, b"y" * 63 + b"\r\n" + small):
        for cut in (1, len(data)):
            framer = Framer(64)
            out = [c for i in range(0, len(data), cut) for c in framer.feed(data[i : i + cut])]
            assert [type(c).__name__ for c in out] == ["ProtocolError", "RawFrame"]
            assert len(out[0].raw) == 64  # type: ignore[union-attr]
            assert out[1] == RawFrame(small)


def test_long_hash_run_is_bounded_and_deterministic() -> None:
    stream = b"#" * 1000 + A
    for chunk in (None, 1, 7):
        conn = Connection(max_frame_bytes=200)
        step = chunk or len(stream)
        for start in range(0, len(stream), step):
            conn.receive_data(stream[start : start + step])
            assert conn.buffered_bytes <= 201
        events = drain(conn)
        assert kinds(events)[-1] == "packet"
        assert sum(len(e.raw) for e in events) == len(stream)  # type: ignore[union-attr]


def test_frame_start_right_at_the_cap() -> None:
    for pad in (198, 199, 200, 201):
        stream = b"x" * pad + A
        assert feed(stream, chunk=1, max_frame_bytes=200) == feed(stream, max_frame_bytes=200)
        assert kinds(feed(stream, max_frame_bytes=200))[-1] == "packet"
