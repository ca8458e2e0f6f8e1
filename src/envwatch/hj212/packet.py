"""Event types (:class:`Packet`, :class:`MessageComplete`, ``NEED_DATA``) and :class:`DevicePolicy`.

A :class:`Packet` is one decoded frame. Header fields, CP keys and factor fields are the exact
strings received; the convenience properties only read them. ``raw`` is the frame exactly as
received (ciphertext included) so it can go to an append-only raw log unchanged, while
``segment`` is the plaintext data segment the CRC was checked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from envwatch.hj212.crc import CrcVariant
from envwatch.hj212.errors import ProtocolError
from envwatch.hj212.version import FLAG_ACK, FLAG_SPLIT, ProtocolVersion

__all__ = [
    "NEED_DATA",
    "DevicePolicy",
    "Event",
    "MessageComplete",
    "NeedData",
    "Packet",
    "Record",
    "int_field",
]


def int_field(value: str | None) -> int | None:
    """A header integer (Flag, PNUM, PNO) or None when absent or not a plain decimal."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


@dataclass(frozen=True)
class Packet:
    """One decoded frame."""

    raw: bytes
    header: Mapping[str, str]
    cp: Mapping[str, str]
    factors: Mapping[str, Mapping[str, str]]
    version: ProtocolVersion
    crc_ok: bool
    crc_variant: CrcVariant | None
    encrypted: bool
    declared_length: int
    segment: str = ""  # plaintext data segment (decrypted when `encrypted`)
    # the CP data area left unparsed (``cp``/``factors`` empty) when the caller asked for it by CN: a
    # gateway hands data packets' CP to its writer process to parse (``Connection(lazy_cp_cns=...)``)
    cp_text: str | None = None

    @property
    def qn(self) -> str | None:
        return self.header.get("QN")

    @property
    def st(self) -> str | None:
        return self.header.get("ST")

    @property
    def cn(self) -> str | None:
        return self.header.get("CN")

    @property
    def pw(self) -> str | None:
        return self.header.get("PW")

    @property
    def mn(self) -> str | None:
        return self.header.get("MN")

    @property
    def flag(self) -> int | None:
        return int_field(self.header.get("Flag"))

    @property
    def pnum(self) -> int | None:
        return int_field(self.header.get("PNUM"))

    @property
    def pno(self) -> int | None:
        return int_field(self.header.get("PNO"))

    @property
    def needs_ack(self) -> bool:
        flag = self.flag
        return flag is not None and bool(flag & FLAG_ACK)

    @property
    def is_split(self) -> bool:
        """Part of a split message: D bit set and PNUM/PNO present.

        A packet without any Flag (2005 style, seen in the field) that carries PNUM and PNO
        counts as split too; Flag=7/11 *without* PNUM/PNO is tolerated as not split.
        """
        if self.pnum is None or self.pno is None:
            return False
        flag = self.flag
        return flag is None or bool(flag & FLAG_SPLIT)

    @property
    def backfill(self) -> bool:
        """2025 ``RF=1``: back-filled (补传) data; store as an upsert, not an insert."""
        return self.header.get("RF") == "1"

    @property
    def data_time(self) -> str | None:
        return self.cp.get("DataTime")


@dataclass(frozen=True)
class Record:
    """The CP keys and factor fields of one DataTime, merged across the parts of a message."""

    data_time: str | None
    cp: Mapping[str, str]
    factors: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class MessageComplete:
    """All parts PNO 1..PNUM of one split message arrived (keyed by MN + QN + CN).

    Follows the Packet event of the last part to arrive; every part was already emitted as a
    Packet (so it could be stored and acknowledged on arrival).
    """

    mn: str | None
    qn: str | None
    cn: str | None
    parts: tuple[Packet, ...]  # ordered by PNO

    @property
    def header(self) -> Mapping[str, str]:
        return self.parts[0].header

    @property
    def records(self) -> tuple[Record, ...]:
        """One record per DataTime, in order of first appearance; a later part wins a conflict."""
        merged: dict[str | None, tuple[dict[str, str], dict[str, dict[str, str]]]] = {}
        for part in self.parts:
            cp, factors = merged.setdefault(part.data_time, ({}, {}))
            cp.update(part.cp)
            for code, fields in part.factors.items():
                factors.setdefault(code, {}).update(fields)
        return tuple(Record(dt, cp, factors) for dt, (cp, factors) in merged.items())


class NeedData:
    """Returned by ``Connection.next_event`` when more bytes are needed (h11 style)."""

    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()

Event = Packet | ProtocolError | MessageComplete


@dataclass(frozen=True)
class DevicePolicy:
    """Per-device (per-MN) receive options, returned by the ``policy_for(mn)`` callback."""

    sm4_key: bytes | None = None  # 16 bytes; needed to read 2025 encrypted CP areas
    # CRC variants accepted on receive. We always *emit* the standard CRC.
    crc_variants: frozenset[CrcVariant] = frozenset({CrcVariant.STANDARD})
    # Diagnostic leniency: deliver CRC failures as Packet(crc_ok=False) instead of BAD_CRC.
    accept_bad_crc: bool = False

    def __post_init__(self) -> None:
        if self.sm4_key is not None and len(self.sm4_key) != 16:
            raise ValueError(f"an SM4 key is 16 bytes, got {len(self.sm4_key)}")
