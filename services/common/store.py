"""The image and artifact store: S3 through the `minio` client.

Images are content addressed: the key is derived from the sha256 of the bytes,
so the same image is one object whoever writes it and however often; within a
process a repeated write makes no request at all. JSON artifacts (stage
outputs, run state, dataset cards) live beside them under caller-chosen keys.
Locally and in tests the endpoint is rclone's S3 server; in production MinIO or
any S3. Every call is retried with bounded backoff on transport faults and
5xx answers, so a restarting S3 server costs time, not data; a client error
(a bad key, another bucket, a wrong digest, an object too large) is never
retried and is never a StoreError, which callers report as "try again later".

This is the one retry layer of the store: callers do not retry around it.
One whose writes must outlast a longer outage (the coordinator's durable
state) takes the same store with a longer policy (`with_backoff`).
Synchronous calls wait out their backoff in the calling thread; `AsyncStore`
waits on the event loop instead and holds a thread for one attempt at a time,
so a minute-long outage does not take every worker thread of the process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterator, TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from services.common.backoff import Backoff, RetriesExhausted, retry, retry_blocking
from services.common.setting_groups import StoreSettings
from services.common.images import ImageInfo, ImageRejected, inspect_image
from mis.v1 import common_pb2

T = TypeVar("T")
IMAGE_PREFIX = "images/sha256/"
_NOT_FOUND = {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"}
# S3's codes for "that bucket exists"; rclone sends a bare 409 Conflict instead.
_BUCKET_EXISTS = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists", "409"}
# JSON artifacts are small; a bound keeps a stray huge object from filling memory.
MAX_OBJECT_BYTES = 256 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class StoreError(RuntimeError):
    """The store failed after retries, or answered with an error.

    `code` says which, for callers that act on it: the S3 error code
    (`NoSuchKey`, `BucketAlreadyOwnedByYou`, `AccessDenied`...), else the HTTP
    status, else the exception's type name.
    """

    def __init__(self, message: str, code: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        # The store was unreachable or failing (worth another attempt), as
        # opposed to an answer that another attempt would repeat.
        self.transient = transient


class ObjectNotFound(StoreError, KeyError):
    """No object under that key."""


class InvalidReference(ValueError):
    """A key or image reference this store will not follow: another bucket, a
    malformed key, a digest that does not match. `part` names the bad part
    (bucket, key, sha256) so a service can name the request field."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


class ObjectTooLarge(InvalidReference):
    """The object is larger than the reader accepts; nothing was read."""


def shown(value: str, limit: int = 80) -> str:
    """A caller's value quoted for an error message, cut to a readable length."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_key(key: str) -> None:
    """Refuse keys that are not plain relative object names.

    S3 itself would take `a/../b`, but a key like that means something else to
    every tool that maps keys onto paths (exports, MinIO's disk layout), and
    control characters or over-long keys make S3 servers answer 400 or 5xx.
    """
    if not key:
        raise InvalidReference("key", "required")
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise InvalidReference("key", "longer than 1024 bytes")
    if key.startswith("/") or "\\" in key:
        raise InvalidReference("key", f"{shown(key)} must be a relative name with / separators")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise InvalidReference("key", f"{shown(key)} contains a control character")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidReference("key", f"{shown(key)} has an empty, '.' or '..' segment")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidReference("key", f"{shown(key)} is not valid UTF-8") from None


def image_key(sha256: str, extension: str) -> str:
    """Content-addressed key; the two-letter fan-out keeps listings short."""
    return f"{IMAGE_PREFIX}{sha256[:2]}/{sha256}.{extension}"


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, S3Error):
        return getattr(exc.response, "status", 0) or 0
    if isinstance(exc, ServerError):
        return exc.status_code
    if isinstance(exc, InvalidResponseError):
        return getattr(exc, "_code", 0) or 0
    return 0


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, S3Error):
        return exc.code in {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}
    if isinstance(exc, (ServerError, InvalidResponseError)):
        # InvalidResponseError: a 5xx whose body minio could not parse (rclone
        # answers concurrent writes of one key this way): the same fault.
        return _status_of(exc) >= 500
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def gave_up(error: StoreError, attempts: int, seconds: float) -> StoreError:
    """`error`, the last of a call's attempts, saying the retry bound was spent."""
    return type(error)(f"{error} (gave up after {attempts} attempts in {seconds:.1f} s, "
                       f"the retry bound)", error.code, error.transient)


def store_error(what: str, exc: BaseException) -> StoreError:
    """The StoreError (or ObjectNotFound) for what the client raised."""
    status = _status_of(exc)
    if isinstance(exc, S3Error):
        kind = ObjectNotFound if exc.code in _NOT_FOUND else StoreError
        return kind(f"{what}: {exc.code}: {exc.message}", exc.code, _transient(exc))
    if status == 404:
        # Some S3 servers (rclone among them) send error bodies minio cannot
        # parse; the HTTP status still says what happened.
        return ObjectNotFound(f"{what}: not found", "404")
    if status:
        return StoreError(f"{what}: HTTP {status}", str(status), _transient(exc))
    return StoreError(f"{what}: {type(exc).__name__}: {exc}", type(exc).__name__, _transient(exc))


@dataclass
class Store:
    """Synchronous store; async code uses `AsyncStore` beside it."""

    client: Minio
    bucket: str
    max_image_bytes: int = 20 * 1024 * 1024
    # The one retry layer of every store call: at most 6 attempts and 8 s of
    # retrying (a service's own caller retries it after that).
    backoff: Backoff = Backoff(max_attempts=6, initial_seconds=0.25, max_seconds=4.0,
                               max_elapsed_seconds=8.0)
    known_keys_limit: int = 100_000
    max_object_bytes: int = MAX_OBJECT_BYTES

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

    def with_backoff(self, backoff: Backoff) -> "Store":
        """The same store (client and bucket) under another retry policy."""
        return dataclasses.replace(self, backoff=backoff)

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """Run one client call under the bounded backoff; failures become StoreError."""
        try:
            return retry_blocking(call, policy=self.backoff, transient=_transient)[0]
        except RetriesExhausted as exc:
            last = store_error(what, exc.last)
            if self.backoff.max_attempts == 1:
                raise last from exc.last  # one attempt asked for: its caller retries
            raise gave_up(last, exc.attempts, exc.seconds) from exc.last
        except (InvalidReference, ObjectTooLarge):
            raise
        except Exception as exc:
            raise store_error(what, exc) from exc

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
                # Another replica created it between the two calls.
                if exc.code not in _BUCKET_EXISTS:
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

    def check_ref(self, ref: common_pb2.ImageRef) -> None:
        """Refuse a reference before any request: only this store's bucket, a
        plain key, a well-formed digest. Raises InvalidReference."""
        if ref.bucket and ref.bucket != self.bucket:
            raise InvalidReference("bucket", f"{shown(ref.bucket)} is not this service's bucket "
                                             f"{self.bucket!r}; leave it empty or name that one")
        check_key(ref.key)
        if ref.sha256 and not _SHA256.fullmatch(ref.sha256):
            raise InvalidReference("sha256", "must be 64 hex digits")

    def get_image(self, ref: common_pb2.ImageRef) -> bytes:
        """Read a referenced image: the reference checked first, the size before
        the body, then the bytes against their sha256 and as a whole image.

        Raises InvalidReference, ObjectNotFound or ImageRejected for a bad
        reference, StoreError only when the store itself failed.
        """
        self.check_ref(ref)
        try:
            data = self.get_bytes(ref.key, max_bytes=self.max_image_bytes)
        except ObjectTooLarge as exc:
            raise ImageRejected(f"{ref.key}: {exc.reason}") from None
        if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256.lower():
            raise InvalidReference("sha256", f"{ref.key}: content does not match its sha256")
        inspect_image(data, self.max_image_bytes)
        return data

    # -- bytes and JSON artifacts -------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        check_key(key)
        self._call(f"put {key}", lambda: self.client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type))

    def get_bytes(self, key: str, max_bytes: int | None = None) -> bytes:
        """An object's bytes; its size is checked from the response headers
        before the body is read (ObjectTooLarge past `max_bytes`)."""
        check_key(key)
        limit = self.max_object_bytes if max_bytes is None else max_bytes

        def fetch() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise ObjectTooLarge("key", f"object is {declared} bytes, over the "
                                                f"limit of {limit}")
                # Read one byte past the limit: a body without a length is
                # bounded too.
                data = response.read(limit + 1)
                if len(data) > limit:
                    raise ObjectTooLarge("key", f"object is over the limit of {limit} bytes")
                return data
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
        check_key(key)
        try:
            self._call(f"stat {key}", lambda: self.client.stat_object(self.bucket, key))
            return True
        except ObjectNotFound:
            return False

    def delete(self, key: str) -> None:
        check_key(key)
        self._call(f"delete {key}", lambda: self.client.remove_object(self.bucket, key))

    def list_keys(self, prefix: str, recursive: bool = True, start_after: str | None = None) -> Iterator[str]:
        """Keys under `prefix`, in the server's (lexicographic) order; only
        those after `start_after` when it is given."""
        objects = self._call(f"list {prefix}", lambda: list(self.client.list_objects(
            self.bucket, prefix=prefix, recursive=recursive, start_after=start_after)))
        for item in objects:
            yield item.object_name

    def presigned_url(self, key: str, ttl_seconds: int = 3600) -> str:
        return self.client.presigned_get_object(self.bucket, key,
                                                expires=timedelta(seconds=ttl_seconds))


# One attempt per call: AsyncStore retries it on the event loop.
_ONE_ATTEMPT = Backoff(max_attempts=1)


class AsyncStore:
    """The store for asyncio code, under the same retry policy as `sync`.

    Each attempt runs in a worker thread and the waits between attempts are
    on the event loop. A retrying call holds no thread while it waits, so
    during a store outage the coordinator's durable writes (retried for up
    to a minute) do not take every thread of the loop's default executor, and
    other work handed to threads is not queued behind them.
    """

    def __init__(self, store: Store) -> None:
        self.sync = store
        self._once = store.with_backoff(_ONE_ATTEMPT)

    async def _retrying(self, call: Callable[..., T], *args: Any) -> T:
        started = time.monotonic()
        try:
            return (await retry(lambda: asyncio.to_thread(call, *args), policy=self.sync.backoff,
                                transient=_retryable))[0]
        except RetriesExhausted as exc:
            raise gave_up(exc.last, exc.attempts, time.monotonic() - started) from exc.last

    async def put_image(self, data: bytes) -> common_pb2.ImageRef:
        return await self._retrying(self._once.put_image, data)

    async def get_image(self, ref: common_pb2.ImageRef) -> bytes:
        return await self._retrying(self._once.get_image, ref)

    async def put_json(self, key: str, value: Any) -> None:
        await self._retrying(self._once.put_json, key, value)

    async def get_json(self, key: str) -> Any:
        return await self._retrying(self._once.get_json, key)

    async def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await self._retrying(self._once.put_bytes, key, data, content_type)

    async def get_bytes(self, key: str) -> bytes:
        return await self._retrying(self._once.get_bytes, key)

    async def exists(self, key: str) -> bool:
        return await self._retrying(self._once.exists, key)

    async def list_keys(self, prefix: str) -> list[str]:
        return await self._retrying(lambda: list(self._once.list_keys(prefix)))

    async def presigned_url(self, key: str, ttl_seconds: int = 3600) -> str:
        return await asyncio.to_thread(self.sync.presigned_url, key, ttl_seconds)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, StoreError) and exc.transient


__all__ = ["Store", "AsyncStore", "StoreError", "ObjectNotFound", "InvalidReference",
           "ObjectTooLarge", "ImageRejected", "check_key", "image_key"]
