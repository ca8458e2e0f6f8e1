"""Test data for upstream forwarding: enterprises in regions, their devices, raw packets in the log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.hj212 import encode
from envwatch.ingest.schema import raw_packets
from envwatch.registry.schema import devices, enterprises, outlets

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # an upstream registered "since" then gets the whole log


def fast(settings: Settings, **more: object) -> Settings:
    """Settings with every upstream delay short enough for a test."""
    values: dict[str, object] = {
        "upstream_poll_s": 0.05,
        "upstream_ack_timeout_s": 0.4,
        "upstream_retries": 2,
        "upstream_backoff_s": 0.05,
        "upstream_backoff_max_s": 0.2,
        "upstream_gap_wait_s": 0.5,
        "upstream_max_rate": 100_000.0,
        "upstream_connect_timeout_s": 1.0,
        "registry_refresh_s": 0.1,
    }
    values.update(more)
    return settings.model_copy(update=values)


def add_device(engine: Engine, n: int, region: str) -> tuple[int, int, str]:
    """Enterprise n in ``region`` with one outlet and one device: (enterprise id, device id, MN)."""
    mn = f"{n:024X}"
    with engine.begin() as conn:
        ent = conn.execute(
            insert(enterprises).values(
                name=f"厂{n}", credit_code=f"91{n:016d}", region_code=region, created_at=T0, updated_at=T0
            )
        ).inserted_primary_key[0]
        out = conn.execute(
            insert(outlets).values(
                enterprise_id=ent, code="DA001", name="1号炉", kind="gas", created_at=T0, updated_at=T0
            )
        ).inserted_primary_key[0]
        dev = conn.execute(
            insert(devices).values(
                mn=mn,
                pw="123456",
                name=f"设备{n}",
                enterprise=f"厂{n}",
                outlet="1号炉",
                kind="gas",
                protocol="2017",
                crc_variants="standard",
                created_at=T0,
                updated_at=T0,
                outlet_id=out,
            )
        ).inserted_primary_key[0]
    return int(ent), int(dev), mn


def frame(mn: str, seq: int, *, cn: str = "2011", ack: bool = True, value: str | None = None) -> bytes:
    qn = f"20261130100000{seq:03d}"
    header = {"QN": qn, "ST": "31", "CN": cn, "PW": "123456", "MN": mn, "Flag": "5" if ack else "4"}
    return encode(
        header, {"DataTime": f"20261130{seq:06d}"}, {"a21026": {"Rtd": value or f"{seq}.5", "Flag": "N"}}
    )


class Log:
    """Appends raw packets as the writer would (ids increasing, verdicts as given)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.next_id = 1

    def add(
        self,
        raw: bytes,
        *,
        device_id: int | None,
        mn: str | None,
        verdict: str = "ok",
        cn: str = "2011",
        packet_id: int | None = None,
    ) -> int:
        packet_id = packet_id if packet_id is not None else self.next_id
        self.next_id = max(self.next_id, packet_id + 1)
        qn = raw.split(b"QN=")[1][:17].decode() if b"QN=" in raw else None
        with self.engine.begin() as conn:
            conn.execute(
                insert(raw_packets).values(
                    id=packet_id,
                    received_at=utcnow() - timedelta(seconds=60),
                    peer="10.0.0.1:5000",
                    device_id=device_id,
                    mn=mn,
                    cn=cn,
                    qn=qn,
                    verdict=verdict,
                    reason=None,
                    raw=raw,
                )
            )
        return packet_id


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
