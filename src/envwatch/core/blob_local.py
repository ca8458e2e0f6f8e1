"""Write-once files on the local filesystem (本地只写一次存储), the blob store's default backend.

Layout: ``<root>/ab/abcdef…`` (the first two hex digits of the SHA-256 fan the directory out), mode 0444.
New content is written to ``<root>/.incoming/`` while it is hashed, fsynced, made read-only and then
*hard-linked* to its final name: ``link`` fails when the name exists, so a stored file is never
overwritten, not even by a race between two writers. An existing file of the same name is re-hashed
before it is trusted; if it no longer matches, that is damaged evidence and :class:`BlobCorrupted` is
raised instead of quietly replacing it. There is no method that deletes a stored file.

Directories stay writable (new files must go in); the write-once promise is this code's, the file mode
and the evidence log's re-hashing (``verify``), not the kernel's: root can still destroy files.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from envwatch.core.blob_types import (
    CHUNK_SIZE,
    BlobCheck,
    BlobCorrupted,
    Digester,
    StorageUsage,
    StoredBlob,
    check_of,
    check_sha256,
    read_chunks,
)
from envwatch.core.errors import NotFound

_INCOMING = ".incoming"
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


class LocalBackend:
    name: Literal["local"] = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256

    def location_of(self, sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    # ---- writing ----

    def put_chunks(self, chunks: Iterable[bytes], digester: Digester) -> StoredBlob:
        incoming = self.root / _INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=incoming, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    digester.update(chunk)  # raises over the size limit: the temporary file goes below
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o444)
            return self._place(tmp, digester)
        finally:
            tmp.unlink(missing_ok=True)  # our own temporary name; the stored file is a second link

    def put_file(self, path: Path, digester: Digester, *, move: bool) -> StoredBlob:
        if move and os.stat(path).st_dev == self._root_device():
            os.chmod(path, 0o444)  # before hashing: what is hashed is what gets linked
            with open(path, "rb") as handle:
                for chunk in read_chunks(handle):
                    digester.update(chunk)
                os.fsync(handle.fileno())
            stored = self._place(path, digester)
            path.unlink()  # the caller's name for it; the content lives on under its digest
            return stored
        with open(path, "rb") as handle:
            stored = self.put_chunks(read_chunks(handle), digester)
        if move:  # another filesystem: copied, so the source name goes now that the copy is safe
            path.unlink()
        return stored

    def _root_device(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.stat(self.root).st_dev

    def _place(self, source: Path, digester: Digester) -> StoredBlob:
        """Give ``source`` its content-addressed name without ever replacing an existing file."""
        target = self.path_of(digester.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            self._trust_existing(target, digester.sha256)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            # A filesystem without hard links: check, then copy (a tiny race with another writer of the
            # same content, which would write the same bytes).
            if target.exists():
                self._trust_existing(target, digester.sha256)
            else:
                shutil.copyfile(source, target)
                os.chmod(target, 0o444)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new name survives a power cut
        finally:
            os.close(dir_fd)
        return StoredBlob(
            digester.sha256, digester.size, digester.sm3, "local", self.location_of(digester.sha256)
        )

    def _trust_existing(self, target: Path, sha256: str) -> None:
        check = self._check(target, sha256, None)
        if not check.ok:
            raise BlobCorrupted(
                f"stored file {target} no longer matches its name ({check.detail}): the evidence was altered "
                "or damaged on disk. It was not replaced; restore it from a backup or investigate, and "
                "run `envwatch evidence verify`"
            )

    # ---- reading ----

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path_of(sha256), "rb")
        except FileNotFoundError:
            raise NotFound(f"no stored file with SHA-256 {sha256}") from None

    def iter_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        with self.open(sha256) as handle:
            handle.seek(start)
            left = end - start
            while left > 0:
                chunk = handle.read(min(CHUNK_SIZE, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def size(self, sha256: str) -> int:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"no stored file with SHA-256 {sha256}") from None

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def verify(self, sha256: str, expected_sm3: str | None) -> BlobCheck:
        path = self.path_of(sha256)
        if not path.is_file():
            return BlobCheck(sha256, "missing", detail=f"{path} is gone")
        check = self._check(path, sha256, expected_sm3)
        if check.ok and path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            return BlobCheck(
                sha256, "ok", check.size, check.actual_sha256, check.actual_sm3,
                f"content intact, but {path} is writable: make it read-only (chmod 0444)",
            )  # fmt: skip
        return check

    def _check(self, path: Path, sha256: str, expected_sm3: str | None) -> BlobCheck:
        digester = Digester()
        with open(path, "rb") as handle:
            for chunk in read_chunks(handle):
                digester.update(chunk)
        return check_of(sha256, digester, expected_sm3)

    def usage(self) -> StorageUsage:
        self.root.mkdir(parents=True, exist_ok=True)
        disk = shutil.disk_usage(self.root)
        used = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                try:
                    used += os.lstat(os.path.join(folder, name)).st_size
                except FileNotFoundError:  # a temporary file that just went
                    continue
        return StorageUsage(disk.total, used, disk.free)
