"""Shared helpers for the hj212 tests (a plain module, imported as tests.hj212.hj212_helpers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envwatch.hj212 import Connection, NeedData, crc16
from envwatch.hj212.packet import Event

# the standard's worked packets, copied from ../shared/reference so the tests run anywhere
EXAMPLES_PATH = Path(__file__).resolve().parents[1] / "data" / "hj212-standard-examples.json"
KEY = b"0" * 16  # HJ 212-2025 Appendix A.2 test key: sixteen 0x30


def load_examples() -> list[dict[str, Any]]:
    with EXAMPLES_PATH.open(encoding="utf-8") as handle:
        data: list[dict[str, Any]] = json.load(handle)
    return data


def frame(segment: str, *, length: int | None = None, crc: str | None = None, end: bytes = b"\r\n") -> bytes:
    """A frame around ``segment`` with a correct length and CRC unless overridden."""
    body = segment.encode("utf-8")
    declared = len(segment) if length is None else length
    check = f"{crc16(body):04X}" if crc is None else crc
    return b"##%04d" % declared + body + check.encode("ascii") + end


def seg(
    cn: str = "2011", cp: str = "DataTime=20240101000000;a21026-Rtd=12.3,a21026-Flag=N", **extra: str
) -> str:
    """A typical 2017 segment; keyword arguments replace or add header fields."""
    header = {"QN": "20240101000000001", "ST": "31", "CN": cn, "PW": "123456", "MN": "MN0001", "Flag": "5"}
    header.update(extra)
    fields = ";".join(f"{k}={v}" for k, v in header.items() if v != "")
    return f"{fields};CP=&&{cp}&&"


def drain(conn: Connection) -> list[Event]:
    events: list[Event] = []
    while not isinstance(event := conn.next_event(), NeedData):
        events.append(event)
    return events


def feed(data: bytes, *, chunk: int | None = None, eof: bool = False, **kwargs: Any) -> list[Event]:
    """Feed ``data`` to a fresh Connection (in ``chunk``-byte reads) and return all events."""
    conn = Connection(**kwargs)
    step = chunk or max(len(data), 1)
    for start in range(0, len(data), step):
        conn.receive_data(data[start : start + step])
    if eof:
        conn.receive_data(b"")
    return drain(conn)


def kinds(events: list[Event]) -> list[str]:
    """'packet' / 'complete' / the error kind's value, per event."""
    out = []
    for event in events:
        name = type(event).__name__
        if name == "Packet":
            out.append("packet")
        elif name == "MessageComplete":
            out.append("complete")
        else:
            out.append(event.kind.value)  # type: ignore[union-attr]
    return out
