"""Error kinds, the :class:`ProtocolError` event and the internal exception.

Problems with received bytes are never raised out of :class:`~envwatch.hj212.Connection`: each one
becomes a :class:`ProtocolError` *event* carrying the offending bytes, a specific human-readable
reason and, when the header could be read, the header fields (so the caller can attribute the
error to a device by MN). ``ErrorKind.value`` is a short snake_case string meant to be stored as
the verdict next to the raw bytes.

:class:`HJ212Error` is the exception the pure parsing helpers (``parse_segment`` ...) raise; the
decoder and the connection turn it into a :class:`ProtocolError`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envwatch.hj212.packet import Packet

__all__ = ["ErrorKind", "HJ212Error", "ProtocolError"]


class ErrorKind(enum.Enum):
    GARBAGE = "garbage"  # bytes before/between frames that are not a frame
    BAD_LENGTH = "bad_length"  # length field not 4 digits
    LENGTH_MISMATCH = "length_mismatch"  # declared length disagrees with the data (non-encrypted)
    OVERSIZE = "oversize"  # frame exceeds max_frame_bytes before its end was found
    TRUNCATED = "truncated"  # a new '##' started before this frame ended / stream closed mid-frame
    BAD_CRC = "bad_crc"
    MALFORMED = "malformed"  # data segment or CP cannot be parsed
    DECRYPT_FAILED = "decrypt_failed"  # encrypted CP but no key / bad ciphertext
    INCOMPLETE_MESSAGE = "incomplete_message"  # PNUM/PNO parts missing after the timeout


@dataclass(frozen=True)
class ProtocolError:
    """An event: something received could not be turned into a packet (never raised)."""

    kind: ErrorKind
    reason: str
    raw: bytes
    mn: str | None = None
    header: Mapping[str, str] = field(default_factory=dict)
    # INCOMPLETE_MESSAGE only: the parts that did arrive (each was already emitted as a Packet).
    parts: tuple[Packet, ...] = ()

    @property
    def qn(self) -> str | None:
        return self.header.get("QN")

    @property
    def cn(self) -> str | None:
        return self.header.get("CN")

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.reason}"


class HJ212Error(ValueError):
    """Raised by the pure parsing helpers; carries the :class:`ErrorKind` it maps to."""

    def __init__(self, kind: ErrorKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
