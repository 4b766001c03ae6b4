"""The image and artifact store against the real S3 server (rclone)."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
import urllib3
from PIL import Image

from services.common.config import StoreSettings
from services.common.images import ImageRejected, to_png
from services.common.store import ObjectNotFound, Store, image_key


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
    with pytest.raises(Exception, match="does not match its sha256"):
        store.get_image(ref)


def test_wrong_credentials_are_refused(s3_server, store_settings):
    bad = Store.from_settings(StoreSettings(**{**store_settings.__dict__, "secret_key": "wrong-key"}))
    with pytest.raises(Exception, match="SignatureDoesNotMatch|AccessDenied|403"):
        bad.ensure_bucket()
