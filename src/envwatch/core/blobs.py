"""Content-addressed file store (附件): a file is kept once, under its SHA-256, and never changed.

Files live under ``<data_dir>/blobs/ab/abcdef…`` (the first two hex digits fan the directory out). A
write goes to a temporary file in the same directory, is fsynced, and is renamed into place, so a
reader never sees half a file and a crash leaves at most a stray temporary file. Writing the same
content twice is a no-op. Which record a file belongs to is said by rows elsewhere (``attachments``);
the evidence log (issue 8) builds on the same store.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from envwatch.core.errors import InvalidInput, NotFound
from envwatch.core.settings import Settings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: Path, *, max_bytes: int = 50 * 1024 * 1024) -> None:
        self.root = root
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        """The platform's store: ``<data_dir>/blobs``, files up to ``max_attachment_bytes``."""
        return cls(settings.data_dir / "blobs", max_bytes=settings.max_attachment_bytes)

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise InvalidInput(f"{sha256!r} is not a SHA-256 in lower-case hex")
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> StoredBlob:
        if len(content) > self.max_bytes:
            raise InvalidInput(
                f"file of {len(content)} bytes is over the limit of {self.max_bytes} bytes "
                "(setting ENVWATCH_MAX_ATTACHMENT_BYTES)"
            )
        digest = hashlib.sha256(content).hexdigest()
        target = self.path_of(digest)
        if target.exists():
            return StoredBlob(digest, len(content))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
        return StoredBlob(digest, len(content))

    def get(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no stored file with SHA-256 {sha256}") from None
        if hashlib.sha256(content).hexdigest() != sha256:  # the disk changed under us: say so, loudly
            raise InvalidInput(f"stored file {sha256} no longer matches its SHA-256: it was altered on disk")
        return content
