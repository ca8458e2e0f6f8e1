"""Downlink commands end to end: API record → gateway → a logger on a real socket → events."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.hj212 import encode, exe_rtn, qn_rtn
from envwatch.ingest.commands import create_command, get_command
from envwatch.ingest.downlink import CommandTracker
from envwatch.ingest.gateway import Gateway
from envwatch.ingest.writer import Writer
from tests.helpers import GAS_MN, register_demo_devices, stored_factors
from tests.ingest.gw import Logger, data_packet, run_with_gateway


def fast(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(
        data_dir=tmp_path / "var",
        commands_poll_s=0.05,
        command_overtime_s=0.2,
        command_recount=2,
        _env_file=None,
    )  # type: ignore[call-arg]


async def wait_final(engine: Engine, command_id: int, timeout: float = 5.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        view = await asyncio.to_thread(get_command, engine, command_id)
        if view.final:
            return view.status
        await asyncio.sleep(0.05)
    raise AssertionError("command did not finish")


def test_get_time_and_history_request(tmp_path, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    register_demo_devices(engine)
    settings = fast(tmp_path)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(data_packet())  # the logger announces itself with data
        await dev.reply()
        get_time = create_command(engine, mn=GAS_MN, cn="1011", params={}, requested_by="t", now=utcnow())
        request = await dev.reply()
        assert (request.cn, request.qn, request.mn, request.flag) == ("1011", get_time.qn, GAS_MN, 5)
        await dev.send(qn_rtn(request, 1))
        upload = {
            "QN": "20261122120500000",
            "ST": "31",
            "CN": "1011",
            "PW": "123456",
            "MN": GAS_MN,
            "Flag": "4",
        }
        await dev.send(encode(upload, {"SystemTime": "20261122120459"}))
        await dev.send(exe_rtn(request, 1))
        assert await wait_final(engine, get_time.id) == "done"

        history = create_command(
            engine,
            mn=GAS_MN,
            cn="2061",
            params={"BeginTime": "20261122080000", "EndTime": "20261122090000"},
            requested_by="t",
            now=utcnow(),
        )
        request = await dev.reply()
        assert request.cn == "2061" and request.cp["BeginTime"] == "20261122080000"
        await dev.send(qn_rtn(request, 1))
        hour = {"a21026": {"Min": "10.0", "Avg": "11.5", "Max": "13.0", "Flag": "N"}}
        await dev.send(
            data_packet(cn="2061", qn="20261122120600000", data_time="20261122080000", factors=hour)
        )
        assert (await dev.reply()).cn == "9014"
        await dev.send(exe_rtn(request, 1))
        assert await wait_final(engine, history.id) == "done"
        await dev.close()

    run_with_gateway(settings, engine, body)
    view = get_command(engine, 1)
    assert [e["event"] for e in view.events] == ["queued", "sent", "accepted", "data", "done"]
    assert view.events[3]["detail"] == {"SystemTime": "20261122120459"}
    [hour_row] = stored_factors(engine, kind="hour")
    assert str(hour_row["value"]) == "11.5" and hour_row["backfill"] is True


def test_silent_logger_times_out_after_recount_retries(tmp_path, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    register_demo_devices(sqlite_engine)
    settings = fast(tmp_path)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(data_packet())
        await dev.reply()
        cmd = create_command(
            sqlite_engine, mn=GAS_MN, cn="1062", params={"RtdInterval": 60}, requested_by="t", now=utcnow()
        )
        sends = [await dev.reply() for _ in range(3)]  # first send + ReCount=2 retries, same QN
        assert {p.qn for p in sends} == {cmd.qn} and sends[0].cp["RtdInterval"] == "60"
        assert await wait_final(sqlite_engine, cmd.id) == "timed_out"
        await dev.close()

    run_with_gateway(settings, sqlite_engine, body)
    events = [e["event"] for e in get_command(sqlite_engine, 1).events]
    assert events == ["queued", "sent", "sent", "sent", "timed_out"]


def test_refusal_and_lost_connection(tmp_path, sqlite_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    register_demo_devices(sqlite_engine)
    settings = fast(tmp_path)

    async def body(gw: Gateway, port: int) -> None:
        dev = await Logger.connect(port)
        await dev.send(data_packet())
        await dev.reply()
        refused = create_command(
            sqlite_engine, mn=GAS_MN, cn="1012", params={}, requested_by="t", now=utcnow()
        )
        request = await dev.reply()
        assert len(request.cp["SystemTime"]) == 14  # the gateway's clock, filled in when sent
        await dev.send(qn_rtn(request, 2))
        assert await wait_final(sqlite_engine, refused.id) == "failed"
        lost = create_command(sqlite_engine, mn=GAS_MN, cn="1011", params={}, requested_by="t", now=utcnow())
        await dev.reply()
        await dev.close()
        assert await wait_final(sqlite_engine, lost.id) == "interrupted"

    run_with_gateway(settings, sqlite_engine, body)


def test_waiting_commands_are_found_and_expire_after_their_time_to_live(engine: Engine) -> None:
    """What the gateway's poll reads: commands with nothing but a queued event, within their TTL; those
    past it are expired by the slower sweep even though their device never connected."""
    register_demo_devices(engine)
    start = utcnow()
    old = create_command(engine, mn=GAS_MN, cn="1011", params={}, requested_by="t", now=start)
    new = create_command(
        engine, mn=GAS_MN, cn="1011", params={}, requested_by="t", now=start + timedelta(seconds=50)
    )
    writer = Writer(engine)
    writer.start()
    try:
        later = start + timedelta(seconds=70)
        tracker = CommandTracker(engine, writer, overtime_s=1, recount=1, ttl_s=60, now=lambda: later)
        assert [r["id"] for r in tracker.queued()] == [new.id]  # old is past its TTL: no longer sent
        assert [r["id"] for r in tracker.overdue(120)] == [old.id]
        tracker.expire(tracker.overdue(120)[0])
        writer.flush()
        assert get_command(engine, old.id).status == "expired" and get_command(engine, old.id).final
        assert tracker.overdue(120) == []  # an expired command is no longer waiting
        assert get_command(engine, new.id).status == "queued"
    finally:
        writer.stop()
