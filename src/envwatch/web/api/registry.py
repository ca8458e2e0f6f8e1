"""Registry API: enterprises, outlets, devices' outlets and factors, emission limits, operators, contracts.

Scopes (``web.scope``): lists are filtered to what the caller sees, an object outside its scope is 404 as
a missing one, and every write is admin's (registry master data); a write on a visible object by anyone
else is 403.

Request bodies are read with ``json.loads(parse_float=Decimal)``, so a JSON number such as 35.50 reaches the
models as ``Decimal("35.50")``, digit for digit, instead of going through a float; decimal strings are
accepted too. Responses carry decimals as strings and times in China time (``jsonable``). Validation is
done by ``registry.models`` (shared with the file import), so the messages are the same in both.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from envwatch.core.clock import to_china, utcnow
from envwatch.core.errors import InvalidInput
from envwatch.registry import service as svc
from envwatch.registry import service_limits as limits
from envwatch.registry import service_operators as ops
from envwatch.registry.models import (
    ContractIn,
    DeviceFactorIn,
    DeviceOutletIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
    parse,
)
from envwatch.web.api.common import engine_of, jsonable
from envwatch.web.scope import CurrentScope, Scope

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

Rows = list[dict[str, Any]]
Obj = dict[str, Any]
# what a device response shows: never its access password (pw)
DEVICE_FIELDS = (
    "id",
    "mn",
    "name",
    "kind",
    "protocol",
    "outlet_id",
    "enterprise",
    "outlet",
    "model",
    "serial",
)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("the request body is empty: send a JSON object")
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError and NaN/Infinity
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None


JsonBody = Annotated[Any, Depends(_json_body)]


def _body_doc(model: type[BaseModel], *, many: bool = False, partial: bool = False) -> dict[str, Any]:
    """OpenAPI for a body read by ``_json_body`` (FastAPI cannot see it)."""
    schema: dict[str, Any] = model.model_json_schema()
    if partial:
        schema = {
            **schema,
            "required": [],
            "description": "any subset of the fields; the rest stay as they are",
        }
    if many:
        schema = {"type": "array", "items": schema}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _object(body: Any) -> Obj:
    if not isinstance(body, dict):
        raise InvalidInput("expected a JSON object")
    return body


def _day(name: str, text: str | None) -> date:
    """A date parameter (YYYY-MM-DD); without one, today in China."""
    if text is None or text == "":
        return to_china(utcnow()).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}={text!r} is not a date such as 2026-11-22") from None


# ---- enterprises and outlets ----


@router.get("/enterprises", summary="Enterprises (排污单位), filtered by region and name")
def list_enterprises(
    request: Request,
    scope: CurrentScope,
    region: Annotated[
        str | None,
        Query(description="region code prefix: 2 digits province, 4 city, 6 county (350100 = 3501)"),
    ] = None,
    name: Annotated[str | None, Query(description="part of the name")] = None,
) -> Rows:
    with engine_of(request).connect() as conn:
        rows = svc.list_enterprises(conn, region=region, name=name)
    return [jsonable(r) for r in scope.filter(rows, "id", scope.enterprise_ids)]


@router.post(
    "/enterprises", status_code=201, summary="Register an enterprise", openapi_extra=_body_doc(EnterpriseIn)
)
def create_enterprise(request: Request, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_write("registry")
    data = parse(EnterpriseIn, body)
    with engine_of(request).begin() as conn:
        return jsonable(svc.create_enterprise(conn, data, utcnow()))


@router.get("/enterprises/{enterprise_id}", summary="One enterprise")
def get_enterprise(request: Request, enterprise_id: int, scope: CurrentScope) -> Obj:
    scope.require_enterprise(enterprise_id)
    with engine_of(request).connect() as conn:
        return jsonable(svc.get_enterprise(conn, enterprise_id))


@router.patch(
    "/enterprises/{enterprise_id}",
    summary="Change an enterprise (renaming it renames it on its devices)",
    openapi_extra=_body_doc(EnterpriseIn, partial=True),
)
def update_enterprise(request: Request, enterprise_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_enterprise(enterprise_id)
    scope.require_write("registry")
    with engine_of(request).begin() as conn:
        return jsonable(svc.update_enterprise(conn, enterprise_id, _object(body), utcnow()))


@router.get("/enterprises/{enterprise_id}/outlets", summary="Outlets (排放口) of an enterprise")
def list_outlets(request: Request, enterprise_id: int, scope: CurrentScope) -> Rows:
    scope.require_enterprise(enterprise_id)
    with engine_of(request).connect() as conn:
        rows = svc.list_outlets(conn, enterprise_id)
    return [jsonable(r) for r in scope.filter(rows, "id", scope.outlet_ids)]


@router.post(
    "/enterprises/{enterprise_id}/outlets",
    status_code=201,
    summary="Add an outlet to an enterprise",
    openapi_extra=_body_doc(OutletIn),
)
def create_outlet(request: Request, enterprise_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_enterprise(enterprise_id)
    scope.require_write("registry")
    data = parse(OutletIn, body)
    with engine_of(request).begin() as conn:
        return jsonable(svc.create_outlet(conn, enterprise_id, data, utcnow()))


@router.get("/outlets/{outlet_id}", summary="One outlet")
def get_outlet(request: Request, outlet_id: int, scope: CurrentScope) -> Obj:
    scope.require_outlet(outlet_id)
    with engine_of(request).connect() as conn:
        return jsonable(svc.get_outlet(conn, outlet_id))


@router.patch(
    "/outlets/{outlet_id}", summary="Change an outlet", openapi_extra=_body_doc(OutletIn, partial=True)
)
def update_outlet(request: Request, outlet_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_outlet(outlet_id)
    scope.require_write("registry")
    with engine_of(request).begin() as conn:
        return jsonable(svc.update_outlet(conn, outlet_id, _object(body), utcnow()))


# ---- emission limits ----


@router.get(
    "/outlets/{outlet_id}/limits", summary="Emission limits: in force on a day (?on=) or the full history"
)
def get_limits(
    request: Request,
    outlet_id: int,
    scope: CurrentScope,
    on: Annotated[str | None, Query(description="YYYY-MM-DD: only the limits in force that day")] = None,
) -> Rows:
    scope.require_outlet(outlet_id)
    with engine_of(request).connect() as conn:
        if on is None:
            rows = limits.limit_history(conn, outlet_id)
        else:
            rows = limits.limits_in_force(conn, outlet_id, _day("on", on))
    return [jsonable(r) for r in rows]


@router.post(
    "/outlets/{outlet_id}/limits",
    status_code=201,
    summary="Add an emission limit (limits are never edited: a change is a new limit with its valid_from)",
    openapi_extra=_body_doc(EmissionLimitIn),
)
def add_limit(request: Request, outlet_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_outlet(outlet_id)
    scope.require_write("registry")
    data = parse(EmissionLimitIn, body)
    with engine_of(request).begin() as conn:
        return jsonable(limits.add_emission_limit(conn, outlet_id, data, utcnow()))


# ---- devices ----


def _require_device(request: Request, scope: Scope, mn: str) -> None:
    """404 for a device outside the scope, with the message the registry gives a missing one."""
    if not scope.everything:
        with engine_of(request).connect() as conn:
            scope.device_id(conn, mn)


def _device_out(row: Obj) -> Obj:
    return jsonable({k: row[k] for k in DEVICE_FIELDS})


@router.put(
    "/devices/{mn}/outlet",
    summary="Put a device on an outlet (and set its model/serial)",
    openapi_extra=_body_doc(DeviceOutletIn),
)
def set_device_outlet(request: Request, mn: str, scope: CurrentScope, body: JsonBody) -> Obj:
    _require_device(request, scope, mn)
    scope.require_write("registry")
    data = parse(DeviceOutletIn, body)
    with engine_of(request).begin() as conn:
        row = svc.set_device_outlet(conn, mn, data.outlet_id, utcnow(), model=data.model, serial=data.serial)
    return _device_out(row)


@router.get("/devices/{mn}/factors", summary="Monitored factors of a device (unit, range, detection limit)")
def get_factors(request: Request, mn: str, scope: CurrentScope) -> Rows:
    _require_device(request, scope, mn)
    with engine_of(request).connect() as conn:
        return [jsonable(r) for r in svc.list_device_factors(conn, mn)]


@router.put(
    "/devices/{mn}/factors",
    summary="Add or change the listed factors; factors not listed are kept and named in `kept`",
    openapi_extra=_body_doc(DeviceFactorIn, many=True),
)
def put_factors(request: Request, mn: str, scope: CurrentScope, body: JsonBody) -> Obj:
    _require_device(request, scope, mn)
    scope.require_write("registry")
    if not isinstance(body, list):
        raise InvalidInput("expected a JSON array of factors")
    items = [parse(DeviceFactorIn, item, f"[{i}] ") for i, item in enumerate(body)]
    with engine_of(request).begin() as conn:
        rows = svc.upsert_device_factors(conn, mn, items, utcnow())
    listed = {item.factor for item in items}
    return {
        "factors": [jsonable(r) for r in rows],
        "kept": [r["factor"] for r in rows if r["factor"] not in listed],
    }


# ---- operators and contracts ----


@router.get("/operators", summary="Operators (运维单位)")
def list_operators(
    request: Request,
    scope: CurrentScope,
    name: Annotated[str | None, Query(description="part of the name")] = None,
) -> Rows:
    with engine_of(request).connect() as conn:
        rows = ops.list_operators(conn, name=name)
    return [jsonable(r) for r in scope.filter(rows, "id", scope.operator_ids)]


@router.post(
    "/operators", status_code=201, summary="Register an operator", openapi_extra=_body_doc(OperatorIn)
)
def create_operator(request: Request, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_write("registry")
    data = parse(OperatorIn, body)
    with engine_of(request).begin() as conn:
        return jsonable(ops.create_operator(conn, data, utcnow()))


@router.get("/operators/{operator_id}", summary="One operator")
def get_operator(request: Request, operator_id: int, scope: CurrentScope) -> Obj:
    scope.require_operator(operator_id)
    with engine_of(request).connect() as conn:
        return jsonable(ops.get_operator(conn, operator_id))


@router.patch(
    "/operators/{operator_id}",
    summary="Change an operator",
    openapi_extra=_body_doc(OperatorIn, partial=True),
)
def update_operator(request: Request, operator_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_operator(operator_id)
    scope.require_write("registry")
    with engine_of(request).begin() as conn:
        return jsonable(ops.update_operator(conn, operator_id, _object(body), utcnow()))


@router.get("/operators/{operator_id}/contracts", summary="Contracts (运维合同) of an operator")
def list_contracts(request: Request, operator_id: int, scope: CurrentScope) -> Rows:
    scope.require_operator(operator_id)
    with engine_of(request).connect() as conn:
        rows = ops.list_contracts(conn, operator_id)
    return [jsonable(r) for r in rows if scope.sees_contract(r)]


@router.post(
    "/operators/{operator_id}/contracts",
    status_code=201,
    summary="Add a contract with an enterprise (or one of its outlets)",
    openapi_extra=_body_doc(ContractIn),
)
def create_contract(request: Request, operator_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    scope.require_operator(operator_id)
    scope.require_write("registry")
    data = parse(ContractIn, body)
    with engine_of(request).begin() as conn:
        return jsonable(ops.create_contract(conn, operator_id, data, utcnow()))


@router.get("/contracts/{contract_id}", summary="One contract")
def get_contract(request: Request, contract_id: int, scope: CurrentScope) -> Obj:
    with engine_of(request).connect() as conn:
        scope.require_contract(conn, contract_id)
        return jsonable(ops.get_contract(conn, contract_id))


@router.patch(
    "/contracts/{contract_id}",
    summary="Change a contract (e.g. end it with valid_to)",
    openapi_extra=_body_doc(ContractIn, partial=True),
)
def update_contract(request: Request, contract_id: int, scope: CurrentScope, body: JsonBody) -> Obj:
    with engine_of(request).begin() as conn:
        scope.require_contract(conn, contract_id)
        scope.require_write("registry")
        return jsonable(ops.update_contract(conn, contract_id, _object(body), utcnow()))


@router.get(
    "/operators/{operator_id}/scope", summary="Outlets an operator looks after on a day (default today)"
)
def operator_scope(
    request: Request,
    operator_id: int,
    scope: CurrentScope,
    on: Annotated[str | None, Query(description="YYYY-MM-DD; default today (China)")] = None,
) -> Obj:
    scope.require_operator(operator_id)
    day = _day("on", on)
    with engine_of(request).connect() as conn:
        outlet_ids = ops.operator_scope(conn, operator_id, day)
    # a regulator or an enterprise sees the operator, but only its outlets in their own scope
    return {
        "operator_id": operator_id,
        "on": day.isoformat(),
        "outlet_ids": [i for i in outlet_ids if scope.sees_outlet(i)],
    }
