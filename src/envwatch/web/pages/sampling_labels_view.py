"""Printing labels from the sampling pages (标签打印, WZ-A2-7/8): record the print, then hand back the file.

Every print is a custody event recorded in the same transaction that renders the file: a label that could
not be rendered (unknown size, unusable font) leaves no ``print_label`` behind, and a label file only ever
leaves the server for a print on record. A first print is ``print_label``; every later one is a reprint
with its video (``steps.record_reprint``), whose label says "补打 第n次".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import Response
from sqlalchemy import Connection

from envwatch.core.blob_records import media_type_of_name, store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.errors import InvalidInput
from envwatch.core.settings import Settings
from envwatch.sampling.label_data import label_data, reprint_of
from envwatch.sampling.labels import render_pdf, render_zpl
from envwatch.sampling.reads import sample_row
from envwatch.sampling.steps import StepInput, record_reprint, record_step
from envwatch.web.pages.sampling_common_view import FORMATS, Upload

MEDIA_TYPES = {"pdf": "application/pdf", "zpl": "text/plain; charset=utf-8"}


@dataclass(frozen=True)
class LabelFile:
    content: bytes
    media_type: str
    filename: str

    def response(self) -> Response:
        """The file as a download (the browser saves it or opens its PDF viewer)."""
        return Response(
            self.content,
            media_type=self.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{self.filename}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )


def render_labels(
    conn: Connection,
    settings: Settings,
    rows: Sequence[Mapping[str, Any]],
    size: str,
    fmt: str,
    name: str,
    reprints: Mapping[str, int] | None = None,
) -> LabelFile:
    """The labels of sample ``rows`` as one PDF (or ZPL for Zebra printers)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown label format {fmt!r}: use one of {', '.join(FORMATS)}")
    data = label_data(conn, rows, public_base_url=settings.public_base_url, reprints=reprints)
    if fmt == "zpl":
        return LabelFile(render_zpl(data, size).encode("utf-8"), MEDIA_TYPES["zpl"], f"{name}.zpl")
    return LabelFile(
        render_pdf(data, size, font=settings.sampling_label_font), MEDIA_TYPES["pdf"], f"{name}.pdf"
    )


def print_first(
    conn: Connection,
    settings: Settings,
    codes: Sequence[str],
    given: StepInput,
    *,
    size: str,
    fmt: str,
    name: str,
    actor: str,
    now: datetime,
) -> LabelFile:
    """Record the first print of each sample (``print_label``) and render their labels; any refusal
    (already printed, another agency's person, …) raises and the caller's transaction stores nothing."""
    if not codes:
        raise InvalidInput("there is no registered sample whose label was not printed yet")
    for code in codes:
        record_step(conn, code, "print_label", given, actor=actor, now=now)
    rows = [sample_row(conn, code) for code in codes]
    return render_labels(conn, settings, rows, size, fmt, name)


def reprint(
    conn: Connection,
    settings: Settings,
    blobs: BlobStore,
    code: str,
    *,
    staff_id: int | None,
    video: Upload | None,
    reason: str,
    size: str,
    fmt: str,
    actor: str,
    now: datetime,
) -> LabelFile:
    """Record a reprint with its video (WZ-A2-8), keep the video, and render the label marked as reprint."""
    record_reprint(
        conn,
        code,
        staff_id=staff_id,
        video_sha256=video.sha256 if video is not None else None,
        reason=reason,
        actor=actor,
        now=now,
    )
    assert video is not None  # record_reprint refuses a reprint without its video
    store_recorded(  # only now: a refused reprint keeps no video
        conn, blobs, video.content, purpose="reprint_video", media_type=media_type_of_name(video.filename),
        stored_by=actor, now=now,
    )  # fmt: skip
    row = sample_row(conn, code)
    return render_labels(
        conn, settings, [row], size, fmt, row["code"], {row["code"]: reprint_of(row["prints"])}
    )
