"""Where attachment bytes live: a local folder (default) or an S3-compatible bucket.

The gateway writes uploads and serves previews; the worker reads the bytes to put
attachments into the model input. Both build the same store from settings, so a
deployment shares one folder (a volume) or one bucket between them.
"""

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from shared.settings import CommonSettings


class BlobNotFound(Exception):
    """No bytes stored under this key."""


class AttachmentBlobs(Protocol):
    """Byte storage for attachments, addressed by ``blob_key``."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing what was there."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``BlobNotFound`` if none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""


def blob_key(user_id: str, attachment_id: str) -> str:
    """The key of an attachment's bytes: grouped per user, no user id in clear."""
    owner = hashlib.sha256(user_id.encode()).hexdigest()[:24]
    return f"{owner}/{attachment_id}"


class LocalBlobs:
    """Files under one folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root.resolve()):
            raise ValueError("blob key escapes the attachments folder")
        return path

    async def put(
        self,
        key: str,
        data: bytes,
        content_type: str,  # noqa: ARG002 - files keep no type; the metadata does
    ) -> None:
        """Store ``data`` under ``key``."""
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``."""
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


class S3Blobs:
    """Objects in an S3-compatible bucket (AWS, MinIO, R2...); boto3 in a thread."""

    def __init__(
        self, bucket: str, *, endpoint_url: str = "", prefix: str = ""
    ) -> None:
        # Imported here: only deployments that choose S3 pay for boto3's import.
        import boto3

        self._bucket = bucket
        self._prefix = prefix
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url or None)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``."""
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self._bucket,
            Key=self._prefix + key,
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``."""
        try:
            answer = await asyncio.to_thread(
                self._client.get_object, Bucket=self._bucket, Key=self._prefix + key
            )
        except self._client.exceptions.NoSuchKey as exc:
            raise BlobNotFound(key) from exc
        body: bytes = await asyncio.to_thread(answer["Body"].read)
        return body

    async def delete(self, key: str) -> None:
        """Remove ``key`` (S3 deletes are idempotent)."""
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self._bucket, Key=self._prefix + key
        )


def open_blobs(settings: CommonSettings) -> AttachmentBlobs:
    """The store the settings choose (``ATTACHMENTS_BACKEND``)."""
    if settings.attachments_backend == "s3":
        return S3Blobs(
            settings.attachments_s3_bucket,
            endpoint_url=settings.attachments_s3_endpoint_url,
            prefix=settings.attachments_s3_prefix,
        )
    return LocalBlobs(settings.attachments_dir)
