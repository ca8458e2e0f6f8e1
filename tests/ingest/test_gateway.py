"""The gateway over real TCP sockets on loopback, storing into a real SQLite file."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, select

from envwatch.core.settings import Settings
from envwatch.hj212 import Connection, DevicePolicy, ProtocolVersion, encode
from envwatch.ingest.gateway import Gateway
from envwatch.ingest.schema import device_status, raw_packets
from tests.helpers import GAS_MN, SM4_MN, TEST_KEY_HEX, register_demo_devices, stored_factors
from tests.ingest.gw import Logger, data_packet, run_with_gateway


def verdicts(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(raw_packets.c.verdict).order_by(raw_packets.c.id)).scalars())


def stored_values(engine: Engine) -> dict[str, str]:
    return {r["factor"]: str(r["value"]) for r in stored_factors(engine)}


def test_data_packet_is_acknowledged_after_it_is_stored(settings: Settings, engine: Engine) -> None:
    register_demo_devices(engine)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(data_packet(qn="20261122120000123"))
        ack = await dev.reply()
        assert (ack.cn, ack.st, ack.qn, ack.flag) == ("9014", "91", "20261122120000123", 4)
        # the ack means the packet is committed: a fresh connection sees it right away
        assert stored_values(engine) == {"a21026": "12.30", "a19001": "9.8"}
        await dev.close()

    run_with_gateway(settings, engine, body)
    assert verdicts(engine) == ["ok"]
    with engine.connect() as c:
        status = c.execute(select(device_status)).mappings().one()
    assert status["online"] is False  # the connection closed


def test_no_ack_without_the_ack_bit_and_duplicates_are_acknowledged(
    settings: Settings, sqlite_engine: Engine
) -> None:
    register_demo_devices(sqlite_engine)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(data_packet(ack=False))
        await dev.no_reply()
        await dev.send(data_packet(qn="20261122120000999"))  # the same data again, now asking for an ack
        ack = await dev.reply()
        assert ack.qn == "20261122120000999"
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    assert verdicts(sqlite_engine) == ["ok", "duplicate"]


def test_unknown_mn_and_wrong_pw_store_nothing_and_close_the_connection(
    settings: Settings, sqlite_engine: Engine
) -> None:
    register_demo_devices(sqlite_engine)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(data_packet(mn="FFFFFFFFFFFFFFFFFFFFFFFF"))
        await dev.send(data_packet(pw="000000"))
        await dev.no_reply()
        await dev.send(data_packet(pw="000000", qn="20261122120000002"))  # third failure: closed
        assert await dev.closed_by_peer()
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    assert verdicts(sqlite_engine) == ["unknown_mn", "bad_pw", "bad_pw"]
    assert stored_values(sqlite_engine) == {}


def test_bad_bytes_are_logged_and_the_stream_recovers(settings: Settings, sqlite_engine: Engine) -> None:
    register_demo_devices(sqlite_engine)
    good = data_packet()
    bad_crc = good[:-6] + (b"0000" if good[-6:-2] != b"0000" else b"1111") + b"\r\n"
    oversize = b"##9999" + b"A" * (settings.max_frame_bytes + 100) + b"\r\n"

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        # garbage, a bad CRC, an oversize frame and a good packet, in one write
        await dev.send(b"hello\x00\xff" + bad_crc + oversize + data_packet(qn="20261122120000005"))
        ack = await dev.reply()
        assert ack.qn == "20261122120000005"
        # a slow sender: one byte at a time
        slow = data_packet(qn="20261122120000006", data_time="20261122120100")
        for i in range(len(slow)):
            await dev.send(slow[i : i + 1])
        assert (await dev.reply()).qn == "20261122120000006"
        # half a packet, then the logger disconnects
        await dev.send(data_packet(data_time="20261122120200")[:40])
        await dev.close()
        await asyncio.sleep(0.2)

    run_with_gateway(settings, sqlite_engine, body)
    got = verdicts(sqlite_engine)
    assert got[0] == "garbage" and "bad_crc" in got and "oversize" in got
    assert got.count("ok") == 2 and got[-1] == "truncated"


def test_sm4_packets_and_heartbeat(settings: Settings, sqlite_engine: Engine) -> None:
    register_demo_devices(sqlite_engine)
    key = bytes.fromhex(TEST_KEY_HEX)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port, key=key)
        await dev.send(data_packet(mn=SM4_MN, version=ProtocolVersion.V2025, key=key, extra={"RF": "1"}))
        ack = await dev.reply()
        assert (ack.cn, ack.flag) == ("9014", 8)
        heartbeat = encode(
            {"QN": "20261122120001000", "ST": "31", "CN": "9015", "PW": "123456", "MN": SM4_MN, "Flag": "8"}
        )
        await dev.send(heartbeat)
        assert (await dev.reply()).cn == "9013"
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    backfill = [r["backfill"] for r in stored_factors(sqlite_engine)]
    assert backfill == [True, True]  # RF=1: back-filled data
    assert verdicts(sqlite_engine) == ["ok", "ok"]


def test_connection_cap_and_idle_timeout(tmp_path, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "var", max_connections=3, idle_timeout_s=0.5, _env_file=None)  # type: ignore[call-arg]

    async def body(gw: Gateway, port: int) -> None:
        first = [await Logger.connect(port) for _ in range(3)]
        await asyncio.sleep(0.05)
        extra = await Logger.connect(port)
        assert await extra.closed_by_peer(timeout=2)
        await extra.close()
        assert gw.refused == 1
        # nobody speaks: the idle ones are closed
        for dev in first:
            assert await dev.closed_by_peer(timeout=3)
            await dev.close()
        assert gw.idle_closed == 3

    run_with_gateway(settings, sqlite_engine, body)


def test_many_packets_in_one_read(settings: Settings, sqlite_engine: Engine) -> None:
    register_demo_devices(sqlite_engine)
    burst = b"".join(
        data_packet(qn=f"2026112212000{i:04d}", data_time=f"202611221{2 + i // 60:01d}{i % 60:02d}00")
        for i in range(50)
    )

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(burst)
        qns = [(await dev.reply()).qn for _ in range(50)]
        assert qns == [f"2026112212000{i:04d}" for i in range(50)]  # acks in order
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    assert verdicts(sqlite_engine) == ["ok"] * 50


@pytest.mark.parametrize("variant", ["modbus"])
def test_modbus_crc_only_where_allowed(settings: Settings, sqlite_engine: Engine, variant: str) -> None:
    from envwatch.hj212.crc import crc16_modbus

    register_demo_devices(sqlite_engine)
    good = data_packet()
    segment = good[6:-6]
    modbus = good[:-6] + f"{crc16_modbus(segment):04X}".encode() + b"\r\n"

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(modbus)
        await dev.no_reply()
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    assert verdicts(sqlite_engine) == ["bad_crc"]


def test_sm4_key_rotation_cn1014(settings: Settings, sqlite_engine: Engine) -> None:
    from envwatch.registry.schema import device_keys

    register_demo_devices(sqlite_engine)
    old = bytes.fromhex(TEST_KEY_HEX)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port, key=old)
        ask = {"QN": "20261122120002000", "ST": "31", "CN": "1014", "PW": "123456", "MN": SM4_MN, "Flag": "9"}
        await dev.send(encode(ask, {"SKCreateTime": "20260801000000"}, sm4_key=old))
        reply = await dev.reply()  # decrypted with the old key
        assert reply.cn == "1014" and reply.qn == "20261122120002000" and reply.encrypted
        new = reply.cp["NewSK"].encode()
        assert len(new) == 16 and new != old
        packet = data_packet(mn=SM4_MN, version=ProtocolVersion.V2025, key=new, qn="20261122120003000")
        dev.conn = Connection(policy_for=lambda _mn: DevicePolicy(sm4_key=new))  # the logger switches keys
        await dev.send(packet)
        assert (await dev.reply()).cn == "9014"  # the gateway now expects the new key
        await dev.close()
        # a second logger of the same MN missed the NewSK and keeps the old key: still accepted
        stale = await Logger.connect(port, key=old)
        await stale.send(
            data_packet(
                mn=SM4_MN,
                version=ProtocolVersion.V2025,
                key=old,
                qn="20261122120004000",
                data_time="20261122120100",
            )
        )
        assert (await stale.reply()).cn == "9014"
        await stale.close()

    run_with_gateway(settings, sqlite_engine, body)
    with sqlite_engine.connect() as c:
        keys = c.execute(select(device_keys.c.source, device_keys.c.key_hex).order_by(device_keys.c.id)).all()
    assert [k.source for k in keys] == ["import", "cn1014"]
    assert verdicts(sqlite_engine) == ["ok", "ok", "ok"]


def test_backpressure_pauses_reading_and_loses_nothing(tmp_path, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    settings = Settings(
        data_dir=tmp_path / "var",
        writer_queue_max=10,
        writer_batch_max=5,
        connection_buffer_bytes=1024,
        _env_file=None,
    )  # type: ignore[call-arg]
    register_demo_devices(sqlite_engine)
    packets = [
        data_packet(qn=f"202611221200{i:05d}", data_time=f"20261122{12 + i // 60:02d}{i % 60:02d}00")
        for i in range(60)
    ]

    async def body(gw: Gateway, port: int) -> None:
        blocker = sqlite3.connect(settings.data_dir / "envwatch.db", timeout=30)
        blocker.execute("BEGIN IMMEDIATE")  # the database is busy: the writer cannot commit
        dev = await Logger.connect(port)
        await dev.send(b"".join(packets))
        for _ in range(100):
            if gw.backlog_paused and gw.paused:
                break
            await asyncio.sleep(0.05)
        assert gw.paused, "the connection was not paused while the writer was stuck"
        await dev.no_reply(0.2)  # nothing is acknowledged that is not committed
        blocker.rollback()
        blocker.close()
        acks = [(await dev.reply(timeout=20)).qn for _ in packets]
        assert acks == [f"202611221200{i:05d}" for i in range(60)]
        assert not gw.paused and not gw.backlog_paused
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    assert verdicts(sqlite_engine) == ["ok"] * 60


def test_a_data_packet_whose_cp_does_not_parse_is_logged_malformed_and_not_acknowledged(
    settings: Settings, engine: Engine
) -> None:
    """The event loop leaves data packets' CP to the writer process (docs/architecture.md, Performance): the
    verdict on a CP that does not parse is the same as when the gateway parsed it, and nothing is acked."""
    register_demo_devices(engine)
    header = {"QN": "20261122120000001", "ST": "31", "CN": "2011", "PW": "123456", "MN": GAS_MN, "Flag": "5"}
    broken = encode(header, "DataTime=20261122120000;a21026-Rtd=1.0,a21026-Rtd=2.0")  # a key twice

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(broken)
        await dev.no_reply()
        await dev.send(data_packet(qn="20261122120000002"))  # the connection goes on
        assert (await dev.reply()).qn == "20261122120000002"
        await dev.close()

    run_with_gateway(settings, engine, body)
    assert verdicts(engine) == ["malformed", "ok"]
    with engine.connect() as c:
        reason = c.execute(select(raw_packets.c.reason).order_by(raw_packets.c.id)).scalars().first()
    assert reason is not None and "a21026-Rtd appears twice" in reason
