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
from services.common.errors import InvalidArgument, NotFound
from services.common.images import ImageRejected, inspect_image
from services.common.store import AsyncStore, ObjectNotFound
from services.judge.backends import ResolvedItem


class ImageNotFound(NotFound):
    """A referenced image is not in the store; `field` names the reference."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ItemLimits:
    max_images: int = 4
    max_image_bytes: int = 20 * 1024 * 1024
    max_question_chars: int = 20_000
    max_response_chars: int = 100_000
    max_item_id_chars: int = 256


def check_text(value: str, field: str, limit: int, what: str) -> None:
    if not value.strip():
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
    check_text(item.response, f"{field}.response", limits.max_response_chars,
               "the response to judge")
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
            data = image.data
            where_bytes = f"{where}.data"
        elif source == "ref":
            data = await fetch_ref(image.ref, f"{where}.ref", store)
            where_bytes = f"{where}.ref"
        else:
            raise InvalidArgument(where, "set either data (image bytes) or ref (a store reference)")
        try:
            info = inspect_image(data, limits.max_image_bytes)
        except ImageRejected as exc:
            raise InvalidArgument(where_bytes, str(exc)) from None
        images.append(data)
        hashes.append(info.sha256)
    return ResolvedItem(item_id=item.item_id, question=item.question, images=tuple(images),
                        image_sha256=tuple(hashes), response=item.response)


async def fetch_ref(ref, field: str, store: AsyncStore | None) -> bytes:
    if store is None:
        raise InvalidArgument(field, "this judge has no store; send the image bytes as data")
    if not ref.key:
        raise InvalidArgument(f"{field}.key", "required")
    if ref.bucket and ref.bucket != store.sync.bucket:
        # Outside callers may read only the judge's own bucket.
        raise InvalidArgument(f"{field}.bucket", f"must be {store.sync.bucket!r} or empty")
    try:
        data = await store.get_bytes(ref.key)
    except ObjectNotFound:
        raise ImageNotFound(f"{field}.key", f"no image at {ref.key!r}") from None
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256.lower():
        raise InvalidArgument(f"{field}.sha256", "does not match the stored image")
    return data
