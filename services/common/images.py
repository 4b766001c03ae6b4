"""Recognising images by their bytes: type, size, dimensions and hash.

Anything that is not a PNG, JPEG, WebP or GIF, or that Pillow cannot read the
header of, is rejected here once, before it reaches the store or a model.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


class ImageRejected(ValueError):
    """The bytes are not an acceptable image; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    media_type: str
    extension: str
    width: int
    height: int
    size: int


def sniff(data: bytes) -> tuple[str, str] | None:
    """(media type, extension) from the magic bytes, or None."""
    for magic, media_type, extension in _MAGIC:
        if data.startswith(magic):
            return media_type, extension
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def inspect_image(data: bytes, max_bytes: int) -> ImageInfo:
    """Validate `data` as an image no larger than `max_bytes` and describe it."""
    if not data:
        raise ImageRejected("empty image")
    if len(data) > max_bytes:
        raise ImageRejected(f"image is {len(data)} bytes, over the limit of {max_bytes}")
    kind = sniff(data)
    if kind is None:
        raise ImageRejected("not an image (expected PNG, JPEG, WebP or GIF bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageRejected(f"unreadable {kind[1]} image: {exc}") from None
    if width <= 0 or height <= 0:
        raise ImageRejected("image has no pixels")
    return ImageInfo(hashlib.sha256(data).hexdigest(), kind[0], kind[1], width, height, len(data))


def to_png(image: Image.Image) -> bytes:
    """Encode a Pillow image as PNG bytes (what the pipeline stores)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
