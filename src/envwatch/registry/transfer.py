"""Import and export of the whole registry (``envwatch registry import|export``), xlsx or csv.

The layout of the files is in ``transfer_files``. An import runs in two passes:

1. check: every row of every sheet is validated with the registry's input models (``registry.models``)
   and the device row check of ``registry.store``; references (an outlet's enterprise 排污单位, a
   device's outlet 排放口, a limit's outlet, a contract's 运维单位) must name a record in the store or in
   the file. Every problem is collected as "sheet devices, row 7: …"; any problem → nothing is written.
2. apply, in one transaction, through the service functions (so the same Conflict/InvalidInput rules as
   the API hold): each row runs in a savepoint, so that a row the database-side checks refuse (a gas
   device on a water outlet, reference_o2 on a water outlet …) is reported and the next rows are still
   checked; at the end any problem rolls everything back. ``dry_run`` always rolls back.

Upsert keys: enterprises and operators by 统一社会信用代码, outlets by (enterprise, code), devices by MN,
factors by (MN, factor), contracts by (operator, contract_no). An optional column missing from a sheet
leaves that value as stored (a present but empty cell clears it). Emission limits (排放限值) are
append-only: a row identical to a stored one (outlet, factor, valid_from and every value) is skipped —
each stored row matches at most one file row, so exporting a history with repeated rows and importing it
again is still a no-op.

Not carried by the files: ids, created_at/updated_at, SM4 key history (only the current key) and filings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from envwatch.core.errors import EnvwatchError, InvalidInput
from envwatch.registry import service as svc
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
from envwatch.registry.schema import (
    contracts,
    device_factors,
    device_keys,
    devices,
    emission_limits,
    enterprises,
    operators,
    outlets,
)
from envwatch.registry.service_limits import add_emission_limit
from envwatch.registry.store import DeviceRow, upsert_device_rows
from envwatch.registry.transfer_check import (
    Plan,
    Problems,
    check_sheets,
)
from envwatch.registry.transfer_files import SHEETS, read_registry, write_registry

Progress = Callable[[str], None]
_LIMIT_VALUES = (
    "factor",
    "hour_limit",
    "day_limit",
    "unit",
    "reference_o2",
    "ph_low",
    "ph_high",
    "valid_from",
    "valid_to",
    "legal_source",
)
_DEVICE_VALUES = ("pw", "name", "enterprise", "outlet", "kind", "protocol", "crc_variants", "outlet_id")


@dataclass
class SheetCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # emission limits already stored

    def text(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped"
        )


@dataclass
class ImportReport:
    counts: dict[str, SheetCounts] = field(default_factory=lambda: {s: SheetCounts() for s in SHEETS})
    keys_added: int = 0
    dry_run: bool = False

    def lines(self) -> list[str]:
        out = [f"{sheet}: {c.text()}" for sheet, c in self.counts.items()]
        out.append(f"SM4 keys added: {self.keys_added}")
        return out


def _counted(counts: SheetCounts, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
    if before is None:
        counts.created += 1
    elif any(before.get(k) != v for k, v in after.items() if k != "updated_at"):
        counts.updated += 1
    else:
        counts.unchanged += 1


def _key_counts(conn: Connection) -> dict[int, int]:
    query = select(device_keys.c.device_id, func.count()).group_by(device_keys.c.device_id)
    return {int(device_id): int(n) for device_id, n in conn.execute(query)}


def _apply(
    conn: Connection,
    plan: Plan,
    now: datetime,
    report: ImportReport,
    problems: Problems,
    progress: Progress,
) -> None:
    def guarded(sheet: str, row_no: int, action: Callable[[], None]) -> None:
        try:
            with conn.begin_nested():  # a refused row leaves nothing behind for the rows after it
                action()
        except EnvwatchError as exc:
            problems.add(sheet, row_no, exc.message)

    def ent_id(code: str) -> int:
        return int(svc.get_enterprise_by_credit_code(conn, code)["id"])

    def outlet_id(code: str, outlet_code: str) -> int:
        eid = ent_id(code)
        found = conn.execute(
            select(outlets.c.id).where(outlets.c.enterprise_id == eid, outlets.c.code == outlet_code)
        ).scalar()
        if found is None:
            raise InvalidInput(f"no outlet {outlet_code} of enterprise {code}")
        return int(found)

    progress(f"applying enterprises ({len(plan.enterprises)} rows)")
    for row_no, ent, cols in plan.enterprises:

        def do_enterprise(ent: EnterpriseIn = ent, cols: set[str] = cols) -> None:
            old = conn.execute(
                select(enterprises).where(enterprises.c.credit_code == ent.credit_code)
            ).first()
            if old is None:
                new = svc.create_enterprise(conn, ent, now)
            else:
                new = svc.update_enterprise(conn, old.id, ent.model_dump(include=cols), now)
            _counted(report.counts["enterprises"], None if old is None else svc.as_dict(old), new)

        guarded("enterprises", row_no, do_enterprise)

    progress(f"applying outlets ({len(plan.outlets)} rows)")
    for row_no, ecc, out, cols in plan.outlets:

        def do_outlet(ecc: str = ecc, out: OutletIn = out, cols: set[str] = cols) -> None:
            eid = ent_id(ecc)
            old = conn.execute(
                select(outlets).where(outlets.c.enterprise_id == eid, outlets.c.code == out.code)
            ).first()
            if old is None:
                new = svc.create_outlet(conn, eid, out, now)
            else:
                new = svc.update_outlet(conn, old.id, out.model_dump(include=cols), now)
            _counted(report.counts["outlets"], None if old is None else svc.as_dict(old), new)

        guarded("outlets", row_no, do_outlet)

    progress(f"applying devices ({len(plan.devices)} rows)")
    before = {r.mn: dict(r._mapping) for r in conn.execute(select(devices))}
    keys_before = _key_counts(conn)
    # one call for every row: the device import loads the devices and keys once (files have thousands)
    report.keys_added += upsert_device_rows(conn, [d for _, d, _, _ in plan.devices], now).keys_added
    for row_no, dev, ref, placed in plan.devices:

        def do_device(
            dev: DeviceRow = dev, ref: tuple[str, str] | None = ref, placed: DeviceOutletIn = placed
        ) -> None:
            if ref is not None:
                svc.set_device_outlet(
                    conn, dev.mn, outlet_id(*ref), now, model=placed.model, serial=placed.serial
                )
                return
            changes = {k: v for k, v in (("model", placed.model), ("serial", placed.serial)) if v is not None}
            current = svc.device_by_mn(conn, dev.mn)
            if diff := svc.changed_values(current, changes):
                conn.execute(update(devices).where(devices.c.mn == dev.mn).values(**diff, updated_at=now))

        guarded("devices", row_no, do_device)
    keys_after = _key_counts(conn)
    for _, dev, _, _ in plan.devices:
        after = svc.device_by_mn(conn, dev.mn)
        old = before.get(dev.mn)
        counts = report.counts["devices"]
        if old is not None and keys_before.get(old["id"]) != keys_after.get(old["id"]):
            counts.updated += 1
        else:
            _counted(counts, old, {k: after[k] for k in (*_DEVICE_VALUES, "model", "serial")})

    progress(f"applying device_factors ({len(plan.factors)} rows)")
    for row_no, mn, changes in plan.factors:

        def do_factor(mn: str = mn, changes: dict[str, Any] = changes) -> None:
            device = svc.device_by_mn(conn, mn)
            old = conn.execute(
                select(device_factors).where(
                    device_factors.c.device_id == device["id"], device_factors.c.factor == changes["factor"]
                )
            ).first()
            current = {} if old is None else {**svc.as_dict(old), "rated": bool(old.rated)}
            item: DeviceFactorIn = svc.merged(DeviceFactorIn, current, changes)
            svc.upsert_device_factors(conn, mn, [item], now)
            new = next(f for f in svc.list_device_factors(conn, mn) if f["factor"] == item.factor)
            _counted(report.counts["device_factors"], current or None, new)

        guarded("device_factors", row_no, do_factor)

    progress(f"applying emission_limits ({len(plan.limits)} rows)")
    stored: dict[int, list[dict[str, Any]]] = {}
    for row_no, ecc, ocode, limit in plan.limits:

        def do_limit(ecc: str = ecc, ocode: str = ocode, limit: EmissionLimitIn = limit) -> None:
            oid = outlet_id(ecc, ocode)
            if oid not in stored:
                query = select(emission_limits).where(emission_limits.c.outlet_id == oid)
                stored[oid] = [{k: r._mapping[k] for k in _LIMIT_VALUES} for r in conn.execute(query)]
            values = limit.model_dump()
            same = next((s for s in stored[oid] if s == values), None)
            if same is not None:
                stored[oid].remove(same)  # each stored row stands for one file row only
                report.counts["emission_limits"].skipped += 1
            else:
                add_emission_limit(conn, oid, limit, now)
                report.counts["emission_limits"].created += 1

        guarded("emission_limits", row_no, do_limit)

    progress(f"applying operators ({len(plan.operators)} rows)")
    for row_no, op, cols in plan.operators:

        def do_operator(op: OperatorIn = op, cols: set[str] = cols) -> None:
            old = conn.execute(select(operators).where(operators.c.credit_code == op.credit_code)).first()
            if old is None:
                new = ops.create_operator(conn, op, now)
            else:
                new = ops.update_operator(conn, old.id, op.model_dump(include=cols), now)
            _counted(report.counts["operators"], None if old is None else svc.as_dict(old), new)

        guarded("operators", row_no, do_operator)

    progress(f"applying contracts ({len(plan.contracts)} rows)")
    for row_no, occ, ecc, c_outlet, contract, cols in plan.contracts:

        def do_contract(
            occ: str = occ,
            ecc: str = ecc,
            ocode: str | None = c_outlet,
            contract: ContractIn = contract,
            cols: set[str] = cols,
        ) -> None:
            op_id = conn.execute(select(operators.c.id).where(operators.c.credit_code == occ)).scalar_one()
            eid = ent_id(ecc)
            values = {**contract.model_dump(include=cols), "enterprise_id": eid}
            if "outlet_code" in cols:
                values["outlet_id"] = outlet_id(ecc, ocode) if ocode else None
            old = conn.execute(
                select(contracts).where(
                    contracts.c.operator_id == op_id, contracts.c.contract_no == contract.contract_no
                )
            ).first()
            if old is None:
                new = ops.create_contract(
                    conn, op_id, parse(ContractIn, {**contract.model_dump(), **values}), now
                )
            else:
                new = ops.update_contract(conn, old.id, values, now)
            _counted(report.counts["contracts"], None if old is None else svc.as_dict(old), new)

        guarded("contracts", row_no, do_contract)


def _begin_for_savepoints(conn: Connection) -> None:
    """Start the SQLite transaction now. pysqlite sends BEGIN only before the first INSERT/UPDATE, so a
    SAVEPOINT before it would open the outermost transaction itself, and its RELEASE would commit the row
    (found by test_database_side_refusals_are_listed_too). IMMEDIATE also takes the write lock, so the
    check pass and the apply pass see the same registry."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class _Rollback(Exception):
    pass


def import_registry(
    engine: Engine, path: Path, now: datetime, *, dry_run: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Read, check and apply a registry file; raise InvalidInput listing every problem (nothing written)."""
    say = progress or (lambda _msg: None)
    sheets = {s.name: s for s in read_registry(path)}
    problems = Problems()
    for sheet in sheets.values():
        say(f"sheet {sheet.name}: {len(sheet.rows)} rows read")
        problems.extend(f"sheet {sheet.name}, {p}" for p in sheet.problems)
    report = ImportReport(dry_run=dry_run)
    try:
        with engine.begin() as conn:
            _begin_for_savepoints(conn)
            plan = check_sheets(conn, sheets, problems)
            if not problems:
                _apply(conn, plan, now, report, problems, say)
            if problems or dry_run:
                raise _Rollback
    except _Rollback:
        pass
    if problems:
        raise InvalidInput(f"{path}: {len(problems)} problem(s), nothing imported:\n" + "\n".join(problems))
    return report


# ---- export ----


def registry_data(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every sheet's rows from the store (emission limits: the whole append-only history)."""
    ent = {r.id: r for r in conn.execute(select(enterprises))}
    out_rows = {r.id: r for r in conn.execute(select(outlets))}
    ops_by_id = {r.id: r for r in conn.execute(select(operators))}
    keys: dict[int, str] = {}
    for r in conn.execute(select(device_keys.c.device_id, device_keys.c.key_hex).order_by(device_keys.c.id)):
        keys[r.device_id] = r.key_hex  # the newest key wins

    def where(outlet_id: int | None) -> dict[str, Any]:
        if outlet_id is None:
            return {}
        o = out_rows[outlet_id]
        return {"enterprise_credit_code": ent[o.enterprise_id].credit_code, "outlet_code": o.code}

    mn_of = {}
    data: dict[str, list[dict[str, Any]]] = {s: [] for s in SHEETS}
    data["enterprises"] = [dict(r._mapping) for r in sorted(ent.values(), key=lambda r: r.credit_code)]
    for o in sorted(out_rows.values(), key=lambda o: (ent[o.enterprise_id].credit_code, o.code)):
        data["outlets"].append({**o._mapping, "enterprise_credit_code": ent[o.enterprise_id].credit_code})
    for d in conn.execute(select(devices).order_by(devices.c.mn)):
        mn_of[d.id] = d.mn
        data["devices"].append({**d._mapping, "sm4_key": keys.get(d.id), **where(d.outlet_id)})
    for f in conn.execute(
        select(device_factors).order_by(device_factors.c.device_id, device_factors.c.factor)
    ):
        data["device_factors"].append({**f._mapping, "mn": mn_of[f.device_id]})
    query = select(emission_limits).order_by(
        emission_limits.c.outlet_id,
        emission_limits.c.factor,
        emission_limits.c.valid_from,
        emission_limits.c.id,
    )
    data["emission_limits"] = [{**r._mapping, **where(r.outlet_id)} for r in conn.execute(query)]
    data["operators"] = [dict(r._mapping) for r in sorted(ops_by_id.values(), key=lambda r: r.credit_code)]
    for c in conn.execute(select(contracts).order_by(contracts.c.operator_id, contracts.c.contract_no)):
        data["contracts"].append(
            {
                **c._mapping,
                "operator_credit_code": ops_by_id[c.operator_id].credit_code,
                "enterprise_credit_code": ent[c.enterprise_id].credit_code,
                "outlet_code": out_rows[c.outlet_id].code if c.outlet_id is not None else None,
            }
        )
    return data


def export_registry(engine: Engine, path: Path, *, template: bool = False) -> dict[str, int]:
    """Write the registry (or, with ``template``, only the headers and 说明) to FILE.xlsx or a csv
    directory; returns the rows written per sheet."""
    if template:
        data: dict[str, list[dict[str, Any]]] = {s: [] for s in SHEETS}
    else:
        with engine.connect() as conn:
            data = registry_data(conn)
    write_registry(path, data)
    return dict(Counter({s: len(rows) for s, rows in data.items()}))
