"""Spare parts (备品备件) of an operator: the parts, their moves in and out, and the stock.

Theory of operation
-------------------
- A part (:func:`add_part`) is a name + model of one operator, counted in a unit (个, 瓶, 套 …), with the
  minimum stock below which it should be reordered. Name + model are unique per operator.
- The stock is **the sum of the moves** (``spare_part_moves``, append-only in the database): a delivery is a
  positive quantity, a part taken out (used at a device, sent back, lost) a negative one. A wrong move is
  corrected by an opposite move with its reason, never by editing.
- An outgoing move that would make the stock negative is refused, stating the stock. Two people taking the
  last parts at the same moment must not both succeed, so :func:`move` first locks the part: on PostgreSQL
  ``SELECT … FOR UPDATE`` on the part's row; SQLite has no row locks, so it takes the database's single write
  lock with a no-op write on the part (the driver only begins a transaction at the first write, and a read
  before it would see a stock another connection is about to change). Either way the stock is read after the
  lock, and the second mover waits for the first to commit and then sees its move.

Everything takes ``now`` (DESIGN convention 6) and runs in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.ledger_checks import (
    actor,
    china_today,
    require_contracted_device,
    require_operator,
    text,
)
from envwatch.operations.ledger_schema import spare_part_moves, spare_parts
from envwatch.registry.schema import devices

QUANTITY_MAX: Final = 1_000_000  # one move is at most this many units either way
MIN_STOCK_MAX: Final = 1_000_000
_p = spare_parts.c
_m = spare_part_moves.c


def _stock_of(conn: Connection, part_id: int) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(_m.quantity), 0)).where(_m.part_id == part_id)
    ).scalar()
    return int(total or 0)


def get_part(conn: Connection, part_id: int) -> dict[str, Any]:
    """The part with its current ``stock`` and ``below_min``; NotFound when there is none."""
    row = conn.execute(select(spare_parts).where(_p.id == part_id)).mappings().first()
    if row is None:
        raise NotFound(f"no spare part with id {part_id}")
    out = dict(row)
    out["stock"] = _stock_of(conn, part_id)
    out["below_min"] = out["stock"] < out["min_stock"]
    return out


def part_moves(conn: Connection, part_id: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """The part's moves, newest first, each with the MN of the device it was used at."""
    query = (
        select(spare_part_moves, devices.c.mn)
        .select_from(spare_part_moves)
        .outerjoin(devices, devices.c.id == _m.device_id)
        .where(_m.part_id == part_id)
        .order_by(_m.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def stock(conn: Connection, operator_id: int | None) -> list[dict[str, Any]]:
    """Every part of ``operator_id`` (None: of every operator) with its ``stock`` (the sum of its moves) and
    ``below_min`` (stock under the part's minimum), by operator, name and model."""
    moved = select(_m.part_id, func.sum(_m.quantity).label("stock")).group_by(_m.part_id).subquery("moved")
    query = (
        select(spare_parts, func.coalesce(moved.c.stock, 0).label("stock"))
        .select_from(spare_parts)
        .outerjoin(moved, moved.c.part_id == _p.id)
        .order_by(_p.operator_id, _p.name, _p.model, _p.id)
    )
    if operator_id is not None:
        query = query.where(_p.operator_id == operator_id)
    rows = []
    for r in conn.execute(query).mappings():
        row = dict(r)
        row["stock"] = int(row["stock"])
        row["below_min"] = row["stock"] < row["min_stock"]
        rows.append(row)
    return rows


def add_part(
    conn: Connection,
    *,
    operator_id: int,
    name: str,
    model: str,
    unit: str,
    min_stock: int,
    now: datetime,
) -> dict[str, Any]:
    """Register a part (stock 0 until its first move). NotFound for an unknown operator; InvalidInput for a
    missing or too long name, model or unit, a minimum stock below 0 or above the limit; Conflict when the
    operator already has this name + model."""
    require_operator(conn, operator_id)
    name = text(name, "the name", required=True, most=200)
    model = text(model, "the model", required=True, most=100)
    unit = text(unit, "the unit", required=True, most=16)
    if not 0 <= min_stock <= MIN_STOCK_MAX:
        raise InvalidInput(f"the minimum stock must be 0-{MIN_STOCK_MAX}, not {min_stock}")
    other = conn.execute(
        select(_p.id).where(_p.operator_id == operator_id, _p.name == name, _p.model == model)
    ).first()
    if other is not None:
        raise Conflict(f"operator {operator_id} already has spare part {name} {model}: part {other.id}")
    try:
        new_id = conn.execute(
            insert(spare_parts)
            .values(
                operator_id=operator_id,
                name=name,
                model=model,
                unit=unit,
                min_stock=min_stock,
                created_at=now,
            )
            .returning(_p.id)
        ).scalar_one()
    except IntegrityError:  # the same part added at the same moment by someone else
        raise Conflict(f"operator {operator_id} already has spare part {name} {model}") from None
    return get_part(conn, int(new_id))


def _lock_part(conn: Connection, part_id: int) -> dict[str, Any]:
    if conn.dialect.name == "sqlite":
        # a no-op write takes SQLite's one write lock now; a concurrent mover waits here (busy_timeout)
        conn.execute(update(spare_parts).where(_p.id == part_id).values(min_stock=_p.min_stock))
    row = conn.execute(select(spare_parts).where(_p.id == part_id).with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no spare part with id {part_id}")
    return dict(row)


def move(
    conn: Connection,
    part_id: int,
    quantity: int,
    reason: str,
    device_id: int | None = None,
    *,
    recorded_by: str,
    now: datetime,
) -> dict[str, Any]:
    """Record a move of ``quantity`` units (in > 0, out < 0) with its reason, and for an outgoing move
    optionally the device the parts were used at; returns the move with the part's new ``stock``.
    NotFound for an unknown part; InvalidInput for a quantity of 0 or beyond the limit, a missing reason, a
    device on an incoming move or one not under a contract of the part's operator today, and an outgoing
    move larger than the stock (the message states the stock)."""
    part = _lock_part(conn, part_id)
    if quantity == 0 or abs(quantity) > QUANTITY_MAX:
        raise InvalidInput(f"the quantity must be 1-{QUANTITY_MAX} in or out (negative), not {quantity}")
    why = text(reason, "the reason", required=True, most=200)
    who = actor(recorded_by)
    if device_id is not None:
        if quantity > 0:
            raise InvalidInput("a device is named only on an outgoing move (where the parts were used)")
        require_contracted_device(conn, part["operator_id"], device_id, china_today(now))
    before = _stock_of(conn, part_id)
    if before + quantity < 0:
        raise InvalidInput(
            f"spare part {part['name']} {part['model']} has {before} {part['unit']} in stock: "
            f"{-quantity} cannot be taken out"
        )
    new_id = conn.execute(
        insert(spare_part_moves)
        .values(
            part_id=part_id,
            quantity=quantity,
            reason=why,
            device_id=device_id,
            recorded_by=who,
            recorded_at=now,
        )
        .returning(_m.id)
    ).scalar_one()
    row = conn.execute(select(spare_part_moves).where(_m.id == new_id)).mappings().one()
    return {**dict(row), "stock": before + quantity}
