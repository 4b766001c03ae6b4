"""Following an image reference a caller sent, the same way in every service.

A reference is the caller's input like any other field: another bucket, a key
with `..` segments, a wrong digest, an object that is too large or not an
image are INVALID_ARGUMENT naming the field (`items[2].images.image1.key`);
a missing object is NOT_FOUND (or, in a stage batch, the item's error). Only a
store that failed is UNAVAILABLE, the one answer callers retry.
"""

from __future__ import annotations

from mis.v1 import common_pb2
from services.common.errors import InvalidArgument, NotFound
from services.common.images import ImageRejected
from services.common.store import AsyncStore, InvalidReference, ObjectNotFound, shown


class ReferenceNotFound(NotFound):
    """No object under a referenced key; `field` names the reference's key."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


async def fetch_image(store: AsyncStore | None, ref: common_pb2.ImageRef, field: str) -> bytes:
    """The referenced image's bytes, checked as a whole image within the
    store's limits (in a worker thread, off the event loop)."""
    if store is None:
        raise InvalidArgument(field, "this service has no store; send the image bytes as data")
    try:
        return await store.get_image(ref)
    except InvalidReference as exc:
        raise InvalidArgument(f"{field}.{exc.part}", exc.reason) from None
    except ImageRejected as exc:
        raise InvalidArgument(field, str(exc)) from None
    except ObjectNotFound:
        raise ReferenceNotFound(f"{field}.key", f"no image at {shown(ref.key)} in the store") from None


async def fetch_stage_image(store: AsyncStore | None, ref: common_pb2.ImageRef, field: str) -> bytes:
    """`fetch_image` for a stage batch, where a missing image is the item's
    INVALID_ARGUMENT error (naming the reference) like any other bad field."""
    try:
        return await fetch_image(store, ref, field)
    except ReferenceNotFound:
        raise InvalidArgument(field, f"not in the store: {shown(ref.key)}") from None
