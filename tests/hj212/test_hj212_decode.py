"""decode_frame over a corpus of field quirks: what is accepted, and the verdict when it is not."""

import pytest

from envwatch.hj212 import (
    CrcVariant,
    DevicePolicy,
    ErrorKind,
    Packet,
    ProtocolError,
    ProtocolVersion,
    crc16,
    crc16_modbus,
    decode_frame,
    encode,
)
from envwatch.hj212.crc import crc_value
from tests.hj212.hj212_helpers import KEY, frame, seg

ALL_CRCS = DevicePolicy(crc_variants=frozenset(CrcVariant))


def _packet(raw: bytes, policy: DevicePolicy | None = None) -> Packet:
    result = decode_frame(raw, policy)
    assert isinstance(result, Packet), result
    return result


def _error(raw: bytes, kind: ErrorKind, policy: DevicePolicy | None = None) -> ProtocolError:
    result = decode_frame(raw, policy)
    assert isinstance(result, ProtocolError), result
    assert result.kind is kind, result
    return result


# --- accepted quirks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "version"),
    [
        pytest.param(frame(seg(Flag="4")), ProtocolVersion.V2017, id="2017-flag-4"),
        pytest.param(frame(seg(Flag="9")), ProtocolVersion.V2025, id="2025-flag-9"),
        pytest.param(frame(seg(Flag="")), ProtocolVersion.V2005, id="no-flag-is-2005"),
        pytest.param(frame(seg(Flag="1")), ProtocolVersion.V2005, id="2005-flag-1"),
        pytest.param(frame(seg(Flag="3", PNUM="1", PNO="1")), ProtocolVersion.V2005, id="2005-flag-3"),
        pytest.param(frame(seg(Flag="16")), ProtocolVersion.UNKNOWN, id="unknown-version-bits"),
        pytest.param(frame(seg(QN="", Flag="")), ProtocolVersion.V2005, id="no-QN-no-Flag"),
    ],
)
def test_versions(raw: bytes, version: ProtocolVersion) -> None:
    assert _packet(raw).version is version


def test_lower_case_crc_accepted() -> None:
    raw = frame(seg(), crc=f"{crc16(seg().encode()):04x}")
    assert _packet(raw).crc_ok


def test_missing_crlf_is_fine_for_decode_frame() -> None:
    assert _packet(frame(seg(), end=b"")).crc_ok
    assert _packet(frame(seg(), end=b"\n")).crc_ok


def test_chinese_utf8_length_counts_characters_or_bytes() -> None:
    segment = seg(cp="DataTime=20240101000000;i12001-Info=仪器故障")
    assert len(segment.encode()) != len(segment)
    by_chars = _packet(frame(segment))
    assert by_chars.factors["i12001"]["Info"] == "仪器故障"
    assert by_chars.declared_length == len(segment)
    by_bytes = _packet(frame(segment, length=len(segment.encode())))  # some devices count bytes
    assert by_bytes.declared_length == len(segment.encode())


def test_crc_is_over_utf8_bytes() -> None:
    segment = seg(cp="i12001-Info=故障")
    wrong = sum(ord(c) for c in segment) & 0xFFFF  # anything but the UTF-8 CRC
    assert wrong != crc16(segment.encode())
    _error(frame(segment, crc=f"{wrong:04X}"), ErrorKind.BAD_CRC)


@pytest.mark.parametrize(
    ("variant", "policy_variants"),
    [
        (CrcVariant.MODBUS, frozenset({CrcVariant.STANDARD, CrcVariant.MODBUS})),
        (CrcVariant.MODBUS_SWAPPED, frozenset({CrcVariant.STANDARD, CrcVariant.MODBUS_SWAPPED})),
    ],
)
def test_modbus_variants_only_when_the_policy_allows(
    variant: CrcVariant, policy_variants: frozenset[CrcVariant]
) -> None:
    segment = seg()
    value = crc_value(variant, segment.encode())
    assert value != crc16(segment.encode())
    raw = frame(segment, crc=f"{value:04X}")
    error = _error(raw, ErrorKind.BAD_CRC)
    assert error.mn == "MN0001" and error.qn == "20240101000000001" and error.cn == "2011"
    packet = _packet(raw, DevicePolicy(crc_variants=policy_variants))
    assert packet.crc_ok and packet.crc_variant is variant
    other = CrcVariant.MODBUS if variant is CrcVariant.MODBUS_SWAPPED else CrcVariant.MODBUS_SWAPPED
    _error(raw, ErrorKind.BAD_CRC, DevicePolicy(crc_variants=frozenset({CrcVariant.STANDARD, other})))


def test_modbus_crc_policy_looked_up_by_mn() -> None:
    from envwatch.hj212.decode import decode_with

    segment = seg()
    raw = frame(segment, crc=f"{crc16_modbus(segment.encode()):04X}")
    allowed = {"MN0001": DevicePolicy(crc_variants=frozenset({CrcVariant.MODBUS}))}
    assert isinstance(decode_with(raw, allowed.get), Packet)
    assert isinstance(decode_with(raw, {}.get), ProtocolError)


def test_accept_bad_crc_policy_delivers_packet_flagged() -> None:
    raw = frame(seg(), crc="0000" if crc16(seg().encode()) else "0001")
    packet = _packet(raw, DevicePolicy(accept_bad_crc=True))
    assert not packet.crc_ok and packet.crc_variant is None


def test_packet_properties() -> None:
    packet = _packet(frame(seg(Flag="7", PNUM="3", PNO="2", RF="1")))
    assert (packet.flag, packet.pnum, packet.pno) == (7, 3, 2)
    assert packet.needs_ack and packet.is_split and packet.backfill
    assert packet.data_time == "20240101000000"
    assert packet.factors["a21026"] == {"Rtd": "12.3", "Flag": "N"}
    not_split = _packet(frame(seg(Flag="7")))  # D bit without PNUM/PNO: tolerated, not split
    assert not not_split.is_split and not_split.pnum is None
    flagless = _packet(frame(seg(Flag="", PNUM="2", PNO="1")))  # 2005 style: PNUM/PNO, no Flag
    assert flagless.is_split and not flagless.needs_ack
    plain = _packet(frame(seg(Flag="4", PNUM="2", PNO="1")))  # PNUM/PNO but D bit clear
    assert not plain.is_split


def test_raw_is_exactly_what_was_received() -> None:
    raw = frame(seg())
    assert _packet(raw).raw == raw


# --- rejected, with the right verdict ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "fragment"),
    [
        pytest.param(
            b"##81QN=1;CN=2011;CP=&&&&ABCD\r\n", ErrorKind.BAD_LENGTH, "'81QN'", id="unpadded-length"
        ),
        pytest.param(b"##", ErrorKind.BAD_LENGTH, "not 4 digits", id="just-hashes"),
        pytest.param(b"##0101", ErrorKind.MALFORMED, "too short", id="no-crc"),
        pytest.param(b"QN=1;CP=&&&&", ErrorKind.MALFORMED, "'##'", id="no-header"),
        pytest.param(
            frame(seg(), length=5),
            ErrorKind.LENGTH_MISMATCH,
            "declared length 0005 but the segment is",
            id="len",
        ),
        pytest.param(frame(seg(), crc="12G4"), ErrorKind.BAD_CRC, "not 4 hex", id="crc-not-hex"),
        pytest.param(
            frame(seg(), crc="0000" if crc16(seg().encode()) else "0001"),
            ErrorKind.BAD_CRC,
            "does not match",
            id="crc",
        ),
        pytest.param(frame(seg(Flag="x")), ErrorKind.MALFORMED, "Flag 'x'", id="flag-not-int"),
        pytest.param(frame(seg(Flag="300")), ErrorKind.MALFORMED, "0-255", id="flag-too-big"),
        pytest.param(
            frame(seg(Flag="7", PNUM="2", PNO="3")), ErrorKind.MALFORMED, "PNO 3 is greater", id="pno>pnum"
        ),
        pytest.param(frame(seg(Flag="7", PNUM="0", PNO="0")), ErrorKind.MALFORMED, "positive", id="pnum-0"),
        pytest.param(frame(seg(cp="DataTime")), ErrorKind.MALFORMED, "not key=value", id="cp-item"),
        pytest.param(
            b"##0004\xff\xfe\xfd\xfc" + f"{crc16(bytes([255, 254, 253, 252])):04X}".encode(),
            ErrorKind.MALFORMED,
            "not UTF-8",
            id="not-utf8",
        ),
    ],
)
def test_rejections(raw: bytes, kind: ErrorKind, fragment: str) -> None:
    error = _error(raw, kind)
    assert fragment in error.reason
    assert error.raw == raw
    assert str(error).startswith(kind.value + ": ")


def test_chinese_length_mismatch_reason_mentions_bytes() -> None:
    segment = seg(cp="i12001-Info=故障")
    error = _error(frame(segment, length=len(segment) + 1), ErrorKind.LENGTH_MISMATCH)
    assert "bytes" in error.reason


def test_error_carries_header_when_readable() -> None:
    error = _error(frame(seg(), length=3), ErrorKind.LENGTH_MISMATCH)
    assert error.mn == "MN0001" and error.header["CN"] == "2011"


# --- encryption -------------------------------------------------------------------------------------


def _encrypted(cp: str = "DataTime=20240101000000;a21026-Rtd=12.3,a21026-Flag=N;a21002-Rtd=4.5") -> bytes:
    header = {
        "QN": "20240101000000001",
        "ST": "31",
        "CN": "2011",
        "PW": "123456",
        "MN": "MN0001",
        "Flag": "9",
    }
    return encode(header, cp, sm4_key=KEY)


def test_encrypted_round_trip_and_flags() -> None:
    raw = _encrypted()
    assert b"{0x" in raw
    packet = _packet(raw, DevicePolicy(sm4_key=KEY))
    assert packet.encrypted and packet.factors["a21002"]["Rtd"] == "4.5"
    assert packet.raw == raw and "{0x" not in packet.segment


def test_short_cp_is_sent_in_clear_even_with_a_key() -> None:
    raw = _encrypted(cp="QnRtn=1")
    assert b"{0x" not in raw
    assert not _packet(raw).encrypted


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        pytest.param(lambda r: r.replace(b"}", b"", 1), "no closing", id="no-brace"),
        pytest.param(lambda r: r.replace(b",0x", b",0y", 1), "not 0xHH", id="bad-item"),
        pytest.param(lambda r: r.replace(b"{0x", b"{0x00,0x", 1), "multiple of 16", id="17-bytes"),
    ],
)
def test_broken_ciphertext(mutate: object, fragment: str) -> None:
    raw = mutate(_encrypted())  # type: ignore[operator]
    error = _error(raw, ErrorKind.DECRYPT_FAILED, DevicePolicy(sm4_key=KEY))
    assert fragment in error.reason


def test_encrypted_length_of_sent_text_is_tolerated() -> None:
    raw = _encrypted()
    sent_len = len(raw) - 12
    tolerant = b"##%04d" % sent_len + raw[6:]
    assert _packet(tolerant, DevicePolicy(sm4_key=KEY)).declared_length == sent_len
    _error(b"##0007" + raw[6:], ErrorKind.LENGTH_MISMATCH, DevicePolicy(sm4_key=KEY))


def test_policy_rejects_bad_key_length() -> None:
    with pytest.raises(ValueError):
        DevicePolicy(sm4_key=b"short")


def test_lazy_cp_leaves_a_data_packets_cp_as_text() -> None:
    """``lazy_cp_cns``: the CP of those CNs stays text for the caller to parse; everything else is checked as
    always, split messages are parsed, and a CP that would not parse is no error here."""
    from envwatch.hj212.decode import decode_with

    data = frame(seg(cn="2011", cp="DataTime=20261122120000;a21026-Rtd=1.5,a21026-Flag=N"))
    lazy = decode_with(data, None, frozenset({"2011"}))
    eager = decode_with(data, None)
    assert isinstance(lazy, Packet) and isinstance(eager, Packet)
    assert (
        lazy.cp == {}
        and lazy.factors == {}
        and lazy.cp_text == "DataTime=20261122120000;a21026-Rtd=1.5,a21026-Flag=N"
    )
    assert eager.cp_text is None and eager.factors == {"a21026": {"Rtd": "1.5", "Flag": "N"}}
    assert (lazy.header, lazy.crc_ok, lazy.version) == (eager.header, eager.crc_ok, eager.version)
    other = decode_with(frame(seg(cn="9014", cp="")), None, frozenset({"2011"}))
    assert isinstance(other, Packet) and other.cp_text is None
    broken = frame(seg(cn="2011", cp="DataTime=20261122120000;a21026-Rtd=1,a21026-Rtd=2"))
    assert isinstance(decode_with(broken, None, frozenset({"2011"})), Packet)
    assert not isinstance(decode_with(broken, None), Packet)
    split = frame(seg(cn="2011", cp="DataTime=20261122120000;a21026-Rtd=1.5", PNUM="2", PNO="1", Flag="7"))
    parsed = decode_with(split, None, frozenset({"2011"}))
    assert isinstance(parsed, Packet) and parsed.cp_text is None and parsed.cp["DataTime"] == "20261122120000"
