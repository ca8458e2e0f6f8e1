"""Device registry import: validation, all-or-nothing, key history (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DatabaseError

from envwatch.core.errors import InvalidInput
from envwatch.registry.schema import device_keys, devices
from envwatch.registry.store import import_devices, load_devices, parse_device_csv
from tests.helpers import GAS_MN, NOW, device_row

HEADER = "mn,pw,name,enterprise,outlet,kind,protocol,sm4_key"


def test_rows_are_checked_with_row_numbers() -> None:
    text_ = "\n".join(
        [
            HEADER,
            f"{GAS_MN},123456,a,b,c,gas,2017,",
            "bad mn!,123456,a,b,c,gas,2017,",
            f"{GAS_MN}1,12;34,a,b,,water,2017,",
            f"{GAS_MN}2,1,a,b,c,water,2025,0011",
        ]
    )
    with pytest.raises(InvalidInput) as err:
        parse_device_csv(text_)
    message = err.value.message
    assert "row 2" not in message
    assert "row 3: mn 'bad mn!'" in message
    assert "row 4: pw must be" in message and "outlet is empty" in message
    assert "row 5: sm4_key must be 32 hex digits" in message


def test_bom_and_crc_variants_are_understood() -> None:
    rows = parse_device_csv(
        "\ufeff" + HEADER + ",crc_variants\n" + f"{GAS_MN},1,a,b,c,gas,2017,,modbus;modbus_swapped\n"
    )
    assert rows[0].crc_variants == "standard,modbus,modbus_swapped"


def test_keys_keep_their_history(engine: Engine) -> None:
    key1, key2 = "11" * 16, "22" * 16
    first = import_devices(engine, [device_row(GAS_MN, protocol="2025", key=key1)], NOW)
    assert (first.created, first.keys_added) == (1, 1)
    same = import_devices(engine, [device_row(GAS_MN, protocol="2025", key=key1)], NOW)
    assert (same.unchanged, same.keys_added) == (1, 0)
    rotated = import_devices(
        engine, [replace(device_row(GAS_MN, protocol="2025", key=key2), name="renamed")], NOW
    )
    assert (rotated.updated, rotated.keys_added) == (1, 1)
    assert load_devices(engine)[GAS_MN].sm4_key == bytes.fromhex(key2)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(device_keys)).scalar_one() == 2
        assert c.execute(select(devices.c.name)).scalar_one() == "renamed"
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as c:
        c.execute(text("DELETE FROM device_keys"))
