"""Replies and commands: standard CRC, ST=91, QN echoed, the device's version in Flag."""

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envwatch.hj212 import (
    Connection,
    DevicePolicy,
    OutgoingPacket,
    Packet,
    ProtocolVersion,
    command,
    crc16,
    data_ack,
    decode_frame,
    encode,
    exe_rtn,
    flag_for,
    key_update_reply,
    new_qn,
    notify_ack,
    qn_rtn,
)
from envwatch.hj212.encode import reply
from tests.hj212.hj212_helpers import KEY, frame, seg


def _decoded(raw: bytes, key: bytes | None = None) -> Packet:
    packet = decode_frame(raw, DevicePolicy(sm4_key=key) if key else None)
    assert isinstance(packet, Packet), packet
    assert raw.endswith(b"\r\n") and packet.crc_ok
    assert raw[-6:-2] == raw[-6:-2].upper()
    return packet


def _incoming(flag: str, **extra: str) -> Packet:
    return _decoded(frame(seg(Flag=flag, **extra)))


@pytest.mark.parametrize(
    ("version", "ack", "split", "expected"),
    [
        (ProtocolVersion.V2005, False, False, 0),
        (ProtocolVersion.V2005, True, True, 3),
        (ProtocolVersion.V2017, False, False, 4),
        (ProtocolVersion.V2017, True, False, 5),
        (ProtocolVersion.V2017, False, True, 6),
        (ProtocolVersion.V2017, True, True, 7),
        (ProtocolVersion.V2025, False, False, 8),
        (ProtocolVersion.V2025, True, False, 9),
        (ProtocolVersion.V2025, True, True, 11),
    ],
)
def test_flag_for(version: ProtocolVersion, ack: bool, split: bool, expected: int) -> None:
    assert flag_for(version, ack=ack, split=split) == expected


def test_flag_for_unknown_version_raises() -> None:
    with pytest.raises(ValueError):
        flag_for(ProtocolVersion.UNKNOWN, ack=True)


@pytest.mark.parametrize(
    ("incoming_flag", "reply_flag"),
    [("5", "4"), ("7", "4"), ("9", "8"), ("11", "8"), ("1", "0"), ("", "0"), ("17", "16")],
)
def test_data_ack(incoming_flag: str, reply_flag: str) -> None:
    reply = _decoded(data_ack(_incoming(incoming_flag)))
    assert dict(reply.header) == {
        "QN": "20240101000000001", "ST": "91", "CN": "9014", "PW": "123456", "MN": "MN0001", "Flag": reply_flag,
    }  # fmt: skip
    assert reply.cp == {} and b"CP=&&&&" in reply.raw and not reply.needs_ack


def test_data_ack_exact_bytes_2017() -> None:
    segment = b"QN=20240101000000001;ST=91;CN=9014;PW=123456;MN=MN0001;Flag=4;CP=&&&&"
    expected = b"##%04d%s%04X\r\n" % (len(segment), segment, crc16(segment))
    assert data_ack(_incoming("5")) == expected


def test_reply_without_qn_omits_it() -> None:
    reply = _decoded(data_ack(_incoming("", QN="")))
    assert "QN" not in reply.header and reply.header["Flag"] == "0"


def test_notify_ack_to_heartbeat_2025() -> None:
    heartbeat = _decoded(
        encode({"QN": "20240101000000001", "ST": "31", "CN": "9015", "PW": "1", "MN": "M", "Flag": "8"})
    )
    reply = _decoded(notify_ack(heartbeat))
    assert (reply.cn, reply.st, reply.flag, reply.qn) == ("9013", "91", 8, "20240101000000001")


def test_notify_ack_2005_carries_qn_in_cp() -> None:
    reply = _decoded(notify_ack(_incoming("", CN="1013")))
    assert reply.cp == {"QN": "20240101000000001"}


def test_qn_rtn_and_exe_rtn() -> None:
    request = _decoded(
        command(cn="1011", mn="M", pw="123456", qn="20240101000000009", version=ProtocolVersion.V2017)
    )
    one = _decoded(qn_rtn(request, 1))
    assert (one.cn, one.cp, one.flag, one.qn) == ("9011", {"QnRtn": "1"}, 4, "20240101000000009")
    two = _decoded(exe_rtn(request, 100))
    assert (two.cn, two.cp) == ("9012", {"ExeRtn": "100"})


@pytest.mark.parametrize(
    ("cn", "cp"),
    [
        ("1011", {}),
        ("1012", {"SystemTime": "20240101120000"}),
        ("1062", {"RtdInterval": "30"}),
        ("2051", {"BeginTime": "20240101000000", "EndTime": "20240101010000"}),
        ("1000", {"OverTime": "10", "ReCount": "3"}),
    ],
)
def test_commands(cn: str, cp: dict[str, str]) -> None:
    raw = command(
        cn=cn, mn="MN1", pw="123456", qn="20240101000000001", version=ProtocolVersion.V2025, cp=cp, st="31"
    )
    packet = _decoded(raw)
    assert (packet.cn, packet.st, packet.flag, packet.mn, packet.pw) == (cn, "31", 9, "MN1", "123456")
    assert packet.cp == cp
    assert (
        _decoded(command(cn=cn, mn="M", pw="1", qn="1", version=ProtocolVersion.V2017, ack=False)).flag == 4
    )
    assert _decoded(command(cn=cn, mn="M", pw="1", qn="1", version=ProtocolVersion.V2017)).st == "32"


def test_command_encrypted() -> None:
    cp = {"BeginTime": "20240101000000", "EndTime": "20240101010000"}
    raw = command(cn="2061", mn="M", pw="1", qn="1", version=ProtocolVersion.V2025, cp=cp, sm4_key=KEY)
    assert b"{0x" in raw
    assert _decoded(raw, KEY).cp == cp


def test_new_qn() -> None:
    assert new_qn(datetime(2024, 5, 20, 21, 7, 0, 123456)) == "20240520210700123"
    assert new_qn(datetime(2024, 1, 2, 3, 4, 5)) == "20240102030405000"


def test_key_update_reply_encrypted_with_the_current_key() -> None:
    request = _decoded(
        encode(
            {"QN": "20240101000000001", "ST": "31", "CN": "1014", "PW": "1", "MN": "M", "Flag": "9"},
            {"SKCreateTime": "20240101000000"},
        )
    )
    new_key = b"Ab3dEf7hIj1lMn0p"
    raw = key_update_reply(request, new_key=new_key, sk_create_time="20240101000100", sm4_key=KEY)
    assert b"{0x" in raw and b"NewSK" not in raw
    reply = _decoded(raw, KEY)
    assert (reply.cn, reply.qn, reply.st, reply.flag) == ("1014", "20240101000000001", "31", 9)
    assert reply.cp == {"SKCreateTime": "20240101000100", "NewSK": "Ab3dEf7hIj1lMn0p"}


@pytest.mark.parametrize("bad", [b"short", b"0123456789abcde;", b"\x00" * 16, "密钥密钥密钥".encode()[:16]])
def test_key_update_reply_rejects_unsendable_keys(bad: bytes) -> None:
    request = _incoming("9", CN="1014")
    with pytest.raises(ValueError):
        key_update_reply(request, new_key=bad, sk_create_time="20240101000000", sm4_key=KEY)


def test_encode_validation() -> None:
    with pytest.raises(ValueError):
        encode({"QN": "1"}, "DataTime=1", {"a": {"Rtd": "1"}})
    with pytest.raises(ValueError):
        encode({"QN": "1"}, {"k": "x" * 10000})
    with pytest.raises(ValueError):
        encode({"QN": "1"}, "x" * 100, sm4_key=b"short")


def test_encode_with_raw_cp_text_and_chinese() -> None:
    raw = encode({"QN": "1", "CN": "3020", "Flag": "4"}, "i12001-Info=仪器正常")
    packet = _decoded(raw)
    assert packet.declared_length == len(packet.segment) < len(packet.segment.encode())
    assert packet.factors == {"i12001": {"Info": "仪器正常"}}


def test_encode_sm4_with_chinese_splitting_a_block() -> None:
    region = "DataTime=20240101000000;i12001-Info=故障故障故障故障故障"
    raw = encode({"QN": "1", "CN": "3020", "MN": "M", "Flag": "8"}, region, sm4_key=KEY)
    packet = _decoded(raw, KEY)
    assert packet.factors["i12001"]["Info"] == "故障故障故障故障故障"
    assert packet.encrypted


def test_connection_send_auto_encrypts_per_policy() -> None:
    policies = {"M25": DevicePolicy(sm4_key=KEY)}
    conn = Connection(policy_for=policies.get)
    cp = {"BeginTime": "20240101000000", "EndTime": "20240101010000"}
    header = {"QN": "1", "ST": "31", "CN": "2051", "PW": "1", "MN": "M25", "Flag": "9"}
    assert b"{0x" in conn.send(OutgoingPacket(header, cp))  # 2000-2999 shall be encrypted
    assert b"{0x" not in conn.send(OutgoingPacket(header, cp, encrypt=False))
    assert b"{0x" not in conn.send(OutgoingPacket({**header, "CN": "1012"}, {"SystemTime": "2" * 16}))
    assert b"{0x" in conn.send(
        OutgoingPacket({**header, "CN": "1012"}, {"SystemTime": "2" * 16}, encrypt=True)
    )
    assert b"{0x" not in conn.send(OutgoingPacket({**header, "MN": "M17"}, cp))  # no key: clear
    with pytest.raises(ValueError):
        conn.send(OutgoingPacket({**header, "MN": "M17"}, cp, encrypt=True))
    assert Connection().send(OutgoingPacket(header, cp)) == encode(header, cp)


_HEADER_TEXT = st.text(alphabet=st.sampled_from("0123456789AbZ;&\r\n=é-"), max_size=30)


@settings(max_examples=1500)
@given(
    qn=st.none() | _HEADER_TEXT,
    pw=st.none() | _HEADER_TEXT,
    mn=st.none() | _HEADER_TEXT,
    flag=st.none() | st.sampled_from(["4", "5", "9", "1", "255", "x", ""]),
)
def test_data_ack_fast_path_is_byte_for_byte_the_generic_reply(
    qn: str | None, pw: str | None, mn: str | None, flag: str | None
) -> None:
    header = {
        k: v for k, v in (("QN", qn), ("ST", "22"), ("CN", "2011"), ("PW", pw), ("MN", mn)) if v is not None
    }
    if flag is not None:
        header["Flag"] = flag
    packet = Packet(
        raw=b"",
        header=header,
        cp={},
        factors={},
        version=ProtocolVersion.V2017,
        crc_ok=True,
        crc_variant=None,
        encrypted=False,
        declared_length=0,
    )
    try:
        expected: bytes | type[Exception] = reply(packet, "9014")
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError):
            data_ack(packet)
    else:
        assert data_ack(packet) == expected
