"""SM4 keys of HJ 212-2025 data loggers (数采仪密钥): history, fingerprints, new keys.

Keys are kept as rows that are never changed (``device_keys``, append-only): the newest is the current
key, the one before it is still accepted after a rotation (the logger may have missed the reply). The API
never shows a key again after it was set: it shows a fingerprint (the first 16 hex digits of its SHA-256),
enough to compare with what is configured on site.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from envwatch.core.errors import InvalidInput
from envwatch.registry.schema import device_keys
from envwatch.registry.service import device_by_mn

# HJ 212-2025 §6.4.3: keys must be random (no fixed or patterned keys). NewSK travels as 16 ASCII
# characters, so a generated key is 16 printable characters (about 103 bits), as for CN 1014 rotations.
KEY_ALPHABET = string.ascii_letters + string.digits + "!#$%()*+-./:<>?@[]^_{|}~"
_HEX_KEY = re.compile(r"^[0-9A-Fa-f]{32}$")


def new_key() -> bytes:
    """A fresh random SM4 key of 16 printable ASCII characters."""
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(16)).encode()


def fingerprint(key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(key_hex)).hexdigest()[:16]


def key_history(conn: Connection, mn: str) -> list[dict[str, Any]]:
    """Every key of the device, oldest first, as fingerprints: which one is current and which still works."""
    device = device_by_mn(conn, mn)
    k = device_keys.c
    rows = conn.execute(
        select(k.id, k.key_hex, k.source, k.created_at).where(k.device_id == device["id"]).order_by(k.id)
    ).all()
    last = len(rows) - 1
    return [
        {
            "id": r.id,
            "fingerprint": fingerprint(r.key_hex),
            "source": r.source,
            "created_at": r.created_at,
            "state": "current" if i == last else "previous (still accepted)" if i == last - 1 else "retired",
        }
        for i, r in enumerate(rows)
    ]


def add_key(conn: Connection, mn: str, key_hex: str | None, now: datetime) -> dict[str, Any]:
    """Set a new key for the device (``key_hex`` 32 hex digits, or None to generate one). Returns the row
    with the key itself: the only time it is shown."""
    device = device_by_mn(conn, mn)
    if device["protocol"] != "2025":
        raise InvalidInput(f"device {mn} speaks HJ 212-{device['protocol']}: only 2025 devices use SM4 keys")
    if key_hex is None:
        key_hex = new_key().hex().upper()
    elif not _HEX_KEY.match(key_hex):
        raise InvalidInput("sm4_key must be 32 hex digits (a 128-bit SM4 key)")
    key_hex = key_hex.upper()
    history = key_history(conn, mn)
    if history and history[-1]["fingerprint"] == fingerprint(key_hex):
        raise InvalidInput(f"this key is already the current key of {mn}")
    new_id = conn.execute(
        insert(device_keys).values(device_id=device["id"], key_hex=key_hex, source="api", created_at=now)
    ).inserted_primary_key[0]  # type: ignore[index]
    return {"id": new_id, "sm4_key": key_hex, "fingerprint": fingerprint(key_hex), "created_at": now}
