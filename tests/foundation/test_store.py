"""The image and artifact store against the real S3 server (rclone)."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
import urllib3
from PIL import Image

from mis.v1 import common_pb2
from services.common.backoff import Backoff
from services.common.setting_groups import StoreSettings
from services.common.images import ImageRejected, to_png
from services.common.s3server import free_port
from services.common.store import (InvalidReference, ObjectNotFound, ObjectTooLarge, Store,
                                   StoreError, image_key)


def png(color=(10, 20, 30), size=(16, 12)) -> bytes:
    return to_png(Image.new("RGB", size, color))


def jpeg(size=(20, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_image_round_trip_is_content_addressed(store):
    data = png()
    ref = store.put_image(data)
    digest = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == digest
    assert ref.key == image_key(digest, "png")
    assert (ref.media_type, ref.width, ref.height) == ("image/png", 16, 12)
    assert store.get_image(ref) == data
    jpeg_ref = store.put_image(jpeg())
    assert jpeg_ref.media_type == "image/jpeg" and jpeg_ref.key.endswith(".jpg")


def test_writing_the_same_image_twice_is_a_no_op(store):
    data = png((200, 1, 1))
    first = store.put_image(data)
    stat_before = store.client.stat_object(store.bucket, first.key)
    second = store.put_image(data)
    stat_after = store.client.stat_object(store.bucket, first.key)
    assert second == first
    assert stat_after.last_modified == stat_before.last_modified
    assert list(store.list_keys("images/")) == [first.key]


def test_a_second_process_writing_the_same_image_keeps_one_object(store, store_settings):
    data = png((3, 200, 3))
    other = Store.from_settings(store_settings)
    assert store.put_image(data) == other.put_image(data)
    assert len(list(store.list_keys("images/"))) == 1


def test_concurrent_writers_of_the_same_image(store_settings, store):
    data = png((9, 9, 200), size=(64, 64))
    refs, errors = [], []

    def write():
        try:
            refs.append(Store.from_settings(store_settings).put_image(data))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({ref.key for ref in refs}) == 1
    assert list(store.list_keys("images/")) == [refs[0].key]
    assert store.get_image(refs[0]) == data


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty image"),
    (b"just some text, not pixels", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "unreadable png"),
])
def test_what_is_not_an_image_is_rejected(store, payload, reason):
    with pytest.raises(ImageRejected, match=reason):
        store.put_image(payload)
    assert list(store.list_keys("images/")) == []


def test_images_over_the_limit_are_rejected(store_settings, store):
    small = Store.from_settings(StoreSettings(**{**store_settings.__dict__, "max_image_bytes": 100}))
    with pytest.raises(ImageRejected, match="over the limit of 100"):
        small.put_image(png(size=(64, 64)))


def test_json_artifacts_listing_and_presigned_urls(store):
    store.put_json("runs/r1/samples/a/extract.json", {"queries": [1, 2]})
    store.put_json("runs/r1/samples/b/extract.json", {"queries": []})
    store.put_json("runs/r2/state.json", {"state": "done"})
    assert store.get_json("runs/r1/samples/a/extract.json") == {"queries": [1, 2]}
    assert sorted(store.list_keys("runs/r1/")) == ["runs/r1/samples/a/extract.json",
                                                   "runs/r1/samples/b/extract.json"]
    assert store.exists("runs/r2/state.json") and not store.exists("runs/r2/other.json")
    with pytest.raises(ObjectNotFound):
        store.get_json("runs/r9/none.json")
    ref = store.put_image(png((5, 5, 5)))
    response = urllib3.PoolManager().request("GET", store.presigned_url(ref.key, 60))
    assert response.status == 200 and response.data == store.get_image(ref)


def test_bucket_bootstrap_is_idempotent(store_settings):
    store = Store.from_settings(StoreSettings(**{**store_settings.__dict__, "bucket": "boot-strap"}))
    store.ensure_bucket()
    store.ensure_bucket()
    assert store.client.bucket_exists("boot-strap")


def test_a_corrupted_object_is_detected(store):
    ref = store.put_image(png((77, 1, 1)))
    store.put_bytes(ref.key, png((78, 1, 1)), "image/png")
    with pytest.raises(InvalidReference, match="does not match its sha256") as raised:
        store.get_image(ref)
    assert raised.value.part == "sha256"


def test_wrong_credentials_are_refused(s3_server, store_settings):
    bad = Store.from_settings(StoreSettings(**{**store_settings.__dict__, "secret_key": "wrong-key"}))
    with pytest.raises(StoreError) as raised:
        bad.ensure_bucket()
    assert raised.value.code in {"SignatureDoesNotMatch", "AccessDenied", "403"}
    assert not isinstance(raised.value, ObjectNotFound)


@pytest.mark.parametrize("ref, part", [
    (common_pb2.ImageRef(bucket="someone-elses", key="images/sha256/00/a.png"), "bucket"),
    (common_pb2.ImageRef(bucket="Not_A..Bucket", key="images/sha256/00/a.png"), "bucket"),
    (common_pb2.ImageRef(key="images/../../secrets/token"), "key"),
    (common_pb2.ImageRef(key="/etc/passwd"), "key"),
    (common_pb2.ImageRef(key="images//a.png"), "key"),
    (common_pb2.ImageRef(key="images/a\x00.png"), "key"),
    (common_pb2.ImageRef(key="k" * 1025), "key"),
    (common_pb2.ImageRef(key=""), "key"),
    (common_pb2.ImageRef(key="images/a.png", sha256="not-hex"), "sha256"),
])
def test_references_the_store_will_not_follow(store, ref, part):
    with pytest.raises(InvalidReference) as raised:
        store.get_image(ref)
    assert raised.value.part == part


def test_a_referenced_object_is_size_checked_before_it_is_read(store):
    store.put_bytes("images/sha256/00/big.png", b"\x89PNG\r\n\x1a\n" + bytes(5000), "image/png")
    small = Store(store.client, store.bucket, max_image_bytes=1000)
    with pytest.raises(ImageRejected, match="object is 5008 bytes, over the limit of 1000"):
        small.get_image(common_pb2.ImageRef(key="images/sha256/00/big.png"))
    with pytest.raises(ObjectTooLarge, match="over the limit of 100"):
        store.get_bytes("images/sha256/00/big.png", max_bytes=100)


def test_referenced_bytes_must_be_a_whole_image(store):
    whole = png((9, 8, 7), size=(64, 64))
    store.put_bytes("images/sha256/00/cut.png", whole[: len(whole) // 2], "image/png")
    store.put_bytes("images/sha256/00/text.png", b"a line of a credentials file", "image/png")
    with pytest.raises(ImageRejected, match="truncated"):
        store.get_image(common_pb2.ImageRef(key="images/sha256/00/cut.png"))
    with pytest.raises(ImageRejected, match="not an image"):
        store.get_image(common_pb2.ImageRef(key="images/sha256/00/text.png"))


def test_an_unreachable_store_fails_after_the_bounded_retries(store_settings):
    dead = Store.from_settings(StoreSettings(**{**store_settings.__dict__,
                                                "endpoint": f"127.0.0.1:{free_port()}"}))
    dead.backoff = Backoff(max_attempts=3, initial_seconds=0.01, max_seconds=0.02)
    with pytest.raises(StoreError, match=r"after 3 attempts") as raised:
        dead.get_json("runs/r1/state.json")
    assert not isinstance(raised.value, ObjectNotFound)


def test_a_bucket_made_by_another_replica_meanwhile_is_not_an_error(store_settings):
    """ensure_bucket tells "already exists" by the S3 error code, not the message."""
    first = Store.from_settings(StoreSettings(**{**store_settings.__dict__, "bucket": "raced-bucket"}))
    first.ensure_bucket()
    with pytest.raises(StoreError) as raised:
        first._call("make_bucket", lambda: first.client.make_bucket("raced-bucket"))
    # S3 names the code; rclone answers a bare 409 Conflict.
    assert raised.value.code in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists", "409"}
    racing = Store.from_settings(StoreSettings(**{**store_settings.__dict__, "bucket": "raced-bucket"}))
    racing.client.bucket_exists = lambda _name: False  # it looked before the other replica made it
    racing.ensure_bucket()
