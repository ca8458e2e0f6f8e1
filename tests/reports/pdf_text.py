"""Just enough PDF reading for the report tests (no PDF library is a dependency): the page count and the text
of the content streams, decoded the way ReportLab writes them (ASCII85 + Flate streams; the CID font
STSong-Light shows UTF-16BE strings; octal and backslash escapes in string literals)."""

from __future__ import annotations

import base64
import re
import zlib

_STREAM = re.compile(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", re.S)
_LITERAL = re.compile(rb"\((?:\\.|[^\\)])*\)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", pdf))


def _decoded(head: bytes, body: bytes) -> bytes:
    data = body.strip()
    if b"ASCII85Decode" in head:
        data = base64.a85decode(data, adobe=True)
    if b"FlateDecode" in head:
        data = zlib.decompress(data)
    return data


def _unescape(literal: bytes) -> bytes:
    out = bytearray()
    i = 1
    while i < len(literal) - 1:
        c = literal[i : i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        nxt = literal[i + 1 : i + 2]
        if nxt.isdigit():
            digits = re.match(rb"[0-7]{1,3}", literal[i + 1 : i + 4])
            assert digits is not None
            out.append(int(digits.group(0), 8))
            i += 1 + len(digits.group(0))
        else:
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    return bytes(out)


def page_texts(pdf: bytes) -> list[str]:
    """The text of each content stream, in file order (one per page for a ReportLab document)."""
    texts = []
    for found, body in _STREAM.findall(pdf):
        head = found.rsplit(b" obj", 1)[-1]  # the stream's own dictionary, not an earlier object's
        if b"/Length1" in head or b"/Subtype" in head:  # fonts and images: not page content
            continue
        content = _decoded(head, body)
        if b" Tj" not in content and b"TJ" not in content:
            continue
        parts = []
        for literal in _LITERAL.findall(content):
            raw = _unescape(literal)
            parts.append(raw.decode("utf-16-be", "replace") if len(raw) % 2 == 0 else raw.decode("latin-1"))
        texts.append("".join(parts))
    return texts
