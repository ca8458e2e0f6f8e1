"""Hypothesis properties: encode -> decode round trip (incl. SM4), and no bytes ever crash Connection."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from envwatch.hj212 import (
    Connection,
    DevicePolicy,
    MessageComplete,
    Packet,
    ProtocolError,
    decode_frame,
    encode,
)
from tests.hj212.hj212_helpers import drain, load_examples

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# Values may hold anything the format allows: '#' (so '##' can appear inside data), '&', '=', '-',
# spaces, Chinese; never ';' ',' (item delimiters) or CR/LF.
VALUE_CHARS = st.sampled_from([*list("0123456789abcXYZ.-+:/ #&=_"), "故", "障", "正", "常"])
plain_values = st.text(VALUE_CHARS, max_size=12).filter(lambda v: not v.startswith("//"))
info_values = st.text(st.sampled_from(list("ab 1;,=#故")), max_size=20).map(lambda t: f"//{t}//")
values = st.one_of(plain_values, info_values)
names = st.text(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
    min_size=1,
    max_size=8,
)
codes = st.text(st.sampled_from(list("aw0123456789-")), min_size=1, max_size=7).filter(
    lambda c: not c.startswith("-")
)
header_values = st.text(st.sampled_from(list("0123456789ABCDEFabc.-#/ 故")), min_size=1, max_size=24).filter(
    lambda v: "&&" not in v
)
STANDARD = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO", "RF", "CP")


@st.composite
def headers(draw: st.DrawFn) -> dict[str, str]:
    header: dict[str, str] = {}
    if draw(st.booleans()):
        header["QN"] = draw(st.text(st.sampled_from("0123456789"), min_size=17, max_size=17))
    header["ST"] = draw(st.sampled_from(["31", "32", "22", "91", "A1"]))
    header["CN"] = draw(st.sampled_from(["2011", "2051", "2061", "9014", "9015", "1014", "3020", "1011"]))
    header["PW"] = draw(header_values)
    header["MN"] = draw(header_values)
    if draw(st.booleans()):
        header["Flag"] = str(draw(st.integers(0, 255)))
    if draw(st.booleans()):
        pnum = draw(st.integers(1, 9999))
        header["PNUM"], header["PNO"] = str(pnum), str(draw(st.integers(1, pnum)))
    if draw(st.booleans()):
        header["RF"] = "1"
    for key in draw(st.lists(names, max_size=2)):
        if key not in STANDARD:
            header[key] = draw(header_values)
    return header


cps = st.dictionaries(names.filter(lambda n: n != "x"), values, max_size=4)
factor_maps = st.dictionaries(codes, st.dictionaries(names, values, min_size=1, max_size=4), max_size=5)
keys = st.binary(min_size=16, max_size=16)


def _same(
    packet: Packet, header: dict[str, str], cp: dict[str, str], factors: dict[str, dict[str, str]]
) -> None:
    assert dict(packet.header) == header
    assert dict(packet.cp) == cp
    assert {c: dict(f) for c, f in packet.factors.items()} == factors
    assert packet.crc_ok


@FAST
@given(header=headers(), cp=cps, factors=factor_maps, key=st.one_of(st.none(), keys))
def test_encode_decode_round_trip(
    header: dict[str, str], cp: dict[str, str], factors: dict[str, dict[str, str]], key: bytes | None
) -> None:
    raw = encode(header, cp, factors, sm4_key=key)
    packet = decode_frame(raw, DevicePolicy(sm4_key=key))
    assert isinstance(packet, Packet), packet
    _same(packet, header, cp, factors)
    assert packet.raw == raw
    assert packet.declared_length == len(packet.segment)
    assert packet.encrypted == (key is not None and b"{0x" in raw)


@FAST
@given(
    packets=st.lists(st.tuples(headers(), cps, factor_maps), min_size=1, max_size=4),
    key=st.one_of(st.none(), keys),
    cuts=st.lists(st.integers(0, 5000), max_size=10),
)
def test_round_trip_through_a_connection_in_random_reads(
    packets: list[tuple[dict[str, str], dict[str, str], dict[str, dict[str, str]]]],
    key: bytes | None,
    cuts: list[int],
) -> None:
    frames = [encode(h, c, f, sm4_key=key) for h, c, f in packets]
    if key is not None:
        # Documented limit: a '##' in the clear text of an *encrypted* frame cannot be told from
        # a new frame (its length field does not describe what was sent).
        assume(all(b"##" not in f[2:] for f in frames))
    stream = b"".join(frames)
    policy = DevicePolicy(sm4_key=key)
    conn = Connection(max_frame_bytes=max(len(f) for f in frames), policy_for=lambda _mn: policy)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        conn.receive_data(stream[start:end])
    events = drain(conn)
    # Random PNUM/PNO headers may form (in)complete split messages: those events come on top.
    got = [
        e
        for e in events
        if isinstance(e, Packet) or (isinstance(e, ProtocolError) and e.kind.value != "incomplete_message")
    ]
    assert len(got) == len(packets), got
    for event, (header, cp, factors) in zip(got, packets, strict=True):
        assert isinstance(event, Packet), event
        _same(event, header, cp, factors)


def _events(stream: bytes, cuts: list[int], max_frame_bytes: int) -> tuple[list[object], int]:
    """Events for ``stream`` read in the pieces ``cuts`` gives; checks the buffer bound as it goes."""
    policy = DevicePolicy(sm4_key=b"0" * 16)
    conn = Connection(max_frame_bytes=max_frame_bytes, policy_for=lambda _mn: policy, max_pending_messages=2)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    biggest_read = 0
    for start, end in itertools.pairwise(bounds):
        conn.receive_data(stream[start:end], now=0.0)  # same clock in every run: compare like with like
        biggest_read = max(biggest_read, end - start)
        assert conn.buffered_bytes <= max_frame_bytes + 1
    conn.receive_data(b"", now=0.0)
    assert conn.buffered_bytes == 0
    events = drain(conn)
    for event in events:
        assert isinstance(event, Packet | ProtocolError | MessageComplete)
        if isinstance(event, ProtocolError):
            assert event.reason and len(event.raw) <= max(max_frame_bytes, 1)
    return events, biggest_read


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=8), cap=st.integers(16, 300))
def test_random_bytes_never_raise(data: bytes, cuts: list[int], cap: int) -> None:
    events, _ = _events(data, cuts, cap)
    raw_total = sum(len(e.raw) for e in events if isinstance(e, Packet | ProtocolError))  # type: ignore[union-attr]
    assert raw_total <= len(data)


SEED_STREAM = b"".join(e["packet"].encode() + b"\r\n" for e in load_examples()) + (
    b"##0085QN=1;ST=31;CN=2011;PW=1;MN=M;Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20240101000000;a-Rtd=1&&"
)
NOISE = st.sampled_from(
    [b"#", b"##", b"\r", b"\n", b"\r\n", b"&", b";", b"=", b",", b"0", b"{", b"}", b"\xe6", b"\x00"]
)


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED_STREAM)
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "dup"]))
        if action == "insert":
            data[at:at] = draw(NOISE)
        elif action == "delete" and data:
            del data[at : at + draw(st.integers(1, 40))]
        elif action == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 60))]
    return bytes(data)


@settings(max_examples=200, deadline=None, database=None)
@given(
    stream=mutated_streams(),
    cuts=st.lists(st.integers(0, 5000), max_size=12),
    cap=st.sampled_from([64, 300, 4096]),
)
def test_mutated_streams_never_raise_and_chunking_does_not_matter(
    stream: bytes, cuts: list[int], cap: int
) -> None:
    whole, _ = _events(stream, [], cap)
    pieces, _ = _events(stream, cuts, cap)
    assert pieces == whole


@settings(max_examples=25, deadline=None, database=None)
@given(stream=mutated_streams())
def test_byte_at_a_time_equals_one_read(stream: bytes) -> None:
    whole, _ = _events(stream, [], 4096)
    conn = Connection(policy_for=lambda _mn: DevicePolicy(sm4_key=b"0" * 16), max_pending_messages=2)
    for index in range(len(stream)):
        conn.receive_data(stream[index : index + 1])
    conn.receive_data(b"")
    assert drain(conn) == whole


FRAMEISH = st.lists(
    st.sampled_from(
        [
            b"##",
            b"#",
            b"00",
            b"12",
            b"0010",
            b"0003",
            b"QN=1;",
            b"CN=2011",
            b"CP=&&",
            b"&&",
            b"A",
            b"1C80",
            b"abcd",
            b"\r\n",
            b"\n",
            b"\r",
            b"{0x",
            b"E4,",
            b"}",
            b"\xe6\x95\x85",
            b"\xe6",
            b" ",
        ]
    ),
    max_size=80,
).map(b"".join)


@settings(max_examples=300, deadline=None, database=None)
@given(
    stream=FRAMEISH, cuts=st.lists(st.integers(0, 400), max_size=10), cap=st.sampled_from([16, 24, 40, 4096])
)
def test_frameish_noise_chunking_does_not_matter(stream: bytes, cuts: list[int], cap: int) -> None:
    whole, _ = _events(stream, [], cap)
    assert _events(stream, cuts, cap)[0] == whole
    assert _events(stream, list(range(len(stream))), cap)[0] == whole  # byte at a time
