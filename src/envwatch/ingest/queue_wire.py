"""What travels through JetStream between a gateway and the workers: one message per frame or statement.

JSON (orjson), not pickle: a worker must never run code that arrives over the network. A frame carries
what ``InboundFrame`` holds (the raw bytes in base64); a statement carries its SQL and parameters, and a
worker runs only statements of the few kinds the gateway sends (``ALLOWED_STATEMENTS``): device status,
SM4 key rotation, command events, the flush probe. Anything else is refused as a poison message.

The stream connection helpers (``connect``, ``ensure_stream``) live here too: both sides need them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import datetime
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from envwatch.core.settings import Settings
from envwatch.ingest.store import InboundFrame, PacketData

log = logging.getLogger(__name__)

# every statement the gateway, its sessions and its command tracker submit begins with one of these
ALLOWED_STATEMENTS = (
    "UPDATE device_status SET online = FALSE",
    "INSERT INTO device_keys ",
    "INSERT INTO command_events ",
    "SELECT 1",
)


class PoisonMessage(ValueError):
    """A message that is not a frame or an allowed statement: logged and dropped, never stored."""


def encode_frame(frame: InboundFrame) -> bytes:
    data = frame.data
    return orjson.dumps(
        {
            "k": "f",
            "at": frame.received_at.isoformat(),
            "peer": frame.peer,
            "raw": base64.b64encode(frame.raw).decode(),
            "v": frame.verdict,
            "dev": frame.device_id,
            "mn": frame.mn,
            "cn": frame.cn,
            "qn": frame.qn,
            "why": frame.reason,
            "data": None if data is None else [data.cp, data.factors, data.backfill, data.cp_text],
        }
    )


def encode_statement(sql: str, params: tuple[Any, ...]) -> bytes:
    return orjson.dumps({"k": "s", "sql": sql, "p": [_param_out(p) for p in params]})


def decode(payload: bytes) -> InboundFrame | tuple[str, tuple[Any, ...]]:
    """A frame, or a statement as (sql, params); PoisonMessage for anything else."""
    try:
        body = orjson.loads(payload)
        if body["k"] == "f":
            data = body["data"]
            return InboundFrame(
                received_at=datetime.fromisoformat(body["at"]),
                peer=str(body["peer"]),
                raw=base64.b64decode(body["raw"], validate=True),
                verdict=str(body["v"]),
                device_id=body["dev"],
                mn=body["mn"],
                cn=body["cn"],
                qn=body["qn"],
                reason=body["why"],
                data=None if data is None else PacketData(data[0], data[1], bool(data[2]), data[3]),
            )
        if body["k"] == "s":
            sql = str(body["sql"])
            if not sql.startswith(ALLOWED_STATEMENTS):
                raise PoisonMessage(f"statement not allowed from the queue: {sql[:80]!r}")
            return sql, tuple(_param_in(p) for p in body["p"])
    except PoisonMessage:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PoisonMessage(f"undecodable message: {exc}") from exc
    raise PoisonMessage(f"unknown message kind {body.get('k')!r}")


def _param_out(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode()}
    return value


def _param_in(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "b" in value:
            return base64.b64decode(value["b"])
        raise PoisonMessage("unknown parameter form")
    return value


# --- connection and stream -------------------------------------------------------------------------
async def connect(url: str, name: str, stopping: asyncio.Event | None = None) -> Client:
    """Connect, retrying until the server answers (a gateway starts even when NATS is down: its devices
    are simply not acknowledged until it is back). Reconnects later without limit."""
    pause = 0.2
    while True:
        try:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
        except Exception as exc:  # refused, timed out, no servers: all mean "try again"
            if stopping is not None and stopping.is_set():
                raise
            log.warning("NATS at %s not reachable (%s); retrying in %.1f s", url, exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.queue_stream,
        subjects=[f"{settings.queue_subject}.>"],
        storage=StorageType.FILE,
        num_replicas=settings.queue_replicas,
        max_age=settings.queue_max_age_s,
        max_bytes=settings.queue_max_bytes,
        duplicate_window=settings.queue_duplicate_window_s,
    )


async def ensure_stream(js: JetStreamContext, settings: Settings) -> None:
    """Create the stream when it is missing; an existing stream is left as its operator configured it."""
    try:
        await js.stream_info(settings.queue_stream)
    except NotFoundError:
        await js.add_stream(stream_config(settings))
        log.info("created JetStream stream %s", settings.queue_stream)
