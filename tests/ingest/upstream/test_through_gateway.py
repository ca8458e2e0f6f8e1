"""End to end: a data logger → the real gateway and writer → the raw log → the forwarder → a province.

The verdicts come from the real ingest path (a re-send becomes ``duplicate``, a bad CRC ``bad_crc``, an
unregistered MN ``unknown_mn``), and a 2025 SM4-encrypted frame reaches the province byte for byte, still
encrypted, readable with the device's key.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, func, select

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.hj212 import DevicePolicy, ProtocolVersion
from envwatch.ingest.schema import raw_packets
from envwatch.ingest.upstream.config import add_upstream
from envwatch.ingest.upstream.forwarder import upstream_loops
from envwatch.ingest.upstream.status import figures
from tests.helpers import SM4_MN, TEST_KEY_HEX, register_demo_devices
from tests.ingest.gw import Logger, data_packet, run_with_gateway
from tests.ingest.upstream.fake_upstream import FakeUpstream
from tests.ingest.upstream.world import EPOCH, fast, until

KEY = bytes.fromhex(TEST_KEY_HEX)


def test_logger_to_gateway_to_province(sqlite_engine: Engine, settings: Settings) -> None:
    engine = sqlite_engine
    settings = fast(settings)
    register_demo_devices(engine)
    first = data_packet(qn="20261130100000001", data_time="20261130100000")
    again = first  # the logger did not get our ack in time and sends it again: duplicate
    bad_crc = first[:-6] + b"0000\r\n"
    stranger = data_packet(mn="F" * 24, qn="20261130100000002")
    sm4 = data_packet(
        mn=SM4_MN, qn="20261130100000003", version=ProtocolVersion.V2025, key=KEY, data_time="20261130100000"
    )
    second = data_packet(qn="20261130100000004", data_time="20261130100100")

    def stored() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(raw_packets)).scalar_one())

    async def body(_gw: object, port: int) -> None:
        province = FakeUpstream(policy_for=lambda mn: DevicePolicy(sm4_key=KEY) if mn == SM4_MN else None)
        await province.start()
        with engine.begin() as conn:
            add_upstream(
                conn, name="province", address=province.address, by="test", now=utcnow(), since=EPOCH
            )
        loops = asyncio.create_task(upstream_loops(engine, settings))
        try:
            logger = await Logger.connect(port, key=KEY)
            for frame in (first, again, bad_crc, stranger, sm4, second):
                await logger.send(frame)
                await asyncio.sleep(0.05)  # one frame per read, as a logger sends them
            await until(lambda: stored() == 6, what="six frames in the raw log")
            await until(lambda: len(province.received) == 3, what="three forwarded")
            await logger.close()
            await asyncio.sleep(0.3)
        finally:
            loops.cancel()
            await asyncio.gather(loops, return_exceptions=True)
            await province.stop()
        assert province.received == [first, sm4, second]
        assert province.packets[1].encrypted and province.packets[1].mn == SM4_MN
        assert province.packets[1].cp["DataTime"] == "20261130100000"  # the province decrypts it
        with engine.connect() as conn:
            verdicts = conn.execute(select(raw_packets.c.verdict).order_by(raw_packets.c.id)).scalars().all()
            (row,) = figures(conn, settings, utcnow())
        assert verdicts == ["ok", "duplicate", "bad_crc", "unknown_mn", "ok", "ok"]
        assert (row["cursor"], row["forwarded"], row["acked"], row["lag_packets"]) == (6, 3, 3, 0)

    run_with_gateway(settings, engine, body)
