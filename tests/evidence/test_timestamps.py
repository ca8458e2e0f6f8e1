"""RFC 3161 time-stamps of checkpoints (可信时间戳), against a real TSA (``openssl ts -reply`` on loopback)."""

from __future__ import annotations

import base64
import hashlib
import logging
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, insert, select, text, update

from envwatch.core.errors import InvalidInput, Unavailable
from envwatch.core.evidence_schema import evidence_entries
from envwatch.core.settings import Settings
from envwatch.evidence import timestamps
from envwatch.evidence.schema import evidence_checkpoints, evidence_timestamps
from envwatch.evidence.timestamps import TokenError
from tests.evidence.tsa import LocalTsa, start_tsa

ORIGIN = "envwatch.test/evidence"


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    with start_tsa(tmp_path / "tsa") as state:
        yield state


@pytest.fixture
def tsa_settings(settings: Settings, tsa: LocalTsa) -> Settings:
    return settings.model_copy(
        update={
            "evidence_tsa_url": tsa.url,
            "evidence_tsa_ca_file": tsa.ca_file,
            "evidence_tsa_timeout_s": 5.0,
        }
    )


def signed_note(size: int) -> str:
    """A C2SP checkpoint as a signed note (Ed25519), as the log would publish it."""
    root = hashlib.sha256(f"root {size}".encode()).digest()
    body = f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
    key = Ed25519PrivateKey.generate()
    signature = b"\x01\x02\x03\x04" + key.sign(body.encode())
    return f"{body}\n\u2014 {ORIGIN} {base64.b64encode(signature).decode()}\n"


def add_checkpoint(engine: Engine, size: int = 7) -> int:
    note = signed_note(size)
    root_hash = base64.b64decode(note.split("\n")[2]).hex()
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(evidence_checkpoints)
                .values(
                    tree_size=size,
                    root_hash=root_hash,
                    note=note,
                    key_name=f"{ORIGIN}+01020304",
                    created_at=datetime.now(UTC),
                )
                .returning(evidence_checkpoints.c.id)
            ).scalar_one()
        )


def body_of(engine: Engine, checkpoint_id: int) -> bytes:
    with engine.connect() as conn:
        note = conn.execute(
            select(evidence_checkpoints.c.note).where(evidence_checkpoints.c.id == checkpoint_id)
        ).scalar_one()
    return timestamps.note_body(note).encode()


def token_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(evidence_timestamps).order_by(evidence_timestamps.c.id)).mappings()
        return [dict(row) for row in rows]


def timestamp_entries(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = select(evidence_entries.c.ref).where(evidence_entries.c.kind == "checkpoint_timestamp")
        return list(conn.execute(query).scalars())


def test_note_body_is_the_signed_text() -> None:
    note = signed_note(3)
    assert timestamps.note_body(note) == note.split("\n\n")[0] + "\n"
    assert timestamps.note_body(note).count("\n") == 3
    with pytest.raises(InvalidInput, match="blank line"):
        timestamps.note_body("origin\n3\nroot\n")


def test_a_checkpoint_gets_a_verified_token(engine: Engine, tsa: LocalTsa, tsa_settings: Settings) -> None:
    checkpoint_id = add_checkpoint(engine)
    before = datetime.now(UTC)

    row_id = timestamps.stamp_checkpoint(engine, tsa_settings, checkpoint_id)

    assert row_id is not None
    (row,) = token_rows(engine)
    assert row["id"] == row_id and row["checkpoint_id"] == checkpoint_id and row["tsa_url"] == tsa.url
    gen_time = row["gen_time"]
    assert isinstance(gen_time, datetime)
    # openssl's genTime has whole seconds and accuracy secs:1
    assert before - timedelta(seconds=2) <= gen_time <= datetime.now(UTC) + timedelta(seconds=2)
    token = row["token"]
    assert isinstance(token, bytes) and token[:1] == b"\x30"
    body = body_of(engine, checkpoint_id)
    assert timestamps.verify_token(token, body, timestamps.load_ca_file(tsa.ca_file)) == gen_time
    with engine.connect() as conn:
        assert timestamps.verify_stored(conn, tsa_settings, checkpoint_id) == []
    assert timestamp_entries(engine) == [f"evidence_timestamps/{row_id}"]
    # the request was over the SHA-256 of the note's body, not of the whole note
    assert hashlib.sha256(body).digest() in tsa.queries[0]

    # a second call does not ask again
    assert timestamps.stamp_checkpoint(engine, tsa_settings, checkpoint_id) == row_id
    assert len(tsa.queries) == 1 and len(token_rows(engine)) == 1


def test_openssl_verifies_the_stored_token(
    sqlite_engine: Engine, tsa: LocalTsa, tsa_settings: Settings, tmp_path: Path
) -> None:
    """An independent check of what is stored: `openssl ts -verify` on the token as kept in the table."""
    checkpoint_id = add_checkpoint(sqlite_engine)
    assert timestamps.stamp_checkpoint(sqlite_engine, tsa_settings, checkpoint_id) is not None
    (row,) = token_rows(sqlite_engine)
    token_file = tmp_path / "checkpoint.tst"
    token_file.write_bytes(row["token"])
    body_file = tmp_path / "checkpoint.txt"
    body_file.write_bytes(body_of(sqlite_engine, checkpoint_id))
    other_file = tmp_path / "other.txt"
    other_file.write_bytes(body_file.read_bytes().replace(b"\n7\n", b"\n8\n"))

    def openssl_verify(data: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *("openssl", "ts", "-verify", "-token_in", "-in", str(token_file)),
                *("-data", str(data), "-CAfile", str(tsa.ca_file)),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )

    good = openssl_verify(body_file)
    assert good.returncode == 0, good.stderr
    assert "Verification: OK" in good.stdout
    bad = openssl_verify(other_file)
    assert bad.returncode != 0 and "message imprint mismatch" in bad.stdout + bad.stderr


def test_a_token_for_other_data_is_refused_naming_the_imprint(
    sqlite_engine: Engine, tsa: LocalTsa, tsa_settings: Settings
) -> None:
    checkpoint_id = add_checkpoint(sqlite_engine)
    tsa.mode = "wrong_imprint"

    with pytest.raises(
        TokenError, match=r"message imprint [0-9a-f]{64} is not the SHA-256 of the checkpoint body"
    ):
        timestamps.stamp(sqlite_engine, tsa_settings, checkpoint_id, datetime.now(UTC))
    assert timestamps.stamp_checkpoint(sqlite_engine, tsa_settings, checkpoint_id) is None
    assert token_rows(sqlite_engine) == [] and timestamp_entries(sqlite_engine) == []


def test_a_token_from_a_tsa_outside_the_ca_file_is_refused(
    sqlite_engine: Engine, tsa: LocalTsa, tsa_settings: Settings
) -> None:
    checkpoint_id = add_checkpoint(sqlite_engine)
    tsa.mode = "untrusted"  # same subject name, a different CA: only the chain tells them apart
    with pytest.raises(TokenError, match="does not verify against the configured TSA certificates"):
        timestamps.stamp(sqlite_engine, tsa_settings, checkpoint_id, datetime.now(UTC))
    assert token_rows(sqlite_engine) == []


def test_nonce_and_policy_are_checked(sqlite_engine: Engine, tsa: LocalTsa, tsa_settings: Settings) -> None:
    data = b"envwatch.test/evidence\n1\nAAAA\n"
    request, nonce = timestamps.request_for(data)
    token = timestamps.token_of(timestamps.fetch(tsa.url, request, 5.0))
    certificates = timestamps.load_ca_file(tsa.ca_file)

    assert timestamps.verify_token(token, data, certificates, nonce=nonce, policy_oid=tsa.policy_oid)
    with pytest.raises(TokenError, match="nonce"):
        timestamps.verify_token(token, data, certificates, nonce=nonce + 1)
    with pytest.raises(TokenError, match="Policy ID mismatch"):
        timestamps.verify_token(token, data, certificates, policy_oid="1.2.156.112562.1")
    with pytest.raises(TokenError, match="message imprint"):
        timestamps.verify_token(token, data + b" ", certificates)

    checkpoint_id = add_checkpoint(sqlite_engine)
    other_policy = tsa_settings.model_copy(update={"evidence_tsa_policy_oid": "1.2.156.112562.1"})
    assert timestamps.stamp_checkpoint(sqlite_engine, other_policy, checkpoint_id) is None
    assert token_rows(sqlite_engine) == []


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("http_500", "answered HTTP 500"),
        ("slow", "did not answer within 0.5 s"),
        ("rejection", "did not grant a time-stamp: status rejection"),
        ("garbage", "is not an RFC 3161 time-stamp response"),
    ],
)
def test_a_tsa_failure_leaves_no_row_and_is_retried(
    sqlite_engine: Engine,
    tsa: LocalTsa,
    tsa_settings: Settings,
    mode: str,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    checkpoint_id = add_checkpoint(sqlite_engine)
    settings = tsa_settings.model_copy(update={"evidence_tsa_timeout_s": 0.5})
    tsa.mode, tsa.delay_s = mode, 2.0

    with pytest.raises(Unavailable, match=message):
        timestamps.stamp(sqlite_engine, settings, checkpoint_id, datetime.now(UTC))
    with caplog.at_level(logging.WARNING, logger="envwatch.evidence.timestamps"):
        assert timestamps.stamp_checkpoint(sqlite_engine, settings, checkpoint_id) is None
    assert message in caplog.text and f"checkpoint {checkpoint_id}" in caplog.text
    assert token_rows(sqlite_engine) == [] and timestamp_entries(sqlite_engine) == []

    tsa.mode = "ok"
    assert timestamps.stamp_pending(sqlite_engine, settings, datetime.now(UTC)) == 1
    (row,) = token_rows(sqlite_engine)
    assert row["checkpoint_id"] == checkpoint_id
    assert timestamps.stamp_pending(sqlite_engine, settings, datetime.now(UTC)) == 0


def test_stamp_pending_goes_newest_first_bounded_and_stops_at_a_failure(
    sqlite_engine: Engine, tsa: LocalTsa, tsa_settings: Settings
) -> None:
    ids = [add_checkpoint(sqlite_engine, size) for size in (3, 5, 9)]
    now = datetime.now(UTC)

    tsa.mode = "http_500"
    assert timestamps.stamp_pending(sqlite_engine, tsa_settings, now, limit=3) == 0
    assert len(tsa.queries) == 1  # a failing TSA is asked once per round, not once per checkpoint

    tsa.mode = "ok"
    assert timestamps.stamp_pending(sqlite_engine, tsa_settings, now, limit=2) == 2
    assert [row["checkpoint_id"] for row in token_rows(sqlite_engine)] == [ids[2], ids[1]]
    assert timestamps.stamp_pending(sqlite_engine, tsa_settings, now, limit=2) == 1
    assert sorted(row["checkpoint_id"] for row in token_rows(sqlite_engine)) == sorted(ids)
    assert all(row["received_at"] == now for row in token_rows(sqlite_engine))


def test_without_a_tsa_nothing_happens(sqlite_engine: Engine, settings: Settings, tsa: LocalTsa) -> None:
    checkpoint_id = add_checkpoint(sqlite_engine)
    assert timestamps.stamp_checkpoint(sqlite_engine, settings, checkpoint_id) is None
    assert timestamps.stamp_pending(sqlite_engine, settings, datetime.now(UTC)) == 0

    no_ca = settings.model_copy(update={"evidence_tsa_url": tsa.url})
    with pytest.raises(InvalidInput, match="evidence_tsa_ca_file"):
        timestamps.stamp(sqlite_engine, no_ca, checkpoint_id, datetime.now(UTC))
    assert timestamps.stamp_checkpoint(sqlite_engine, no_ca, checkpoint_id) is None
    assert tsa.queries == [] and token_rows(sqlite_engine) == []


def _allow_updates(engine: Engine) -> None:
    """What someone with database access could do: switch off the append-only trigger."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER evidence_timestamps_no_update"))
        else:
            conn.execute(
                text("ALTER TABLE evidence_timestamps DISABLE TRIGGER evidence_timestamps_append_only")
            )


def test_a_tampered_stored_token_fails_verify_stored(
    engine: Engine, tsa: LocalTsa, tsa_settings: Settings
) -> None:
    checkpoint_id = add_checkpoint(engine)
    row_id = timestamps.stamp_checkpoint(engine, tsa_settings, checkpoint_id)
    assert row_id is not None
    (row,) = token_rows(engine)
    token = bytes(row["token"])
    _allow_updates(engine)
    where = evidence_timestamps.c.id == row_id

    def problems_after(**values: object) -> list[str]:
        with engine.begin() as conn:
            conn.execute(update(evidence_timestamps).where(where).values(**values))
        with engine.connect() as conn:
            return timestamps.verify_stored(conn, tsa_settings, checkpoint_id)

    # one byte of the signature (the token's last bytes)
    tampered = bytearray(token)
    tampered[-5] ^= 0x01
    (problem,) = problems_after(token=bytes(tampered))
    assert problem.startswith(f"evidence_timestamps/{row_id} (checkpoint {checkpoint_id}):")
    assert "does not verify" in problem

    # the signed genTime inside the token backdated by a year (a well-formed token, a broken signature)
    gen_text = row["gen_time"].strftime("%Y%m%d%H%M%SZ").encode()
    assert token.count(b"\x18\x0f" + gen_text) == 1
    backdated = token.replace(gen_text, str(row["gen_time"].year - 1).encode() + gen_text[4:])
    (problem,) = problems_after(token=backdated)
    assert "does not verify" in problem

    # the stored genTime column moved one hour earlier, the token left as it was
    (problem,) = problems_after(token=token, gen_time=row["gen_time"] - timedelta(hours=1))
    assert "column gen_time" in problem

    # a genuine token, but of another checkpoint
    other_id = add_checkpoint(engine, size=8)
    assert timestamps.stamp_checkpoint(engine, tsa_settings, other_id) is not None
    with engine.connect() as conn:
        other_token = conn.execute(
            select(evidence_timestamps.c.token).where(evidence_timestamps.c.checkpoint_id == other_id)
        ).scalar_one()
    (problem,) = problems_after(token=other_token, gen_time=row["gen_time"])
    assert "message imprint" in problem

    assert problems_after(token=token) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(evidence_timestamps)).scalar_one() == 2
        no_ca = tsa_settings.model_copy(update={"evidence_tsa_ca_file": None})
        assert "evidence_tsa_ca_file is not set" in timestamps.verify_stored(conn, no_ca, checkpoint_id)[0]
