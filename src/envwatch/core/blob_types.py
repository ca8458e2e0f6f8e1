"""Values shared by the blob store's facade and its backends (存证文件): digests, results, retention.

Kept apart from :mod:`envwatch.core.blobs` so the backends (``blob_local``, ``blob_s3``) can use them
without importing the facade that imports them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Literal, NamedTuple

from envwatch.core.errors import Conflict, InvalidInput

CHUNK_SIZE = 1024 * 1024
"""Bytes read, hashed and written at a time: memory stays flat whatever the file's size."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

VIDEO_PURPOSES = frozenset({"video", "reprint_video"})
"""Purposes kept for ``video_retention_years`` (WZ-A1-13); every other purpose for ``attachment_…``."""

RETENTION_MARGIN = timedelta(days=1)
"""How much longer than the recorded retention an S3 Object Lock is set at upload: the lock is taken a
moment before the ``blob_records`` row's ``now``, so the margin keeps the lock ≥ the recorded date."""


class BlobCorrupted(Conflict):
    """A stored file no longer matches the digest it is stored under (被篡改或损坏): evidence is damaged.

    Raised instead of silently replacing it: whoever sees this must investigate, not retry."""


def check_sha256(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise InvalidInput(f"{sha256!r} is not a SHA-256 in lower-case hex")
    return sha256


def too_large(size: int, limit: int, setting: str | None) -> InvalidInput:
    where = f" (setting {setting})" if setting else ""
    return InvalidInput(f"file of {size} bytes is over the limit of {limit} bytes{where}")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """One stored file: its digests, where the backend keeps it, and (S3) the locked object version."""

    sha256: str
    size: int
    sm3: str
    backend: Literal["local", "s3"]
    location: str
    version_id: str | None = None
    locked_until: datetime | None = None
    """S3 only: the version's Object Lock retain-until date (compliance mode); None on local files."""

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


@dataclass(frozen=True, slots=True)
class BlobCheck:
    """What re-hashing one stored file found (``envwatch evidence verify``)."""

    sha256: str
    status: Literal["ok", "missing", "changed"]
    size: int | None = None
    actual_sha256: str | None = None
    actual_sm3: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class StorageUsage(NamedTuple):
    """Capacity of the store (WZ-A1-13): ``total_bytes``/``free_bytes`` are None where unknowable (S3).
    A tuple, so ``total, used, free = store.usage()`` works."""

    total_bytes: int | None
    used_bytes: int
    free_bytes: int | None


class Digester:
    """SHA-256 and SM3 (国密 SM3) of the same bytes in one pass, with the running size and a limit."""

    def __init__(self, max_bytes: int | None = None, setting: str | None = None) -> None:
        self._sha256 = hashlib.sha256()
        self._sm3 = hashlib.new("sm3")
        self.size = 0
        self.max_bytes = max_bytes
        self._setting = setting

    def update(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise too_large(self.size, self.max_bytes, self._setting)
        self._sha256.update(chunk)
        self._sm3.update(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def sm3(self) -> str:
        return self._sm3.hexdigest()


def read_chunks(handle: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := handle.read(chunk_size):
        yield chunk


def digest_stream(chunks: Iterable[bytes], max_bytes: int | None = None) -> Digester:
    digester = Digester(max_bytes)
    for chunk in chunks:
        digester.update(chunk)
    return digester


def check_of(sha256: str, digester: Digester, expected_sm3: str | None) -> BlobCheck:
    """Compare what was re-read with what the file is stored under (and the recorded SM3, when given)."""
    problems = []
    if digester.sha256 != sha256:
        problems.append(f"SHA-256 is now {digester.sha256}")
    if expected_sm3 is not None and digester.sm3 != expected_sm3:
        problems.append(f"SM3 is now {digester.sm3}, recorded {expected_sm3}")
    return BlobCheck(
        sha256,
        "changed" if problems else "ok",
        digester.size,
        digester.sha256,
        digester.sm3,
        "; ".join(problems),
    )


def add_years(moment: datetime, years: int) -> datetime:
    """``moment`` plus whole calendar years. 29 February goes to 1 March when the target year has no
    leap day (not to 28 February, as dateutil does): a retention must last *at least* the years it says."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # only 29 February can fail
        return moment.replace(year=moment.year + years, month=3, day=1)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many years each purpose is kept (保存期限); from settings, 10 and 10 by default."""

    video_years: int = 10
    attachment_years: int = 10

    def years_for(self, purpose: str) -> int:
        return self.video_years if purpose in VIDEO_PURPOSES else self.attachment_years

    def until(self, now: datetime, purpose: str, years: int | None = None) -> datetime:
        return add_years(now, self.years_for(purpose) if years is None else years)
