"""Emission limits (排放限值): append-only history per outlet and factor.

A limit is never edited (the database refuses UPDATE and DELETE on ``emission_limits``): a new limit, or a
correction, is a new row with its own ``valid_from``. The limit of a factor in force on day d is the newest
row (highest ``valid_from``, then highest id, so a same-day correction wins) among the rows that apply on d:
``valid_from <= d`` and (``valid_to`` empty or ``valid_to >= d``). A temporary stricter limit with a
``valid_to`` therefore hands back to the older open-ended limit after it ends.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from envwatch.core.errors import InvalidInput
from envwatch.registry.models import EmissionLimitIn
from envwatch.registry.schema import emission_limits
from envwatch.registry.service import as_dict, get_outlet, get_row


def add_emission_limit(
    conn: Connection, outlet_id: int, data: EmissionLimitIn, now: datetime
) -> dict[str, Any]:
    outlet = get_outlet(conn, outlet_id)
    if data.reference_o2 is not None and outlet["kind"] != "gas":
        # 基准氧含量 converts a flue-gas concentration; a water outlet has none
        raise InvalidInput(
            f"reference_o2 applies to gas outlets only; outlet {outlet_id} ({outlet['name']}) is {outlet['kind']}"
        )
    new_id = conn.execute(
        insert(emission_limits).values(outlet_id=outlet_id, **data.model_dump(), created_at=now)
    ).inserted_primary_key[0]  # type: ignore[index]
    return get_row(conn, emission_limits, new_id, "emission limit")


def limit_history(conn: Connection, outlet_id: int) -> list[dict[str, Any]]:
    """Every limit row of an outlet, by factor then in the order they took effect."""
    get_outlet(conn, outlet_id)
    query = (
        select(emission_limits)
        .where(emission_limits.c.outlet_id == outlet_id)
        .order_by(emission_limits.c.factor, emission_limits.c.valid_from, emission_limits.c.id)
    )
    return [as_dict(r) for r in conn.execute(query)]


def limits_in_force(conn: Connection, outlet_id: int, on: date) -> list[dict[str, Any]]:
    """The limit of each factor that applies at the outlet on day ``on`` (factors without one are absent)."""
    get_outlet(conn, outlet_id)
    return limits_in_force_at(conn, [outlet_id], on).get(outlet_id, [])


def limits_in_force_at(
    conn: Connection, outlet_ids: Collection[int], on: date
) -> dict[int, list[dict[str, Any]]]:
    """:func:`limits_in_force` of many outlets in one query (a dashboard of a thousand outlets), keyed by
    outlet id; outlets without a limit are absent. Unknown ids are not an error here."""
    if not outlet_ids:
        return {}
    query = (
        select(emission_limits)
        .where(
            emission_limits.c.outlet_id.in_(sorted(outlet_ids)),
            emission_limits.c.valid_from <= on,
            or_(emission_limits.c.valid_to.is_(None), emission_limits.c.valid_to >= on),
        )
        .order_by(
            emission_limits.c.outlet_id,
            emission_limits.c.factor,
            emission_limits.c.valid_from.desc(),
            emission_limits.c.id.desc(),
        )
    )
    chosen: dict[int, dict[str, dict[str, Any]]] = {}
    for row in conn.execute(query):
        chosen.setdefault(row.outlet_id, {}).setdefault(row.factor, as_dict(row))
    return {outlet_id: list(by_factor.values()) for outlet_id, by_factor in chosen.items()}
