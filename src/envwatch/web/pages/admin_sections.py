"""The registry administration's lists and forms (注册管理), described as data: which columns a list shows,
which inputs its create and edit forms have, and which service function saves them.

Every save goes through the registry's input models (``registry.models``, via ``parse`` or the services'
``merged``) and service functions, exactly as ``web.api.registry`` does, inside one transaction: a refused
save leaves nothing behind. Emission limits (排放限值) are append-only: they have no edit form, a row's
"new version" form adds a new limit with its own valid_from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from envwatch.core.errors import Conflict, InvalidInput, NotFound
from envwatch.ingest.queries import read_devices
from envwatch.registry import service as svc
from envwatch.registry import service_limits as limits
from envwatch.registry import service_operators as ops
from envwatch.registry.models import (
    ATTENTION_LEVELS,
    OUTLET_KINDS,
    SERVICE_ZONES,
    ContractIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
    parse,
)
from envwatch.registry.store import PROTOCOLS, put_device
from envwatch.web.pages.admin_common import id_field, values_of
from envwatch.web.pages.i18n import N_

Row = dict[str, Any]
Choices = dict[str, list[tuple[str, str]]]

# labels of the codes the registry stores (msgids, translated where shown)
CODE_LABELS: dict[str, str] = {
    "gas": N_("gas"),
    "water": N_("water"),
    "national": N_("national"),
    "provincial": N_("provincial"),
    "city": N_("city"),
    "county": N_("county"),
    "other": N_("other"),
    "standard_dry": N_("standard state, dry"),
    "standard_wet": N_("standard state, wet"),
    "actual_wet": N_("actual state, wet"),
    # an outlet's service zone (服务区域, CS-4.3.3 on-site time limit)
    "urban": N_("urban"),
    "suburban": N_("suburban"),
    "remote": N_("remote"),
}


@dataclass(frozen=True)
class Column:
    """A list column: the row key, its heading (msgid), and a link pattern such as "/x/{mn}"."""

    key: str
    label: str
    link: str = ""
    coded: bool = False  # the value is a code of CODE_LABELS: shown translated


@dataclass(frozen=True)
class Input:
    """A form input. ``kind``: text, decimal, date, select (options from ``choices[options]``), check,
    secret (a password: never filled in again)."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    options: str = ""
    empty: str = ""  # msgid of an empty first option ("every outlet"); none: a choice is required
    hint: str = ""


@dataclass(frozen=True)
class Section:
    """One list page with its forms."""

    key: str
    title: str
    lead: str  # msgid of the lead-in of a refused save
    columns: tuple[Column, ...]
    create: tuple[Input, ...]
    rows: Callable[[Connection], list[Row]]
    add: Callable[[Connection, Mapping[str, str], datetime], Row]
    edit: tuple[Input, ...] = ()
    change: Callable[[Connection, int, Mapping[str, str], datetime], Row] | None = None
    append_only: bool = False  # rows are never edited: a row's form adds a new version
    hint: str = ""
    row_key: str = "id"


# ---- inputs ----

_LNG = Input("longitude", N_("Longitude (east)"), "decimal")
_LAT = Input("latitude", N_("Latitude (north)"), "decimal")
ENTERPRISE_INPUTS = (
    Input("name", N_("Name"), required=True),
    Input(
        "credit_code", N_("Unified social credit code"), required=True, hint=N_("18 characters (GB 32100)")
    ),
    Input("region_code", N_("Region code"), required=True, hint=N_("6 digits, e.g. 350102")),
    Input("industry", N_("Industry")),
    Input("attention_level", N_("Attention level"), "select", options="levels"),
    Input("address", N_("Address")),
    _LNG,
    _LAT,
)
OUTLET_INPUTS = (
    Input("code", N_("Outlet code"), required=True, hint=N_("e.g. DA001")),
    Input("name", N_("Name"), required=True),
    Input("kind", N_("Kind"), "select", options="kinds"),
    _LNG,
    _LAT,
    Input("permit_number", N_("Discharge permit number")),
    Input(
        "service_zone",
        N_("Service zone"),
        "select",
        options="zones",
        hint=N_("decides how soon the operator must be on site: 4 h urban, 8 h suburban or remote"),
    ),
)
LIMIT_INPUTS = (
    Input("outlet_id", N_("Outlet"), "select", required=True, options="outlets"),
    Input("factor", N_("Factor code"), required=True, hint=N_("e.g. a21026")),
    Input("hour_limit", N_("Hourly limit"), "decimal"),
    Input("day_limit", N_("Daily limit"), "decimal"),
    Input("unit", N_("Unit")),
    Input("reference_o2", N_("Reference O2 (percent)"), "decimal"),
    Input("ph_low", N_("pH low"), "decimal"),
    Input("ph_high", N_("pH high"), "decimal"),
    Input("valid_from", N_("Valid from"), "date", required=True),
    Input("valid_to", N_("Valid to (inclusive)"), "date"),
    Input("legal_source", N_("Legal source"), required=True, hint=N_("e.g. GB 13223-2011 table 1")),
)
OPERATOR_INPUTS = (
    Input("name", N_("Name"), required=True),
    Input(
        "credit_code", N_("Unified social credit code"), required=True, hint=N_("18 characters (GB 32100)")
    ),
    Input("contact", N_("Contact person")),
    Input("phone", N_("Phone")),
)
CONTRACT_INPUTS = (
    Input("enterprise_id", N_("Enterprise"), "select", required=True, options="enterprises"),
    Input("outlet_id", N_("Outlet"), "select", options="outlets", empty=N_("every outlet of the enterprise")),
    Input("contract_no", N_("Contract number"), required=True),
    Input("valid_from", N_("Valid from"), "date", required=True),
    Input("valid_to", N_("Valid to (inclusive)"), "date"),
)
DEVICE_INPUTS = (
    Input("mn", N_("MN"), required=True),
    Input("pw", N_("Access password (PW)"), "secret", required=True),
    Input("name", N_("Name"), required=True),
    Input("kind", N_("Kind"), "select", options="kinds"),
    Input("protocol", N_("Protocol (HJ 212)"), "select", options="protocols"),
    Input("outlet_id", N_("Outlet"), "select", required=True, options="outlets"),
)


def _names(inputs: tuple[Input, ...]) -> list[str]:
    return [i.name for i in inputs]


# ---- rows ----


def _outlet_rows(conn: Connection) -> list[Row]:
    rows = []
    for ent in svc.list_enterprises(conn):
        for outlet in svc.list_outlets(conn, ent["id"]):
            rows.append({**outlet, "enterprise_name": ent["name"]})
    return rows


def _limit_rows(conn: Connection) -> list[Row]:
    rows = []
    for outlet in _outlet_rows(conn):
        for limit in limits.limit_history(conn, outlet["id"]):
            where = {"enterprise_name": outlet["enterprise_name"], "outlet_name": _outlet_label(outlet)}
            rows.append({**limit, **where})
    return rows


def _contract_rows(conn: Connection) -> list[Row]:
    enterprises = {e["id"]: e["name"] for e in svc.list_enterprises(conn)}
    outlets = {o["id"]: _outlet_label(o) for o in _outlet_rows(conn)}
    rows = []
    for op in ops.list_operators(conn):
        for contract in ops.list_contracts(conn, op["id"]):
            rows.append(
                {
                    **contract,
                    "operator_name": op["name"],
                    "enterprise_name": enterprises.get(contract["enterprise_id"], ""),
                    "outlet_name": outlets.get(contract["outlet_id"], "") if contract["outlet_id"] else "",
                }
            )
    return rows


def _outlet_label(outlet: Row) -> str:
    return f"{outlet['code']} {outlet['name']}"


def choices(conn: Connection) -> Choices:
    """The options of every select of the registry forms."""
    outlets = _outlet_rows(conn)
    return {
        "enterprises": [(str(e["id"]), e["name"]) for e in svc.list_enterprises(conn)],
        "outlets": [(str(o["id"]), f"{o['enterprise_name']} · {_outlet_label(o)}") for o in outlets],
        "operators": [(str(o["id"]), o["name"]) for o in ops.list_operators(conn)],
        "kinds": [(k, CODE_LABELS[k]) for k in OUTLET_KINDS],
        "levels": [(k, CODE_LABELS[k]) for k in ATTENTION_LEVELS],
        "zones": [(z, CODE_LABELS[z]) for z in SERVICE_ZONES],
        "protocols": [(p, p) for p in reversed(PROTOCOLS)],
        "bases": [(b, CODE_LABELS[b]) for b in ("standard_dry", "standard_wet", "actual_wet")],
    }


# ---- saves (each inside the caller's transaction) ----


def _add_enterprise(conn: Connection, form: Mapping[str, str], now: datetime) -> Row:
    return svc.create_enterprise(conn, parse(EnterpriseIn, values_of(form, _names(ENTERPRISE_INPUTS))), now)


def _change_enterprise(conn: Connection, row_id: int, form: Mapping[str, str], now: datetime) -> Row:
    return svc.update_enterprise(conn, row_id, values_of(form, _names(ENTERPRISE_INPUTS)), now)


def _add_outlet(conn: Connection, form: Mapping[str, str], now: datetime) -> Row:
    enterprise_id = id_field(form, "enterprise_id", "an enterprise")
    data = parse(OutletIn, values_of(form, _names(OUTLET_INPUTS)))
    return svc.create_outlet(conn, enterprise_id, data, now)


def _change_outlet(conn: Connection, row_id: int, form: Mapping[str, str], now: datetime) -> Row:
    return svc.update_outlet(conn, row_id, values_of(form, _names(OUTLET_INPUTS)), now)


def _add_limit(conn: Connection, form: Mapping[str, str], now: datetime) -> Row:
    outlet_id = id_field(form, "outlet_id", "an outlet")
    data = parse(EmissionLimitIn, values_of(form, _names(LIMIT_INPUTS[1:])))
    return limits.add_emission_limit(conn, outlet_id, data, now)


def _add_operator(conn: Connection, form: Mapping[str, str], now: datetime) -> Row:
    return ops.create_operator(conn, parse(OperatorIn, values_of(form, _names(OPERATOR_INPUTS))), now)


def _change_operator(conn: Connection, row_id: int, form: Mapping[str, str], now: datetime) -> Row:
    return ops.update_operator(conn, row_id, values_of(form, _names(OPERATOR_INPUTS)), now)


def _add_contract(conn: Connection, form: Mapping[str, str], now: datetime) -> Row:
    operator_id = id_field(form, "operator_id", "an operator")
    data = parse(ContractIn, values_of(form, _names(CONTRACT_INPUTS)))
    return ops.create_contract(conn, operator_id, data, now)


def _change_contract(conn: Connection, row_id: int, form: Mapping[str, str], now: datetime) -> Row:
    return ops.update_contract(conn, row_id, values_of(form, _names(CONTRACT_INPUTS)), now)


def _add_device(conn: Connection, form: Mapping[str, str], now: datetime) -> Row:
    """A new data logger, placed on an outlet at once (the API's PUT then PUT …/outlet, in one
    transaction): its enterprise and outlet names are the outlet's."""
    mn = form.get("mn", "").strip()
    if not mn:
        raise InvalidInput("mn is required")
    try:
        svc.device_by_mn(conn, mn)
    except NotFound:
        pass  # a new MN, as this form wants
    else:
        raise Conflict(f"device {mn} is already registered: change it on its own page")
    outlet_id = id_field(form, "outlet_id", "an outlet")
    outlet = svc.get_outlet(conn, outlet_id)
    enterprise = svc.get_enterprise(conn, outlet["enterprise_id"])
    fields = {k: form.get(k, "") for k in ("pw", "name", "kind", "protocol")}
    put_device(conn, mn, {**fields, "enterprise": enterprise["name"], "outlet": outlet["name"]}, now)
    return svc.set_device_outlet(conn, mn, outlet_id, now)


# ---- the sections, in the order of the tabs ----

SECTIONS: tuple[Section, ...] = (
    Section(
        key="enterprises",
        title=N_("Enterprises"),
        lead=N_("The enterprise was not saved:"),
        columns=(
            Column("name", N_("Name")),
            Column("credit_code", N_("Unified social credit code")),
            Column("region_code", N_("Region code")),
            Column("industry", N_("Industry")),
            Column("attention_level", N_("Attention level"), coded=True),
            Column("address", N_("Address")),
            Column("updated_at", N_("Updated")),
        ),
        create=ENTERPRISE_INPUTS,
        rows=lambda conn: svc.list_enterprises(conn),
        add=_add_enterprise,
        edit=ENTERPRISE_INPUTS,
        change=_change_enterprise,
    ),
    Section(
        key="outlets",
        title=N_("Outlets"),
        lead=N_("The outlet was not saved:"),
        columns=(
            Column("enterprise_name", N_("Enterprise")),
            Column("code", N_("Outlet code")),
            Column("name", N_("Name")),
            Column("kind", N_("Kind"), coded=True),
            Column("permit_number", N_("Discharge permit number")),
            Column("service_zone", N_("Service zone"), coded=True),
            Column("updated_at", N_("Updated")),
        ),
        create=(
            Input("enterprise_id", N_("Enterprise"), "select", required=True, options="enterprises"),
            *OUTLET_INPUTS,
        ),
        rows=_outlet_rows,
        add=_add_outlet,
        edit=OUTLET_INPUTS,
        change=_change_outlet,
    ),
    Section(
        key="devices",
        title=N_("Devices"),
        lead=N_("The device was not saved:"),
        columns=(
            Column("mn", N_("MN"), link="/admin/registry/devices/{mn}"),
            Column("name", N_("Name")),
            Column("enterprise", N_("Enterprise")),
            Column("outlet", N_("Outlet")),
            Column("kind", N_("Kind"), coded=True),
            Column("protocol", N_("Protocol (HJ 212)")),
        ),
        create=DEVICE_INPUTS,
        rows=lambda conn: read_devices(conn.engine),
        add=_add_device,
        hint=N_("Outlet, model, serial number, factors and SM4 keys are set on each device's own page."),
        row_key="mn",
    ),
    Section(
        key="limits",
        title=N_("Emission limits"),
        lead=N_("The emission limit was not added:"),
        columns=(
            Column("enterprise_name", N_("Enterprise")),
            Column("outlet_name", N_("Outlet")),
            Column("factor", N_("Factor code")),
            Column("hour_limit", N_("Hourly limit")),
            Column("day_limit", N_("Daily limit")),
            Column("unit", N_("Unit")),
            Column("reference_o2", N_("Reference O2 (percent)")),
            Column("ph_low", N_("pH low")),
            Column("ph_high", N_("pH high")),
            Column("valid_from", N_("Valid from")),
            Column("valid_to", N_("Valid to (inclusive)")),
            Column("legal_source", N_("Legal source")),
        ),
        create=LIMIT_INPUTS,
        rows=_limit_rows,
        add=_add_limit,
        append_only=True,
        hint=N_(
            "Limits are never changed: a change is a new limit with its own valid-from date, and the "
            "history stays."
        ),
    ),
    Section(
        key="operators",
        title=N_("Operators"),
        lead=N_("The operator was not saved:"),
        columns=(
            Column("name", N_("Name")),
            Column("credit_code", N_("Unified social credit code")),
            Column("contact", N_("Contact person")),
            Column("phone", N_("Phone")),
            Column("updated_at", N_("Updated")),
        ),
        create=OPERATOR_INPUTS,
        rows=lambda conn: ops.list_operators(conn),
        add=_add_operator,
        edit=OPERATOR_INPUTS,
        change=_change_operator,
    ),
    Section(
        key="contracts",
        title=N_("Contracts"),
        lead=N_("The contract was not saved:"),
        columns=(
            Column("operator_name", N_("Operator")),
            Column("contract_no", N_("Contract number")),
            Column("enterprise_name", N_("Enterprise")),
            Column("outlet_name", N_("Outlet")),
            Column("valid_from", N_("Valid from")),
            Column("valid_to", N_("Valid to (inclusive)")),
        ),
        create=(
            Input("operator_id", N_("Operator"), "select", required=True, options="operators"),
            *CONTRACT_INPUTS,
        ),
        rows=_contract_rows,
        add=_add_contract,
        edit=CONTRACT_INPUTS,
        change=_change_contract,
    ),
)
BY_KEY = {s.key: s for s in SECTIONS}


@dataclass(frozen=True)
class Tab:
    path: str
    label: str


# the tabs above every registry page: the sections, then import and export
TABS: tuple[Tab, ...] = (
    *(Tab(f"/admin/registry/{s.key}", s.title) for s in SECTIONS),
    Tab("/admin/registry/import", N_("Import")),
)
