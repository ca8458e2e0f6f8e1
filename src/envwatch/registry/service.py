"""Registry service: enterprises (排污单位), outlets (排放口), devices' outlets and factors.

Every function works on a ``Connection`` so that an import can run many of them in one transaction
(``with engine.begin() as conn``) and roll all back on the first problem. Time is an input (``now``).
Limits are in ``service_limits``, operators and contracts in ``service_operators``.

Master data is edited in place: an update validates the whole merged row with the same model as a create
(so a PATCH cannot produce a row a create would refuse) and bumps ``updated_at`` only when something
changed. Devices show their outlet's enterprise and outlet names (``devices.enterprise``/``outlet``);
renaming an enterprise or an outlet rewrites those names and bumps the devices' ``updated_at``, which is
what makes the gateway reload its registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, insert, select, update

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.registry.models import DeviceFactorIn, EnterpriseIn, OutletIn, parse
from envwatch.registry.schema import device_factors, devices, emission_limits, enterprises, outlets

# ---- shared helpers ----


def as_dict(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


def get_row(conn: Connection, table: Table, row_id: int, what: str) -> dict[str, Any]:
    row = conn.execute(select(table).where(table.c.id == row_id)).first()
    if row is None:
        raise NotFound(f"no {what} with id {row_id}")
    return as_dict(row)


def merged(model: type[Any], current: Mapping[str, Any], changes: Mapping[str, Any]) -> Any:
    """The current row with ``changes`` applied, validated as a whole (unknown fields are refused)."""
    if "id" in changes:
        raise InvalidInput("id cannot be changed")
    base = {name: current[name] for name in model.model_fields if name in current}
    return parse(model, {**base, **changes})


def changed_values(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if current.get(k) != v}


# ---- enterprises ----


def credit_code_taken(conn: Connection, table: Table, what: str, code: str, but: int | None = None) -> None:
    """Conflict when another row of ``table`` (enterprises, operators) has the credit code ``code``."""
    query = select(table.c.id, table.c.name).where(table.c.credit_code == code)
    if but is not None:
        query = query.where(table.c.id != but)
    other = conn.execute(query).first()
    if other is not None:
        raise Conflict(f"credit code {code} is already registered for {what} {other.id} ({other.name})")


def _credit_code_taken(conn: Connection, code: str, but: int | None = None) -> None:
    credit_code_taken(conn, enterprises, "enterprise", code, but)


def create_enterprise(conn: Connection, data: EnterpriseIn, now: datetime) -> dict[str, Any]:
    _credit_code_taken(conn, data.credit_code)
    new_id = conn.execute(
        insert(enterprises).values(**data.model_dump(), created_at=now, updated_at=now)
    ).inserted_primary_key[0]  # type: ignore[index]
    return get_enterprise(conn, new_id)


def get_enterprise(conn: Connection, enterprise_id: int) -> dict[str, Any]:
    return get_row(conn, enterprises, enterprise_id, "enterprise")


def get_enterprise_by_credit_code(conn: Connection, credit_code: str) -> dict[str, Any]:
    row = conn.execute(
        select(enterprises).where(enterprises.c.credit_code == credit_code.strip().upper())
    ).first()
    if row is None:
        raise NotFound(f"no enterprise with credit code {credit_code}")
    return as_dict(row)


def region_prefix(code: str) -> str:
    """A region filter as a code prefix: 2 digits = province, 4 = city, 6 = county (GB/T 2260).

    A 6-digit code ending in 00 names the province or city itself (350000 = 福建省, 350100 = 福州市), so
    its trailing 00 pairs are dropped: filtering by 350100 finds every county of 福州市.
    """
    code = code.strip()
    if not (code.isdigit() and code.isascii() and len(code) in (2, 4, 6)):
        raise InvalidInput(f"region {code!r} must be 2 (province), 4 (city) or 6 (county) digits")
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def list_enterprises(
    conn: Connection, *, region: str | None = None, name: str | None = None
) -> list[dict[str, Any]]:
    query = select(enterprises).order_by(enterprises.c.region_code, enterprises.c.id)
    if region:
        query = query.where(enterprises.c.region_code.startswith(region_prefix(region), autoescape=True))
    if name:
        query = query.where(enterprises.c.name.contains(name, autoescape=True))
    return [as_dict(r) for r in conn.execute(query)]


def update_enterprise(
    conn: Connection, enterprise_id: int, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    current = get_enterprise(conn, enterprise_id)
    data: EnterpriseIn = merged(EnterpriseIn, current, changes)
    diff = changed_values(current, data.model_dump())
    if not diff:
        return current
    if "credit_code" in diff:
        _credit_code_taken(conn, data.credit_code, but=enterprise_id)
    conn.execute(update(enterprises).where(enterprises.c.id == enterprise_id).values(**diff, updated_at=now))
    if "name" in diff:
        outlet_ids = select(outlets.c.id).where(outlets.c.enterprise_id == enterprise_id)
        conn.execute(
            update(devices)
            .where(devices.c.outlet_id.in_(outlet_ids))
            .values(enterprise=data.name, updated_at=now)
        )
    return get_enterprise(conn, enterprise_id)


# ---- outlets ----


def _outlet_code_taken(conn: Connection, enterprise_id: int, code: str, but: int | None = None) -> None:
    query = select(outlets.c.id).where(outlets.c.enterprise_id == enterprise_id, outlets.c.code == code)
    if but is not None:
        query = query.where(outlets.c.id != but)
    other = conn.execute(query).first()
    if other is not None:
        raise Conflict(
            f"enterprise {enterprise_id} already has an outlet with code {code} (outlet {other.id})"
        )


def create_outlet(conn: Connection, enterprise_id: int, data: OutletIn, now: datetime) -> dict[str, Any]:
    get_enterprise(conn, enterprise_id)
    _outlet_code_taken(conn, enterprise_id, data.code)
    new_id = conn.execute(
        insert(outlets).values(
            enterprise_id=enterprise_id, **data.model_dump(), created_at=now, updated_at=now
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    return get_outlet(conn, new_id)


def get_outlet(conn: Connection, outlet_id: int) -> dict[str, Any]:
    return get_row(conn, outlets, outlet_id, "outlet")


def list_outlets(conn: Connection, enterprise_id: int) -> list[dict[str, Any]]:
    get_enterprise(conn, enterprise_id)
    query = select(outlets).where(outlets.c.enterprise_id == enterprise_id).order_by(outlets.c.code)
    return [as_dict(r) for r in conn.execute(query)]


def update_outlet(
    conn: Connection, outlet_id: int, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    if "enterprise_id" in changes:
        raise InvalidInput("an outlet cannot move to another enterprise: create a new outlet there")
    current = get_outlet(conn, outlet_id)
    data: OutletIn = merged(OutletIn, current, changes)
    diff = changed_values(current, data.model_dump())
    if not diff:
        return current
    if "code" in diff:
        _outlet_code_taken(conn, current["enterprise_id"], data.code, but=outlet_id)
    if "kind" in diff:
        _check_kind_change(conn, outlet_id, data.kind)
    conn.execute(update(outlets).where(outlets.c.id == outlet_id).values(**diff, updated_at=now))
    if "name" in diff:
        conn.execute(
            update(devices).where(devices.c.outlet_id == outlet_id).values(outlet=data.name, updated_at=now)
        )
    return get_outlet(conn, outlet_id)


def _check_kind_change(conn: Connection, outlet_id: int, kind: str) -> None:
    mns = conn.execute(
        select(devices.c.mn).where(devices.c.outlet_id == outlet_id, devices.c.kind != kind)
    ).scalars()
    if others := list(mns):
        raise InvalidInput(
            f"outlet {outlet_id} cannot become {kind}: device(s) {', '.join(others)} on it are not {kind}"
        )
    if kind == "water":
        with_o2 = conn.execute(
            select(emission_limits.c.id).where(
                emission_limits.c.outlet_id == outlet_id, emission_limits.c.reference_o2.is_not(None)
            )
        ).first()
        if with_o2 is not None:
            raise InvalidInput(f"outlet {outlet_id} cannot become water: it has gas limits with reference_o2")


# ---- devices: outlet, model/serial, factors ----


def device_by_mn(conn: Connection, mn: str) -> dict[str, Any]:
    row = conn.execute(select(devices).where(devices.c.mn == mn)).first()
    if row is None:
        raise NotFound(f"no device with MN {mn}")
    return as_dict(row)


def set_device_outlet(
    conn: Connection,
    mn: str,
    outlet_id: int,
    now: datetime,
    *,
    model: str | None = None,
    serial: str | None = None,
) -> dict[str, Any]:
    """Put a device on an outlet; its shown enterprise/outlet names become the outlet's.

    ``model`` (型号) and ``serial`` (出厂编号) are changed only when given.
    """
    device = device_by_mn(conn, mn)
    outlet = get_outlet(conn, outlet_id)
    if device["kind"] != outlet["kind"]:
        raise InvalidInput(
            f"device {mn} measures {device['kind']} but outlet {outlet_id} ({outlet['name']}) is a "
            f"{outlet['kind']} outlet"
        )
    enterprise = get_enterprise(conn, outlet["enterprise_id"])
    values: dict[str, Any] = {
        "outlet_id": outlet_id,
        "enterprise": enterprise["name"],
        "outlet": outlet["name"],
    }
    if model is not None:
        values["model"] = model
    if serial is not None:
        values["serial"] = serial
    diff = changed_values(device, values)
    if diff:
        conn.execute(update(devices).where(devices.c.id == device["id"]).values(**diff, updated_at=now))
    return device_by_mn(conn, mn)


def _factor_out(row: Row[Any]) -> dict[str, Any]:
    out = as_dict(row)
    out["rated"] = bool(out["rated"])
    return out


def list_device_factors(conn: Connection, mn: str) -> list[dict[str, Any]]:
    device = device_by_mn(conn, mn)
    query = (
        select(device_factors)
        .where(device_factors.c.device_id == device["id"])
        .order_by(device_factors.c.factor)
    )
    return [_factor_out(r) for r in conn.execute(query)]


def upsert_device_factors(
    conn: Connection, mn: str, factors: Sequence[DeviceFactorIn], now: datetime
) -> list[dict[str, Any]]:
    """Add or change the listed factors of a device; factors not listed are kept (never removed here:
    stored measurements and past transmission rates refer to them). Returns every factor of the device."""
    device = device_by_mn(conn, mn)
    seen: set[str] = set()
    for item in factors:
        if item.factor in seen:
            raise InvalidInput(f"factor {item.factor} is listed twice")
        seen.add(item.factor)
    existing = {
        r["factor"]: r
        for r in (
            as_dict(r)
            for r in conn.execute(select(device_factors).where(device_factors.c.device_id == device["id"]))
        )
    }
    for item in factors:
        values = item.model_dump()
        values["rated"] = int(item.rated)
        old = existing.get(item.factor)
        if old is None:
            conn.execute(
                insert(device_factors).values(
                    device_id=device["id"], **values, created_at=now, updated_at=now
                )
            )
        elif diff := changed_values(old, values):
            conn.execute(
                update(device_factors).where(device_factors.c.id == old["id"]).values(**diff, updated_at=now)
            )
    return list_device_factors(conn, mn)
