"""Content-addressed, write-once file store (存证文件库): a file is kept once, under its SHA-256, never changed.

Every stored file is named by its SHA-256 and its SM3 (国密) is computed in the same pass; both go into a
``blob_records`` row (:mod:`envwatch.core.blob_records`) with the purpose and the date until which it must
be kept. Two backends (setting ``blob_backend``):

- ``local`` (:mod:`envwatch.core.blob_local`): read-only files under ``<data_dir>/blobs/ab/<sha256>``.
- ``s3`` (:mod:`envwatch.core.blob_s3`): objects ``sha256/ab/<sha256>`` in a bucket with Object Lock, each
  version locked in compliance mode until its retention ends.

Writing the same content twice stores it once. An existing file is re-hashed before it is trusted and never
overwritten (:class:`BlobCorrupted` when it no longer matches). **There is no delete, remove or overwrite
operation** in this store: issue 8 / WZ-A1-13 require the evidence to be kept, and
``tests/web/test_no_blob_deletion.py`` checks that no route or command deletes a stored file.

Large files stream in ``CHUNK_SIZE`` pieces (:meth:`BlobStore.put_file`, :meth:`BlobStore.put_chunks`,
:meth:`BlobStore.open`, :meth:`BlobStore.iter_range`), so memory stays flat for multi-GB videos.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from envwatch.core.blob_local import LocalBackend
from envwatch.core.blob_types import (
    CHUNK_SIZE,
    RETENTION_MARGIN,
    BlobCheck,
    BlobCorrupted,
    Digester,
    RetentionPolicy,
    StorageUsage,
    StoredBlob,
    check_sha256,
    too_large,
)
from envwatch.core.clock import utcnow
from envwatch.core.errors import InvalidInput, Unavailable
from envwatch.core.settings import Settings

__all__ = [
    "CHUNK_SIZE",
    "BlobCheck",
    "BlobCorrupted",
    "BlobStore",
    "RetentionPolicy",
    "StorageUsage",
    "StoredBlob",
]

_LIMIT_SETTING = "ENVWATCH_MAX_ATTACHMENT_BYTES"

if TYPE_CHECKING:  # the S3 module is imported only when that backend is configured
    from envwatch.core.blob_s3 import S3Backend


class BlobStore:
    """The platform's stored files. ``BlobStore(root)`` is a local store (tests, tools);
    :meth:`from_settings` gives the configured one."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = 50 * 1024 * 1024,
        retention: RetentionPolicy | None = None,
        backend: LocalBackend | S3Backend | None = None,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.retention = retention or RetentionPolicy()
        self.backend: LocalBackend | S3Backend = backend or LocalBackend(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        """The platform's store: files up to ``max_attachment_bytes`` through :meth:`put`, on the configured
        backend. For ``s3`` the bucket is checked (and created with Object Lock) once per process; a bucket
        without Object Lock raises :class:`~envwatch.core.blob_s3.ObjectLockMissing`."""
        retention = RetentionPolicy(settings.video_retention_years, settings.attachment_retention_years)
        root = settings.data_dir / "blobs"
        backend: LocalBackend | S3Backend | None = None
        if settings.blob_backend == "s3":
            backend = _s3_backend(
                settings.blob_s3_bucket,
                settings.blob_s3_endpoint,
                settings.blob_s3_region,
                settings.blob_s3_access_key,
                settings.blob_s3_secret_key,
                settings.data_dir,
            )
        return cls(root, max_bytes=settings.max_attachment_bytes, retention=retention, backend=backend)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def path_of(self, sha256: str) -> Path:
        """The local file of ``sha256`` (local backend only; use :meth:`open` to read on any backend)."""
        if not isinstance(self.backend, LocalBackend):
            check_sha256(sha256)
            raise Unavailable("the S3 blob store has no local paths: read files with BlobStore.open")
        return self.backend.path_of(sha256)

    # ---- writing (nothing here deletes or overwrites a stored file) ----

    def put(self, content: bytes, *, purpose: str = "attachment") -> StoredBlob:
        """Store ``content`` (up to ``max_bytes``, setting ``max_attachment_bytes``)."""
        if len(content) > self.max_bytes:  # before anything touches the disk
            raise too_large(len(content), self.max_bytes, _LIMIT_SETTING)
        view = memoryview(content)
        chunks = (bytes(view[i : i + CHUNK_SIZE]) for i in range(0, len(view), CHUNK_SIZE))
        return self.put_chunks(chunks, max_bytes=self.max_bytes, purpose=purpose)

    def put_chunks(
        self, chunks: Iterable[bytes], *, max_bytes: int | None = None, purpose: str = "attachment"
    ) -> StoredBlob:
        """Store the concatenation of ``chunks``, hashing SHA-256 and SM3 as they pass: memory holds one
        chunk at a time. Over ``max_bytes`` (default: this store's ``max_bytes``): InvalidInput, nothing kept."""
        digester = Digester(self.max_bytes if max_bytes is None else max_bytes)
        if isinstance(self.backend, LocalBackend):
            return self.backend.put_chunks(chunks, digester)
        return self.backend.put_chunks(chunks, digester, self._lock_until(purpose))

    def put_file(
        self, path: Path, *, move: bool = False, max_bytes: int | None = None, purpose: str = "attachment"
    ) -> StoredBlob:
        """Store the file at ``path`` in one streaming pass. ``move=True`` hands the file over: on the same
        filesystem it is made read-only and linked into place without copying; elsewhere it is copied and
        then its old name removed. Videos pass ``max_bytes=settings.video_max_bytes``."""
        size = path.stat().st_size
        limit = self.max_bytes if max_bytes is None else max_bytes
        if size > limit:
            raise too_large(size, limit, None)
        if not path.is_file():
            raise InvalidInput(f"{path} is not a regular file")
        digester = Digester(limit)
        if isinstance(self.backend, LocalBackend):
            return self.backend.put_file(path, digester, move=move)
        return self.backend.put_file(path, digester, self._lock_until(purpose), move=move)

    def extend_retention(self, sha256: str, until: datetime) -> datetime | None:
        """S3: make the object's compliance lock last at least ``until`` (never shortens); the lock's end.
        Local files have no lock to extend: None."""
        if isinstance(self.backend, LocalBackend):
            check_sha256(sha256)
            return None
        return self.backend.extend_retention(sha256, until)

    def _lock_until(self, purpose: str) -> datetime:
        # The storage's own clock decides when a lock ends, so the lock is taken from the wall clock, with a
        # margin over the retention that record_blob will write a moment later.
        return self.retention.until(utcnow(), purpose) + RETENTION_MARGIN

    # ---- reading ----

    def get(self, sha256: str) -> bytes:
        """The whole file (small files only: attachments, photos); checked against its SHA-256."""
        with self.open(sha256) as handle:
            content = handle.read()
        if hashlib.sha256(content).hexdigest() != sha256:  # the disk changed under us: say so, loudly
            raise InvalidInput(f"stored file {sha256} no longer matches its SHA-256: it was altered on disk")
        return content

    def open(self, sha256: str) -> BinaryIO:
        """A binary reader over the stored file (NotFound when absent); close it (use ``with``)."""
        return self.backend.open(check_sha256(sha256))

    def iter_range(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start`` up to (not including) ``end`` in chunks; an HTTP range ``bytes=a-b`` is
        ``iter_range(sha, a, b + 1)``. ``end`` None or past the end stops at the end of the file."""
        size = self.size(sha256)
        stop = size if end is None else min(end, size)
        if start < 0 or start > stop:
            raise InvalidInput(f"range {start}-{end} is outside the file of {size} bytes")
        return self.backend.iter_range(sha256, start, stop)

    def read_range(self, sha256: str, start: int, end: int) -> bytes:
        """Bytes ``start`` up to (not including) ``end`` at once (keep ranges small)."""
        return b"".join(self.iter_range(sha256, start, end))

    def size(self, sha256: str) -> int:
        return self.backend.size(check_sha256(sha256))

    def exists(self, sha256: str) -> bool:
        return self.backend.exists(check_sha256(sha256))

    def usage(self) -> StorageUsage:
        """(total, used, free) bytes for the capacity check; total and free are None on S3."""
        return self.backend.usage()

    def verify(self, sha256: str, *, expected_sm3: str | None = None) -> BlobCheck:
        """Re-read the file and compare its SHA-256 (and SM3, when the recorded one is given): ok, changed
        or missing, with what was found."""
        return self.backend.verify(check_sha256(sha256), expected_sm3)


@functools.cache
def _s3_backend(
    bucket: str,
    endpoint: str | None,
    region: str,
    access_key: str | None,
    secret_key: str | None,
    data_dir: Path,
) -> S3Backend:
    from envwatch.core.blob_s3 import S3Backend

    spool = data_dir / "blobs-spool"
    spool.mkdir(parents=True, exist_ok=True)
    return S3Backend.connect(
        bucket=bucket,
        endpoint=endpoint,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
        spool_dir=spool,
    )
