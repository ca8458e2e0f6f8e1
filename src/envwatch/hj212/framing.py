"""Cutting a byte stream into HJ 212 frames (and framing errors).

Theory of operation
-------------------
A frame is ``##`` + 4-digit length + data segment + 4 hex CRC + CRLF. The length field cannot be
the primary boundary: it counts characters while Chinese is multi-byte UTF-8, devices get it
wrong, and for SM4-encrypted 2025 packets it gives the *plaintext* length (the text sent is ~5x
longer). So the **line end is the boundary** (LF, normally preceded by CR; the segment never
contains CR/LF) and the length is checked later by the decoder. The length field is used only to
resolve the ambiguous cases below.

The buffer is always in one of these states:

* **between frames**: leading CR/LF/space/tab are dropped silently. Anything else up to the next
  frame start, line end or ``max_frame_bytes`` is one GARBAGE error. A frame starts at ``##``
  followed by a byte other than ``#`` (in ``###0101`` the first ``#`` is garbage).
* **in a frame** (buffer starts with ``##``): the frame ends at the first LF. If a new ``##``
  comes first, the frame is TRUNCATED there, unless the length field explains it:
  - the declared length ends the segment, a 4-hex CRC follows and then the ``##``: a complete frame
    whose CRLF is missing (accepted, the decoder checks it as usual);
  - the declared length reaches past the ``##`` and the frame up to the next line end is exactly
    consistent with it: the ``##`` was inside the data (a log text, a password).
* **skipping**: the rest of a frame already reported OVERSIZE is dropped up to the next line end
  or ``##``.

No end within ``max_frame_bytes`` is OVERSIZE. At end of stream a partial frame is TRUNCATED
(unless it is length-consistent and only lacks its CRLF).

Invariants
----------
* Each decision depends only on bytes already seen, and is made only once more bytes cannot change
  it, so the frames and errors produced do not depend on how the stream was split into reads
  (byte-at-a-time gives the same events as one big read).
* After :meth:`Framer.feed` returns, at most ``max_frame_bytes + 1`` bytes are buffered.
* Every byte ends up in exactly one frame or error, except dropped whitespace between frames and
  the dropped tail of an oversize frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from envwatch.hj212.errors import ErrorKind, ProtocolError
from envwatch.hj212.segment import peek_header

__all__ = ["Framer", "RawFrame"]

_WHITESPACE: Final = frozenset(b" \t\r\n")
_HASH: Final = ord("#")
_CR: Final = ord("\r")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_HASH_RUN = re.compile(rb"#*")


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A complete frame (with its line end, when it had one), not yet decoded."""

    data: bytes


Chunk = RawFrame | ProtocolError


class _Consumed:
    """Some bytes were dropped silently; keep stepping."""


_CONSUMED: Final = _Consumed()


class Framer:
    """Incremental framer: ``feed(bytes)`` returns the frames and framing errors now decidable."""

    __slots__ = ("_buf", "_max", "_skipping")  # one per connection (see Connection)

    def __init__(self, max_frame_bytes: int) -> None:
        if max_frame_bytes < 16:
            raise ValueError("max_frame_bytes must be at least 16")
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._skipping = False

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes, *, eof: bool = False) -> list[Chunk]:
        """Add ``data``; with ``eof`` also flush whatever is left (the buffer ends up empty)."""
        self._buf += data
        out: list[Chunk] = []
        while True:
            item = self._step(eof)
            if item is None:
                break
            if not isinstance(item, _Consumed):
                out.append(item)
        if eof:
            self._skipping = False
        return out

    # --- states ----------------------------------------------------------------------------------

    def _step(self, eof: bool) -> Chunk | _Consumed | None:
        buf = self._buf
        if not buf:
            return None
        if self._skipping:
            return self._skip(eof)
        if buf[0] in _WHITESPACE:
            stop = 1
            while stop < len(buf) and buf[stop] in _WHITESPACE:
                stop += 1
            del buf[:stop]
            return _CONSUMED
        start = self._frame_start(eof)
        if start == 0:
            return self._in_frame(eof)
        return self._between(start, eof)

    def _frame_start(self, eof: bool) -> int:
        """Offset of the next frame start in the window, -1 if none, -2 if not decidable yet."""
        buf = self._buf
        start = buf.find(b"##", 0, self._max + 1)
        if start == -1:
            return -1
        run_end = _HASH_RUN.match(buf, start + 2).end()  # type: ignore[union-attr]  # '#*' always matches
        if run_end >= len(buf) and not eof:
            return -2  # a '#' may still follow
        return run_end - 2  # in '###0101' the frame starts at the last two '#'

    def _between(self, start: int, eof: bool) -> Chunk | _Consumed | None:
        buf = self._buf
        line_end = buf.find(b"\n", 0, self._max + 1)
        if line_end != -1 and (start < 0 or line_end < start):
            cut = line_end + 1
        elif start > 0:
            cut = start
        elif start == -2:
            # A run of '#' reaches the end of the buffer; the frame starts at its last two bytes.
            if len(buf) - 2 < self._max:
                return None
            cut = self._max  # ...which is past max_frame_bytes whatever follows
        elif len(buf) > self._max:
            cut = self._max
        elif eof:
            cut = len(buf)
        else:
            return None
        cut = min(cut, self._max)  # garbage comes in pieces of at most max_frame_bytes
        raw = bytes(buf[:cut])
        del buf[:cut]
        return ProtocolError(
            ErrorKind.GARBAGE, f"{len(raw)} bytes that are not part of a frame (expected '##')", raw
        )

    def _in_frame(self, eof: bool) -> Chunk | _Consumed | None:
        buf = self._buf
        window = self._max + 1
        line_end = buf.find(b"\n", 2, window)
        inner = buf.find(b"##", 2, window)
        if line_end != -1 and (inner == -1 or line_end < inner):
            return self._take_line(line_end)
        if inner != -1:
            return self._inner_frame_start(inner, line_end, eof)
        if len(buf) > self._max:
            raw = bytes(buf[: self._max])
            del buf[: self._max]
            self._skipping = True
            return self._error(ErrorKind.OVERSIZE, f"no end of frame within {self._max} bytes", raw)
        if not eof:
            return None
        if self._consistent(len(buf)):
            return self._take(len(buf))  # complete but for its CRLF
        raw = bytes(buf)
        buf.clear()
        return self._error(ErrorKind.TRUNCATED, f"stream closed {len(raw)} bytes into a frame", raw)

    def _inner_frame_start(self, inner: int, line_end: int, eof: bool) -> Chunk | None:
        """A ``##`` inside the frame before any line end: a new frame, or part of the data?"""
        buf = self._buf
        if self._consistent(inner):
            return self._take(inner)  # length + CRC fit exactly: only the CRLF is missing
        seg_ends, unresolved = self._segment_ends()
        if unresolved or any(end + 4 > inner for end in seg_ends):
            # The declared length reaches past the '##': it may be data. Decide at the line end.
            if line_end != -1:
                before_lf = line_end - 1 if buf[line_end - 1] == _CR else line_end
                if self._consistent(before_lf):
                    return self._take_line(line_end)
            elif not eof and len(buf) <= self._max:
                return None
            elif eof and len(buf) <= self._max and self._consistent(len(buf)):
                return self._take(len(buf))
        raw = bytes(buf[:inner])
        del buf[:inner]
        return self._error(ErrorKind.TRUNCATED, f"a new '##' started {inner} bytes into this frame", raw)

    def _skip(self, eof: bool) -> _Consumed | None:
        buf = self._buf
        line_end = buf.find(b"\n")
        start = buf.find(b"##")
        if line_end != -1 and (start == -1 or line_end < start):
            del buf[: line_end + 1]
        elif start != -1:
            del buf[:start]
        else:
            keep = 1 if buf[-1] == _HASH and not eof else 0  # may be the first half of '##'
            del buf[: len(buf) - keep]
            return None
        self._skipping = False
        return _CONSUMED

    # --- helpers ---------------------------------------------------------------------------------

    def _take_line(self, line_end: int) -> Chunk:
        if line_end + 1 > self._max:
            raw = bytes(self._buf[: self._max])
            del self._buf[: line_end + 1]
            return self._error(ErrorKind.OVERSIZE, f"frame of {line_end + 1} bytes exceeds {self._max}", raw)
        return self._take(line_end + 1)

    def _take(self, end: int) -> RawFrame:
        frame = bytes(self._buf[:end])
        del self._buf[:end]
        return RawFrame(frame)

    def _declared(self) -> int | None:
        field = self._buf[2:6]
        if len(field) == 4 and field.isdigit():
            return int(field)
        return None

    def _char_end(self, declared: int) -> int | None:
        """Byte offset after ``declared`` UTF-8 characters of segment, None if not buffered yet."""
        head = bytes(self._buf[6 : 6 + 4 * declared])
        if len(head) >= declared and head[:declared].isascii():
            return 6 + declared
        text = head.decode("utf-8", "surrogateescape")
        if len(text) < declared:
            return None
        return 6 + len(text[:declared].encode("utf-8", "surrogateescape"))

    def _segment_ends(self) -> tuple[set[int], bool]:
        """Where the declared length ends the segment (counted as bytes, and as characters).

        The second item is True when the character count reaches past the buffered bytes.
        """
        declared = self._declared()
        if declared is None:
            return set(), False
        char_end = self._char_end(declared)
        ends = {6 + declared}
        if char_end is not None:
            ends.add(char_end)
        return ends, char_end is None

    def _consistent(self, frame_end: int) -> bool:
        """The bytes before ``frame_end`` are ``##`` + length + that many characters + 4 hex."""
        seg_ends, _ = self._segment_ends()
        return any(
            end + 4 == frame_end and _HEX4.fullmatch(self._buf, end, frame_end) is not None
            for end in seg_ends
        )

    def _error(self, kind: ErrorKind, reason: str, raw: bytes) -> ProtocolError:
        header = peek_header(raw[6:].decode("utf-8", "replace"))
        declared = raw[2:6].decode("latin-1")
        return ProtocolError(kind, f"{reason} (length field {declared!r})", raw, header.get("MN"), header)
