"""Operators (运维单位), their contracts (运维合同) and what a contract covers on a given day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from envwatch.core.errors import Conflict, InvalidInput
from envwatch.registry.models import ContractIn, OperatorIn
from envwatch.registry.schema import contracts, operators, outlets
from envwatch.registry.service import (
    as_dict,
    changed_values,
    credit_code_taken,
    get_enterprise,
    get_outlet,
    get_row,
    merged,
)

# ---- operators ----


def _credit_code_taken(conn: Connection, code: str, but: int | None = None) -> None:
    credit_code_taken(conn, operators, "operator", code, but)


def create_operator(conn: Connection, data: OperatorIn, now: datetime) -> dict[str, Any]:
    _credit_code_taken(conn, data.credit_code)
    new_id = conn.execute(
        insert(operators).values(**data.model_dump(), created_at=now, updated_at=now)
    ).inserted_primary_key[0]  # type: ignore[index]
    return get_operator(conn, new_id)


def get_operator(conn: Connection, operator_id: int) -> dict[str, Any]:
    return get_row(conn, operators, operator_id, "operator")


def list_operators(conn: Connection, *, name: str | None = None) -> list[dict[str, Any]]:
    query = select(operators).order_by(operators.c.id)
    if name:
        query = query.where(operators.c.name.contains(name, autoescape=True))
    return [as_dict(r) for r in conn.execute(query)]


def update_operator(
    conn: Connection, operator_id: int, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    current = get_operator(conn, operator_id)
    data: OperatorIn = merged(OperatorIn, current, changes)
    diff = changed_values(current, data.model_dump())
    if not diff:
        return current
    if "credit_code" in diff:
        _credit_code_taken(conn, data.credit_code, but=operator_id)
    conn.execute(update(operators).where(operators.c.id == operator_id).values(**diff, updated_at=now))
    return get_operator(conn, operator_id)


# ---- contracts ----


def _check_contract(conn: Connection, operator_id: int, data: ContractIn, but: int | None = None) -> None:
    get_enterprise(conn, data.enterprise_id)
    if data.outlet_id is not None:
        outlet = get_outlet(conn, data.outlet_id)
        if outlet["enterprise_id"] != data.enterprise_id:
            raise InvalidInput(
                f"outlet {data.outlet_id} ({outlet['name']}) belongs to enterprise {outlet['enterprise_id']}, "
                f"not to the contract's enterprise {data.enterprise_id}"
            )
    query = select(contracts.c.id).where(
        contracts.c.operator_id == operator_id, contracts.c.contract_no == data.contract_no
    )
    if but is not None:
        query = query.where(contracts.c.id != but)
    other = conn.execute(query).first()
    if other is not None:
        raise Conflict(
            f"operator {operator_id} already has a contract numbered {data.contract_no} (contract {other.id})"
        )


def create_contract(conn: Connection, operator_id: int, data: ContractIn, now: datetime) -> dict[str, Any]:
    get_operator(conn, operator_id)
    _check_contract(conn, operator_id, data)
    new_id = conn.execute(
        insert(contracts).values(operator_id=operator_id, **data.model_dump(), created_at=now, updated_at=now)
    ).inserted_primary_key[0]  # type: ignore[index]
    return get_contract(conn, new_id)


def get_contract(conn: Connection, contract_id: int) -> dict[str, Any]:
    return get_row(conn, contracts, contract_id, "contract")


def list_contracts(conn: Connection, operator_id: int) -> list[dict[str, Any]]:
    get_operator(conn, operator_id)
    query = (
        select(contracts)
        .where(contracts.c.operator_id == operator_id)
        .order_by(contracts.c.valid_from, contracts.c.id)
    )
    return [as_dict(r) for r in conn.execute(query)]


def update_contract(
    conn: Connection, contract_id: int, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Change a contract (e.g. end it early with ``valid_to``); the operator cannot change."""
    if "operator_id" in changes:
        raise InvalidInput("a contract cannot move to another operator: create a new contract")
    current = get_contract(conn, contract_id)
    data: ContractIn = merged(ContractIn, current, changes)
    diff = changed_values(current, data.model_dump())
    if not diff:
        return current
    _check_contract(conn, current["operator_id"], data, but=contract_id)
    conn.execute(update(contracts).where(contracts.c.id == contract_id).values(**diff, updated_at=now))
    return get_contract(conn, contract_id)


def operator_scope(conn: Connection, operator_id: int, on: date) -> list[int]:
    """Ids of the outlets an operator looks after on day ``on``: those of its contracts in force that day
    (``valid_from <= on`` and ``valid_to`` empty or ``>= on``); a contract without an outlet covers every
    outlet of its enterprise, including outlets added after it was signed."""
    get_operator(conn, operator_id)
    return sorted(contracted_outlets(conn, operator_id, on, on)[0])


def contracted_outlets(
    conn: Connection, operator_id: int, first: date, last: date
) -> tuple[frozenset[int], frozenset[int]]:
    """The outlets an operator looks after on any day of first..last (the rule of :func:`operator_scope`),
    and the enterprises its contracts there cover whole."""
    in_force = select(contracts.c.enterprise_id, contracts.c.outlet_id).where(
        contracts.c.operator_id == operator_id,
        contracts.c.valid_from <= last,
        or_(contracts.c.valid_to.is_(None), contracts.c.valid_to >= first),
    )
    scope: set[int] = set()
    whole: set[int] = set()
    for row in conn.execute(in_force):
        if row.outlet_id is None:
            whole.add(row.enterprise_id)
        else:
            scope.add(row.outlet_id)
    if whole:
        scope.update(conn.execute(select(outlets.c.id).where(outlets.c.enterprise_id.in_(whole))).scalars())
    return frozenset(scope), frozenset(whole)
