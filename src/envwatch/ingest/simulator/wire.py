"""Turning a logger's record into frames: header, SM4 encryption, RF, and PNUM/PNO splitting.

A message that does not fit is split by factor groups: every part repeats the CP keys (DataTime) and
carries some of the factors, all parts share one QN (receivers reassemble on MN + QN + CN) and have
the split bit set in Flag. Two limits apply: the standard's 1024-character data segment, measured on
the plaintext (the length field of an encrypted 2025 packet also counts plaintext), and the frame size
the receiving gateway accepts, which matters for SM4 packets because their ciphertext is written as
``0xHH,`` text, about five times the plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envwatch.hj212 import ProtocolVersion, encode, flag_for

from .devices import SimDevice

__all__ = ["Outgoing", "build_frames", "header_for"]

Factors = Mapping[str, Mapping[str, str]]

_FRAMING = 12  # "##" + 4-digit length + 4-hex CRC + CRLF around the data segment
_MARGIN = 16  # slack under the frame limit, for a gateway that counts a little differently


@dataclass
class Outgoing:
    """A record to send. It becomes frames (and gets its QN) only when it leaves, so RF tells the truth."""

    cn: str
    cp: Mapping[str, str]
    factors: Factors
    ack: bool = True
    encrypt: bool = False  # 2025 data (CN 2xxx) must be encrypted (§6.4.4); replies and 1011 need not
    backfill: bool = False  # generated while offline
    qn: str | None = None  # kept across re-sends so the server can recognise duplicates
    resend: bool = False


def header_for(device: SimDevice, qn: str, cn: str, *, ack: bool) -> dict[str, str]:
    version = ProtocolVersion(device.protocol)
    return {
        "QN": qn,
        "ST": device.st,
        "CN": cn,
        "PW": device.pw,
        "MN": device.mn,
        "Flag": str(flag_for(version, ack=ack)),
    }


def build_frames(
    device: SimDevice, out: Outgoing, *, max_segment_chars: int, max_frame_bytes: int
) -> list[bytes]:
    """The frames of ``out`` (one, or the PNUM/PNO parts); ``out.qn`` must be set."""
    if out.qn is None:
        raise ValueError("an outgoing record needs its QN before it is encoded")
    version = ProtocolVersion(device.protocol)
    key = device.sm4_key if out.encrypt and version is ProtocolVersion.V2025 else None
    header = header_for(device, out.qn, out.cn, ack=out.ack)
    if out.backfill and version is ProtocolVersion.V2025:
        header["RF"] = "1"  # HJ 212-2025: back-filled (补传) data

    def fits(factors: Factors) -> bool:
        # Measured with a split header (PNUM=99;PNO=99) so that a part that fits still fits numbered.
        probe = {**header, "PNUM": "99", "PNO": "99"}
        plain = encode(probe, out.cp, factors)
        if len(plain) - _FRAMING > max_segment_chars:
            return False
        wire = encode(probe, out.cp, factors, sm4_key=key) if key else plain
        return len(wire) + _MARGIN <= max_frame_bytes

    if fits(out.factors):
        return [encode(header, out.cp, out.factors, sm4_key=key)]
    parts: list[dict[str, Mapping[str, str]]] = [{}]
    for code, fields in out.factors.items():  # greedy, in order; a single oversize group goes alone
        trial = {**parts[-1], code: fields}
        if parts[-1] and not fits(trial):
            parts.append({code: fields})
        else:
            parts[-1] = trial
    header["Flag"] = str(flag_for(version, ack=out.ack, split=True))
    return [
        encode({**header, "PNUM": str(len(parts)), "PNO": str(number)}, out.cp, part, sm4_key=key)
        for number, part in enumerate(parts, 1)
    ]
