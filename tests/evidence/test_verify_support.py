"""Helpers of the verify, bundle and CLI tests (no tests here): a store with real evidence in it.

The sampling world (tests/sampling/conftest.py) with two samples registered on site, one of them with a
custody photo stored in the blob store (``blob_records`` row and ``blob`` entry), the log integrated and
checkpointed twice (so consecutive checkpoints can be checked for consistency), plus a third sample that is
integrated but newer than the last checkpoint. Tampering goes through tests/evidence/test_wiring_support.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from envwatch.core.blob_records import store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.evidence_schema import blob_records, evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import log
from envwatch.sampling.schema import custody_events, samples
from tests.sampling.conftest import SamplingWorld, build_sampling_world

PHOTO = b"\xff\xd8\xff\xe0 a custody photo of the sealed bottle " * 200


@dataclass(frozen=True)
class EvidenceWorld:
    sampling: SamplingWorld
    settings: Settings
    store: BlobStore
    code: str  # a sample with a custody photo, covered by the last checkpoint
    photo: str  # the photo's SHA-256
    blob_id: int
    later: datetime  # a time after everything, for verify's ``now``

    @property
    def engine(self) -> Engine:
        return self.sampling.engine

    def entry_id(self, ref: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(evidence_entries.c.id)
                    .where(evidence_entries.c.ref == ref)
                    .order_by(evidence_entries.c.id)
                )
                .scalars()
                .first()
                or 0
            )

    def sample_id(self, code: str | None = None) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(samples.c.id).where(samples.c.code == (code or self.code))).scalar_one()
            )

    def first_event(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(custody_events)
                    .where(custody_events.c.sample_id == self.sample_id())
                    .order_by(custody_events.c.seq)
                )
                .mappings()
                .first()
            )
        assert row is not None
        return dict(row)

    def photo_path(self) -> Path:
        return self.store.path_of(self.photo)


def integrate_and_checkpoint(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any] | None:
    with engine.begin() as conn:
        while log.integrate(conn, now):
            pass
    with engine.begin() as conn:
        return log.make_checkpoint(conn, settings, now)


def build_evidence_world(engine: Engine, settings: Settings) -> EvidenceWorld:
    world = build_sampling_world(engine)
    store = BlobStore.from_settings(settings)
    now = world.now
    with engine.begin() as conn:
        stored = store_recorded(
            conn, store, PHOTO, purpose="photo", media_type="image/jpeg", stored_by="chen", now=now
        )
        code = world.register(conn, world.entry(photo_sha256=stored.sha256))["code"]
        blob_id = int(
            conn.execute(select(blob_records.c.id).where(blob_records.c.sha256 == stored.sha256)).scalar_one()
        )
    assert integrate_and_checkpoint(engine, settings, now + timedelta(minutes=1)) is not None
    with engine.begin() as conn:
        world.register(conn, world.entry(sampler="zhou"), now=now + timedelta(minutes=2))
    assert integrate_and_checkpoint(engine, settings, now + timedelta(minutes=3)) is not None
    return EvidenceWorld(world, settings, store, code, stored.sha256, blob_id, now + timedelta(minutes=10))


def flip_byte(path: Path, offset: int = 10) -> None:
    """Change one byte of a file that was made read-only (what someone with disk access could do)."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
