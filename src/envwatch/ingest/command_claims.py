"""Which gateway sends a downlink command: a claim in the database that exactly one gateway wins.

With several gateways a device may look connected on two of them for a while (the logger reconnected
through another gateway; the old socket is half-dead and not yet timed out). Both then find the
command queued. Before sending, each inserts ``command_claims(command_id, gateway)``; the primary key
lets one insert through, and the gateway whose name is stored sends. Asking again returns the same
answer, so a gateway that deferred a command (one exchange per CN per connection) may claim it again.

A claim is a lease (``command_claim_lease_s``): a gateway that claimed a command and then stopped (a
restart gives it a new instance name) would otherwise hold it for ever, and the command would neither be
sent nor expired. Once the lease has run out, the next gateway that holds the device takes the claim
over; the holder refreshes its lease each time it asks again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from envwatch.core.clock import utcnow
from envwatch.ingest.queue_schema import command_claims


class CommandClaims:
    def __init__(self, engine: Engine, gateway: str, lease_s: float = 900.0) -> None:
        self.engine = engine
        self.gateway = gateway
        self.lease = timedelta(seconds=lease_s)
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert = insert(command_claims).on_conflict_do_nothing(index_elements=["command_id"])

    def claim(self, command_id: int) -> bool:
        """Blocking (run it in a thread): True when this gateway is the one to send the command."""
        now = utcnow()
        c = command_claims.c
        with self.engine.begin() as conn:
            conn.execute(self._insert.values(command_id=command_id, gateway=self.gateway, claimed_at=now))
            # ours: the lease is renewed; another gateway's whose lease ran out: taken over (one statement,
            # so of two gateways taking over at once the row lock lets one through and the other sees it)
            conn.execute(
                update(command_claims)
                .where(c.command_id == command_id)
                .where((c.gateway == self.gateway) | (c.claimed_at < now - self.lease))
                .values(gateway=self.gateway, claimed_at=now)
            )
            holder = conn.execute(
                select(command_claims.c.gateway).where(command_claims.c.command_id == command_id)
            ).scalar_one()
        return bool(holder == self.gateway)
