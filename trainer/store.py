"""Where the trainer reads data and writes results: a local folder or an S3 prefix.

Every location is a string, either a path or `s3://bucket/prefix`. S3 goes through the
`minio` client directly (the trainer image does not ship the services package), with
credentials from MIS_S3_ENDPOINT, MIS_S3_ACCESS_KEY, MIS_S3_SECRET_KEY and MIS_S3_SECURE.
Data and models are fetched to local disk once; results are written locally and then
published, so a half-uploaded checkpoint is never taken for a finished one (the
checkpoint's marker file is uploaded last).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StoreError(RuntimeError):
    """A location cannot be read or written; the message names the location."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing slash

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def parse_s3(uri: str) -> S3Location:
    rest = uri[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StoreError(f"{uri}: an s3 URI needs a bucket (s3://bucket/prefix)")
    return S3Location(bucket, prefix.strip("/"))


def join(uri: str, *parts: str) -> str:
    """Appends path parts to a location of either kind."""
    if is_s3(uri):
        loc = parse_s3(uri)
        return f"s3://{loc.bucket}/{loc.key(*parts)}"
    return str(Path(uri, *parts))


def s3_client_from_env():
    """A minio client for the endpoint in the environment (read once per process)."""
    from minio import Minio

    endpoint = os.environ.get("MIS_S3_ENDPOINT", "")
    if not endpoint:
        raise StoreError("MIS_S3_ENDPOINT: required for s3:// locations, not set")
    for name in ("MIS_S3_ACCESS_KEY", "MIS_S3_SECRET_KEY"):
        if not os.environ.get(name):
            raise StoreError(f"{name}: required for s3:// locations, not set")
    secure_text = os.environ.get("MIS_S3_SECURE", "false").strip().lower()
    if secure_text not in ("true", "false", "1", "0", "yes", "no"):
        raise StoreError(f"MIS_S3_SECURE: expected true or false, got {secure_text!r}")
    # The endpoint may be written as a URL; minio wants host:port.
    host = endpoint.split("://", 1)[-1].rstrip("/")
    return Minio(host, access_key=os.environ["MIS_S3_ACCESS_KEY"],
                 secret_key=os.environ["MIS_S3_SECRET_KEY"],
                 secure=secure_text in ("true", "1", "yes"),
                 region=os.environ.get("MIS_S3_REGION") or None)


class Store:
    """Reads and writes locations; makes the S3 client only when an s3:// URI is used."""

    def __init__(self, client=None) -> None:
        self._client = client

    @property
    def client(self):
        if self._client is None:
            self._client = s3_client_from_env()
        return self._client

    def fetch_dir(self, uri: str, dest: Path) -> Path:
        """A local folder holding the tree at `uri`; local folders are used in place."""
        if not is_s3(uri):
            path = Path(uri)
            if not path.is_dir():
                raise StoreError(f"{uri}: folder does not exist")
            return path
        loc = parse_s3(uri)
        dest.mkdir(parents=True, exist_ok=True)
        prefix = loc.key() + "/" if loc.key() else ""
        found = False
        for obj in self.client.list_objects(loc.bucket, prefix=prefix, recursive=True):
            if obj.is_dir:
                continue
            found = True
            target = dest / obj.object_name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.client.fget_object(loc.bucket, obj.object_name, str(target))
        if not found:
            raise StoreError(f"{uri}: no objects under this prefix")
        return dest

    def publish_dir(self, local: Path, uri: str, last: str | None = None, skip: str | None = None) -> None:
        """Copies a local folder to `uri`; the file named `last` goes up after all others.
        `skip` names a subfolder left out (one whose files each rank publishes itself)."""
        files = sorted(p for p in local.rglob("*") if p.is_file()
                       and not (skip and p.relative_to(local).parts[0] == skip))
        if last is not None:
            files.sort(key=lambda p: p.name == last)
        if not is_s3(uri):
            dest = Path(uri)
            if dest.resolve() == local.resolve():
                return
            for path in files:
                target = dest / path.relative_to(local)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            return
        loc = parse_s3(uri)
        for path in files:
            self.client.fput_object(loc.bucket, loc.key(str(path.relative_to(local))), str(path))

    def publish_file(self, path: Path, uri: str) -> None:
        """Copies one local file to `uri` (a file path or an object key)."""
        if not is_s3(uri):
            dest = Path(uri)
            if dest.resolve() != path.resolve():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
            return
        loc = parse_s3(uri)
        self.client.fput_object(loc.bucket, loc.key(), str(path))

    def remove_dir(self, uri: str) -> None:
        if not is_s3(uri):
            shutil.rmtree(uri, ignore_errors=True)
            return
        from minio.deleteobjects import DeleteObject

        loc = parse_s3(uri)
        names = [DeleteObject(o.object_name) for o in
                 self.client.list_objects(loc.bucket, prefix=loc.key() + "/", recursive=True)]
        for error in self.client.remove_objects(loc.bucket, names):
            raise StoreError(f"{uri}: could not delete {error.name}: {error.message}")

    def list_dirs(self, uri: str) -> list[str]:
        """Names of the immediate sub-folders of `uri` (empty when it does not exist)."""
        if not is_s3(uri):
            path = Path(uri)
            return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
        loc = parse_s3(uri)
        prefix = loc.key() + "/" if loc.key() else ""
        return sorted(o.object_name[len(prefix):].strip("/")
                      for o in self.client.list_objects(loc.bucket, prefix=prefix) if o.is_dir)

    def exists(self, uri: str) -> bool:
        if not is_s3(uri):
            return Path(uri).exists()
        from minio.error import S3Error

        loc = parse_s3(uri)
        try:
            self.client.stat_object(loc.bucket, loc.key())
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def write_json(self, uri: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, indent=1).encode()
        if not is_s3(uri):
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see a half-written file
            return
        loc = parse_s3(uri)
        self.client.put_object(loc.bucket, loc.key(), io.BytesIO(data), len(data),
                               content_type="application/json")
