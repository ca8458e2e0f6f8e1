"""The sans-I/O in-flight window: ack matching, timeouts, resends, the cursor (exhaustive small cases)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envwatch.hj212 import encode
from envwatch.ingest.upstream.window import Item, LinkDown, State, Window, flag_of

AT = datetime(2026, 11, 30, tzinfo=UTC)


def packet(n: int, *, flag: int = 5, qn: str | None = None, pno: int | None = None) -> Item:
    qn = qn or f"2026113010000{n:04d}"
    header = {"QN": qn, "ST": "31", "CN": "2061", "PW": "123456", "MN": "M1", "Flag": str(flag)}
    if pno is not None:
        header.update({"PNUM": "2", "PNO": str(pno)})
    return Item(id=n, received_at=AT, raw=encode(header, {"DataTime": "20261130100000"}), mn="M1", qn=qn)


def window(size: int = 4, retries: int = 2, acks: bool = True) -> Window:
    return Window(size=size, timeout=10.0, retries=retries, acks=acks)


def test_cursor_moves_over_done_prefix_only_and_skips_others() -> None:
    w = window()
    w.offer(packet(1))
    w.offer(Item(id=2, received_at=AT))  # not for this upstream: done at once
    w.offer(packet(3))
    w.offer(packet(4, flag=4))  # no A bit: done once written
    sent = [w.next_to_send(0.0) for _ in range(4)]
    assert [i.id if i else None for i in sent] == [1, 3, 4, None]
    assert w.advance() is None  # 1 awaits its 9014
    assert w.ack("M1", packet(3).qn) is not None
    assert w.advance() is None
    assert w.ack("M1", packet(1).qn) is not None
    assert w.advance() == 4 and w.cursor == 4 and w.pending == 0


def test_window_size_bounds_what_awaits_an_ack() -> None:
    w = window(size=2)
    for n in range(1, 5):
        w.offer(packet(n))
    assert w.next_to_send(0) is not None and w.next_to_send(0) is not None
    assert w.next_to_send(0) is None and w.awaiting == 2
    w.ack("M1", packet(1).qn)
    assert w.next_to_send(0).id == 3  # type: ignore[union-attr]


def test_split_parts_share_a_qn_and_are_answered_in_order() -> None:
    w = window()
    w.offer(packet(1, flag=7, qn="Q", pno=1))
    w.offer(packet(2, flag=7, qn="Q", pno=2))
    w.next_to_send(0)
    w.next_to_send(0)
    assert w.ack("M1", "Q").id == 1  # type: ignore[union-attr]
    assert w.ack("M1", "Q").id == 2  # type: ignore[union-attr]
    assert w.ack("M1", "Q") is None  # a late duplicate answer matches nothing
    assert w.ack("M2", "Q") is None
    assert w.advance() == 2


def test_timeouts_resend_then_link_down_and_reset_requeues() -> None:
    w = window(retries=2)
    w.offer(packet(1))
    w.offer(packet(2))
    w.next_to_send(0.0)
    w.next_to_send(1.0)
    assert w.next_deadline() == 10.0
    assert w.expired(9.9) == []
    assert [i.id for i in w.expired(10.0)] == [1]
    assert [i.id for i in w.expired(11.0)] == [2]
    assert [i.id for i in w.expired(20.0)] == [1]  # second resend of 1
    with pytest.raises(LinkDown, match="raw packet 1"):
        w.expired(30.0)
    w.reset()
    assert all(i.state is State.QUEUED and i.tries == 0 for i in w) and w.awaiting == 0
    assert w.next_to_send(31.0).id == 1  # type: ignore[union-attr]


def test_without_acks_every_packet_is_done_once_written() -> None:
    w = window(acks=False)
    w.offer(packet(1))
    item = w.next_to_send(0)
    assert item is not None and not item.wants_ack and w.advance() == 1


def test_ids_must_increase() -> None:
    w = window()
    w.offer(packet(2))
    with pytest.raises(ValueError):
        w.offer(packet(2))


def test_flag_of_plain_and_encrypted() -> None:
    assert flag_of(packet(1, flag=9).raw or b"") == 9
    key = b"0" * 16
    raw = encode({"QN": "1", "ST": "31", "CN": "2011", "MN": "M", "Flag": "9"}, {"a": "b" * 40}, sm4_key=key)
    assert b"{0x" in raw and flag_of(raw) == 9
    assert flag_of(b"##0010QN=1;CP=&&&&\r\n") is None


@given(st.binary(max_size=300))
def test_flag_of_survives_any_bytes(data: bytes) -> None:
    value = flag_of(data)
    assert value is None or value >= 0
