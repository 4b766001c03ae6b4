"""The image and artifact store: S3 through the `minio` client.

Images are content addressed: the key is derived from the sha256 of the bytes,
so the same image is one object whoever writes it and however often; within a
process a repeated write makes no request at all. JSON artifacts (stage
outputs, run state, dataset cards) live beside them under caller-chosen keys.
Locally and in tests the endpoint is rclone's S3 server; in production MinIO or
any S3. Every call is retried with bounded backoff on transport faults and
5xx answers, so a restarting S3 server costs time, not data.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterator, TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from services.common.backoff import Backoff
from services.common.config import StoreSettings
from services.common.images import ImageInfo, ImageRejected, inspect_image
from mis.v1 import common_pb2

T = TypeVar("T")
IMAGE_PREFIX = "images/sha256/"
_NOT_FOUND = {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"}


class StoreError(RuntimeError):
    """The store failed after retries, or answered with an error."""


class ObjectNotFound(StoreError, KeyError):
    """No object under that key."""


def image_key(sha256: str, extension: str) -> str:
    """Content-addressed key; the two-letter fan-out keeps listings short."""
    return f"{IMAGE_PREFIX}{sha256[:2]}/{sha256}.{extension}"


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, S3Error):
        return exc.code in {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}
    if isinstance(exc, ServerError):
        return exc.status_code >= 500
    if isinstance(exc, InvalidResponseError):
        # A 5xx whose body minio could not parse (rclone answers concurrent
        # writes of one key this way): the same fault, worth another try.
        return getattr(exc, "_code", 0) >= 500
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


@dataclass
class Store:
    """Synchronous store; async code uses `AsyncStore` beside it."""

    client: Minio
    bucket: str
    max_image_bytes: int = 20 * 1024 * 1024
    backoff: Backoff = Backoff(max_attempts=6, initial_seconds=0.25, max_seconds=4.0)
    known_keys_limit: int = 100_000

    def __post_init__(self) -> None:
        self._known: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> "Store":
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(5.0, settings.timeout_seconds),
                                    read=settings.timeout_seconds),
            maxsize=32,
            # Our own backoff handles retries, so failures are counted once.
            retries=False,
        )
        client = Minio(settings.endpoint, access_key=settings.access_key,
                       secret_key=settings.secret_key, secure=settings.secure,
                       region=settings.region, http_client=http)
        return cls(client, settings.bucket, settings.max_image_bytes)

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    raise ObjectNotFound(f"{what}: {exc.code}") from None
                if not _transient(exc) or attempt >= self.backoff.max_attempts:
                    raise StoreError(f"{what}: {exc.code}: {exc.message}") from exc
            except InvalidResponseError as exc:
                # Some S3 servers (rclone among them) send error bodies minio
                # cannot parse; the HTTP status still says what happened.
                if getattr(exc, "_code", 0) == 404:
                    raise ObjectNotFound(f"{what}: not found") from None
                if not _transient(exc) or attempt >= self.backoff.max_attempts:
                    raise StoreError(f"{what}: {exc}") from exc
            except Exception as exc:
                if not _transient(exc) or attempt >= self.backoff.max_attempts:
                    raise StoreError(f"{what}: {exc}") from exc
            time.sleep(self.backoff.delay(attempt))

    def _remember(self, key: str) -> None:
        self._known[key] = None
        self._known.move_to_end(key)
        while len(self._known) > self.known_keys_limit:
            self._known.popitem(last=False)

    def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (bootstrap at service start)."""
        if not self._call("bucket_exists", lambda: self.client.bucket_exists(self.bucket)):
            try:
                self._call("make_bucket", lambda: self.client.make_bucket(self.bucket))
            except StoreError as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc) and "BucketAlreadyExists" not in str(exc):
                    raise

    # -- images -----------------------------------------------------------------------------

    def put_image(self, data: bytes) -> common_pb2.ImageRef:
        """Store an image under its content address and return its reference."""
        info = inspect_image(data, self.max_image_bytes)
        key = image_key(info.sha256, info.extension)
        if key not in self._known:
            self._call(f"put {key}", lambda: self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=info.media_type))
            self._remember(key)
        return self.image_ref(info, key)

    def image_ref(self, info: ImageInfo, key: str) -> common_pb2.ImageRef:
        return common_pb2.ImageRef(bucket=self.bucket, key=key, sha256=info.sha256,
                                   media_type=info.media_type, width=info.width,
                                   height=info.height)

    def get_image(self, ref: common_pb2.ImageRef) -> bytes:
        """Read an image and check it still hashes to its reference."""
        data = self.get_bytes(ref.key, bucket=ref.bucket or self.bucket)
        if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
            raise StoreError(f"{ref.key}: content does not match its sha256")
        return data

    # -- bytes and JSON artifacts -------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call(f"put {key}", lambda: self.client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type))

    def get_bytes(self, key: str, bucket: str | None = None) -> bytes:
        def fetch() -> bytes:
            response = self.client.get_object(bucket or self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        return self._call(f"get {key}", fetch)

    def put_json(self, key: str, value: Any) -> None:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        self.put_bytes(key, data, "application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def exists(self, key: str) -> bool:
        try:
            self._call(f"stat {key}", lambda: self.client.stat_object(self.bucket, key))
            return True
        except ObjectNotFound:
            return False

    def delete(self, key: str) -> None:
        self._call(f"delete {key}", lambda: self.client.remove_object(self.bucket, key))

    def list_keys(self, prefix: str, recursive: bool = True) -> Iterator[str]:
        """Keys under `prefix`, in the server's (lexicographic) order."""
        objects = self._call(f"list {prefix}", lambda: list(
            self.client.list_objects(self.bucket, prefix=prefix, recursive=recursive)))
        for item in objects:
            yield item.object_name

    def presigned_url(self, key: str, ttl_seconds: int = 3600) -> str:
        return self.client.presigned_get_object(self.bucket, key,
                                                expires=timedelta(seconds=ttl_seconds))


class AsyncStore:
    """The store for asyncio code: each call runs in a worker thread."""

    def __init__(self, store: Store) -> None:
        self.sync = store

    async def put_image(self, data: bytes) -> common_pb2.ImageRef:
        return await asyncio.to_thread(self.sync.put_image, data)

    async def get_image(self, ref: common_pb2.ImageRef) -> bytes:
        return await asyncio.to_thread(self.sync.get_image, ref)

    async def put_json(self, key: str, value: Any) -> None:
        await asyncio.to_thread(self.sync.put_json, key, value)

    async def get_json(self, key: str) -> Any:
        return await asyncio.to_thread(self.sync.get_json, key)

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self.sync.put_bytes, key, data, content_type)

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.sync.get_bytes, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.sync.exists, key)

    async def list_keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(lambda: list(self.sync.list_keys(prefix)))

    async def presigned_url(self, key: str, ttl_seconds: int = 3600) -> str:
        return await asyncio.to_thread(self.sync.presigned_url, key, ttl_seconds)


__all__ = ["Store", "AsyncStore", "StoreError", "ObjectNotFound", "ImageRejected", "image_key"]
