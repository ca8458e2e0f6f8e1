"""Registry import/export (xlsx and csv): round trip, all-or-nothing with every problem listed, cell
conversions (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, create_engine, func, select, text

from envwatch.core.errors import InvalidInput
from envwatch.migrations import upgrade
from envwatch.registry import service as svc
from envwatch.registry import service_operators as ops
from envwatch.registry.models import (
    ContractIn,
    DeviceFactorIn,
    EmissionLimitIn,
    EnterpriseIn,
    OperatorIn,
    OutletIn,
    credit_code_check_char,
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
from envwatch.registry.store import import_devices
from envwatch.registry.transfer import export_registry, import_registry, registry_data
from envwatch.registry.transfer_files import SHEETS, cell_text
from tests.helpers import GAS_MN, NOW, WATER_MN, device_row


def cc(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


ENT = cc("91350100MA2Y00001")
ENT2 = cc("91350100MA2Y00002")
OPER = cc("91350100MA2Y00003")
TABLES = (enterprises, outlets, devices, device_keys, device_factors, emission_limits, operators, contracts)


def build_registry(engine: Engine) -> None:
    import_devices(
        engine, [device_row(GAS_MN, protocol="2025", key="11" * 16), device_row(WATER_MN, kind="water")], NOW
    )
    with engine.begin() as c:
        e = svc.create_enterprise(
            c,
            EnterpriseIn(
                name="示例电厂",
                credit_code=ENT,
                region_code="350102",
                attention_level="national",
                longitude=Decimal("119.30"),
                latitude=Decimal("26.08"),
            ),
            NOW,
        )
        svc.create_enterprise(c, EnterpriseIn(name="另一家", credit_code=ENT2, region_code="350100"), NOW)
        gas = svc.create_outlet(c, e["id"], OutletIn(code="DA001", name="1号烟囱", kind="gas"), NOW)
        svc.set_device_outlet(c, GAS_MN, gas["id"], NOW, model="XY-1", serial="S001")
        svc.upsert_device_factors(
            c,
            GAS_MN,
            [
                DeviceFactorIn(
                    factor="a21026", unit="mg/m3", range_low=Decimal("0"), range_high=Decimal("500.0")
                ),
                DeviceFactorIn(factor="a19001", unit="%", rated=False),
            ],
            NOW,
        )
        for hour, start in (
            ("35.0", date(2024, 1, 1)),
            ("35.50", date(2025, 1, 1)),
            ("35.50", date(2025, 1, 1)),
        ):
            limit = EmissionLimitIn(
                factor="a21026",
                hour_limit=Decimal(hour),
                unit="mg/m3",
                reference_o2=Decimal("6"),
                valid_from=start,
                legal_source="GB 13223-2011 表1",
            )
            add_emission_limit(c, gas["id"], limit, NOW)
        op = ops.create_operator(c, OperatorIn(name="运维公司", credit_code=OPER, phone="0591-1234567"), NOW)
        ops.create_contract(
            c,
            op["id"],
            ContractIn(
                enterprise_id=e["id"], outlet_id=gas["id"], contract_no="HT-1", valid_from=date(2026, 1, 1)
            ),
            NOW,
        )


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def comparable(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """The registry as the export sees it, without ids and timestamps."""
    drop = {"id", "created_at", "updated_at", "device_id", "outlet_id", "enterprise_id", "operator_id"}
    with engine.connect() as c:
        data = registry_data(c)
    return {s: [{k: v for k, v in r.items() if k not in drop} for r in rows] for s, rows in data.items()}


@pytest.mark.parametrize("target", ["reg.xlsx", "regdir"])
def test_round_trip_into_an_empty_store(engine: Engine, tmp_path: Path, target: str) -> None:
    build_registry(engine)
    path = tmp_path / target
    written = export_registry(engine, path)
    assert written["emission_limits"] == 3 and written["devices"] == 2
    original = comparable(engine)
    before = counts(engine)
    # again into the same store: nothing changes (idempotent, limits skipped)
    report = import_registry(engine, path, NOW)
    assert counts(engine) == before
    assert report.counts["emission_limits"].skipped == 3 and report.counts["emission_limits"].created == 0
    assert all(c.created == c.updated == 0 for c in report.counts.values()), report.lines()
    assert report.keys_added == 0
    # into an empty store of the same kind of database
    with _fresh(engine, tmp_path) as empty:
        report = import_registry(empty, path, NOW)
        assert report.counts["enterprises"].created == 2 and report.counts["emission_limits"].created == 3
        assert report.keys_added == 1
        assert comparable(empty) == original
        assert str(comparable(empty)["emission_limits"][1]["hour_limit"]) == "35.50"  # exact, not 35.5


@contextmanager
def _fresh(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A second, empty store on the same kind of database as ``engine``."""
    if engine.dialect.name == "sqlite":
        other = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        upgrade(other)
        yield other
        other.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with engine.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    other = create_engine(engine.url.update_query_dict({"options": f"-csearch_path={schema}"}))
    try:
        upgrade(other)
        yield other
    finally:
        other.dispose()
        with engine.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def _workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_bad_rows_across_sheets_are_all_listed_and_nothing_is_stored(engine: Engine, tmp_path: Path) -> None:
    build_registry(engine)
    before = counts(engine)
    path = _workbook(
        tmp_path / "bad.xlsx",
        {
            "enterprises": [
                ["credit_code", "name", "region_code"],
                [cc("91350100MA2Y00009"), "新企业", "350102"],  # fine on its own
                ["91350100MA2Y000099", "错码", "350102"],  # check character wrong
                [cc("91350100MA2Y00008"), "区划错", "35010"],
            ],
            "outlets": [
                ["enterprise_credit_code", "code", "name", "kind"],
                [cc("91350100MA2Y00009"), "DW001", "废水口", "water"],
                [cc("91350100MA2Y00007"), "DA001", "无主", "gas"],  # unknown enterprise
            ],
            "devices": [
                ["mn", "pw", "name", "kind", "protocol", "enterprise_credit_code", "outlet_code"],
                ["NEWMN0001", "123456", "新仪", "water", "2017", cc("91350100MA2Y00009"), "DW001"],
                ["NEWMN0002", "123456", "坏仪", "air", "2017", ENT, "DA999"],
            ],
            "emission_limits": [
                [
                    "enterprise_credit_code",
                    "outlet_code",
                    "factor",
                    "hour_limit",
                    "valid_from",
                    "legal_source",
                ],
                [ENT, "DA001", "a21026", "-1", "2026-01-01", "GB"],
            ],
            "contracts": [
                ["operator_credit_code", "contract_no", "enterprise_credit_code", "valid_from"],
                [OPER, "HT-2", ENT, "2026-13-01"],
            ],
        },
    )
    with pytest.raises(InvalidInput) as err:
        import_registry(engine, path, NOW)
    msg = err.value.message
    assert "6 problem(s), nothing imported" in msg
    lines = [line for line in msg.splitlines() if line.startswith("sheet ")]
    assert [line.split(":")[0] for line in lines] == [
        "sheet enterprises, row 3",
        "sheet enterprises, row 4",
        "sheet outlets, row 3",
        "sheet devices, row 3",
        "sheet emission_limits, row 2",
        "sheet contracts, row 2",
    ]
    assert "GB 32100" in lines[0] and "region_code" in lines[1]
    assert "no enterprise with credit code" in lines[2]
    assert "kind 'air'" in lines[3] and "no outlet DA999" in lines[3]
    assert "hour_limit -1 must be positive" in lines[4] and "valid_from" in lines[5]
    assert counts(engine) == before


def test_database_side_refusals_are_listed_too(engine: Engine, tmp_path: Path) -> None:
    build_registry(engine)
    before = counts(engine)
    path = _workbook(
        tmp_path / "db.xlsx",
        {
            "outlets": [
                ["enterprise_credit_code", "code", "name", "kind"],
                [ENT, "DW001", "废水口", "water"],
            ],
            "devices": [
                ["mn", "pw", "name", "kind", "protocol", "enterprise_credit_code", "outlet_code"],
                [WATER_MN, "1", "水", "water", "2017", ENT, "DA001"],  # water logger on a gas outlet
            ],
            "emission_limits": [
                [
                    "enterprise_credit_code",
                    "outlet_code",
                    "factor",
                    "hour_limit",
                    "reference_o2",
                    "valid_from",
                    "legal_source",
                ],
                [ENT, "DW001", "w01018", "50", "6", "2026-01-01", "GB 8978"],  # reference_o2 on water
            ],
        },
    )
    with pytest.raises(InvalidInput) as err:
        import_registry(engine, path, NOW)
    assert "sheet devices, row 2: device " in err.value.message and "is a gas outlet" in err.value.message
    assert "sheet emission_limits, row 2: reference_o2 applies to gas outlets only" in err.value.message
    assert counts(engine) == before


def test_unknown_column_sheet_and_missing_column_are_named(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "u.xlsx",
        {"enterprises": [["credit_cod 统一社会信用代码", "name", "region_code"], [ENT, "a", "350102"]]},
    )
    with pytest.raises(
        InvalidInput, match=r"sheet enterprises, header: unknown column 'credit_cod 统一社会信用代码'"
    ):
        import_registry(sqlite_engine, path, NOW)
    path = _workbook(tmp_path / "m.xlsx", {"operators": [["credit_code", "contact"]]})
    with pytest.raises(InvalidInput, match=r"missing required column\(s\) name"):
        import_registry(sqlite_engine, path, NOW)
    path = _workbook(tmp_path / "s.xlsx", {"enterprise": [["credit_code"]]})
    with pytest.raises(InvalidInput, match=r"unknown sheet\(s\) 'enterprise'"):
        import_registry(sqlite_engine, path, NOW)


def test_numeric_cells_and_chinese_headers(engine: Engine, tmp_path: Path) -> None:
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    ws = wb.create_sheet("enterprises")
    ws.append(["统一社会信用代码", "name 排污单位名称", "行政区划代码", "longitude 经度", "纬度"])
    ws.append([ENT, "数字单元格", 350102, 119.3, 26.08])
    ws["D2"].number_format = "0.00"  # shown as 119.30: the trailing zero is what the user sees
    ws2 = wb.create_sheet("devices")
    ws2.append(["mn", "pw", "name", "kind", "protocol", "enterprise", "outlet"])
    ws2.append([88888880000001, 123456, "数字MN", "gas", 2017, "企业", "排口"])
    ws3 = wb.create_sheet("device_factors")
    ws3.append(["mn", "factor", "range_high", "detection_limit", "rated"])
    ws3.append(["88888880000001", "a21026", 0.1 + 0.2, 35.499999999999999, "否"])
    wb.save(tmp_path / "n.xlsx")
    import_registry(engine, tmp_path / "n.xlsx", NOW)
    with engine.connect() as c:
        e = c.execute(select(enterprises)).one()
        f = c.execute(select(device_factors)).one()
        assert c.execute(select(devices.c.mn, devices.c.pw, devices.c.protocol)).one() == (
            "88888880000001",
            "123456",
            "2017",
        )
    assert (e.region_code, str(e.longitude), str(e.latitude)) == ("350102", "119.30", "26.08")
    assert (str(f.range_high), str(f.detection_limit), f.rated) == ("0.3", "35.5", 0)


def test_empty_cells_of_fields_with_a_default_take_the_default(engine: Engine, tmp_path: Path) -> None:
    """A blank 重点排污单位级别, 报送基准 or 计入有效传输率 cell (a filled-in template) means the default;
    blank text cells still clear."""
    path = _workbook(
        tmp_path / "blank.xlsx",
        {
            "enterprises": [["credit_code", "name", "region_code", "attention_level", "industry"], [ENT, "空白", "350102", None, ""]],
            "devices": [["mn", "pw", "name", "kind", "protocol", "enterprise", "outlet"], ["88888880000002", "123456", "d", "gas", "2017", "e", "o"]],
            "device_factors": [["mn", "factor", "rated", "basis"], ["88888880000002", "a21026", "", ""]],
        },
    )  # fmt: skip
    import_registry(engine, path, NOW)
    with engine.connect() as c:
        e = c.execute(select(enterprises)).one()
        f = c.execute(select(device_factors)).one()
    assert (e.attention_level, e.industry) == ("other", "")
    assert (f.rated, f.basis) == (1, "standard_dry")


def test_cell_text_refuses_lossy_numbers() -> None:
    with pytest.raises(ValueError, match="may have lost digits"):
        cell_text(1.0000000000000001e23, "General", "code")
    with pytest.raises(ValueError, match="may have lost digits"):
        cell_text(3501.5, "General", "code")
    assert cell_text(12.3, "#,##0.000", "decimal") == "12.300"
    assert cell_text(12.3456, "0.00", "decimal") == "12.3456"  # padded, never rounded
    assert cell_text(1e-05, "General", "decimal") == "0.00001"
    assert cell_text("2026/7/1", "", "date") == "2026-07-01"


def test_template_export_then_import_is_a_no_op(engine: Engine, tmp_path: Path) -> None:
    build_registry(engine)
    before = counts(engine)
    export_registry(engine, tmp_path / "t.xlsx", template=True)
    wb = load_workbook(tmp_path / "t.xlsx")
    assert wb.sheetnames == [*SHEETS, "说明"]
    assert wb["enterprises"]["A1"].value == "credit_code 统一社会信用代码" and wb["enterprises"].max_row == 1
    report = import_registry(engine, tmp_path / "t.xlsx", NOW)
    assert all(c.created == c.updated == c.unchanged == c.skipped == 0 for c in report.counts.values())
    assert counts(engine) == before


def test_csv_with_bom_and_upserts_and_dry_run(engine: Engine, tmp_path: Path) -> None:
    build_registry(engine)
    export_registry(engine, tmp_path / "d")
    assert (tmp_path / "d/enterprises.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (tmp_path / "d/devices.csv").stat().st_mode & 0o777 == 0o600  # SM4 keys inside
    path = tmp_path / "d/enterprises.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][1] = "改名电厂"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")  # no BOM this time
    dry = import_registry(engine, tmp_path / "d", NOW, dry_run=True)
    assert dry.counts["enterprises"].updated == 1
    with engine.connect() as c:
        assert svc.get_enterprise_by_credit_code(c, ENT)["name"] == "示例电厂"
    report = import_registry(engine, tmp_path / "d", NOW)
    assert report.counts["enterprises"].updated == 1 and report.counts["enterprises"].unchanged == 1
    with engine.connect() as c:
        assert svc.get_enterprise_by_credit_code(c, ENT)["name"] == "改名电厂"
        assert svc.device_by_mn(c, GAS_MN)["enterprise"] == "改名电厂"  # devices show the new name
