"""The evidence entry of a committed batch of raw HJ 212 packets (原始报文存证).

Every transaction of the writer that stores raw packets also writes one ``evidence_entries`` row, kind
``raw_batch``, before it commits: the packets and their entry commit or roll back together. One entry per
batch, not per packet, because the writer stores thousands of packets a second and the evidence log needs
only to pin down what was received, which a digest over the batch does:

    digest = SHA-256( for each packet in id order: id as 8 bytes big-endian ‖ SHA-256(stored raw bytes) )

The ref is ``raw_packets/<first id>-<last id>``; the payload ``{"ids": [[first, last], …], "count": n,
"sha256": digest}`` lists the runs of consecutive ids of *this* batch (ids skipped by a rolled-back batch,
or taken by another writer on PostgreSQL, are not part of it). ``envwatch.evidence.sources`` recomputes the
digest from ``raw_packets`` to tell whether any packet was removed or its bytes changed.

The hot path is plain DB-API (like ``ingest.store``): hashing a frame costs about a microsecond and the
entry is a single INSERT per transaction, so the writer keeps its rate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from envwatch.core.clock import utcnow
from envwatch.core.evidence import entry_body

KIND = "raw_batch"
TABLE = "raw_packets"


def id_runs(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as runs of consecutive ids: ``[1, 2, 3, 7]`` → ``[[1, 3], [7, 7]]``."""
    runs: list[list[int]] = []
    for packet_id in sorted(ids):
        if runs and packet_id == runs[-1][1] + 1:
            runs[-1][1] = packet_id
        else:
            runs.append([packet_id, packet_id])
    return runs


def packet_hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def batch_digest(hashed: Iterable[tuple[int, bytes]]) -> str:
    """The batch digest (module docstring) over ``(id, SHA-256 of the raw bytes)`` pairs, in id order."""
    digest = hashlib.sha256()
    for packet_id, raw_hash in sorted(hashed):
        digest.update(packet_id.to_bytes(8, "big"))
        digest.update(raw_hash)
    return digest.hexdigest()


def batch_ref(runs: Sequence[Sequence[int]]) -> str:
    return f"{TABLE}/{runs[0][0]}-{runs[-1][1]}"


def batch_payload(hashed: Sequence[tuple[int, bytes]]) -> dict[str, Any]:
    return {"ids": id_runs(i for i, _h in hashed), "count": len(hashed), "sha256": batch_digest(hashed)}


class RawBatchLog:
    """The packets written in the writer's open transaction, and the one entry that logs them.

    ``add`` after the raw rows are inserted, ``write`` just before the commit, ``clear`` after the commit
    or the rollback (a rolled-back batch leaves no entry and its packets are not carried over)."""

    def __init__(self, param: str, time: Callable[[datetime], Any], clock: Callable[[], datetime] = utcnow):
        self._time = time
        self.clock = clock
        self._pending: list[tuple[int, bytes]] = []
        self.sql = (
            "INSERT INTO evidence_entries (kind, ref, body, submitted_at) "
            f"VALUES ({param}, {param}, {param}, {param})"
        )

    def add(self, ids: Sequence[int], raws: Iterable[bytes]) -> None:
        self._pending.extend(zip(ids, map(packet_hash, raws), strict=True))

    def write(self, cursor: Any) -> None:
        """Insert the batch's entry with ``cursor`` (in the transaction that stores the packets)."""
        if not self._pending:
            return
        payload = batch_payload(self._pending)
        ref = batch_ref(payload["ids"])
        now = self.clock()
        body = entry_body(KIND, ref, now, payload).decode()
        cursor.execute(self.sql, (KIND, ref, body, self._time(now)))

    def clear(self) -> None:
        self._pending.clear()
