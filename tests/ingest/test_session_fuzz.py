"""Random and mutated byte streams never break the session handler (hypothesis, over real sockets).

One gateway runs in a background thread for the whole module; each example opens a connection, sends
bytes, and closes. Afterwards the event loop must have seen no unhandled exception, the writer no failed
batch, and a well-formed packet must still be stored and acknowledged.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.ingest.gateway import Gateway
from envwatch.ingest.schema import raw_packets
from envwatch.migrations import upgrade
from tests.helpers import register_demo_devices
from tests.ingest.gw import data_packet


class Background:
    def __init__(self, tmp: Path) -> None:
        self.settings = Settings(data_dir=tmp / "var", auth_failures_before_close=1000, _env_file=None)  # type: ignore[call-arg]
        self.engine: Engine = make_engine(self.settings)
        upgrade(self.engine)
        register_demo_devices(self.engine)
        self.loop = uvloop.new_event_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, ctx: self.errors.append(ctx))
        self.gateway = Gateway(self.settings, self.engine)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.gateway.start("127.0.0.1", 0), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.engine.dispose()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    bg = Background(tmp_path_factory.mktemp("fuzz"))
    yield bg
    bg.stop()


def send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(2)
        try:
            while s.recv(65536):
                pass
        except (TimeoutError, ConnectionError):
            pass


VALID = data_packet()


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, byte in edits:
        if out:
            out[pos % len(out)] = byte
    return bytes(out)


common = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@common
@given(st.binary(max_size=3000))
def test_random_bytes(gateway: Background, data: bytes) -> None:
    send(gateway.port, data)


@common
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(1, 5),
)
def test_mutated_valid_streams(gateway: Background, edits: list[tuple[int, int]], copies: int) -> None:
    send(gateway.port, mutate(VALID * copies, edits))


@common
@given(
    st.lists(
        st.sampled_from([b"##", b"0101", b"QN=", b";", b"CP=&&", b"&&", b"\r\n", b"{0x", b"9999", b"\xff"]),
        max_size=60,
    )
)
def test_protocol_shaped_noise(gateway: Background, parts: list[bytes]) -> None:
    send(gateway.port, b"".join(parts))


def test_gateway_still_healthy_afterwards(gateway: Background) -> None:
    before = _count(gateway.engine)
    fresh = data_packet(qn="20991231235959999", data_time="20991231235959")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(fresh)
        s.settimeout(5)
        reply = s.recv(65536)
    assert b"CN=9014" in reply and b"QN=20991231235959999" in reply
    assert gateway.errors == [], gateway.errors[:3]
    assert gateway.gateway.writer.failures == 0
    assert _count(gateway.engine) > before


def _count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(raw_packets)).scalar_one())
