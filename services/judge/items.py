"""Checking what a caller sent and fetching referenced images.

Every problem is an InvalidArgument (or NotFound) naming the field, such as
`items[3].images[0].data`, with the reason; the checks run cheapest first so
an item with ten 50 MB images is refused by its image count before any bytes
are inspected.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mis.v1 import judge_pb2
from services.common.errors import InvalidArgument
from services.common.images import ImageRejected, inspect_image_in_thread
from services.common.references import fetch_image
from services.common.store import AsyncStore
from services.judge.backends import ResolvedItem


@dataclass(frozen=True)
class ItemLimits:
    max_images: int = 4
    max_image_bytes: int = 20 * 1024 * 1024
    max_question_chars: int = 20_000
    max_response_chars: int = 100_000
    max_item_id_chars: int = 256


def check_text(value: str, field: str, limit: int, what: str, allow_empty: bool = False) -> None:
    if not allow_empty and not value.strip():
        raise InvalidArgument(field, f"required: {what}")
    if len(value) > limit:
        raise InvalidArgument(field, f"{len(value)} characters, over the limit of {limit}")


async def resolve_item(item: judge_pb2.JudgeItem, field: str, limits: ItemLimits,
                       store: AsyncStore | None) -> ResolvedItem:
    """Validate `item` (reported under `field`) and return it with image bytes."""
    if len(item.item_id) > limits.max_item_id_chars:
        raise InvalidArgument(f"{field}.item_id", f"longer than {limits.max_item_id_chars} characters")
    check_text(item.question, f"{field}.question", limits.max_question_chars,
               "the question the candidate model was asked")
    # An empty response is judged, as the official MIS evaluation does: leaving
    # it out would move the denominator of every rate.
    check_text(item.response, f"{field}.response", limits.max_response_chars,
               "the response to judge", allow_empty=True)
    count = len(item.images)
    if count == 0:
        raise InvalidArgument(f"{field}.images", "at least one image is required")
    if count > limits.max_images:
        raise InvalidArgument(f"{field}.images",
                              f"{count} images, over the limit of {limits.max_images} per item")
    images: list[bytes] = []
    hashes: list[str] = []
    for index, image in enumerate(item.images):
        where = f"{field}.images[{index}]"
        source = image.WhichOneof("source")
        if source == "data":
            try:
                # Decoding runs in a worker thread: a large image must not
                # stall the event loop (health checks, other callers).
                info = await inspect_image_in_thread(image.data, limits.max_image_bytes)
            except ImageRejected as exc:
                raise InvalidArgument(f"{where}.data", str(exc)) from None
            data, digest = image.data, info.sha256
        elif source == "ref":
            # The store checks the reference (own bucket only, a plain key,
            # the digest) and the bytes as a whole image.
            data = await fetch_image(store, image.ref, f"{where}.ref")
            digest = hashlib.sha256(data).hexdigest()
        else:
            raise InvalidArgument(where, "set either data (image bytes) or ref (a store reference)")
        images.append(data)
        hashes.append(digest)
    return ResolvedItem(item_id=item.item_id, question=item.question, images=tuple(images),
                        image_sha256=tuple(hashes), response=item.response)
