"""A province platform for tests: a real TCP server on loopback speaking HJ 212 through envwatch.hj212.

It records every packet it receives (the frame's bytes), answers 9014 to those whose Flag asks, can leave
chosen replies out (``drop_next_ack``), and can be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from envwatch.hj212 import NEED_DATA, Connection, DevicePolicy, Packet, data_ack


class FakeUpstream:
    def __init__(self, policy_for: Callable[[str], DevicePolicy | None] | None = None) -> None:
        self.packets: list[Packet] = []
        self.policy_for = policy_for  # the province knows the devices' SM4 keys (HJ 212-2025 §6.4.3)
        self.port = 0
        self.received: list[bytes] = []
        self.drop_acks: dict[str, int] = {}  # QN -> how many of its next 9014s are not sent
        self.connections = 0
        self.errors: list[str] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every open connection (the province goes down)."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        conn = Connection(policy_for=self.policy_for)
        try:
            while data := await reader.read(65536):
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    if not isinstance(event, Packet):
                        self.errors.append(str(event))  # the forwarder sent something unreadable
                        continue
                    self.received.append(event.raw)
                    self.packets.append(event)
                    if not event.needs_ack:
                        continue
                    if self.drop_acks.get(event.qn or "", 0) > 0:
                        self.drop_acks[event.qn or ""] -= 1
                        continue
                    writer.write(data_ack(event))
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
