"""Uploads through a real server (uvicorn in a subprocess on 127.0.0.1): memory stays flat while a large
file streams in, and a connection dropped in the middle of a PATCH keeps the bytes that arrived.

Memory: the server's peak RSS (``VmHWM`` in /proc/<pid>/status, the kernel's high-water mark) is read after
a small warm-up upload (2 MiB) and again after a 512 MiB upload in 64 MiB PATCH requests; the growth must stay
under 32 MiB. A server that read a request's body into memory would grow by at least 64 MiB, one that
gathered the file by 512 MiB.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from envwatch.core.settings import Settings

TOKEN = "video-test-admin-token-0123456789"
TUS = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {TOKEN}"}
MiB = 1024 * 1024
SERVER = """
import sys
from pathlib import Path
import uvicorn
from envwatch.core.db import make_engine
from envwatch.core.settings import Settings
from envwatch.web.app import create_app
settings = Settings(data_dir=Path(sys.argv[1]), admin_token=sys.argv[3], _env_file=None)
app = create_app(settings, make_engine(settings))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", lifespan="off")
"""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def peak_rss(self) -> int:
        """The process's peak resident memory so far, in bytes (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc status")

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> http.client.HTTPResponse:
        conn = self.connect()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(settings: Settings, sqlite_engine: Engine) -> Iterator[Server]:
    """The app in its own process on the test's migrated SQLite store, with a known admin token."""
    sqlite_engine.dispose()  # the store file is ready; the server opens it itself
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(settings.data_dir), str(port), TOKEN])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the test server did not start") from None
                time.sleep(0.1)
        yield Server(process, port)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _create(server: Server, length: int) -> str:
    response = server.request("POST", "/api/v1/evidence/uploads", TUS | {"Upload-Length": str(length)})
    assert response.status == 201, response.status
    return str(response.getheader("Location"))


def _offset(server: Server, location: str) -> int:
    return int(server.request("HEAD", location, TUS).getheader("Upload-Offset") or -1)


def _patch(server: Server, location: str, offset: int, data: bytes) -> int:
    headers = TUS | {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    response = server.request("PATCH", location, headers, data)
    assert response.status == 204, response.status
    return int(response.getheader("Upload-Offset") or -1)


def _block(i: int, size: int) -> bytes:
    """``size`` deterministic bytes, different per block (the client holds one block at a time)."""
    return hashlib.sha256(i.to_bytes(4, "big")).digest() * (size // 32)


def test_memory_stays_flat_for_a_512_mib_upload(server: Server, settings: Settings) -> None:
    warm = _create(server, 2 * MiB)
    assert _patch(server, warm, 0, _block(0, 2 * MiB)) == 2 * MiB  # code paths loaded, write buffer used
    before = server.peak_rss()
    total, chunk = 512 * MiB, 64 * MiB  # a server holding one request's body would grow by 64 MiB at least
    location = _create(server, total)
    digest = hashlib.sha256()
    started = time.monotonic()
    offset = 0
    for i in range(total // chunk):
        block = _block(i, chunk)
        digest.update(block)
        offset = _patch(server, location, offset, block)
    elapsed = time.monotonic() - started
    after = server.peak_rss()
    growth = after - before
    print(
        f"\n512 MiB in {total // chunk} PATCHes of {chunk // MiB} MiB took {elapsed:.1f} s; server peak RSS "
        f"{before / MiB:.1f} MiB before, {after / MiB:.1f} MiB after: growth {growth / MiB:.1f} MiB"
    )
    assert offset == total == _offset(server, location)
    part = settings.data_dir / "uploads" / f"{location.rsplit('/', 1)[-1]}.part"
    with part.open("rb") as handle:
        check = hashlib.sha256()
        while piece := handle.read(8 * MiB):
            check.update(piece)
    assert check.hexdigest() == digest.hexdigest()
    part.unlink()  # half a GB less left behind in pytest's kept temporary directories
    assert growth < 32 * MiB


def test_a_dropped_connection_keeps_what_arrived(server: Server) -> None:
    location = _create(server, 4 * MiB)
    sent = 3 * MiB // 2
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        head = (
            f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {TOKEN}\r\nUpload-Offset: 0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {4 * MiB}\r\n\r\n"
        )
        raw.sendall(head.encode() + os.urandom(sent))
        time.sleep(0.5)  # the server has read what was sent
    deadline = time.monotonic() + 10
    while (offset := _offset(server, location)) != sent and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the disconnect, writes and syncs what it has
    assert offset == sent
    assert _patch(server, location, sent, os.urandom(4 * MiB - sent)) == 4 * MiB
