"""Spare parts (备品备件) on the real stores (SQLite and PostgreSQL): parts, moves, the stock as the sum of the
moves, the below-minimum flag, every refusal with its message, and two movers taking the last parts at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.operations.spare_parts import add_part, get_part, move, part_moves, stock
from tests.helpers import GAS_MN, NOW
from tests.operations.ledger_world import LedgerWorld, build


@pytest.fixture
def world(engine: Engine) -> LedgerWorld:
    return build(engine)


def _part(conn: Connection, w: LedgerWorld, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "operator_id": w.op,
        "name": "采样泵",
        "model": "KNF-N86",
        "unit": "个",
        "min_stock": 2,
        "now": NOW,
    }
    fields.update(overrides)
    return add_part(conn, **fields)


def _move(conn: Connection, part_id: int, quantity: int, reason: str = "入库", **more: Any) -> dict[str, Any]:
    return move(conn, part_id, quantity, reason, recorded_by="fs_a", now=NOW, **more)


def test_stock_is_the_sum_of_the_moves(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        pump = _part(conn, world)
        assert (pump["stock"], pump["below_min"]) == (0, True)
        filt = _part(conn, world, name="过滤器", model="F-1", min_stock=0)
        theirs = _part(conn, world, operator_id=world.other_op)
        assert _move(conn, pump["id"], 5)["stock"] == 5
        used = _move(conn, pump["id"], -3, "更换", device_id=world.device)
        assert (used["stock"], used["quantity"], used["device_id"]) == (-3 + 5, -3, world.device)
        _move(conn, theirs["id"], 1)
    with engine.connect() as conn:
        rows = stock(conn, world.op)
        assert [(r["name"], r["stock"], r["below_min"]) for r in rows] == [
            ("过滤器", 0, False),
            ("采样泵", 2, False),
        ]
        assert [r["id"] for r in stock(conn, None)] == [filt["id"], pump["id"], theirs["id"]]
        assert get_part(conn, pump["id"])["stock"] == 2
        assert [(m["quantity"], m["mn"]) for m in part_moves(conn, pump["id"])] == [(-3, GAS_MN), (5, None)]
    with engine.begin() as conn:
        _move(conn, pump["id"], -1, "损坏")
    with engine.connect() as conn:
        assert [(r["stock"], r["below_min"]) for r in stock(conn, world.op)][1] == (1, True)  # under 2


def test_a_move_that_would_make_the_stock_negative_is_refused(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        pump = _part(conn, world)
        _move(conn, pump["id"], 2)
    with pytest.raises(InvalidInput) as info, engine.begin() as conn:
        _move(conn, pump["id"], -3, "更换")
    assert str(info.value) == "spare part 采样泵 KNF-N86 has 2 个 in stock: 3 cannot be taken out"
    with engine.begin() as conn:
        assert _move(conn, pump["id"], -2, "更换")["stock"] == 0  # exactly the stock is fine
    with (
        pytest.raises(InvalidInput, match="has 0 个 in stock: 1 cannot be taken out"),
        engine.begin() as conn,
    ):
        _move(conn, pump["id"], -1, "更换")
    with engine.connect() as conn:
        assert [m["quantity"] for m in part_moves(conn, pump["id"])] == [-2, 2]


def test_refusals(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        pump = _part(conn, world)
    part_cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({}, Conflict, f"operator {world.op} already has spare part 采样泵 KNF-N86: part {pump['id']}"),
        ({"name": ""}, InvalidInput, "the name is required"),
        ({"model": " "}, InvalidInput, "the model is required"),
        ({"unit": ""}, InvalidInput, "the unit is required"),
        ({"unit": "x" * 17}, InvalidInput, "the unit is 17 characters; at most 16"),
        ({"min_stock": -1}, InvalidInput, "the minimum stock must be 0-1000000, not -1"),
        ({"operator_id": 999999}, NotFound, "no operator with id 999999"),
    ]
    for overrides, error, message in part_cases:
        with pytest.raises(error) as info, engine.begin() as conn:
            _part(conn, world, **overrides)
        assert str(info.value) == message, overrides
    move_cases: list[tuple[int, str, dict[str, Any], type[Exception], str]] = [
        (0, "x", {}, InvalidInput, "the quantity must be 1-1000000 in or out (negative), not 0"),
        (1_000_001, "x", {}, InvalidInput, "the quantity must be 1-1000000 in or out (negative), not 1000001"),
        (1, " ", {}, InvalidInput, "the reason is required"),
        (1, "x" * 201, {}, InvalidInput, "the reason is 201 characters; at most 200"),
        (1, "x", {"device_id": world.device}, InvalidInput,
         "a device is named only on an outgoing move (where the parts were used)"),
        (-1, "x", {"device_id": world.foreign_device}, InvalidInput,
         f"device 010000A8900016F000169DC2 is not on an outlet under a contract of operator {world.op} on 2026-11-22"),
    ]  # fmt: skip
    for quantity, reason, more, error, message in move_cases:
        with pytest.raises(error) as info, engine.begin() as conn:
            _move(conn, pump["id"], quantity, reason, **more)
        assert str(info.value) == message, (quantity, reason)
    with pytest.raises(NotFound, match="no spare part with id 999999"), engine.begin() as conn:
        _move(conn, 999999, 1)
    with pytest.raises(NotFound, match="no spare part with id 999999"), engine.connect() as conn:
        get_part(conn, 999999)
    with engine.connect() as conn:
        assert part_moves(conn, pump["id"]) == []


def test_two_movers_cannot_both_take_the_last_parts(engine: Engine, world: LedgerWorld) -> None:
    """The first mover holds its transaction open; the second must wait for it and then see its move (without
    the lock it would read the old stock of 5 and pass, leaving -5)."""
    with engine.begin() as conn:
        pump = _part(conn, world)
        _move(conn, pump["id"], 5)
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            with engine.begin() as conn:
                outcome["row"] = _move(conn, pump["id"], -5, "更换")
        except InvalidInput as exc:
            outcome["error"] = str(exc)

    with engine.begin() as first:
        _move(first, pump["id"], -5, "更换")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)  # the second mover is now waiting for the part
        assert thread.is_alive() and not outcome
    thread.join(timeout=30)
    assert outcome == {"error": "spare part 采样泵 KNF-N86 has 0 个 in stock: 5 cannot be taken out"}
    with engine.connect() as conn:
        assert get_part(conn, pump["id"])["stock"] == 0


def test_moves_are_append_only(engine: Engine, world: LedgerWorld) -> None:
    with engine.begin() as conn:
        _move(conn, _part(conn, world)["id"], 3)
    for sql in ("UPDATE spare_part_moves SET quantity = 300", "DELETE FROM spare_part_moves"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
