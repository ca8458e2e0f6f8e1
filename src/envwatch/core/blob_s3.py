"""S3-compatible storage with Object Lock in compliance mode (对象锁定, 合规模式): the optional backend.

Each file is one object ``sha256/ab/<sha256>`` written with ``ObjectLockMode=COMPLIANCE`` and a retain-until
date, so the storage itself refuses to delete or overwrite that *version*, or to shorten its retention,
before the date — for every account, root included (see docs/evidence/blobs.md for what that does and does
not promise). The bucket must have Object Lock enabled: it is created so when absent, and a bucket without
it is refused. boto3 is the optional extra ``s3`` and is imported only here, only when this backend is used.

Writes need the digest before the key is known, so streamed content is first spooled to a temporary local
file while it is hashed, then uploaded from it (one PutObject up to ``_SINGLE_PUT_MAX``, a multipart upload
of ``_PART_SIZE`` parts above): memory stays bounded by one part. An object already under the key with the
same SHA-256 (metadata and size) is not uploaded again; if its lock ends before the one wanted, the
retention is *extended* with PutObjectRetention (compliance mode allows extending, never shortening).
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from envwatch.core.blob_types import (
    CHUNK_SIZE,
    RETENTION_MARGIN,
    BlobCheck,
    BlobCorrupted,
    Digester,
    StorageUsage,
    StoredBlob,
    check_of,
    check_sha256,
    read_chunks,
)
from envwatch.core.errors import NotFound, Unavailable

_SINGLE_PUT_MAX = 64 * 1024 * 1024
_PART_SIZE = 16 * 1024 * 1024  # 10,000 parts at most: objects up to 160 GiB
_PREFIX = "sha256/"
_HIDDEN = "envwatch-hidden-by-delete-marker"
_EXTEND_SLACK = (
    RETENTION_MARGIN / 2
)  # an existing lock this close to the wanted one already covers the record


class ObjectLockMissing(Unavailable):
    """The configured bucket exists without Object Lock: it cannot keep evidence write-once."""


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw binary stream (so ``open`` returns a normal buffered reader)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Backend:
    name: Literal["s3"] = "s3"

    def __init__(self, client: Any, bucket: str, spool_dir: Path | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.spool_dir = spool_dir

    @classmethod
    def connect(
        cls,
        *,
        bucket: str,
        endpoint: str | None,
        region: str,
        access_key: str | None,
        secret_key: str | None,
        spool_dir: Path | None = None,
    ) -> S3Backend:
        """A client for the bucket, after making sure the bucket exists with Object Lock enabled."""
        import boto3  # the optional extra 's3'
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        backend = cls(client, bucket, spool_dir)
        backend.ensure_bucket(region)
        return backend

    def ensure_bucket(self, region: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise Unavailable(f"S3 bucket {self.bucket} cannot be reached: {exc}") from exc
            extra: dict[str, Any] = {}
            if region != "us-east-1":  # the one region S3 refuses to be told explicitly
                extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self.client.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True, **extra)
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except ClientError as exc:
            if _error_code(exc) != "ObjectLockConfigurationNotFoundError":
                raise
            enabled = False
        if not enabled:
            raise ObjectLockMissing(
                f"S3 bucket {self.bucket} exists without Object Lock, so it cannot keep evidence write-once: "
                "name a new bucket in ENVWATCH_BLOB_S3_BUCKET (envwatch creates it with Object Lock) or "
                "enable Object Lock on this one (e.g. `mc retention set`/ MinIO AIStor, or AWS "
                "PutObjectLockConfiguration after enabling versioning)"
            )

    def key_of(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{_PREFIX}{sha256[:2]}/{sha256}"

    def location_of(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key_of(sha256)}"

    # ---- writing ----

    def put_chunks(self, chunks: Iterable[bytes], digester: Digester, retain_until: datetime) -> StoredBlob:
        with tempfile.TemporaryFile(dir=self.spool_dir, prefix="envwatch-s3-") as spool:
            for chunk in chunks:
                digester.update(chunk)
                spool.write(chunk)
            spool.flush()
            return self._commit(spool, digester, retain_until)

    def put_file(self, path: Path, digester: Digester, retain_until: datetime, *, move: bool) -> StoredBlob:
        with open(path, "rb") as handle:
            for chunk in read_chunks(handle):
                digester.update(chunk)
            stored = self._commit(handle, digester, retain_until)
        if move:  # uploaded and locked: the local name is no longer needed
            path.unlink()
        return stored

    def _commit(self, handle: BinaryIO, digester: Digester, retain_until: datetime) -> StoredBlob:
        key = self.key_of(digester.sha256)
        existing = self._head(key)
        if existing is not None:
            return self._trust_existing(existing, digester, retain_until)
        handle.seek(0)
        lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        meta = {"sha256": digester.sha256, "sm3": digester.sm3}
        if digester.size <= _SINGLE_PUT_MAX:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=handle,
                ContentLength=digester.size,
                ChecksumAlgorithm="SHA256",  # Object Lock uploads must carry a checksum
                ChecksumSHA256=_b64(digester.sha256),  # the server re-checks the whole object
                Metadata=meta,
                **lock,
            )
        else:
            response = self._multipart(key, handle, meta, lock)
            # Not every S3 implementation applies the lock headers of CreateMultipartUpload (moto ignores
            # them): check the new version and lock it explicitly when it is not locked as asked.
            head = self.client.head_object(Bucket=self.bucket, Key=key, VersionId=response.get("VersionId"))
            if head.get("ObjectLockMode") != "COMPLIANCE" or head["ObjectLockRetainUntilDate"] < retain_until:
                self._lock(key, response.get("VersionId"), retain_until)
        return self._stored(digester, response.get("VersionId"), retain_until)

    def _lock(self, key: str, version: str | None, until: datetime) -> None:
        """PutObjectRetention in compliance mode: the storage accepts it only when it does not shorten."""
        self.client.put_object_retention(
            Bucket=self.bucket,
            Key=key,
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
        )

    def _multipart(self, key: str, handle: BinaryIO, meta: dict[str, str], lock: dict[str, Any]) -> Any:
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, Metadata=meta, ChecksumAlgorithm="SHA256", **lock
        )
        upload_id = upload["UploadId"]
        parts = []
        try:
            number = 1
            while part := handle.read(_PART_SIZE):
                done = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part,
                    ChecksumAlgorithm="SHA256",
                )  # fmt: skip
                parts.append(
                    {"PartNumber": number, "ETag": done["ETag"], "ChecksumSHA256": done.get("ChecksumSHA256")}
                )
                number += 1
            return self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{k: v for k, v in p.items() if v is not None} for p in parts]},
            )  # fmt: skip
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def _trust_existing(self, head: dict[str, Any], digester: Digester, retain_until: datetime) -> StoredBlob:
        meta = head.get("Metadata", {})
        if meta.get("sha256") != digester.sha256 or int(head.get("ContentLength", -1)) != digester.size:
            raise BlobCorrupted(
                f"the object {self.location_of(digester.sha256)} does not hold the content its key names "
                f"(metadata sha256 {meta.get('sha256')}, {head.get('ContentLength')} bytes): it was not "
                "replaced; look at its versions (the locked original is still there) and investigate"
            )
        locked = head.get("ObjectLockRetainUntilDate")
        version = head.get("VersionId")
        # Nothing is uploaded again. Only when the existing lock would end before the retention this storing
        # records (re-storing a photo years later, or as a video) is it extended — by PutObjectRetention,
        # which compliance mode allows for extending only; within the margin it is left as it is.
        if (
            locked is None
            or head.get("ObjectLockMode") != "COMPLIANCE"
            or locked < retain_until - _EXTEND_SLACK
        ):
            self._lock(self.key_of(digester.sha256), version, retain_until)
            locked = retain_until
        return self._stored(digester, version, locked)

    def _stored(self, digester: Digester, version: str | None, locked: datetime) -> StoredBlob:
        return StoredBlob(
            digester.sha256, digester.size, digester.sm3, "s3", self.location_of(digester.sha256),
            version, locked.astimezone(UTC),
        )  # fmt: skip

    def extend_retention(self, sha256: str, until: datetime) -> datetime:
        """Make the current version's lock last at least ``until``; never shortens. The new retain-until."""
        head = self._head(self.key_of(sha256))
        if head is None:
            raise NotFound(f"no stored object with SHA-256 {sha256} in s3://{self.bucket}")
        locked = head.get("ObjectLockRetainUntilDate")
        if locked is not None and locked >= until and head.get("ObjectLockMode") == "COMPLIANCE":
            return locked  # type: ignore[no-any-return]
        self._lock(self.key_of(sha256), head.get("VersionId"), until)
        return until

    # ---- reading ----

    def _head(self, key: str) -> dict[str, Any] | None:
        """The newest version of ``key`` that is not a delete marker (a delete marker only hides a locked
        version; the data is still there and still evidence), or None."""
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)  # type: ignore[no-any-return]
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchKey", "NotFound", "405", "MethodNotAllowed"}:
                raise
        listing = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
        versions = [v for v in listing.get("Versions", []) if v["Key"] == key]
        if not versions:
            return None
        newest = max(versions, key=lambda v: v["LastModified"])
        head: dict[str, Any] = self.client.head_object(
            Bucket=self.bucket, Key=key, VersionId=newest["VersionId"]
        )
        head[_HIDDEN] = True
        return head

    def _get(self, sha256: str, **extra: Any) -> Any:
        key = self.key_of(sha256)
        head = self._head(key)
        if head is None:
            raise NotFound(f"no stored object with SHA-256 {sha256} in s3://{self.bucket}")
        return self.client.get_object(Bucket=self.bucket, Key=key, VersionId=head["VersionId"], **extra)

    def open(self, sha256: str) -> BinaryIO:
        body = self._get(sha256)["Body"]
        return io.BufferedReader(_BodyReader(body), buffer_size=CHUNK_SIZE)

    def iter_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return
        body = self._get(sha256, Range=f"bytes={start}-{end - 1}")["Body"]
        try:
            while chunk := body.read(CHUNK_SIZE):
                yield chunk
        finally:
            body.close()

    def size(self, sha256: str) -> int:
        head = self._head(self.key_of(sha256))
        if head is None:
            raise NotFound(f"no stored object with SHA-256 {sha256} in s3://{self.bucket}")
        return int(head["ContentLength"])

    def exists(self, sha256: str) -> bool:
        return self._head(self.key_of(sha256)) is not None

    def verify(self, sha256: str, expected_sm3: str | None) -> BlobCheck:
        key = self.key_of(sha256)
        head = self._head(key)
        if head is None:
            return BlobCheck(sha256, "missing", detail=f"no version of s3://{self.bucket}/{key}")
        body = self.client.get_object(Bucket=self.bucket, Key=key, VersionId=head["VersionId"])["Body"]
        digester = Digester()
        try:
            while chunk := body.read(CHUNK_SIZE):
                digester.update(chunk)
        finally:
            body.close()
        check = check_of(sha256, digester, expected_sm3 or head.get("Metadata", {}).get("sm3"))
        notes = []
        if head.get("ObjectLockMode") != "COMPLIANCE":
            notes.append(f"version {head['VersionId']} has no compliance-mode lock")
        if head.get(_HIDDEN):
            notes.append(f"version {head['VersionId']} is hidden behind a delete marker (the data is intact)")
        if check.ok and notes:
            return BlobCheck(
                sha256,
                "ok",
                check.size,
                check.actual_sha256,
                check.actual_sm3,
                "content intact, but " + "; ".join(notes),
            )
        return check

    def usage(self) -> StorageUsage:
        used = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=_PREFIX):
            used += sum(int(item["Size"]) for item in page.get("Contents", []))
        return StorageUsage(None, used, None)


def _b64(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()
