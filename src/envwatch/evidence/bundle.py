"""Evidence bundles (证据包): ``envwatch evidence export ITEM`` and ``GET /evidence/bundle?item=…``.

A bundle is a zip that proves one item without the platform: ``manifest.json`` and ``files/<sha256>``.

ITEM is one of

- ``entry:<id>`` / ``leaf:<index>``: one log entry;
- ``video:<id>``: the ``video_records`` entry, its annotations and blob entries, and the video file;
- ``sample:<code>``: the sample's entries (``sample_code``), every custody event's entries, and the files the
  events name (custody photos, reprint videos (补打视频), when stored);
- ``blob:<sha256>``: the ``blob`` entries of a stored file and the file.

The manifest (format :data:`~envwatch.evidence.bundle_check.FORMAT`, version 1) holds each entry's body (the
exact bytes its leaf hashes), leaf index and hash, and its inclusion proof against *one* checkpoint: the
newest, which must cover every leaf (else :class:`Conflict`: make one with ``envwatch evidence checkpoint``).
With it: the signed checkpoint note, the platform's verifier key (vkey), the checkpoint's RFC 3161 tokens and
the TSA's certificates (if configured), and each file's SHA-256, SM3, size and media type.
``evidence.bundle_check`` verifies all of it offline.

Files are copied into the zip in 1 MiB chunks while their digests are recomputed (one read, memory flat
for a multi-GB video); a file that no longer matches its SHA-256 stops the export: evidence that is damaged
is not handed out as if it were sound (``envwatch evidence verify`` names it).
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, select

from envwatch.core.blob_types import Digester, read_chunks
from envwatch.core.blobs import BlobStore
from envwatch.core.clock import utcnow
from envwatch.core.errors import Conflict, EnvwatchError, InvalidInput, NotFound
from envwatch.core.evidence import utc_text
from envwatch.core.evidence_schema import blob_records
from envwatch.core.settings import Settings
from envwatch.evidence import keys, merkle
from envwatch.evidence import log as evidence_log
from envwatch.evidence.bundle_check import FILES_DIR, FORMAT, MANIFEST, VERSION
from envwatch.evidence.checkpoint import Checkpoint, NoteError, open_note
from envwatch.evidence.schema import evidence_timestamps, video_annotations, video_records
from envwatch.sampling.schema import custody_events, samples

KINDS = ("entry", "leaf", "video", "sample", "blob")


def parse_item(item: str) -> tuple[str, str]:
    kind, sep, value = item.strip().partition(":")
    if not sep or kind not in KINDS or not value:
        raise InvalidInput(
            f"item {item!r} is not one of entry:<id>, leaf:<index>, video:<id>, sample:<code>, blob:<sha256>"
        )
    if kind in ("entry", "leaf", "video") and not value.isdigit():
        raise InvalidInput(f"item {item!r}: {kind} needs a number after the colon")
    return kind, value


def _by_ref(conn: Connection, ref: str) -> list[dict[str, Any]]:
    return evidence_log.entries_for_ref(conn, ref)


def _blob_entries(conn: Connection, sha256: str) -> list[dict[str, Any]]:
    ids = conn.execute(
        select(blob_records.c.id).where(blob_records.c.sha256 == sha256).order_by(blob_records.c.id)
    )
    return [e for (blob_id,) in ids for e in _by_ref(conn, f"blob_records/{blob_id}")]


def _select(conn: Connection, kind: str, value: str) -> tuple[str, list[dict[str, Any]], list[str]]:
    """``(description, entries, file sha256s)`` of an item; NotFound when it does not exist."""
    if kind == "entry":
        found = evidence_log.entry(conn, int(value))
        if found is None:
            raise NotFound(f"no evidence entry {value}")
        return f"evidence entry {value}", [found], []
    if kind == "leaf":
        leaf = evidence_log.leaf_at(conn, int(value))
        found = None if leaf is None else evidence_log.entry(conn, int(leaf["entry_id"]))
        if found is None:
            raise NotFound(f"no leaf {value} in the evidence log")
        return f"leaf {value} of the evidence log", [found], []
    if kind == "video":
        video = conn.execute(select(video_records).where(video_records.c.id == int(value))).one_or_none()
        if video is None:
            raise NotFound(f"no video record {value}")
        notes = conn.execute(select(video_annotations.c.id).where(video_annotations.c.video_id == video.id))
        entries = _by_ref(conn, f"video_records/{video.id}")
        entries += [e for (note_id,) in notes for e in _by_ref(conn, f"video_annotations/{note_id}")]
        return f"video record {value} ({video.file_name})", entries, [video.blob_sha256]
    if kind == "sample":
        sample = conn.execute(
            select(samples.c.id, samples.c.code).where(samples.c.code == value)
        ).one_or_none()
        if sample is None:
            raise NotFound(f"no sample with code {value}")
        events = conn.execute(
            select(custody_events.c.id, custody_events.c.photo_sha256, custody_events.c.video_sha256)
            .where(custody_events.c.sample_id == sample.id)
            .order_by(custody_events.c.seq)
        ).all()
        entries = _by_ref(conn, f"samples/{sample.id}")
        entries += [e for event in events for e in _by_ref(conn, f"custody_events/{event.id}")]
        files = [sha for event in events for sha in (event.photo_sha256, event.video_sha256) if sha]
        return f"sample {value} and its chain of custody", entries, files
    sha = value.lower()
    if not conn.execute(select(blob_records.c.id).where(blob_records.c.sha256 == sha).limit(1)).first():
        raise NotFound(f"no stored file with SHA-256 {sha}")
    return f"stored file {sha}", [], [sha]


def _checkpoint_for(conn: Connection, entries: list[dict[str, Any]]) -> dict[str, Any]:
    pending = [e["id"] for e in entries if e["leaf_index"] is None]
    if pending:
        raise Conflict(
            f"evidence entr{'y' if len(pending) == 1 else 'ies'} {', '.join(map(str, pending))} "
            "not yet in the log's tree: run `envwatch evidence checkpoint` (it integrates first) and export again"
        )
    newest = evidence_log.latest_checkpoint(conn)
    top = max(int(e["leaf_index"]) for e in entries)
    if newest is None:
        raise Conflict("the evidence log has no checkpoint yet: make one with `envwatch evidence checkpoint`")
    if newest["tree_size"] <= top:
        raise Conflict(
            f"the newest checkpoint (tree size {newest['tree_size']}) does not cover leaf {top} yet: make one "
            "with `envwatch evidence checkpoint` (or wait for the next one) and export again"
        )
    return newest


def _timestamps(conn: Connection, checkpoint_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(evidence_timestamps)
        .where(evidence_timestamps.c.checkpoint_id == checkpoint_id)
        .order_by(evidence_timestamps.c.id)
    ).all()
    return [
        {
            "tsa_url": row.tsa_url,
            "gen_time": utc_text(row.gen_time),
            "token": base64.b64encode(bytes(row.token)).decode(),
        }
        for row in rows
    ]


def _tsa_certificates(settings: Settings) -> str:
    path = settings.evidence_tsa_ca_file
    try:
        return path.read_text() if path is not None else ""
    except OSError:
        return ""


def _file_meta(conn: Connection, sha256: str) -> dict[str, Any]:
    """The recorded SM3, size and media type of a file (its first ``blob_records`` row), or {}."""
    row = conn.execute(
        select(blob_records.c.sm3, blob_records.c.size, blob_records.c.media_type)
        .where(blob_records.c.sha256 == sha256)
        .order_by(blob_records.c.id)
        .limit(1)
    ).one_or_none()
    return {} if row is None else {"sm3": row.sm3, "size": int(row.size), "media_type": row.media_type}


def _copy_file(
    archive: zipfile.ZipFile, store: BlobStore, sha256: str, meta: dict[str, Any]
) -> dict[str, Any]:
    """Stream one stored file into the zip, re-hashing it on the way (module docstring)."""
    digester = Digester()
    with store.open(sha256) as source, archive.open(f"{FILES_DIR}{sha256}", "w", force_zip64=True) as target:
        for chunk in read_chunks(source):
            digester.update(chunk)
            target.write(chunk)
    recorded = (sha256, meta.get("sm3", digester.sm3), meta.get("size", digester.size))
    if (digester.sha256, digester.sm3, digester.size) != recorded:
        raise Conflict(
            f"stored file {sha256} no longer matches what was recorded (SHA-256 {digester.sha256}, SM3 "
            f"{digester.sm3}, {digester.size} bytes): it was altered; run `envwatch evidence verify`"
        )
    return {
        "path": f"{FILES_DIR}{sha256}",
        "sha256": sha256,
        "sm3": digester.sm3,
        "size": digester.size,
        "media_type": meta.get("media_type", "application/octet-stream"),
    }


def _entry_json(conn: Connection, entry: dict[str, Any], size: int) -> dict[str, Any]:
    proof = evidence_log.inclusion(conn, int(entry["leaf_index"]), size)
    return {
        "entry_id": int(entry["id"]),
        "kind": entry["kind"],
        "ref": entry["ref"],
        "submitted_at": utc_text(entry["submitted_at"]),
        "body": entry["body"],
        "leaf_index": int(entry["leaf_index"]),
        "leaf_hash": entry["leaf_hash"],
        "inclusion_proof": [h.hex() for h in proof],
    }


def write_bundle(
    conn: Connection, settings: Settings, item: str, target: IO[bytes], *, now: datetime | None = None
) -> dict[str, Any]:
    """Write the bundle of ``item`` as a zip to ``target`` (a file or buffer); returns its manifest."""
    kind, value = parse_item(item)
    what, entries, files = _select(conn, kind, value)
    store = BlobStore.from_settings(settings)
    if kind == "blob" and not store.exists(files[0]):
        raise NotFound(f"stored file {files[0]} is missing from the store: run `envwatch evidence verify`")
    files = list(dict.fromkeys(f for f in files if store.exists(f)))  # a photo never uploaded is not evidence
    for sha in files:
        entries += _blob_entries(conn, sha)
    entries = list({int(e["id"]): e for e in entries}.values())
    if not entries:
        raise NotFound(f"{what} has no entries in the evidence log: there is nothing to prove")
    checkpoint = _checkpoint_for(conn, entries)
    size = int(checkpoint["tree_size"])
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "item": f"{kind}:{value}",
        "what": what,
        "exported_at": utc_text(now or utcnow()),
        "log": {
            "origin": settings.evidence_origin,
            "checkpoint": {
                "id": checkpoint["id"],
                "tree_size": size,
                "root_hash": checkpoint["root_hash"],
                "created_at": utc_text(checkpoint["created_at"]),
                "note": checkpoint["note"],
            },
            "verifier_key": keys.public_vkey(settings),
            "timestamps": _timestamps(conn, int(checkpoint["id"])),
            "tsa_certificates": _tsa_certificates(settings),
        },
        "entries": [_entry_json(conn, e, size) for e in sorted(entries, key=lambda e: int(e["leaf_index"]))],
        "files": [],
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for sha in files:
            manifest["files"].append(_copy_file(archive, store, sha, _file_meta(conn, sha)))
        archive.writestr(
            MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2), compress_type=zipfile.ZIP_DEFLATED
        )
    return manifest


def export(conn: Connection, settings: Settings, item: str, *, now: datetime | None = None) -> bytes:
    """The bundle of ``item`` as bytes (small items; for videos write to a file with :func:`write_bundle`)."""
    buffer = io.BytesIO()
    write_bundle(conn, settings, item, buffer, now=now)
    return buffer.getvalue()


def inspect_item(conn: Connection, settings: Settings, item: str) -> dict[str, Any]:
    """What the /evidence page shows for an item: its entries, each with its leaf and whether its inclusion
    proof verifies against the newest checkpoint (signature checked with the platform key), and its files.

    Each entry's ``proof`` is ``verified``, ``pending`` (no leaf yet), ``uncovered`` (leaf newer than the
    checkpoint) or ``failed`` (with ``detail``)."""
    kind, value = parse_item(item)
    what, entries, files = _select(conn, kind, value)
    for sha in files:
        entries += _blob_entries(conn, sha)
    entries = sorted({int(e["id"]): e for e in entries}.values(), key=lambda e: int(e["id"]))
    checkpoint = evidence_log.latest_checkpoint(conn)
    signed, problem = None, None
    if checkpoint is not None:
        try:
            signed = open_note(checkpoint["note"], keys.public_vkey(settings))
        except NoteError as exc:
            problem = str(exc)
    return {
        "item": f"{kind}:{value}",
        "kind": kind,
        "what": what,
        "checkpoint": checkpoint,
        "checkpoint_problem": problem,
        "entries": [_proof_status(conn, entry, signed) for entry in entries],
        "files": files,
    }


def _proof_status(conn: Connection, entry: dict[str, Any], signed: Checkpoint | None) -> dict[str, Any]:
    out = {**entry, "proof": "pending", "detail": ""}
    if entry["leaf_index"] is None:
        return out
    index = int(entry["leaf_index"])
    if signed is None or index >= signed.size:
        return {**out, "proof": "uncovered"}
    try:
        proof = evidence_log.inclusion(conn, index, signed.size)
        merkle.verify_inclusion(
            merkle.leaf_hash(str(entry["body"]).encode()), index, signed.size, proof, signed.root
        )
    except (merkle.ProofError, EnvwatchError) as exc:
        return {**out, "proof": "failed", "detail": str(exc)}
    return {**out, "proof": "verified"}
