"""Streaming writes keep memory flat: a 200 MB file goes through the store in ~1 MiB pieces."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from envwatch.core.blobs import CHUNK_SIZE, BlobStore

SIZE = 200 * 1024 * 1024
PEAK_LIMIT = 8 * 1024 * 1024  # a few chunks in flight, never the file


def _blocks() -> Iterator[bytes]:
    """200 MB of varied, reproducible bytes (no block repeats, so nothing compresses or dedups)."""
    seed = hashlib.sha512(b"envwatch").digest()
    block = seed * (CHUNK_SIZE // len(seed))
    for i in range(SIZE // CHUNK_SIZE):
        yield i.to_bytes(8, "big") + block[8:]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    path = tmp_path_factory.mktemp("big") / "video.mp4"
    sha, sm3 = hashlib.sha256(), hashlib.new("sm3")
    with path.open("wb") as handle:
        for block in _blocks():
            handle.write(block)
            sha.update(block)
            sm3.update(block)
    return path, sha.hexdigest(), sm3.hexdigest()


def _peak(action: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = action()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_put_file_copy_and_move_stay_flat(big_file: tuple[Path, str, str], tmp_path: Path) -> None:
    path, sha, sm3 = big_file
    store = BlobStore(tmp_path / "copy")
    stored, peak = _peak(lambda: store.put_file(path, max_bytes=SIZE))
    assert stored.sha256 == sha and stored.sm3 == sm3 and stored.size == SIZE  # type: ignore[attr-defined]
    assert peak < PEAK_LIMIT, f"copying 200 MB peaked at {peak} bytes"
    assert store.path_of(sha).stat().st_size == SIZE

    handed_over = tmp_path / "handed-over.mp4"
    handed_over.hardlink_to(path)  # a second name for the same bytes, which the store may take away
    moving = BlobStore(tmp_path / "moved")
    moved, peak = _peak(lambda: moving.put_file(handed_over, move=True, max_bytes=SIZE))
    assert moved.sha256 == sha and not handed_over.exists()  # type: ignore[attr-defined]
    assert peak < PEAK_LIMIT, f"moving 200 MB peaked at {peak} bytes"


def test_put_chunks_and_ranged_reads_stay_flat(big_file: tuple[Path, str, str], tmp_path: Path) -> None:
    _path, sha, sm3 = big_file
    store = BlobStore(tmp_path / "chunks")
    stored, peak = _peak(lambda: store.put_chunks(_blocks(), max_bytes=SIZE))
    assert stored.sha256 == sha and stored.sm3 == sm3  # type: ignore[attr-defined]
    assert peak < PEAK_LIMIT, f"streaming 200 MB in peaked at {peak} bytes"

    def read_all() -> int:
        return sum(len(chunk) for chunk in store.iter_range(sha, 1, SIZE))

    count, peak = _peak(read_all)
    assert count == SIZE - 1 and peak < PEAK_LIMIT, f"reading 200 MB peaked at {peak} bytes"
    check, peak = _peak(lambda: store.verify(sha, expected_sm3=sm3))
    assert check.ok and peak < PEAK_LIMIT  # type: ignore[attr-defined]
