"""Every parser has limits: deep nesting, over-long numbers, device files and
huge files are clean errors, checked before the expensive step, and no error
message quotes the file it refused. Images: bombs and truncated bodies are
refused before a full decode, and decoding runs off the event loop."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from mis.v1 import filter_pb2
from services.common.errors import InvalidArgument
from services.common.images import ImageRejected, inspect_image, inspect_image_in_thread
from services.common.parsing import ParseRejected, parse_json, read_text_file
from services.common.taxonomy import TaxonomyError, load_taxonomy
from services.extractor.seeds import SeedError, read_seeds
from services.filter.fingerprints import image_hash
from services.filter.review import parse_decisions
from tests.hostile.fuzz import bomb_png, truncated_png

DEEP = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = '{"id": ' + "7" * 5000 + ', "text": "t"}'
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("text, reason", [(DEEP, "nested too deeply"),
                                          (LONG_NUMBER, "too many digits"),
                                          ('{"a": tru', "not valid JSON at line 1 column 7")])
def test_json_limits(text, reason):
    with pytest.raises(ParseRejected, match=reason):
        parse_json(text)


@pytest.mark.parametrize("fmt, text, reason", [
    ("jsonl", DEEP + "\n", "line 1: -: not valid JSON: nested too deeply"),
    ("jsonl", LONG_NUMBER + "\n", "line 1: -: not valid JSON: a number has too many digits"),
    ("mis_test", "[" + LONG_NUMBER + "]", "not valid JSON: a number has too many digits"),
    ("vlguard", DEEP, "nested too deeply"),
])
def test_seed_files_with_hostile_json_are_seed_errors(tmp_path, fmt, text, reason):
    path = tmp_path / "seeds.json"
    path.write_text(text)
    with pytest.raises(SeedError, match=reason):
        list(read_seeds(path, fmt))


def test_seed_and_taxonomy_paths_that_are_not_files(tmp_path):
    with pytest.raises(SeedError, match="is not a regular file"):
        list(read_seeds(Path("/dev/zero"), "jsonl"))
    with pytest.raises(TaxonomyError, match="/dev/zero: is not a regular file"):
        load_taxonomy("/dev/zero")
    with pytest.raises(TaxonomyError, match="is a directory"):
        load_taxonomy(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (2 * 1024 * 1024))
    with pytest.raises(TaxonomyError, match="over the limit of 1048576"):
        load_taxonomy(big)


def test_seed_images_are_size_checked_and_stay_in_the_root(tmp_path):
    (tmp_path / "dev").symlink_to("/dev")
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "a", "image": "dev/zero"}\n')
    with pytest.raises(SeedError, match="leaves the dataset root"):
        list(read_seeds(seeds, "jsonl"))
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024))
    seeds.write_text('{"id": "a", "image": "huge.png"}\n')
    with pytest.raises(SeedError, match="over the limit of 20971520"):
        list(read_seeds(seeds, "jsonl"))


def test_a_taxonomy_error_never_quotes_the_file(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[default]\naws_access_key_id = AKIAEXAMPLE\n"
                           f"aws_secret_access_key = {SECRET}\n: [\n")
    with pytest.raises(TaxonomyError) as raised:
        load_taxonomy(credentials)
    # PyYAML's own message would quote line 2, the access key id.
    assert str(raised.value) == f"{credentials}: line 2 column 1: not valid YAML"
    assert SECRET not in str(raised.value) and "AKIAEXAMPLE" not in str(raised.value)
    nested = tmp_path / "nested.yaml"
    nested.write_text("[" * 20_000)
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(nested)


def test_binary_text_files_are_refused_without_echo(tmp_path):
    path = tmp_path / "binary"
    path.write_bytes(b"abc\xff" + SECRET.encode())
    with pytest.raises(ParseRejected, match="byte 3 is not valid UTF-8") as raised:
        read_text_file(path)
    assert SECRET not in str(raised.value)


def test_review_decisions_with_hostile_json():
    for row in (DEEP, LONG_NUMBER):
        with pytest.raises(InvalidArgument, match="sheet: row 1: not valid JSON"):
            parse_decisions(filter_pb2.ParseReviewDecisionsRequest(
                sheet=row.encode(), format=filter_pb2.SHEET_FORMAT_JSONL))


@pytest.mark.parametrize("data, reason", [
    (bomb_png(), "declares more than 36000000 pixels"),
    (bomb_png(7000, 7000), "7000x7000, over the limit of 36000000 pixels"),
    (truncated_png(), "truncated or corrupt png"),
    (b"GIF89a" + bytes(20), "unreadable gif"),
    (b"a line of text", "not an image"),
])
def test_hostile_images_are_rejected_by_inspection_and_fingerprints(data, reason):
    with pytest.raises(ImageRejected, match=reason):
        inspect_image(data, 1 << 24)
    with pytest.raises(ImageRejected, match=reason):
        image_hash(data)


async def test_image_decoding_leaves_the_event_loop_free(monkeypatch):
    """The decode runs in a worker thread: while it is held mid-decode, the
    loop still runs other work, and the real decode then finishes."""
    from services.common import images

    entered, release = threading.Event(), threading.Event()
    decoder_threads = []
    real = images.inspect_image

    def held(*args, **kwargs):
        decoder_threads.append(threading.current_thread())
        entered.set()
        assert release.wait(60), "the test never released the decode"
        return real(*args, **kwargs)
    monkeypatch.setattr(images, "inspect_image", held)
    buffer = io.BytesIO()
    Image.effect_noise((3000, 3000), 64).save(buffer, format="PNG")
    decoding = asyncio.ensure_future(inspect_image_in_thread(buffer.getvalue(), 1 << 26))
    assert await asyncio.to_thread(entered.wait, 60), "the decode never started"
    # The decode is held; the loop is free, since this line runs at all.
    assert not decoding.done() and decoder_threads[0] is not threading.main_thread()
    release.set()
    assert (await asyncio.wait_for(decoding, 60)).width == 3000