"""Small builders shared by tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from envwatch.registry.store import DeviceRow, import_devices, load_devices

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
GAS_MN = "010000A8900016F000169DC0"
WATER_MN = "010000A8900016F000169DC1"
SM4_MN = "010000A8900016F000169DC2"
TEST_KEY_HEX = "30" * 16  # the HJ 212-2025 Appendix A.2 test key: 16 x "0"


def device_row(mn: str, *, kind: str = "gas", protocol: str = "2017", key: str | None = None) -> DeviceRow:
    return DeviceRow(
        mn=mn,
        pw="123456",
        name=f"logger {mn[-4:]}",
        enterprise="示例电厂",
        outlet="1号排口",
        kind=kind,
        protocol=protocol,
        sm4_key=key,
        crc_variants="standard",
    )


def register_demo_devices(engine: Engine) -> dict[str, int]:
    import_devices(
        engine,
        [
            device_row(GAS_MN),
            device_row(WATER_MN, kind="water"),
            device_row(SM4_MN, protocol="2025", key=TEST_KEY_HEX),
        ],
        NOW,
    )
    return {mn: rec.id for mn, rec in load_devices(engine).items()}
