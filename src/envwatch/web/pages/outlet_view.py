"""What the outlet pages show of an outlet (排放口): the visible outlets, their devices and rated factors,
and a value held against the emission limit (排放限值) in force.

Reads go through the registry services (``registry.service``, ``registry.service_limits``) and the
scope (``web.scope``); this module only assembles. The one query of its own asks which devices sit on
which outlet, a link the registry keeps on ``devices.outlet_id`` without a service function for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fastapi import HTTPException
from sqlalchemy import Connection, select

from envwatch.core.errors import NotFound
from envwatch.registry import service as registry
from envwatch.registry.schema import devices
from envwatch.registry.service_limits import limits_in_force
from envwatch.web.scope import Scope

# "over": above the hour or day limit (or a pH outside its range); "within": judged and fine;
# "none": no limit in force for the factor, or no value to judge
LimitState = Literal["over", "within", "none"]


@dataclass
class OutletCard:
    """One outlet as listed: its row, its enterprise, its visible devices and the limits in force."""

    outlet: dict[str, Any]
    enterprise: dict[str, Any]
    devices: list[dict[str, Any]] = field(default_factory=list)
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)  # factor → limit row


def limit_state(value: Decimal | str | None, limit: dict[str, Any] | None, which: str) -> LimitState:
    """A value against a limit row's ``hour_limit`` or ``day_limit`` (``which`` = "hour" | "day"); a pH
    limit is a range (ph_low..ph_high) that applies to hour and day values alike."""
    if value is None or limit is None:
        return "none"
    number = Decimal(value)  # explained values (day, 折算) arrive as exact decimal strings
    low, high = limit.get("ph_low"), limit.get("ph_high")
    if low is not None or high is not None:
        out = (low is not None and number < low) or (high is not None and number > high)
        return "over" if out else "within"
    bound = limit.get(f"{which}_limit")
    if bound is None:
        return "none"
    return "over" if number > bound else "within"


def visible_outlet(conn: Connection, scope: Scope, outlet_id: int) -> dict[str, Any]:
    """The outlet, or a page 404 with one message for a missing and an out-of-scope one alike."""
    try:
        scope.require_outlet(outlet_id)
        return registry.get_outlet(conn, outlet_id)
    except NotFound:
        raise HTTPException(404, f"no outlet with id {outlet_id}") from None


def visible_enterprises(conn: Connection, scope: Scope, name: str = "") -> list[dict[str, Any]]:
    """The enterprises (排污单位) the scope sees whose name contains ``name``."""
    rows = registry.list_enterprises(conn, name=name.strip() or None)
    return [r for r in rows if scope.sees_enterprise(r["id"])]


def device_ids_on(conn: Connection, scope: Scope, outlet_ids: list[int]) -> dict[int, list[int]]:
    """outlet id → the ids of the visible devices on it."""
    out: dict[int, list[int]] = {i: [] for i in outlet_ids}
    if not outlet_ids:
        return out
    query = (
        select(devices.c.id, devices.c.outlet_id)
        .where(devices.c.outlet_id.in_(outlet_ids))
        .order_by(devices.c.mn)
    )
    for row in conn.execute(query):
        if scope.sees_device(row.id):
            out[row.outlet_id].append(row.id)
    return out


def limits_by_factor(conn: Connection, outlet_id: int, on: date) -> dict[str, dict[str, Any]]:
    return {row["factor"]: row for row in limits_in_force(conn, outlet_id, on)}


def rated_factors(conn: Connection, mn: str) -> list[dict[str, Any]]:
    """The factors counted in the rates (rated), with their units; auxiliary ones (O2, flow…) are left out."""
    return [f for f in registry.list_device_factors(conn, mn) if f["rated"]]


def outlet_cards(conn: Connection, scope: Scope, name: str, today: date) -> list[OutletCard]:
    """Every visible outlet of the visible enterprises matching ``name``, by enterprise then code."""
    cards: list[OutletCard] = []
    for ent in visible_enterprises(conn, scope, name):
        for outlet in registry.list_outlets(conn, ent["id"]):
            if scope.sees_outlet(outlet["id"]):
                cards.append(OutletCard(outlet, ent, limits=limits_by_factor(conn, outlet["id"], today)))
    on = device_ids_on(conn, scope, [c.outlet["id"] for c in cards])
    for card in cards:
        card.devices = [{"id": i} for i in on[card.outlet["id"]]]
    return cards
