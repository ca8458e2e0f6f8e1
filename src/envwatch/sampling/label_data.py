"""What a sample's label shows, from its stored row (样品识别标识内容, WZ-A2-7/8): shared by the API and the CLI.

A label carries only facts already on record: the code issued with the sample, the enterprise (or, for a
self-delivered sample, the client who brought it), the point, the item, the sampling time, the sampler and
the preservative entered on site, and the verification URL its QR code holds. Nothing on a label is typed
at print time, so a label cannot say something the platform does not.

``reprint`` is the count a reprint label shows ("补打 第n次"): the first print is 0, the sample's n-th print
is reprint n - 1 (``samples.prints`` counts every print).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from envwatch.registry.agencies_schema import agency_staff
from envwatch.registry.schema import enterprises
from envwatch.sampling.label_layout import LabelData


def verify_url(public_base_url: str, code: str) -> str:
    """What the QR code carries: ``<public_base_url>/v/<code>`` (the verification page)."""
    return f"{public_base_url.rstrip('/')}/v/{code}"


def reprint_of(prints: int) -> int:
    """The reprint count of a sample's latest label, given how many labels were printed (1 = original)."""
    return max(prints - 1, 0)


def _names(conn: Connection, table: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids))))
    return {row.id: row.name for row in rows}


def label_data(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    *,
    public_base_url: str,
    reprints: Mapping[str, int] | None = None,
) -> list[LabelData]:
    """The labels of sample ``rows`` (``samples`` rows), in order; ``reprints`` maps a code to the reprint
    count its label shows (default 0, the original print)."""
    enterprise_names = _names(conn, enterprises, {r["enterprise_id"] for r in rows if r["enterprise_id"]})
    sampler_names = _names(conn, agency_staff, {r["sampler_staff_id"] for r in rows if r["sampler_staff_id"]})
    out = []
    for row in rows:
        # a self-delivered sample may come from someone outside the registry: the client names it
        enterprise = enterprise_names.get(row["enterprise_id"], "") if row["enterprise_id"] else ""
        out.append(
            LabelData(
                code=row["code"],
                verify_url=verify_url(public_base_url, row["code"]),
                enterprise=enterprise or row["client_name"],
                point=row["point_name"],
                item=row["item"],
                sampled_at=row["sampled_at"],
                sampler=sampler_names.get(row["sampler_staff_id"], "") if row["sampler_staff_id"] else "",
                preservative=row["preservative"],
                reprint=(reprints or {}).get(row["code"], 0),
            )
        )
    return out
