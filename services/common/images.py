"""Recognising images by their bytes: type, size, dimensions and hash.

Anything that is not a PNG, JPEG, WebP or GIF, that declares more pixels than
the limit, or that does not decode completely, is rejected here once, before
it reaches the store, a fingerprint or a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass

from PIL import Image

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


# Pixels an image may declare: well above any photo or render the pipeline
# uses (SD3.5 draws at most 2048x2048), and a bound on one decode's memory.
MAX_PIXELS = 36_000_000


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


def _pillow_format(kind: tuple[str, str]) -> str:
    return {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP"}[kind[1]]


def decode_image(data: bytes, max_bytes: int, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode `data` fully and return the image, or raise ImageRejected.

    The checks run cheapest first: size, magic bytes, then the header's
    dimensions against `max_pixels` before any pixel is decoded (a 65-byte
    PNG may declare 20000x20000), then a full decode, which is what finds a
    truncated or corrupt body. CPU-bound: async code calls it in a thread.
    """
    if not data:
        raise ImageRejected("empty image")
    if len(data) > max_bytes:
        raise ImageRejected(f"image is {len(data)} bytes, over the limit of {max_bytes}")
    kind = sniff(data)
    if kind is None:
        raise ImageRejected("not an image (expected PNG, JPEG, WebP or GIF bytes)")
    try:
        image = Image.open(io.BytesIO(data), formats=[_pillow_format(kind)])
    except Image.DecompressionBombError:
        raise ImageRejected(f"{kind[1]} image declares more than {max_pixels} pixels "
                            f"(a decompression bomb)") from None
    # Pillow's decoders raise many types on hostile input (OSError, SyntaxError,
    # struct.error, EOFError, IndexError, zlib.error...): each means unreadable.
    except Exception as exc:  # noqa: BLE001
        raise ImageRejected(f"unreadable {kind[1]} image: {type(exc).__name__}") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise ImageRejected("image has no pixels")
    if width * height > max_pixels:
        image.close()
        raise ImageRejected(f"{kind[1]} image is {width}x{height}, over the limit of "
                            f"{max_pixels} pixels")
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - see above
        image.close()
        raise ImageRejected(f"truncated or corrupt {kind[1]} image: {exc}"[:300]) from None
    return image


def inspect_image(data: bytes, max_bytes: int, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Validate `data` as a whole, decodable image within the limits and describe it."""
    with decode_image(data, max_bytes, max_pixels) as image:
        width, height = image.size
    media_type, extension = sniff(data)
    return ImageInfo(hashlib.sha256(data).hexdigest(), media_type, extension, width, height, len(data))


async def inspect_image_in_thread(data: bytes, max_bytes: int,
                                  max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """`inspect_image` off the event loop: decoding a large image would
    otherwise stall every other call of the process, health checks included."""
    return await asyncio.to_thread(inspect_image, data, max_bytes, max_pixels)


def to_png(image: Image.Image) -> bytes:
    """Encode a Pillow image as PNG bytes (what the pipeline stores)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
