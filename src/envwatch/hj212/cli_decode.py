"""``envwatch hj212 decode``: one line in, one JSON-ready dict out (pure; the CLI does the I/O).

The dict has exactly these keys::

    {"ok": bool, "crc_ok": bool, "error": "<kind>: <reason>" | None, "version": "2017" | ... | None,
     "header": {QN, ST, CN, PW, MN, Flag, PNUM, PNO, RF: str, only those present},
     "cp": {top-level CP keys}, "factors": {code: {field: value}}}

Even when the frame is rejected, whatever could be read (header, CP, CRC verdict) is filled in, so
the command doubles as a diagnostic for a device's bad packets. Only the standard CRC is accepted
here; ``key`` (16 bytes) decrypts 2025 SM4-encrypted CP areas.
"""

from __future__ import annotations

from typing import Any

from envwatch.hj212.decode import decode_details
from envwatch.hj212.packet import DevicePolicy
from envwatch.hj212.segment import HEADER_ORDER

__all__ = ["decode_line"]


def decode_line(line: bytes, key: bytes | None) -> dict[str, Any]:
    """Decode one frame (surrounding whitespace and the trailing CRLF optional)."""
    policy = DevicePolicy(sm4_key=key) if key is not None else None
    result = decode_details(line.strip(), lambda _mn: policy)
    error = result.error
    return {
        "ok": error is None,
        "crc_ok": result.crc_ok,
        "error": None if error is None else f"{error.kind.value}: {error.reason}",
        "version": None if result.version is None else result.version.value,
        "header": {name: result.header[name] for name in HEADER_ORDER if name in result.header},
        "cp": dict(result.cp),
        "factors": {code: dict(fields) for code, fields in result.factors.items()},
    }
