"""Registry import, pass 1 (校验): every row of every sheet checked, references resolved, nothing written.

Split from ``registry.transfer`` (which holds pass 2, the write, and the export); see its docstring for
the whole import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from envwatch.core.errors import InvalidInput
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
from envwatch.registry.schema import (
    devices,
    enterprises,
    operators,
    outlets,
)
from envwatch.registry.store import DeviceRow, device_row_from, device_row_problems
from envwatch.registry.transfer_files import SheetRows


class Problems(list[str]):
    def add(self, sheet: str, row: int, message: str) -> None:
        self.append(f"sheet {sheet}, row {row}: {message}")


def code_key(text: str) -> str:
    return text.strip().upper()  # credit codes are upper case; people type lower case


# ---- pass 1: check ----


@dataclass
class Plan:
    """The checked rows of every sheet, with what pass 2 needs."""

    enterprises: list[tuple[int, EnterpriseIn, set[str]]] = field(default_factory=list)
    outlets: list[tuple[int, str, OutletIn, set[str]]] = field(default_factory=list)
    devices: list[tuple[int, DeviceRow, tuple[str, str] | None, DeviceOutletIn]] = field(default_factory=list)
    factors: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    limits: list[tuple[int, str, str, EmissionLimitIn]] = field(default_factory=list)
    operators: list[tuple[int, OperatorIn, set[str]]] = field(default_factory=list)
    contracts: list[tuple[int, str, str, str | None, ContractIn, set[str]]] = field(default_factory=list)


class Known:
    """What references may name: the store's records plus the file's (names as the file sets them)."""

    def __init__(self, conn: Connection, sheets: Mapping[str, SheetRows]) -> None:
        self.enterprises = {r.credit_code: r.name for r in conn.execute(select(enterprises))}
        ent_of = {
            r.id: r.credit_code for r in conn.execute(select(enterprises.c.id, enterprises.c.credit_code))
        }
        self.outlets = {
            (ent_of[r.enterprise_id], r.code): (r.name, r.kind) for r in conn.execute(select(outlets))
        }
        self.operators = {r.credit_code for r in conn.execute(select(operators.c.credit_code))}
        self.devices = {r.mn: dict(r._mapping) for r in conn.execute(select(devices))}
        self.outlet_of_id = {
            r.id: (ent_of[r.enterprise_id], r.code)
            for r in conn.execute(select(outlets.c.id, outlets.c.enterprise_id, outlets.c.code))
        }
        # codes named by the file, even on a bad row: a reference to them is not a second problem
        for _, row in sheet_rows(sheets, "enterprises"):
            self.enterprises.setdefault(code_key(row["credit_code"]), row.get("name", ""))
        for _, row in sheet_rows(sheets, "outlets"):
            key = (code_key(row["enterprise_credit_code"]), row["code"])
            self.outlets.setdefault(key, (row.get("name", ""), row.get("kind", "")))
        self.operators.update(code_key(row["credit_code"]) for _, row in sheet_rows(sheets, "operators"))
        self.device_mns = set(self.devices) | {row["mn"] for _, row in sheet_rows(sheets, "devices")}


def sheet_rows(sheets: Mapping[str, SheetRows], name: str) -> list[tuple[int, dict[str, str]]]:
    sheet = sheets.get(name)
    return sheet.rows if sheet is not None else []


def present_columns(sheets: Mapping[str, SheetRows], name: str) -> set[str]:
    sheet = sheets.get(name)
    return set(sheet.columns) if sheet is not None else set()


def model_fields(row: Mapping[str, str], model: type[Any], drop: Iterable[str] = ()) -> dict[str, str]:
    """The row's cells that ``model`` takes. An empty cell of a field whose default is a real value
    (重点排污单位级别 ``other``, 报送基准 ``standard_dry``, 计入有效传输率 ``true``) means that default, as an
    absent cell would: an empty text can never be valid there, and a filled-in template often leaves such
    cells blank. Empty cells of text and optional fields still clear them."""
    fields = model.model_fields
    return {
        k: v
        for k, v in row.items()
        if k in fields
        and k not in drop
        and not (v == "" and not fields[k].is_required() and fields[k].default not in ("", None))
    }


def check_sheets(conn: Connection, sheets: Mapping[str, SheetRows], problems: Problems) -> Plan:
    plan = Plan()
    known = Known(conn, sheets)

    def once(sheet: str, seen: dict[Any, int], key: Any, row_no: int, what: str) -> None:
        if key in seen:
            problems.add(sheet, row_no, f"{what} already on row {seen[key]}")
        seen.setdefault(key, row_no)

    def validated(sheet: str, row_no: int, model: type[Any], data: Mapping[str, Any]) -> Any:
        try:
            return parse(model, dict(data))
        except InvalidInput as exc:
            problems.add(sheet, row_no, exc.message)
            return None

    seen: dict[Any, int] = {}
    cols = present_columns(sheets, "enterprises")
    for row_no, row in sheet_rows(sheets, "enterprises"):
        once("enterprises", seen, code_key(row["credit_code"]), row_no, f"credit code {row['credit_code']}")
        data: dict[str, Any] = model_fields(row, EnterpriseIn)
        if (item := validated("enterprises", row_no, EnterpriseIn, data)) is not None:
            plan.enterprises.append((row_no, item, cols))

    seen = {}
    cols = present_columns(sheets, "outlets")
    for row_no, row in sheet_rows(sheets, "outlets"):
        ecc = code_key(row["enterprise_credit_code"])
        once("outlets", seen, (ecc, row["code"]), row_no, f"outlet {row['code']} of {ecc}")
        ok = ecc in known.enterprises
        if not ok:
            problems.add(
                "outlets", row_no, f"no enterprise with credit code {ecc} in the file or the registry"
            )
        item = validated("outlets", row_no, OutletIn, model_fields(row, OutletIn))
        if item is not None and ok:
            plan.outlets.append((row_no, ecc, item, cols))

    seen = {}
    cols = present_columns(sheets, "devices")
    for row_no, row in sheet_rows(sheets, "devices"):
        rec = dict(row)
        once("devices", seen, rec["mn"], row_no, f"MN {rec['mn']}")
        old = known.devices.get(rec["mn"])
        errs = []
        ecc, ocode = code_key(rec.get("enterprise_credit_code", "")), rec.get("outlet_code", "")
        ref: tuple[str, str] | None = None
        if ecc or ocode:
            ref = (ecc, ocode)
            if not (ecc and ocode):
                errs.append("give both enterprise_credit_code and outlet_code (its outlet), or neither")
            elif ref not in known.outlets:
                errs.append(f"no outlet {ocode} of enterprise {ecc} in the file or the registry")
            else:
                # a device on an outlet shows that outlet's names (set_device_outlet keeps them so)
                rec["enterprise"], rec["outlet"] = known.enterprises.get(ecc, ""), known.outlets[ref][0]
        elif old is not None and old["outlet_id"] is not None:
            ecc, ocode = known.outlet_of_id[old["outlet_id"]]
            errs.append(
                f"device sits on outlet {ocode} of {ecc}; an import cannot take it off: give "
                "enterprise_credit_code and outlet_code"
            )
        for name in ("enterprise", "outlet", "crc_variants"):
            if name not in cols and old is not None:  # column left out: keep what is stored
                rec[name] = old[name]
        errs += device_row_problems(rec)
        extra: dict[str, Any] = {"outlet_id": 0, **{k: rec[k] for k in ("model", "serial") if k in cols}}
        try:
            placed = parse(DeviceOutletIn, extra)
        except InvalidInput as exc:
            errs.append(exc.message)
        if errs:
            problems.add("devices", row_no, "; ".join(errs))
        else:
            plan.devices.append((row_no, device_row_from(rec), ref, placed))

    seen = {}
    cols = present_columns(sheets, "device_factors")
    for row_no, row in sheet_rows(sheets, "device_factors"):
        once(
            "device_factors",
            seen,
            (row["mn"], row["factor"]),
            row_no,
            f"factor {row['factor']} of {row['mn']}",
        )
        if row["mn"] not in known.device_mns:
            problems.add(
                "device_factors", row_no, f"no device with MN {row['mn']} in the file or the registry"
            )
            continue
        data = model_fields(row, DeviceFactorIn)
        if validated("device_factors", row_no, DeviceFactorIn, data) is not None:
            plan.factors.append((row_no, row["mn"], {k: v for k, v in data.items() if k in cols}))

    for row_no, row in sheet_rows(sheets, "emission_limits"):
        key = (code_key(row["enterprise_credit_code"]), row["outlet_code"])
        ok = key in known.outlets
        if not ok:
            problems.add(
                "emission_limits",
                row_no,
                f"no outlet {key[1]} of enterprise {key[0]} in the file or the registry",
            )
        item = validated("emission_limits", row_no, EmissionLimitIn, model_fields(row, EmissionLimitIn))
        if item is not None and ok:
            plan.limits.append((row_no, key[0], key[1], item))

    seen = {}
    cols = present_columns(sheets, "operators")
    for row_no, row in sheet_rows(sheets, "operators"):
        once("operators", seen, code_key(row["credit_code"]), row_no, f"credit code {row['credit_code']}")
        if (item := validated("operators", row_no, OperatorIn, model_fields(row, OperatorIn))) is not None:
            plan.operators.append((row_no, item, cols))

    seen = {}
    cols = present_columns(sheets, "contracts")
    for row_no, row in sheet_rows(sheets, "contracts"):
        occ, ecc = code_key(row["operator_credit_code"]), code_key(row["enterprise_credit_code"])
        once("contracts", seen, (occ, row["contract_no"]), row_no, f"contract {row['contract_no']} of {occ}")
        errs = []
        if occ not in known.operators:
            errs.append(f"no operator with credit code {occ} in the file or the registry")
        if ecc not in known.enterprises:
            errs.append(f"no enterprise with credit code {ecc} in the file or the registry")
        c_outlet = row.get("outlet_code") or None
        if c_outlet is not None and ecc in known.enterprises and (ecc, c_outlet) not in known.outlets:
            errs.append(f"no outlet {c_outlet} of enterprise {ecc} in the file or the registry")
        if errs:
            problems.add("contracts", row_no, "; ".join(errs))
        data = {"enterprise_id": 0, "outlet_id": None, **model_fields(row, ContractIn)}
        if (item := validated("contracts", row_no, ContractIn, data)) is not None and not errs:
            plan.contracts.append((row_no, occ, ecc, c_outlet, item, cols))
    return plan


# ---- pass 2: apply ----
