"""Tables of scale-out ingest (docs/operations/scale-out.md): what the workers applied, who sends a command.

``queue_applied`` is operational bookkeeping, not evidence: a worker inserts the stream sequences of a
batch in the transaction that stores the batch, so a message delivered again (the worker died between
its commit and its acknowledgement) is recognised and skipped. Rows older than ``queue_applied_keep_s``
are pruned: JetStream only redelivers what was not acknowledged within ``queue_ack_wait_s``.

``command_claims`` makes the start of a downlink command a claim one gateway wins: with several gateways
two may each believe they hold a device (a stale socket on one of them), and the primary key lets only
one of them send it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, PrimaryKeyConstraint, String, Table

from envwatch.core.db import UtcDateTime, metadata

queue_applied = Table(
    "queue_applied",
    metadata,
    Column("stream", String(64), nullable=False, comment="JetStream stream name"),
    Column("seq", BigInteger, nullable=False, comment="stream sequence of a message already stored"),
    Column("applied_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("stream", "seq"),
    Index("ix_queue_applied_at", "applied_at"),
)

command_claims = Table(
    "command_claims",
    metadata,
    Column("command_id", BigInteger, ForeignKey("commands.id"), primary_key=True, autoincrement=False),
    Column("gateway", String(64), nullable=False, comment="the gateway instance that sends the command"),
    Column("claimed_at", UtcDateTime, nullable=False),
)
