"""The local write-once blob store: content addressing, SM3, no overwrite, verify, streaming reads."""

from __future__ import annotations

import hashlib
import inspect
import os
import stat
from pathlib import Path

import pytest

from envwatch.core.blob_local import LocalBackend
from envwatch.core.blob_s3 import S3Backend
from envwatch.core.blobs import BlobCorrupted, BlobStore
from envwatch.core.errors import InvalidInput, NotFound

CONTENT = b"seal photo \x00\x01 " * 1000


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", max_bytes=1024 * 1024)


def test_put_names_the_file_by_sha256_and_records_sm3(store: BlobStore) -> None:
    stored = store.put(CONTENT)
    assert stored.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert stored.sm3 == hashlib.new("sm3", CONTENT).hexdigest()
    assert stored.size == len(CONTENT) and stored.backend == "local"
    assert stored.location == f"{stored.sha256[:2]}/{stored.sha256}"
    path = store.path_of(stored.sha256)
    assert path == store.root / stored.sha256[:2] / stored.sha256
    assert path.read_bytes() == CONTENT
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.get(stored.sha256) == CONTENT


def test_same_content_twice_is_one_file(store: BlobStore) -> None:
    first = store.put(CONTENT)
    inode = store.path_of(first.sha256).stat().st_ino
    second = store.put_chunks([CONTENT[:10], CONTENT[10:]])
    assert second == first
    assert stored_files(store.root) == [store.path_of(first.sha256)]
    assert store.path_of(first.sha256).stat().st_ino == inode  # not replaced by a new copy
    assert not any((store.root / ".incoming").iterdir())  # no temporary file left behind


def test_an_altered_file_is_never_overwritten(store: BlobStore) -> None:
    stored = store.put(CONTENT)
    path = store.path_of(stored.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    os.chmod(path, 0o444)
    with pytest.raises(BlobCorrupted, match="no longer matches its name"):
        store.put(CONTENT)
    assert path.read_bytes() == b"tampered"  # the evidence of tampering stays for whoever investigates


def test_verify_says_ok_changed_or_missing(store: BlobStore) -> None:
    stored = store.put(CONTENT)
    ok = store.verify(stored.sha256, expected_sm3=stored.sm3)
    assert ok.ok and ok.status == "ok" and ok.size == len(CONTENT) and ok.actual_sm3 == stored.sm3

    wrong_sm3 = store.verify(stored.sha256, expected_sm3="0" * 64)
    assert wrong_sm3.status == "changed" and "SM3" in wrong_sm3.detail

    path = store.path_of(stored.sha256)
    os.chmod(path, 0o644)
    with path.open("r+b") as handle:  # one byte changed
        handle.seek(5)
        handle.write(b"X")
    changed = store.verify(stored.sha256, expected_sm3=stored.sm3)
    assert changed.status == "changed" and not changed.ok
    assert changed.actual_sha256 != stored.sha256 and "SHA-256 is now" in changed.detail

    path.unlink()
    missing = store.verify(stored.sha256)
    assert missing.status == "missing" and not missing.ok and missing.size is None


def test_verify_notes_a_writable_file(store: BlobStore) -> None:
    stored = store.put(CONTENT)
    os.chmod(store.path_of(stored.sha256), 0o644)
    check = store.verify(stored.sha256)
    assert check.ok and "writable" in check.detail


def test_limits_store_nothing(store: BlobStore) -> None:
    with pytest.raises(InvalidInput, match="over the limit of 1048576 bytes"):
        store.put(b"x" * (1024 * 1024 + 1))
    assert not store.root.exists()  # refused before touching the disk
    with pytest.raises(InvalidInput, match="over the limit of 100 bytes"):
        store.put_chunks([b"x" * 60, b"x" * 60], max_bytes=100)
    assert stored_files(store.root) == []
    assert not any((store.root / ".incoming").iterdir())


def test_put_file_copies_or_moves(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(CONTENT)
    copied = store.put_file(source, max_bytes=len(CONTENT))
    assert source.read_bytes() == CONTENT and store.get(copied.sha256) == CONTENT

    other = tmp_path / "other.mp4"
    other.write_bytes(CONTENT + b"more")
    moved = store.put_file(other, move=True, max_bytes=10 * len(CONTENT))
    assert not other.exists()
    assert store.get(moved.sha256) == CONTENT + b"more"
    assert moved.sm3 == hashlib.new("sm3", CONTENT + b"more").hexdigest()
    assert stat.S_IMODE(store.path_of(moved.sha256).stat().st_mode) == 0o444

    again = tmp_path / "again.mp4"  # a second hand-over of the same content: stored once, source gone
    again.write_bytes(CONTENT)
    assert store.put_file(again, move=True) == copied and not again.exists()

    big = tmp_path / "big.mp4"
    big.write_bytes(b"x" * 200)
    with pytest.raises(InvalidInput, match="over the limit of 100 bytes"):
        store.put_file(big, move=True, max_bytes=100)
    assert big.exists()  # refused: the caller keeps its file


def test_streaming_reads(store: BlobStore) -> None:
    stored = store.put(CONTENT)
    assert store.size(stored.sha256) == len(CONTENT) and store.exists(stored.sha256)
    assert store.read_range(stored.sha256, 10, 20) == CONTENT[10:20]
    assert b"".join(store.iter_range(stored.sha256, 5)) == CONTENT[5:]
    assert store.read_range(stored.sha256, 0, 10**9) == CONTENT  # past the end stops at the end
    with pytest.raises(InvalidInput):
        store.read_range(stored.sha256, len(CONTENT) + 1, len(CONTENT) + 5)
    with store.open(stored.sha256) as handle:
        assert handle.read(4) == CONTENT[:4] and handle.read() == CONTENT[4:]
    absent = "0" * 64
    assert not store.exists(absent)
    for call in (store.open, store.size, store.get):
        with pytest.raises(NotFound):
            call(absent)
    with pytest.raises(InvalidInput, match="not a SHA-256"):
        store.open("../../etc/passwd")


def test_usage_counts_the_bytes_under_the_root(store: BlobStore) -> None:
    store.put(CONTENT)
    store.put(b"second file")
    usage = store.usage()
    total, used, free = usage  # a tuple, as the capacity check unpacks it
    assert used == len(CONTENT) + len(b"second file")
    assert total is not None and free is not None and 0 <= free <= total


DELETING = (
    "delete",
    "remove",
    "unlink",
    "purge",
    "erase",
    "drop",
    "rmtree",
    "truncate",
    "overwrite",
    "replace",
)


@pytest.mark.parametrize("cls", [BlobStore, LocalBackend, S3Backend])
def test_no_method_deletes_or_overwrites(cls: type) -> None:
    names = [name for name, _ in inspect.getmembers(cls, callable) if not name.startswith("__")]
    names += [name for name in vars(cls) if not name.startswith("__")]
    assert not [n for n in names if any(word in n.lower() for word in DELETING)], names
    assert {"put_chunks", "put_file", "verify", "open"} <= set(names)  # the introspection sees the methods
