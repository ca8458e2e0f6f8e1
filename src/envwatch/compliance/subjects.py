"""Who a finding is about (问题主体): the fleet with its outlets and enterprises, and each device's operator.

Rules judge devices, outlets, enterprises, operators and agencies; a finding names every one of them it
touches, so that each role sees it (``web.scope.Scope.sees_finding``) and the operator assessment counts it.
These two readers give the rules one way to ask, instead of each joining the registry its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, TypedDict

from sqlalchemy import Connection, or_, select

from envwatch.registry.schema import contracts, devices, enterprises, outlets


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A registered device with where it is (None when it is on no outlet yet)."""

    id: int
    mn: str
    name: str
    kind: str  # gas | water
    outlet_id: int | None
    outlet: str
    enterprise_id: int | None
    enterprise: str
    region_code: str


def fleet(conn: Connection) -> dict[int, DeviceInfo]:
    """Every registered device by id."""
    query = (
        select(
            devices.c.id,
            devices.c.mn,
            devices.c.name,
            devices.c.kind,
            devices.c.outlet_id,
            outlets.c.name.label("outlet"),
            outlets.c.enterprise_id,
            enterprises.c.name.label("enterprise"),
            enterprises.c.region_code,
        )
        .select_from(devices)
        .outerjoin(outlets, outlets.c.id == devices.c.outlet_id)
        .outerjoin(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        .order_by(devices.c.id)
    )
    return {
        r.id: DeviceInfo(
            id=r.id,
            mn=r.mn,
            name=r.name or r.mn,
            kind=r.kind,
            outlet_id=r.outlet_id,
            outlet=r.outlet or "",
            enterprise_id=r.enterprise_id,
            enterprise=r.enterprise or "",
            region_code=r.region_code or "",
        )
        for r in conn.execute(query)
    }


def operators_on(conn: Connection, day: date, devices_by_id: dict[int, DeviceInfo]) -> dict[int, int]:
    """Device id → the operator in charge on ``day`` (运维单位): the contract in force covering its outlet,
    else one covering its whole enterprise; of several alike the one that started last. The same rule as
    the rates' operator grouping (``monitoring.rates``). Devices without one are absent."""
    c = contracts.c
    in_force = (
        select(c.operator_id, c.enterprise_id, c.outlet_id)
        .where(c.valid_from <= day, or_(c.valid_to.is_(None), c.valid_to >= day))
        .order_by(c.valid_from, c.id)
    )
    by_outlet: dict[int, int] = {}
    by_enterprise: dict[int, int] = {}
    for row in conn.execute(in_force):  # in start order: a later contract overwrites an earlier one
        if row.outlet_id is None:
            by_enterprise[row.enterprise_id] = row.operator_id
        else:
            by_outlet[row.outlet_id] = row.operator_id
    out: dict[int, int] = {}
    for device in devices_by_id.values():
        operator = (device.outlet_id is not None and by_outlet.get(device.outlet_id)) or (
            device.enterprise_id is not None and by_enterprise.get(device.enterprise_id)
        )
        if operator:
            out[device.id] = operator
    return out


class DeviceSubject(TypedDict):
    subject_kind: Literal["device"]
    subject_id: int
    device_id: int
    outlet_id: int | None
    enterprise_id: int | None
    operator_id: int | None


def about_device(device: DeviceInfo, operator_id: int | None) -> DeviceSubject:
    """The subject fields of a finding about one device: ``Found(key=…, message=…, **about_device(d, op))``."""
    return {
        "subject_kind": "device",
        "subject_id": device.id,
        "device_id": device.id,
        "outlet_id": device.outlet_id,
        "enterprise_id": device.enterprise_id,
        "operator_id": operator_id,
    }
