"""Reads the `progress.json` a trainer writes under its output prefix.

The launcher takes any callable `output_uri -> dict | None`; this one reads S3 through a
`minio` client (and plain paths, for local runs). A missing file means "no progress yet".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.json"


class StoreProgressReader:
    def __init__(self, s3_client: Any = None) -> None:
        self.s3 = s3_client

    def __call__(self, output_uri: str) -> dict[str, Any] | None:
        if not output_uri.startswith("s3://"):
            path = Path(output_uri) / PROGRESS_FILE
            return json.loads(path.read_text()) if path.is_file() else None
        if self.s3 is None:
            raise ValueError(f"{output_uri}: an s3:// output needs an S3 client")
        from minio.error import S3Error

        bucket, _, prefix = output_uri[len("s3://"):].partition("/")
        key = f"{prefix.strip('/')}/{PROGRESS_FILE}" if prefix.strip("/") else PROGRESS_FILE
        try:
            # HEAD first: its "not found" is a typed error on every S3 server, whereas some
            # (rclone) answer a GET's 404 with a content type the client does not parse.
            self.s3.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"):
                return None
            raise
        response = self.s3.get_object(bucket, key)
        try:
            return json.loads(response.read())
        finally:
            response.close()
            response.release_conn()
