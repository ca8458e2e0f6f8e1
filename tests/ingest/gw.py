"""Running a real gateway on loopback for a test, and a minimal data-logger client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import uvloop
from sqlalchemy import Engine

from envwatch.core.settings import Settings
from envwatch.hj212 import NEED_DATA, Connection, DevicePolicy, Packet, ProtocolVersion, encode, flag_for
from envwatch.ingest.gateway import Gateway
from tests.helpers import GAS_MN

GAS_FACTORS = {"a21026": {"Rtd": "12.30", "Flag": "N"}, "a19001": {"Rtd": "9.8", "Flag": "N"}}


def data_packet(
    *,
    mn: str = GAS_MN,
    pw: str = "123456",
    cn: str = "2011",
    qn: str = "20261122120000001",
    data_time: str = "20261122120000",
    factors: Mapping[str, Mapping[str, str]] = GAS_FACTORS,
    version: ProtocolVersion = ProtocolVersion.V2017,
    ack: bool = True,
    key: bytes | None = None,
    extra: Mapping[str, str] | None = None,
) -> bytes:
    header = {"QN": qn, "ST": "31", "CN": cn, "PW": pw, "MN": mn, "Flag": str(flag_for(version, ack=ack))}
    header.update(extra or {})
    return encode(header, {"DataTime": data_time}, factors, sm4_key=key)


class Logger:
    """A test data logger: writes bytes, collects the gateway's replies as packets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: bytes | None) -> None:
        self.reader, self.writer = reader, writer
        self.conn = Connection(policy_for=lambda _mn: DevicePolicy(sm4_key=key))
        self.replies: list[Packet] = []

    @classmethod
    async def connect(cls, port: int, key: bytes | None = None) -> Logger:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, key)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, timeout: float = 5.0) -> Packet:
        """The next reply from the gateway."""
        while True:
            event = self.conn.next_event()
            if isinstance(event, Packet):
                self.replies.append(event)
                return event
            if event is NEED_DATA:
                chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not chunk:
                    raise ConnectionError("gateway closed the connection")
                self.conn.receive_data(chunk)

    async def no_reply(self, wait: float = 0.3) -> None:
        try:
            chunk = await asyncio.wait_for(self.reader.read(65536), wait)
        except TimeoutError:
            return
        assert not chunk, f"unexpected reply {chunk!r}"

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        try:
            while True:
                chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not chunk:
                    return True
        except (TimeoutError, ConnectionError):
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def run_with_gateway(
    settings: Settings, engine: Engine, body: Callable[[Gateway, int], Awaitable[None]]
) -> None:
    """Start a gateway on a free loopback port, run ``body(gateway, port)``, stop the gateway."""

    async def main() -> None:
        gw = Gateway(settings, engine)
        port = await gw.start("127.0.0.1", 0)
        try:
            await body(gw, port)
        finally:
            await gw.stop()

    # the gateway runs on uvloop in production (envwatch.cli), so it does here too
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
