"""Certified reference materials (标准物质): an operator's standard gases and standard solutions, each with its
certificate (证书) and the last day it may be used (SX-20.5: only certified materials within their validity).

Append-only: a new bottle, or a renewed certificate, is a new row. A calibration or standard-sample check
cites the materials it used (``field_record_materials``); :func:`require_usable` is the check it runs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.operations.records_schema import reference_materials
from envwatch.registry.schema import operators

MATERIAL_KINDS = ("gas", "solution")
LIST_MAX = 1000
_m = reference_materials.c


@dataclass(frozen=True)
class MaterialDraft:
    operator_id: int
    kind: str  # gas 标准气体 | solution 标准溶液
    name: str  # e.g. SO2 in N2
    certificate_no: str
    lot: str
    unit: str
    uncertainty: str
    maker: str
    valid_until: date
    concentration: Decimal | None = None


def _text(value: str, what: str, most: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required")
    if len(value) > most:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {most}")
    return value


def add_material(conn: Connection, draft: MaterialDraft, recorded_by: str, now: datetime) -> dict[str, Any]:
    """Record a certificate of ``draft.operator_id``; InvalidInput naming the field that is wrong."""
    if conn.execute(select(operators.c.id).where(operators.c.id == draft.operator_id)).first() is None:
        raise NotFound(f"no operator with id {draft.operator_id}")
    if draft.kind not in MATERIAL_KINDS:
        raise InvalidInput(f"a reference material is gas or solution, not {draft.kind!r}")
    if draft.concentration is not None and (not draft.concentration.is_finite() or draft.concentration < 0):
        raise InvalidInput(f"the concentration must be a number not below 0, not {draft.concentration}")
    row = {
        "operator_id": draft.operator_id,
        "kind": draft.kind,
        "name": _text(draft.name, "the name", 200),
        "certificate_no": _text(draft.certificate_no, "the certificate number (证书编号)", 64),
        "lot": _text(draft.lot, "the lot or bottle number", 64, required=False),
        "concentration": draft.concentration,
        "unit": _text(draft.unit, "the unit", 32, required=draft.concentration is not None),
        "uncertainty": _text(draft.uncertainty, "the uncertainty", 64, required=False),
        "maker": _text(draft.maker, "the maker", 200, required=False),
        "valid_until": draft.valid_until,
        "recorded_by": recorded_by,
        "recorded_at": now,
    }
    new_id = conn.execute(insert(reference_materials).values(**row).returning(_m.id)).scalar_one()
    return get_material(conn, int(new_id))


def get_material(conn: Connection, material_id: int) -> dict[str, Any]:
    row = conn.execute(select(reference_materials).where(_m.id == material_id)).mappings().first()
    if row is None:
        raise NotFound(f"no reference material with id {material_id}")
    return dict(row)


def list_materials(
    conn: Connection,
    operator_ids: Collection[int] | None = None,
    valid_on: date | None = None,
    *,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Certificates of these operators (None: all), those valid on ``valid_on`` if given; the latest
    validity first."""
    if not 1 <= limit <= LIST_MAX:
        raise InvalidInput(f"limit must be 1-{LIST_MAX}, not {limit}")
    query = select(reference_materials)
    if operator_ids is not None:
        query = query.where(_m.operator_id.in_(list(operator_ids)))
    if valid_on is not None:
        query = query.where(_m.valid_until >= valid_on)
    query = query.order_by(_m.valid_until.desc(), _m.id.desc()).limit(limit).offset(max(offset, 0))
    return [dict(r) for r in conn.execute(query).mappings()]


def require_usable(
    conn: Connection, material_ids: Sequence[int], operator_id: int, day: date
) -> list[dict[str, Any]]:
    """The materials a record cites, each of ``operator_id`` and valid on ``day`` (SX-20.5).

    NotFound for an unknown id or another operator's material (the same answer), InvalidInput for a
    repeated id or an expired certificate (naming the certificate and its last valid day)."""
    ids = [int(m) for m in material_ids]
    repeated = sorted({m for m in ids if ids.count(m) > 1})
    if repeated:
        raise InvalidInput(f"reference material {', '.join(map(str, repeated))} is listed more than once")
    found: list[dict[str, Any]] = []
    for material_id in ids:
        row = conn.execute(select(reference_materials).where(_m.id == material_id)).mappings().first()
        if row is None or row["operator_id"] != operator_id:
            raise NotFound(f"no reference material with id {material_id} at operator {operator_id}")
        if row["valid_until"] < day:
            raise InvalidInput(
                f"reference material {material_id} ({row['name']}, certificate {row['certificate_no']}) is valid "
                f"until {row['valid_until'].isoformat()}: it cannot be used on {day.isoformat()} (SX-20.5)"
            )
        found.append(dict(row))
    return found
