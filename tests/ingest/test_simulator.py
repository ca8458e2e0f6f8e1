"""The device simulator against a real loopback TCP server that parses with hj212.Connection.

Simulated time runs 600x (10 simulated minutes per wall second) from a chosen start, so minute and
hour boundaries arrive within a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import socket
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from envwatch.core.clock import CHINA_TZ
from envwatch.hj212 import (
    NEED_DATA,
    Connection,
    DevicePolicy,
    MessageComplete,
    Packet,
    ProtocolError,
    ProtocolVersion,
    encode,
    flag_for,
)
from envwatch.ingest.simulator import (
    DeviceModel,
    SimDevice,
    SimOptions,
    SimStats,
    demo_devices,
    run_simulation,
)
from envwatch.ingest.simulator.model import GAS_FACTORS, WATER_FACTORS, from_local_time, local_time
from envwatch.ingest.simulator.wire import Outgoing, build_frames

SPEEDUP = 600.0
START = datetime(2026, 3, 2, 10, 55, 0, tzinfo=CHINA_TZ)  # the 11:00 hour boundary is 0.5 s away

GAS_CODES = [spec.code for spec in GAS_FACTORS]
WATER_CODES = [spec.code for spec in WATER_FACTORS]
# realistic ranges the brief names, plus the rest of the model's clamps
RANGES = {spec.code: (spec.lo, spec.hi) for spec in (*GAS_FACTORS, *WATER_FACTORS)}
DECIMALS = {
    (spec.code, protocol): spec.decimals(protocol)
    for spec in (*GAS_FACTORS, *WATER_FACTORS)
    for protocol in ("2017", "2025")
}


def decimal_pattern(decimals: int) -> re.Pattern[str]:
    return re.compile(r"-?\d+" + (rf"\.\d{{{decimals}}}" if decimals else "") + r"\Z")


# --- a tiny HJ 212 host ---------------------------------------------------------------------------


@dataclass
class Received:
    conn: int  # connection number, in order of acceptance
    packet: Packet


@dataclass
class Host:
    """Loopback server: decodes with hj212.Connection, answers 9014 when asked, records everything."""

    keys: dict[str, bytes] = field(default_factory=dict)
    ack: bool = True
    packets: list[Received] = field(default_factory=list)
    messages: list[MessageComplete] = field(default_factory=list)
    errors: list[ProtocolError] = field(default_factory=list)
    writers: dict[str, asyncio.StreamWriter] = field(default_factory=dict)  # latest connection per MN
    connections: int = 0
    _server: asyncio.Server | None = None
    _all_writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self.drop_all()
        await self._server.wait_closed()

    async def drop_all(self) -> None:
        """Force every device off (as a gateway restart would)."""
        for writer in self._all_writers:
            writer.close()
        for writer in self._all_writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._all_writers.clear()

    def _policy(self, mn: str) -> DevicePolicy | None:
        key = self.keys.get(mn)
        return DevicePolicy(sm4_key=key) if key else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        self._all_writers.append(writer)
        conn = Connection(policy_for=self._policy)
        try:
            while data := await reader.read(65536):
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, Packet):
                        self.packets.append(Received(number, event))
                        if event.mn:
                            self.writers[event.mn] = writer
                        if event.needs_ack and self.ack:
                            writer.write(ack_for(event))
                    elif isinstance(event, MessageComplete):
                        self.messages.append(event)
                    else:
                        self.errors.append(event)  # type: ignore[arg-type]
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def send(self, mn: str, frame: bytes) -> None:
        writer = self.writers[mn]
        writer.write(frame)
        await writer.drain()

    def of(self, mn: str, cn: str | None = None) -> list[Packet]:
        return [r.packet for r in self.packets if r.packet.mn == mn and (cn is None or r.packet.cn == cn)]


def ack_for(packet: Packet) -> bytes:
    """9014: the upload's QN echoed, ST=91, the device's version in Flag without the ack bit."""
    header = {
        "QN": packet.qn or "",
        "ST": "91",
        "CN": "9014",
        "PW": packet.pw or "",
        "MN": packet.mn or "",
        "Flag": str(flag_for(packet.version, ack=False)),
    }
    return encode(header, {})


def request(
    device: SimDevice, cn: str, qn: str, cp: dict[str, str], *, pw: str | None = None, encrypt: bool = False
) -> bytes:
    header = {
        "QN": qn,
        "ST": device.st,
        "CN": cn,
        "PW": pw or device.pw,
        "MN": device.mn,
        "Flag": str(flag_for(ProtocolVersion(device.protocol), ack=True)),
    }
    return encode(header, cp, sm4_key=device.sm4_key if encrypt else None)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def simulate(port: int, devices: Sequence[SimDevice], **overrides: Any) -> Coroutine[Any, Any, SimStats]:
    """``run_simulation`` against the test host with this file's usual settings (a real-time packet every
    30 simulated s, SPEEDUP, START, no disturbances, fast options); ``overrides`` win."""
    settings: dict[str, Any] = {
        "interval_s": 30,
        "speedup": SPEEDUP,
        "start": START,
        "disturb": False,
        "options": fast(),
    }
    settings.update(overrides)
    return run_simulation("127.0.0.1", port, devices, **settings)


def fast(**changes: object) -> SimOptions:
    base: dict[str, object] = {"start_spread_s": 0.05, "backoff_s": (0.05, 0.5), "ack_timeout_s": 2.0}
    base.update(changes)
    return SimOptions(**base)  # type: ignore[arg-type]


# --- fleet and model --------------------------------------------------------------------------------


def test_demo_devices_are_deterministic_and_alternate() -> None:
    fleet = demo_devices(6, "2025", seed=3)
    assert fleet == demo_devices(6, "2025", seed=3)
    assert fleet != demo_devices(6, "2025", seed=4)
    assert [d.kind for d in fleet] == ["gas", "water"] * 3
    assert [d.st for d in fleet] == ["31", "32"] * 3
    assert len({d.mn for d in fleet}) == 6
    for device in fleet:
        assert re.fullmatch(r"[0-9A-F]{24}", device.mn)
        assert device.sm4_key is not None and len(device.sm4_key) == 16
        assert re.fullmatch(r"\d{6}", device.pw)
    assert len({d.sm4_key for d in fleet}) == 6
    assert all(d.sm4_key is None and d.protocol == "2017" for d in demo_devices(4, "2017"))
    with pytest.raises(ValueError):
        demo_devices(2, "2005")
    with pytest.raises(ValueError):
        SimDevice(mn="X", pw="1", kind="gas", protocol="2025", sm4_key=b"short")


@pytest.mark.parametrize("kind", ["gas", "water"])
@pytest.mark.parametrize("protocol", ["2017", "2025"])
def test_model_values_are_in_range_with_the_standard_decimals(kind: str, protocol: str) -> None:
    start = from_local_time("20260302000000")
    flags: Counter[str] = Counter()
    for seed in range(3):
        model = DeviceModel(kind, protocol, seed)  # type: ignore[arg-type]
        for t in range(start, start + 86400, 120):
            cp, factors = model.realtime(t)
            assert cp == {"DataTime": local_time(t)}
            assert list(factors) == (GAS_CODES if kind == "gas" else WATER_CODES)
            for code, fields in factors.items():
                pattern = decimal_pattern(DECIMALS[code, protocol])
                assert pattern.match(fields["Rtd"]), (code, fields)
                lo, hi = RANGES[code]
                assert lo <= float(fields["Rtd"]) <= hi
                if "ZsRtd" in fields:
                    assert pattern.match(fields["ZsRtd"])
                flags[fields["Flag"]] += 1
    assert set(flags) <= {"N", "C", "M", "D"}
    abnormal = 1 - flags["N"] / sum(flags.values())
    assert 0.005 < abnormal < 0.10, flags  # "a few % of the time"
    # the brief's own examples of realistic ranges
    assert RANGES["a21026"] == (10, 80) and RANGES["a19001"] == (8, 12) and RANGES["w01001"] == (6, 9)


def test_flags_come_in_runs_of_minutes() -> None:
    model = DeviceModel("gas", "2017", 11)
    start = from_local_time("20260301000000")
    runs: list[int] = []
    length = 0
    for t in range(start, start + 5 * 86400, 60):
        if model.flag("cems", t) != "N":
            length += 1
        elif length:
            runs.append(length)
            length = 0
    assert len(runs) >= 5  # a daily calibration at least
    assert min(runs) >= 3 and max(runs) <= 30, runs


def test_period_statistics_are_over_the_real_time_samples() -> None:
    model = DeviceModel("gas", "2025", 5)
    start = from_local_time("20260302143000")
    rtd = [model.realtime(t)[1] for t in range(start, start + 60, 20)]
    cp, stats = model.period(start, 60, 20)
    assert cp == {"DataTime": "20260302143000"}  # the period start
    for code in GAS_CODES:
        values = [float(r[code]["Rtd"]) for r in rtd]
        assert float(stats[code]["Min"]) == min(values)
        assert float(stats[code]["Max"]) == max(values)
        assert min(values) <= float(stats[code]["Avg"]) <= max(values)
    assert {"Cou", "ZsMin", "ZsAvg", "ZsMax"} <= set(stats["a21026"])
    assert "Cou" in stats["a00000"] and "Cou" not in stats["a19001"]
    # hours and days too, and a day's Cou is the sum of its hours'
    day_cp, day = model.period(from_local_time("20260302000000"), 86400, 300)
    hours = [model.period(from_local_time("20260302000000") + h * 3600, 3600, 300)[1] for h in range(24)]
    assert day_cp["DataTime"] == "20260302000000"
    assert float(day["a21026"]["Cou"]) == pytest.approx(
        sum(float(h["a21026"]["Cou"]) for h in hours), abs=1e-3
    )
    # e.g. 9.0 → "9.00", never "9" or "9e+00"
    assert all("e" not in v for fields in day.values() for v in fields.values())


def test_frames_split_with_one_qn_and_numbered_parts() -> None:
    (device,) = demo_devices(1, "2025", seed=4)
    cp, factors = DeviceModel("gas", "2025", 1).period(from_local_time("20260302100000"), 3600, 30)
    out = Outgoing("2061", cp, factors, qn="20260302110000123", encrypt=True, backfill=True)
    frames = build_frames(device, out, max_segment_chars=1024, max_frame_bytes=4096)
    assert len(frames) >= 2
    conn = Connection(policy_for=lambda mn: DevicePolicy(sm4_key=device.sm4_key))
    for frame in frames:
        assert len(frame) <= 4096
        conn.receive_data(frame)
    events = []
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
    parts = [e for e in events if isinstance(e, Packet)]
    assert [p.pno for p in parts] == list(range(1, len(frames) + 1))
    assert all(p.qn == out.qn and p.flag == 11 and p.header["RF"] == "1" and p.crc_ok for p in parts)
    assert all(p.cp["DataTime"] == "20260302100000" for p in parts)
    (done,) = [e for e in events if isinstance(e, MessageComplete)]
    assert done.records[0].factors == factors
    # a 2017 water record fits in one frame: no PNUM/PNO, Flag 5
    (water,) = [d for d in demo_devices(2, "2017") if d.kind == "water"]
    cp, factors = DeviceModel("water", "2017", 1).realtime(from_local_time("20260302100000"))
    (single,) = build_frames(
        water, Outgoing("2011", cp, factors, qn="1"), max_segment_chars=1024, max_frame_bytes=4096
    )
    assert b";Flag=5;CP=&&DataTime=20260302100000;w01018-Rtd=" in single and b"PNUM" not in single


# --- live runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Host, list[SimDevice], SimStats]]:
    """Two 2017 and two 2025 loggers for 1.7 wall seconds = 17 simulated minutes across 11:00."""
    devices = demo_devices(2, "2017", seed=1) + demo_devices(2, "2025", seed=2)
    host = Host(keys={d.mn: d.sm4_key for d in devices if d.sm4_key})

    async def main() -> SimStats:
        port = await host.start()
        try:
            return await simulate(
                port,
                devices,
                duration_s=1.7,
            )
        finally:
            await host.stop()

    stats = asyncio.run(main())
    yield host, devices, stats


def test_live_packets_decode_with_correct_cns_mns_and_flags(
    live: tuple[Host, list[SimDevice], SimStats],
) -> None:
    host, devices, stats = live
    assert not host.errors
    by_mn = {d.mn: d for d in devices}
    assert {r.packet.mn for r in host.packets} == set(by_mn)
    for received in host.packets:
        packet = received.packet
        device = by_mn[packet.mn or ""]
        assert packet.crc_ok
        assert packet.st == device.st
        assert packet.pw == device.pw
        assert packet.version is ProtocolVersion(device.protocol)
        assert packet.flag in ({5, 7} if device.protocol == "2017" else {9, 11})
        assert "RF" not in packet.header  # nothing was back-filled: no disturbance in this run
    for device in devices:
        cns = Counter(p.cn for p in host.of(device.mn))
        assert 30 <= cns["2011"] <= 36, cns  # every 30 s for ~17 simulated minutes
        assert cns["2051"] >= 13 and cns["2061"] >= 1
        assert (cns["9015"] > 0) == (device.protocol == "2025")
    assert stats.acks_received > 0 and stats.resends == 0 and stats.connect_failures == 0
    assert stats.packets_sent >= len(host.packets) > 0
    assert "acks" in stats.summary()


def test_live_real_time_values(live: tuple[Host, list[SimDevice], SimStats]) -> None:
    host, devices, _ = live
    for device in devices:
        codes = GAS_CODES if device.kind == "gas" else WATER_CODES
        times = []
        for packet in host.of(device.mn, "2011"):
            assert list(packet.factors) == codes  # 9 gas / 6 water factors
            assert len(packet.factors) == (9 if device.kind == "gas" else 6)
            for code, fields in packet.factors.items():
                assert decimal_pattern(DECIMALS[code, device.protocol]).match(fields["Rtd"])
                lo, hi = RANGES[code]
                assert lo <= float(fields["Rtd"]) <= hi
                assert fields["Flag"] in "NCMD"
                assert ("ZsRtd" in fields) == (code in ("a21026", "a21002", "a34013"))
            data_time = packet.cp["DataTime"]
            assert re.fullmatch(r"\d{14}", data_time) and data_time[-2:] in ("00", "30")
            times.append(data_time)
        assert times == sorted(times) and len(set(times)) == len(times)
        assert "20260302105500" <= times[0] < "20260302105700"  # China local time from START


def test_live_minute_and_hour_statistics(live: tuple[Host, list[SimDevice], SimStats]) -> None:
    host, devices, _ = live
    for device in devices:
        rtd = {p.cp["DataTime"]: p.factors for p in host.of(device.mn, "2011")}
        minutes = _records(host, device.mn, "2051")
        starts = sorted(minutes)
        assert all(s.endswith("00") for s in starts)  # DataTime = the minute's start
        step = [from_local_time(b) - from_local_time(a) for a, b in itertools.pairwise(starts)]
        assert set(step) == {60}
        checked = 0
        for start, factors in minutes.items():
            samples = [rtd.get(start), rtd.get(start[:-2] + "30")]
            if None in samples:
                continue  # the minute began before the first packet
            for code, fields in factors.items():
                values = [float(s[code]["Rtd"]) for s in samples]  # type: ignore[index]
                assert float(fields["Min"]) == min(values) and float(fields["Max"]) == max(values)
            checked += 1
        assert checked >= 10
        hours = _records(host, device.mn, "2061")
        assert list(hours) == ["20260302100000"]  # sent at 11:00 for 10:00-11:00
        fields = hours["20260302100000"]["a21026" if device.kind == "gas" else "w01018"]
        assert {"Cou", "Min", "Avg", "Max", "Flag"} <= set(fields)


def _records(host: Host, mn: str, cn: str) -> dict[str, dict[str, dict[str, str]]]:
    """DataTime → factors of every message with this CN, reassembling split ones."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for packet in host.of(mn, cn):
        entry = out.setdefault(packet.cp["DataTime"], {})
        for code, fields in packet.factors.items():
            entry[code] = dict(fields)
    return out


def test_big_messages_are_split_and_reassembled(live: tuple[Host, list[SimDevice], SimStats]) -> None:
    host, devices, _ = live
    for device in devices:
        codes = GAS_CODES if device.kind == "gas" else WATER_CODES
        packets = host.of(device.mn, "2051")
        for packet in packets:
            assert len(packet.raw) <= 4096 and len(packet.segment) <= 1024
            assert packet.is_split == ("PNUM" in packet.header)
            assert packet.flag in ((7, 11) if packet.is_split else (5, 9))
        messages = list(_messages(host, device.mn, "2051"))
        assert len(messages) >= 13 and all(list(factors) == codes for _, factors in messages)
        if device.kind == "gas" and device.protocol == "2025":
            # ~5x larger once encrypted: a gas minute cannot fit one 4096-byte frame
            assert all(p.is_split for p in packets)


def test_2025_packets_are_encrypted_with_the_device_key(live: tuple[Host, list[SimDevice], SimStats]) -> None:
    host, devices, _ = live
    for device in devices:
        data = host.of(device.mn, "2011")
        if device.protocol == "2017":
            assert not any(p.encrypted for p in data)
            continue
        assert data and all(p.encrypted and b"CP=&&{0x" in p.raw for p in data)
        assert b"Rtd" not in data[0].raw  # the values are not on the wire in clear
        # without the key nothing can be read; with another device's key neither
        other = next(d for d in devices if d.protocol == "2025" and d.mn != device.mn)
        for key in (None, other.sm4_key):
            policy = DevicePolicy(sm4_key=key)
            conn = Connection(policy_for=lambda mn, policy=policy: policy)  # type: ignore[misc]
            conn.receive_data(data[0].raw)
            event = conn.next_event()
            assert not (isinstance(event, Packet) and event.crc_ok and event.factors), event


# --- disconnects, re-sends, back-fill -------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["2017", "2025"])
def test_backfill_after_a_forced_disconnect(protocol: str) -> None:
    devices = demo_devices(1, protocol, seed=7)
    device = devices[0]
    host = Host(keys={device.mn: device.sm4_key} if device.sm4_key else {})
    stats = SimStats()

    async def main() -> None:
        port = await host.start()
        task = asyncio.create_task(
            simulate(
                port,
                devices,
                duration_s=1.6,
                stats=stats,
                # reconnect after 0.5-1.0 wall s = 5-10 simulated minutes offline
                options=fast(backoff_s=(1.0, 1.0)),
            )
        )
        await until(lambda: len(host.of(device.mn, "2011")) >= 4)
        host.writers.clear()
        await host.drop_all()
        await task
        await host.stop()

    asyncio.run(main())
    assert stats.reconnects >= 1 and host.connections >= 2
    assert stats.backfilled >= 10
    late = [r.packet for r in host.packets if r.conn >= 1 and r.packet.cn == "2011"]
    if protocol == "2025":
        backfilled = [p for p in late if p.backfill]
        assert len(backfilled) >= 8
        assert all(p.header["RF"] == "1" and p.flag == 9 for p in backfilled)
        first_live = next(p for p in late if not p.backfill)
        assert max(p.cp["DataTime"] for p in backfilled) <= first_live.cp["DataTime"]
    else:
        assert not any("RF" in p.header for p in _all(host))  # 2017 has no RF: just late packets
    # nothing was lost: the real-time series has no gap across the outage
    times = sorted({from_local_time(p.cp["DataTime"]) for p in host.of(device.mn, "2011")})
    assert times == list(range(times[0], times[-1] + 1, 30))


def test_unacknowledged_packets_are_sent_again() -> None:
    devices = demo_devices(1, "2017", seed=8)
    host = Host(ack=False)

    async def main() -> SimStats:
        port = await host.start()
        try:
            return await run_simulation(
                "127.0.0.1",
                port,
                devices,
                interval_s=10,
                duration_s=1.2,
                speedup=60,
                start=START,
                disturb=False,
                options=fast(ack_timeout_s=0.25, ack_retries=2),
            )
        finally:
            await host.stop()

    stats = asyncio.run(main())
    assert stats.resends > 0 and stats.acks_received == 0 and stats.gave_up > 0
    qns = Counter(p.qn for p in host.of(devices[0].mn, "2011"))
    assert max(qns.values()) == 3  # sent, then re-sent twice with the same QN: duplicates for the host


def test_packets_in_flight_when_the_link_drops_are_sent_again() -> None:
    devices = demo_devices(1, "2025", seed=10)
    (device,) = devices
    host = Host(keys={device.mn: device.sm4_key} if device.sm4_key else {}, ack=False)
    stats = SimStats()

    async def main() -> None:
        port = await host.start()
        task = asyncio.create_task(
            simulate(
                port,
                devices,
                duration_s=1.0,
                stats=stats,
                options=fast(ack_timeout_s=30.0, backoff_s=(0.2, 0.2)),  # no timed re-sends in this test
            )
        )
        await until(lambda: len(host.of(device.mn, "2011")) >= 3)
        await host.drop_all()
        await task
        await host.stop()

    asyncio.run(main())
    first = {r.packet.qn for r in host.packets if r.conn == 0 and r.packet.cn == "2011"}
    again = [r.packet for r in host.packets if r.conn >= 1 and r.packet.qn in first]
    assert len(again) >= 3 and stats.resends >= 3  # the same QNs: the host sees duplicates
    assert all(p.backfill for p in again)  # and, sent after reconnecting, they are back-fill (RF=1)


def test_disturbance_drops_and_restores_the_link() -> None:
    devices = demo_devices(2, "2025", seed=9)
    host = Host(keys={d.mn: d.sm4_key for d in devices if d.sm4_key})

    async def main() -> SimStats:
        port = await host.start()
        try:
            return await simulate(
                port,
                devices,
                duration_s=1.5,
                disturb=True,
                options=fast(mean_uptime_sim_s=180, outage_sim_s=(60, 180)),
            )
        finally:
            await host.stop()

    stats = asyncio.run(main())
    assert stats.reconnects >= 2 and stats.backfilled > 0
    assert any(r.packet.backfill for r in host.packets)


def test_connection_failures_are_retried_not_raised() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> SimStats:
        return await run_simulation(
            "127.0.0.1", port, demo_devices(2, "2017"), interval_s=30, duration_s=0.6, options=fast()
        )

    stats = asyncio.run(main())
    assert stats.connect_failures >= 4 and stats.packets_sent == 0


def test_cancellation_stops_everything() -> None:
    host = Host()

    async def main() -> None:
        port = await host.start()
        task = asyncio.create_task(
            run_simulation(
                "127.0.0.1",
                port,
                demo_devices(3, "2017"),
                interval_s=30,
                duration_s=None,
                speedup=SPEEDUP,
                options=fast(),
            )
        )
        await until(lambda: len(host.packets) > 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        leftovers = [t for t in asyncio.all_tasks() if "simulator" in repr(t.get_coro())]
        assert leftovers == []
        await host.stop()

    asyncio.run(main())


# --- host commands --------------------------------------------------------------------------------


def test_host_commands_are_answered_like_a_logger() -> None:
    gas, water = demo_devices(2, "2017", seed=5)
    (sm4,) = demo_devices(1, "2025", seed=6)
    devices = [gas, water, sm4]
    host = Host(keys={sm4.mn: sm4.sm4_key} if sm4.sm4_key else {})
    stats = SimStats()

    async def main() -> None:
        port = await host.start()
        task = asyncio.create_task(
            simulate(
                port,
                devices,
                duration_s=1.5,
                stats=stats,
            )
        )
        await until(lambda: all(len(host.of(d.mn, "2051")) >= 3 for d in devices))
        await host.send(gas.mn, request(gas, "1011", "20260302110000001", {"PolId": "a21026"}))
        await host.send(
            water.mn,
            request(
                water,
                "2061",
                "20260302110000002",
                {"BeginTime": "20260302070000", "EndTime": "20260302095959"},
            ),
        )
        live_minutes = _records(host, gas.mn, "2051")
        first, last = min(live_minutes), max(live_minutes)
        await host.send(
            gas.mn, request(gas, "2051", "20260302110000003", {"BeginTime": first, "EndTime": last})
        )
        await host.send(
            sm4.mn,
            request(  # a 2025 host encrypts data requests too (§6.4.4)
                sm4,
                "2061",
                "20260302110000004",
                {"BeginTime": "20260302080000", "EndTime": "20260302080000"},
                encrypt=True,
            ),
        )
        await host.send(water.mn, request(water, "1011", "20260302110000005", {}, pw="999999"))
        await until(
            lambda: (
                sum(p.cn == "9012" for p in _all(host)) >= 4 and len(_replies(host, water.mn, "9011")) >= 2
            )
        )
        await task
        await host.stop()

        # 1011: 9011 QnRtn=1, the time upload with the request's QN, 9012 ExeRtn=1
        seq = [p for p in host.of(gas.mn) if p.qn == "20260302110000001"]
        assert [p.cn for p in seq] == ["9011", "1011", "9012"]
        assert seq[0].cp == {"QnRtn": "1"} and seq[0].st == "91" and seq[0].flag == 4
        assert seq[1].cp["PolId"] == "a21026" and re.fullmatch(
            r"2026030210[5-9]\d{3}|20260302110\d{3}", seq[1].cp["SystemTime"]
        )
        assert seq[2].cp == {"ExeRtn": "1"}

        # 2061 history: 9011, the three hours 07:00, 08:00, 09:00 (each its own QN), then 9012
        water_seq = [p for p in host.of(water.mn) if p.cn in ("9011", "9012") and p.qn == "20260302110000002"]
        assert [p.cn for p in water_seq] == ["9011", "9012"]
        hist = [p for p in host.of(water.mn, "2061") if p.cp["DataTime"] < "20260302100000"]
        assert [p.cp["DataTime"] for p in hist] == ["20260302070000", "20260302080000", "20260302090000"]
        assert all(
            p.qn != "20260302110000002" and p.needs_ack and list(p.factors) == WATER_CODES for p in hist
        )
        order = [p.qn for p in host.of(water.mn)]
        assert order.index("20260302110000002") < order.index(hist[0].qn) < order.index(hist[-1].qn)
        nine012 = [
            i for i, p in enumerate(host.of(water.mn)) if p.cn == "9012" and p.qn == "20260302110000002"
        ]
        assert nine012[0] > order.index(hist[-1].qn)

        # history regenerated from the model equals what was sent live: every minute came twice, equal
        sent: dict[str, list[dict[str, dict[str, str]]]] = {}
        for data_time, factors in _messages(host, gas.mn, "2051"):
            sent.setdefault(data_time, []).append(factors)
        for data_time in live_minutes:
            assert (
                len(sent[data_time]) == 2
                and sent[data_time][0] == sent[data_time][1] == live_minutes[data_time]
            )

        # 2025: encrypted history with the device's key; the replies themselves stay in clear
        sm4_hist = [p for p in host.of(sm4.mn, "2061") if p.cp["DataTime"] == "20260302080000"]
        assert sm4_hist and all(p.encrypted for p in sm4_hist)
        assert [p.flag for p in _replies(host, sm4.mn, "9011")] == [8]

        # wrong PW: rejected with QnRtn=3 and no execution
        bad = [p for p in host.of(water.mn) if p.qn == "20260302110000005"]
        assert [(p.cn, dict(p.cp)) for p in bad] == [("9011", {"QnRtn": "3"})]

    asyncio.run(main())
    assert stats.commands_answered == 5


def _all(host: Host) -> list[Packet]:
    return [r.packet for r in host.packets]


def _replies(host: Host, mn: str, cn: str) -> list[Packet]:
    return [p for p in host.of(mn, cn) if p.qn and p.qn.startswith("2026030211000000")]


def _messages(host: Host, mn: str, cn: str) -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    """(DataTime, factors) of every complete message, split or not, in arrival order."""
    for received in host.packets:
        packet = received.packet
        if packet.mn == mn and packet.cn == cn and not packet.is_split:
            yield packet.cp["DataTime"], {k: dict(v) for k, v in packet.factors.items()}
    for message in host.messages:
        if message.mn == mn and message.cn == cn:
            for record in message.records:
                yield record.data_time or "", {k: dict(v) for k, v in record.factors.items()}


def test_time_and_interval_commands_change_the_logger() -> None:
    (device,) = demo_devices(1, "2017", seed=12)
    host = Host()

    async def main() -> None:
        port = await host.start()
        task = asyncio.create_task(
            simulate(
                port,
                [device],
                duration_s=1.2,
            )
        )
        await until(lambda: len(host.of(device.mn, "2011")) >= 3)
        await host.send(
            device.mn, request(device, "1012", "20260302110000011", {"SystemTime": "20270101000000"})
        )
        await host.send(device.mn, request(device, "1062", "20260302110000012", {"RtdInterval": "120"}))
        await until(lambda: sum(p.cn == "9012" for p in host.of(device.mn)) >= 2)
        await asyncio.sleep(0.4)  # 4 simulated minutes at the new interval
        await task
        await host.stop()

    asyncio.run(main())
    after = [p.cp["DataTime"] for p in host.of(device.mn, "2011") if p.cp["DataTime"] >= "2027"]
    assert len(after) >= 2 and after[0] < "20270101000500"
    assert all(from_local_time(b) - from_local_time(a) == 120 for a, b in itertools.pairwise(after))
    assert all(p.cp == {"ExeRtn": "1"} for p in host.of(device.mn, "9012"))


def test_run_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        asyncio.run(run_simulation("127.0.0.1", 1, [], interval_s=0, duration_s=1))
    assert asyncio.run(run_simulation("127.0.0.1", 1, [], interval_s=30, duration_s=1)) == SimStats()
    assert (
        SimStats(packets_sent=3, by_cn=Counter({"2011": 3})).summary().startswith("sent 3 packets (2011: 3)")
    )
