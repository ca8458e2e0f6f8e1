"""Protocol versions and the Flag field.

Flag is an integer 0-255 whose bits are ``V5 V4 V3 V2 V1 V0 D A`` (most significant first):

* ``A`` (bit 0): the sender wants a reply (9014 for data, 9011/9012 for requests).
* ``D`` (bit 1): the packet carries PNUM/PNO (one part of a split message).
* ``V`` (bits 2-7): 0 = HJ/T 212-2005, 1 = HJ 212-2017, 2 = HJ 212-2025.

So 4/5/6/7 are 2017 and 8/9/10/11 are 2025. The 2025 text reportedly swaps the *letters* A and D
but not the bit positions, so bit 0 is still "reply wanted". A packet without Flag is 2005 style.
"""

from __future__ import annotations

import enum

__all__ = ["FLAG_ACK", "FLAG_SPLIT", "ProtocolVersion", "flag_for", "version_from_flag"]

FLAG_ACK = 0b01
FLAG_SPLIT = 0b10


class ProtocolVersion(enum.Enum):
    V2005 = "2005"
    V2017 = "2017"
    V2025 = "2025"
    UNKNOWN = "unknown"


_BITS = {ProtocolVersion.V2005: 0, ProtocolVersion.V2017: 1, ProtocolVersion.V2025: 2}
_BY_BITS = {bits: version for version, bits in _BITS.items()}


def version_from_flag(flag: int | None) -> ProtocolVersion:
    """The version encoded in Flag's high six bits; no Flag at all means 2005 style."""
    if flag is None:
        return ProtocolVersion.V2005
    return _BY_BITS.get(flag >> 2, ProtocolVersion.UNKNOWN)


def flag_for(version: ProtocolVersion, *, ack: bool, split: bool = False) -> int:
    """The Flag value to send to a device speaking ``version``.

    >>> flag_for(ProtocolVersion.V2017, ack=True)
    5
    """
    if version is ProtocolVersion.UNKNOWN:
        raise ValueError("cannot build a Flag for an unknown protocol version")
    return (_BITS[version] << 2) | (FLAG_SPLIT if split else 0) | (FLAG_ACK if ack else 0)
