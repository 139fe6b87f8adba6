"""The S3-compatible artifact backend (AWS S3, MinIO, Ceph...), for workers on several hosts.

Endpoint, region and keys come from the usual variables: `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`,
`AWS_REGION` or `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`. Each object carries
its sha256 as metadata. The bytes are first spooled to a local temp file with the hash computed on the
way (the hash names blobs and must be known before the object is created), then sent in one request
or as a multipart upload; S3 shows an object only once it is complete, and a failed multipart upload
is aborted, so nothing half-written is ever visible. `local_path` keeps a verified copy in a local
cache named by the hash (safe to delete at any time).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from backend.core.artifacts.base import (
    CHUNK,
    ArtifactStore,
    Source,
    Spool,
    Stored,
    blob_key,
    check_key,
    check_prefix,
    file_stored,
    missing,
)
from backend.core.errors import AISystemError

PART_SIZE = 8 * 1024 * 1024  # S3 needs at least 5 MiB per part but the last
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def make_client() -> Any:
    """A boto3 S3 client from the usual AWS variables (path-style addressing for custom endpoints)."""
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path"} if endpoint else None)
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def failed(action: str, exc: Exception) -> AISystemError:
    return AISystemError("ARTIFACT_003", f"The artifact store could not {action}",
                         {"reason": type(exc).__name__})


class S3Store(ArtifactStore):
    """Objects under `s3://bucket/prefix/`; `work_dir` holds local spool files and the read cache."""

    def __init__(self, bucket: str, prefix: str, *, work_dir: Path, client: Any = None):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.work_dir = work_dir
        self.client = client if client is not None else make_client()
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _object(self, method: str, key: str, action: str) -> dict[str, Any]:
        """Call `client.<method>` on one object; ARTIFACT_002 when it is missing, ARTIFACT_003 on failure."""
        try:
            return getattr(self.client, method)(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                raise missing(key) from None
            raise failed(action, exc) from exc
        except BotoCoreError as exc:
            raise failed("be reached", exc) from exc

    def _head(self, key: str) -> dict[str, Any]:
        return self._object("head_object", key, "read the file's details")

    # --- writing -----------------------------------------------------------------------------------

    def _staged(self, source: Source, limit: int | None, move: bool,
                sha256: str | None) -> tuple[Path, Stored, bool]:
        """A complete local file with the bytes, its hash, and whether to remove it afterwards."""
        if isinstance(source, Path):
            return source, file_stored(source, limit=limit, sha256=sha256), move
        spool = Spool(self.work_dir / "tmp", limit=limit).fill(source)
        return spool.path, spool.close(), True

    def _upload(self, path: Path, key: str, stored: Stored) -> None:
        name, metadata = self._name(key), {"sha256": stored.sha256}
        try:
            with open(path, "rb") as f:
                if stored.size <= PART_SIZE:
                    self.client.put_object(Bucket=self.bucket, Key=name, Body=f.read(), Metadata=metadata)
                    return
                upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=name, Metadata=metadata)
                try:
                    parts = []
                    while data := f.read(PART_SIZE):
                        number = len(parts) + 1
                        answer = self.client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload["UploadId"],
                                                         PartNumber=number, Body=data)
                        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                    self.client.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload["UploadId"],
                                                          MultipartUpload={"Parts": parts})
                except BaseException:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload["UploadId"])
                    raise
        except (ClientError, BotoCoreError) as exc:
            raise failed("store the file", exc) from exc

    def put(self, key: str, source: Source, *, limit: int | None = None, move: bool = False,
            sha256: str | None = None) -> Stored:
        check_key(key)
        staged, stored, owned = self._staged(source, limit, move, sha256)
        try:
            self._upload(staged, key, stored)
        finally:
            if owned:
                staged.unlink(missing_ok=True)
        return Stored(key=key, sha256=stored.sha256, size=stored.size)

    def put_blob(self, prefix: str, source: Source, *, ext: str = "bin", limit: int | None = None,
                 move: bool = False, sha256: str | None = None) -> Stored:
        staged, stored, owned = self._staged(source, limit, move, sha256)
        try:
            key = blob_key(prefix, stored.sha256, ext)
            created = not self.exists(key)
            if created:
                self._upload(staged, key, stored)
        finally:
            if owned:
                staged.unlink(missing_ok=True)
        return Stored(key=key, sha256=stored.sha256, size=stored.size, created=created)

    # --- reading -----------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        return self._object("get_object", key, "read the file")["Body"]

    def _download(self, key: str, expected: str | None) -> tuple[Path, str]:
        """The object's bytes in a local spool file, hashed on the way and checked against `expected`."""
        spool = Spool(self.work_dir / "cache" / "tmp")
        try:
            with self.open(key) as body:
                spool.fill(iter(lambda: body.read(CHUNK), b""))
            stored = spool.close()
        except BaseException:
            spool.abort()
            raise
        if expected and stored.sha256 != expected:
            spool.abort()
            raise AISystemError("ARTIFACT_003", "The stored bytes do not match their recorded hash",
                                {"key": key[:200], "expectedSha256": expected})
        return spool.path, stored.sha256

    def local_path(self, key: str) -> Path:
        head = self._head(key)
        expected = head.get("Metadata", {}).get("sha256")
        suffix = PurePosixPath(key).suffix
        suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,15}", suffix) else ""
        if expected:
            cached = self.work_dir / "cache" / expected[:2] / f"{expected}{suffix}"
            if cached.is_file() and cached.stat().st_size == head["ContentLength"]:
                return cached
        downloaded, sha = self._download(key, expected)
        cached = self.work_dir / "cache" / sha[:2] / f"{sha}{suffix}"
        cached.parent.mkdir(parents=True, exist_ok=True)
        os.replace(downloaded, cached)
        return cached

    def stat(self, key: str) -> Stored:
        head = self._head(key)
        sha = head.get("Metadata", {}).get("sha256")
        if not sha:  # written by another tool: hash the bytes
            downloaded, sha = self._download(key, None)
            downloaded.unlink(missing_ok=True)
        return Stored(key=key, sha256=sha, size=head["ContentLength"], created=False)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except AISystemError as exc:
            if exc.code == "ARTIFACT_002":
                return False
            raise
        return True

    def size(self, key: str) -> int:
        return self._head(key)["ContentLength"]

    def delete(self, key: str) -> None:
        self._object("delete_object", key, "delete the file")

    def list(self, prefix: str = "") -> Iterator[str]:
        prefix = check_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                              Prefix=base + prefix):
                for item in page.get("Contents", []):
                    yield item["Key"][len(base):]
        except (ClientError, BotoCoreError) as exc:
            raise failed("list files", exc) from exc
