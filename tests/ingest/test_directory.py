"""The gateway's directory reloads devices only when the registry changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Engine

from envwatch.ingest.directory import DeviceDirectory
from envwatch.registry.store import import_devices
from tests.helpers import GAS_MN, NOW, TEST_KEY_HEX, device_row, register_demo_devices


def test_reload_reads_devices_only_after_a_change(engine: Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    register_demo_devices(engine)
    directory = DeviceDirectory(engine)
    loads = []
    import envwatch.ingest.directory as module

    real_load = module.load_devices
    monkeypatch.setattr(module, "load_devices", lambda e: loads.append(1) or real_load(e))
    assert directory.reload() == 3 and len(loads) == 1
    assert directory.reload() == 3 and len(loads) == 1  # nothing changed: nothing loaded

    later = NOW + timedelta(minutes=1)
    import_devices(engine, [replace(device_row(GAS_MN), pw="654321")], later)  # a changed password
    directory.reload()
    assert len(loads) == 2 and directory.get(GAS_MN).pw == "654321"  # type: ignore[union-attr]

    import_devices(engine, [replace(device_row(GAS_MN), pw="654321", sm4_key=TEST_KEY_HEX)], later)  # a key
    directory.reload()
    assert len(loads) == 3 and directory.get(GAS_MN).sm4_key == bytes.fromhex(TEST_KEY_HEX)  # type: ignore[union-attr]

    import_devices(engine, [device_row("010000A8900016F000169DC9")], later)  # a new device
    assert directory.reload() == 4 and len(loads) == 4
