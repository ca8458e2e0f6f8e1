"""An outlet's service zone (服务区域: urban 城区 | suburban 郊区 | remote 偏远, CS-4.3.3): the input model,
the service's create and update, and the registry workbook (export, import, an old workbook without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine, select

from envwatch.core.errors import InvalidInput
from envwatch.registry import service as svc
from envwatch.registry.models import EnterpriseIn, OutletIn, parse
from envwatch.registry.schema import outlets
from envwatch.registry.transfer import export_registry, import_registry
from tests.helpers import NOW
from tests.registry.test_transfer import ENT, ENT2

BAD = "service_zone: 'downtown' is not a service zone: give urban (城区), suburban (郊区) or remote (偏远)"


def outlet(**extra: Any) -> dict[str, Any]:
    return {"code": "DA001", "name": "1号烟囱", "kind": "gas", **extra}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({}, "urban"),
        ({"service_zone": None}, "urban"),
        ({"service_zone": ""}, "urban"),
        ({"service_zone": "suburban"}, "suburban"),
        ({"service_zone": " remote "}, "remote"),
        ({"service_zone": "郊区"}, "suburban"),
        ({"service_zone": "偏远"}, "remote"),
        ({"service_zone": "城区"}, "urban"),
    ],
)
def test_the_model_takes_codes_and_chinese_labels(given: dict[str, Any], stored: str) -> None:
    assert parse(OutletIn, outlet(**given)).service_zone == stored


@pytest.mark.parametrize("value", ["downtown", "Urban", "rural"])
def test_anything_else_is_refused_with_the_choices(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(OutletIn, outlet(service_zone=value))
    assert str(info.value) == BAD.replace("downtown", value)


def _enterprise(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(
            svc.create_enterprise(
                conn, EnterpriseIn(name="示例电厂", credit_code=ENT, region_code="350102"), NOW
            )["id"]
        )


def test_the_service_stores_and_changes_it(engine: Engine) -> None:
    ent = _enterprise(engine)
    with engine.begin() as conn:
        plain = svc.create_outlet(conn, ent, parse(OutletIn, outlet()), NOW)
        far = svc.create_outlet(conn, ent, parse(OutletIn, outlet(code="DA002", service_zone="remote")), NOW)
    assert (plain["service_zone"], far["service_zone"]) == ("urban", "remote")
    with engine.begin() as conn:
        moved = svc.update_outlet(conn, plain["id"], {"service_zone": "suburban"}, NOW)
        renamed = svc.update_outlet(conn, far["id"], {"name": "2号烟囱"}, NOW)  # the zone stays
    assert (moved["service_zone"], renamed["service_zone"]) == ("suburban", "remote")
    with pytest.raises(InvalidInput, match="is not a service zone"), engine.begin() as conn:
        svc.update_outlet(conn, plain["id"], {"service_zone": "downtown"}, NOW)
    with engine.connect() as conn:
        stored = conn.execute(select(outlets.c.service_zone).where(outlets.c.id == plain["id"])).scalar_one()
    assert stored == "suburban"


def _outlets_sheet(path: Path) -> list[list[Any]]:
    sheet = load_workbook(path)["outlets"]
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_the_workbook_exports_and_imports_it(engine: Engine, tmp_path: Path) -> None:
    ent = _enterprise(engine)
    with engine.begin() as conn:
        svc.create_outlet(conn, ent, parse(OutletIn, outlet(service_zone="suburban")), NOW)
    path = tmp_path / "reg.xlsx"
    export_registry(engine, path)
    header, row = _outlets_sheet(path)
    assert "service_zone 服务区域" in header
    assert row[header.index("service_zone 服务区域")] == "suburban"
    # edit the cell to remote and import the workbook back
    book = load_workbook(path)
    book["outlets"].cell(row=2, column=header.index("service_zone 服务区域") + 1, value="偏远")
    book.save(path)
    report = import_registry(engine, path, NOW)
    assert report.counts["outlets"].updated == 1
    with engine.connect() as conn:
        assert conn.execute(select(outlets.c.service_zone)).scalar_one() == "remote"


def _old_workbook(path: Path, rows: list[list[Any]]) -> Path:
    """A workbook made before the column existed: outlets without service_zone."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    sheet = book.create_sheet("outlets")
    sheet.append(["enterprise_credit_code", "code", "name", "kind"])
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_an_old_workbook_without_the_column_still_imports(engine: Engine, tmp_path: Path) -> None:
    ent = _enterprise(engine)
    with engine.begin() as conn:
        svc.create_outlet(conn, ent, parse(OutletIn, outlet(service_zone="remote")), NOW)
        svc.create_enterprise(conn, EnterpriseIn(name="另一家", credit_code=ENT2, region_code="350100"), NOW)
    path = _old_workbook(
        tmp_path / "old.xlsx", [[ENT, "DA001", "1号烟囱(改)", "gas"], [ENT2, "DW001", "总排口", "water"]]
    )
    report = import_registry(engine, path, NOW)
    assert (report.counts["outlets"].created, report.counts["outlets"].updated) == (1, 1)
    with engine.connect() as conn:
        zones = dict(conn.execute(select(outlets.c.code, outlets.c.service_zone)).all())
    # the new outlet is urban; the existing one keeps the zone the workbook did not mention
    assert zones == {"DA001": "remote", "DW001": "urban"}


def test_a_bad_zone_in_the_workbook_is_listed_and_nothing_is_stored(engine: Engine, tmp_path: Path) -> None:
    _enterprise(engine)
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    sheet = book.create_sheet("outlets")
    sheet.append(["enterprise_credit_code", "code", "name", "kind", "服务区域"])  # the Chinese header alone
    sheet.append([ENT, "DA001", "1号烟囱", "gas", "郊区"])
    sheet.append([ENT, "DA002", "2号烟囱", "gas", "downtown"])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    with pytest.raises(InvalidInput) as info:
        import_registry(engine, path, NOW)
    assert f"sheet outlets, row 3: {BAD}" in str(info.value)
    with engine.connect() as conn:
        assert conn.execute(select(outlets.c.id)).first() is None
