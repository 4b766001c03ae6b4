"""Fetching a corpus photo by its url, for corpora indexed from embeddings
alone (LAION's layout records urls, not photos).

Urls come from a corpus someone else assembled, so a fetch is bounded: http
and https only, a connect and read deadline, the declared and the actual size
under the store's image limit, and the bytes must be a whole PNG, JPEG, WebP
or GIF (checked by `inspect_image`, never by the server's Content-Type). A
fetched photo goes into the store under its content address, so it is fetched
once and the chosen pair references it like any other image.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3

from services.common.images import ImageRejected, inspect_image


class PhotoUnavailable(RuntimeError):
    """The url could not be fetched as an acceptable photo; the message says why."""


class PhotoFetcher:
    def __init__(self, max_bytes: int, timeout_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(5.0, timeout_seconds), read=timeout_seconds),
            retries=urllib3.Retry(total=1, redirect=3, raise_on_redirect=True))

    def fetch(self, url: str) -> bytes:
        if urlsplit(url).scheme not in ("http", "https"):
            raise PhotoUnavailable(f"{url[:200]}: only http and https urls are fetched")
        try:
            response = self.http.request("GET", url, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise PhotoUnavailable(f"{url[:200]}: {type(exc).__name__}") from None
        try:
            if response.status != 200:
                raise PhotoUnavailable(f"{url[:200]}: HTTP {response.status}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise PhotoUnavailable(f"{url[:200]}: {declared} bytes, over the limit of {self.max_bytes}")
            # One byte past the limit: a body without a length is bounded too.
            data = response.read(self.max_bytes + 1)
        except urllib3.exceptions.HTTPError as exc:
            raise PhotoUnavailable(f"{url[:200]}: {type(exc).__name__}") from None
        finally:
            response.release_conn()
        if len(data) > self.max_bytes:
            raise PhotoUnavailable(f"{url[:200]}: over the limit of {self.max_bytes} bytes")
        try:
            inspect_image(data, self.max_bytes)
        except ImageRejected as exc:
            raise PhotoUnavailable(f"{url[:200]}: not an acceptable image: {exc}") from None
        return data
