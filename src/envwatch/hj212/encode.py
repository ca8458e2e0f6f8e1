"""Building frames: replies to devices and host commands.

What we emit is strict even though what we accept is lenient: header fields in the standard
order, the standard CRC in upper case, CRLF, a length field counting characters of the plaintext
segment. With an SM4 key the CP data area is encrypted (16-byte blocks written as ``{0xHH,…}``,
the tail shorter than a block in clear) while the CRC and the length still describe the plaintext,
exactly as in the examples of HJ 212-2025 Appendix A.2.

Replies (9011-9014) echo the request's QN, PW and MN, use ST=91, and carry the *device's* protocol
version in Flag without the ack bit (a 2017 device gets Flag=4, a 2025 device Flag=8, a 2005
device Flag=0), because a reply is never itself acknowledged. HJ/T 212-2005 also puts the QN
inside the CP of a notify reply (9013), so we do that for 2005 devices.

Encoding mistakes (a value containing ``;``, an oversize segment ...) are programming errors of
the caller and raise ``ValueError``; nothing here touches the network or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

from envwatch.hj212.crc import crc_hex
from envwatch.hj212.packet import Packet
from envwatch.hj212.segment import format_cp, format_segment
from envwatch.hj212.sm4 import encrypt_region
from envwatch.hj212.version import FLAG_ACK, FLAG_SPLIT, ProtocolVersion, flag_for

__all__ = [
    "EMPTY",
    "NO_FACTORS",
    "command",
    "data_ack",
    "encode",
    "exe_rtn",
    "key_update_reply",
    "new_qn",
    "notify_ack",
    "qn_rtn",
    "reply",
]

EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
NO_FACTORS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType({})
MAX_LENGTH = 9999  # the length field has 4 digits


def encode(
    header: Mapping[str, str],
    cp: Mapping[str, str] | str = EMPTY,
    factors: Mapping[str, Mapping[str, str]] = NO_FACTORS,
    *,
    sm4_key: bytes | None = None,
) -> bytes:
    """A complete frame ``##LLLL<segment><CRC>\\r\\n``.

    ``cp`` is either the top-level CP keys (with ``factors`` for ``code-Field`` items) or the
    literal CP data area text. With ``sm4_key`` the data area is SM4-encrypted.
    """
    if isinstance(cp, str):
        if factors:
            raise ValueError("pass factors inside the CP text when cp is a string")
        region = cp
    else:
        region = format_cp(cp, factors)
    segment = format_segment(header, region)
    if len(segment) > MAX_LENGTH:
        raise ValueError(f"data segment of {len(segment)} characters does not fit a 4-digit length")
    plain = segment.encode("utf-8")
    crc = crc_hex(plain)  # always over the plaintext
    if sm4_key is not None:
        region_bytes = region.encode("utf-8")
        head = plain[: len(plain) - len(region_bytes) - 2]  # everything up to and incl. 'CP=&&'
        plain = head + encrypt_region(region_bytes, sm4_key) + b"&&"
    return b"##%04d" % len(segment) + plain + crc.encode("ascii") + b"\r\n"


def new_qn(now_local: datetime) -> str:
    """A QN (``YYYYMMDDhhmmsszzz``) for a request sent at local time ``now_local``."""
    return f"{now_local:%Y%m%d%H%M%S}{now_local.microsecond // 1000:03d}"


def _reply_flag(packet: Packet) -> str:
    # Echo the device's version bits whatever they are (even an unknown version), never the A/D bits.
    flag = packet.flag
    return str(flag & ~(FLAG_ACK | FLAG_SPLIT) if flag is not None else 0)


def reply(packet: Packet, cn: str, cp: Mapping[str, str] = EMPTY, *, sm4_key: bytes | None = None) -> bytes:
    """A reply to ``packet``: its QN, PW and MN echoed, ST=91, its version in Flag (no ack)."""
    header: dict[str, str] = {}
    if packet.qn is not None:
        header["QN"] = packet.qn
    header["ST"] = "91"
    header["CN"] = cn
    for name in ("PW", "MN"):
        if name in packet.header:
            header[name] = packet.header[name]
    header["Flag"] = _reply_flag(packet)
    return encode(header, cp, sm4_key=sm4_key)


def data_ack(packet: Packet) -> bytes:
    """9014 data response, sent for an upload whose Flag has the A bit (``packet.needs_ack``)."""
    header = packet.header
    qn, pw, mn = header.get("QN"), header.get("PW"), header.get("MN")
    # The gateway sends one per data packet: the common case (QN, PW and MN present, plain values) is
    # written directly, byte for byte what ``reply`` gives (property-tested); anything else takes
    # ``reply`` with its checks.
    if qn is not None and pw is not None and mn is not None and _plain(qn) and _plain(pw) and _plain(mn):
        segment = f"QN={qn};ST=91;CN=9014;PW={pw};MN={mn};Flag={_reply_flag(packet)};CP=&&&&".encode()
        if len(segment) <= MAX_LENGTH:
            return b"##%04d%s%s\r\n" % (len(segment), segment, crc_hex(segment).encode("ascii"))
    return reply(packet, "9014")


def _plain(value: str) -> bool:
    """A header value ``format_segment`` takes as it is (ASCII, no delimiter, no CR/LF)."""
    return (
        value.isascii() and ";" not in value and "&&" not in value and "\r" not in value and "\n" not in value
    )


def notify_ack(packet: Packet) -> bytes:
    """9013 notify response: to a 1013 notify or a 2025 9015 heartbeat."""
    if packet.version is ProtocolVersion.V2005 and packet.qn is not None:
        return reply(packet, "9013", {"QN": packet.qn})  # 2005 carries the QN in CP
    return reply(packet, "9013")


def qn_rtn(packet: Packet, code: int) -> bytes:
    """9011 request response with ``QnRtn=code`` (1 = ready to execute, see codes.qn_rtn)."""
    return reply(packet, "9011", {"QnRtn": str(code)})


def exe_rtn(packet: Packet, code: int) -> bytes:
    """9012 execution result with ``ExeRtn=code`` (1 = success, see codes.exe_rtn)."""
    return reply(packet, "9012", {"ExeRtn": str(code)})


def command(
    *,
    cn: str,
    mn: str,
    pw: str,
    qn: str,
    version: ProtocolVersion,
    cp: Mapping[str, str] = EMPTY,
    st: str = "32",
    ack: bool = True,
    sm4_key: bytes | None = None,
) -> bytes:
    """A host→device request or notify (1000, 1011, 1012, 1062, 2031/2051/2061, 3020 ...).

    ``st`` should be the device's own ST (it names the kind of system addressed); "32" is the
    standard's example. ``version`` is the device's version, which sets the Flag version bits.
    """
    header = {"QN": qn, "ST": st, "CN": cn, "PW": pw, "MN": mn, "Flag": str(flag_for(version, ack=ack))}
    return encode(header, cp, sm4_key=sm4_key)


_KEY_TEXT_FORBIDDEN = frozenset(";,=&")


def key_update_reply(
    packet: Packet,
    *,
    new_key: bytes,
    sk_create_time: str,
    sm4_key: bytes | None,
    ack: bool = True,
) -> bytes:
    """The host's CN 1014 answer to a device's key request: ``SKCreateTime`` and ``NewSK``.

    ``sm4_key`` is the key the device uses *now* (1014 shall be encrypted, §6.4.4); the device
    switches to ``new_key`` afterwards. The new key is sent as its 16 characters (the standard's
    test key is sixteen ``0x30``, i.e. the text ``0000000000000000``), so it must be printable
    ASCII without ``; , = &``.
    """
    if len(new_key) != 16:
        raise ValueError(f"an SM4 key is 16 bytes, got {len(new_key)}")
    text = new_key.decode("ascii", "replace")
    if not text.isprintable() or not new_key.isascii() or _KEY_TEXT_FORBIDDEN & set(text):
        raise ValueError("NewSK must be 16 printable ASCII characters without ; , = &")
    header = {"QN": packet.qn or "", "ST": packet.st or "32", "CN": "1014"}
    header = {k: v for k, v in header.items() if v}
    for name in ("PW", "MN"):
        if name in packet.header:
            header[name] = packet.header[name]
    version_bits = int(_reply_flag(packet))
    header["Flag"] = str(version_bits | (FLAG_ACK if ack else 0))
    return encode(header, {"SKCreateTime": sk_create_time, "NewSK": text}, sm4_key=sm4_key)
