"""The HJ 212 CRC and the non-standard variants seen in the field.

Theory of operation
-------------------
HJ 212 (2005, 2017 and 2025 alike, Appendix A of 2017) specifies a CRC-16 whose loop looks like
CRC-16/MODBUS but is not: each byte is XORed into the register *shifted right by 8*
(``crc = (crc >> 8) ^ byte``), so the low byte of the register is thrown away before the eight
reflected-polynomial (0xA001) steps. MODBUS XORs the byte into the whole register instead. The
check value of ``b"123456789"`` is 0x2F80 (MODBUS gives 0x4B37).

Because only 8 bits of state survive from one byte to the next, the standard CRC can take just
256 distinct values; a random corruption slips through with probability 1/256. Treat it as a
framing/compatibility check, not as an integrity guarantee.

The CRC covers the data segment only (the bytes between the 4-digit length and the CRC), hashed
as bytes, so Chinese text is hashed in UTF-8. For SM4-encrypted 2025 packets it covers the
*plaintext* segment. It is printed as 4 hex digits, high byte first.

Some devices use CRC-16/MODBUS, printed high byte first or byte-swapped (low byte first). They
are accepted only when a device's policy allows it (:class:`CrcVariant`); we always emit the
standard CRC in upper case.
"""

from __future__ import annotations

import enum

__all__ = ["CrcVariant", "crc16", "crc16_bytewise", "crc16_modbus", "crc_hex", "crc_value", "match_crc"]


class CrcVariant(enum.Enum):
    """Which CRC algorithm (and byte order) produced a packet's CRC field."""

    STANDARD = "standard"  # HJ 212 Appendix A
    MODBUS = "modbus"  # CRC-16/MODBUS printed high byte first
    MODBUS_SWAPPED = "modbus_swapped"  # CRC-16/MODBUS printed low byte first


def _make_table() -> tuple[int, ...]:
    # The reflected 0xA001 table; both algorithms use it, they differ in how a byte enters.
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16_bytewise(data: bytes) -> int:
    """The HJ 212 CRC computed one byte at a time, as Appendix A writes it (the reference for tests)."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        # (crc >> 8) ^ byte, then eight shift/XOR steps == one table lookup of that 8-bit value.
        crc = table[(crc >> 8) ^ byte]
    return crc


# Why a faster form exists: only the high byte h of the register survives from one byte to the next,
# h' = L(h ^ byte) with L(x) = _TABLE[x] >> 8. L is linear over GF(2) and L⁸ is the identity, so after m
# bytes h = L^m(0xFF) ^ XOR_i L^((m - i) mod 8)(byte_i): the bytes can be XOR-folded by position mod 8
# with big-integer operations (C speed) and L applied to the eight folded bytes only. The last byte goes
# through the full 16-bit table as in the loop. Same result for every input (property-tested against
# crc16_bytewise); about 2× faster on a 300-byte data packet in CPython.
_STEP = bytes(t >> 8 for t in _TABLE)
_POWERS: list[bytes] = [bytes(range(256))]
for _ in range(7):
    _POWERS.append(bytes(_STEP[x] for x in _POWERS[-1]))
if bytes(_STEP[x] for x in _POWERS[-1]) != _POWERS[0]:  # pragma: no cover - a property of the table
    raise AssertionError("L^8 must be the identity for the folded CRC")
_SHORT = 128  # below this the plain loop is faster (measured: the fold costs about as much as 100 bytes)


def crc16(data: bytes) -> int:
    """The HJ 212 CRC of ``data`` (the data segment's bytes). ``crc16(b"123456789") == 0x2F80``."""
    m = len(data) - 1
    if m < _SHORT:
        return crc16_bytewise(data)
    folded = int.from_bytes(data[:m], "little")
    size = (m + 7) & ~7  # bytes, a multiple of 8 so that folding keeps each byte's position mod 8
    while size > 8:
        half = ((size >> 1) + 7) & ~7
        bits = half << 3
        folded = (folded >> bits) ^ (folded & ((1 << bits) - 1))
        size = max(half, size - half)
    powers = _POWERS
    h = powers[m & 7][0xFF]
    for j in range(8):
        h ^= powers[(m - j) & 7][(folded >> (j << 3)) & 0xFF]
    return _TABLE[h ^ data[m]]


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (not HJ 212; some devices use it). ``crc16_modbus(b"123456789") == 0x4B37``."""
    crc = 0xFFFF
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc_hex(data: bytes) -> str:
    """The standard CRC of ``data`` as 4 upper-case hex digits, as written into a frame."""
    return f"{crc16(data):04X}"


def crc_value(variant: CrcVariant, data: bytes) -> int:
    """The 16-bit number a device using ``variant`` would print (high nibble first) for ``data``."""
    if variant is CrcVariant.STANDARD:
        return crc16(data)
    modbus = crc16_modbus(data)
    if variant is CrcVariant.MODBUS:
        return modbus
    return ((modbus & 0xFF) << 8) | (modbus >> 8)


# Checked in this order so that a packet valid under the standard is always reported as STANDARD.
_STANDARD = CrcVariant.STANDARD
_OTHERS = (CrcVariant.MODBUS, CrcVariant.MODBUS_SWAPPED)


def match_crc(data: bytes, declared: int, accepted: frozenset[CrcVariant]) -> CrcVariant | None:
    """The first accepted variant whose CRC of ``data`` equals ``declared``, else None."""
    # the standard first and without the loop: this runs for every frame received (10.0 -> 5.8 µs per 9-factor packet)
    if _STANDARD in accepted and crc16(data) == declared:
        return _STANDARD
    for variant in _OTHERS:
        if variant in accepted and crc_value(variant, data) == declared:
            return variant
    return None
