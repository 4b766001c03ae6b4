"""Semantic near-duplicates of image pairs (services/filter/semantic.py) and
their place in the run's dedup (services/filter/deduplication.py), with real
FAISS, the tiny CLIP and the offline palette embedder: re-drawn pairs that
pixel hashes miss are caught and distinct pairs kept; swapped pairs; the
same answer whatever the order items finish in, from FAISS and from numpy,
and as a brute-force reading of the rule says."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from mis.v1 import filter_pb2
from services.filter.deduplication import RunDeduplication
from services.filter.fingerprints import Thresholds, image_hash
from services.filter.near_duplicates import Stopped
from services.filter.semantic import (EmbeddedPair, embed_pair, embed_pairs, pack_pair, semantic_duplicates,
                                      unpack_pair)
from services.retriever.offline import PaletteEmbedder, draw


def encoded(image: Image.Image, kind: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def redrawn(caption: str, shift: int) -> bytes:
    """The same picture drawn again: mirrored, moved and framed by a border."""
    image = Image.open(io.BytesIO(draw(caption, size=40))).convert("RGB")
    canvas = Image.new("RGB", (48, 48), (0, 0, 0))
    canvas.paste(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (shift, 8 - shift))
    return encoded(canvas)


def rolled(data: bytes, dx: int, dy: int) -> bytes:
    """The picture shifted by a few pixels (wrapping round), saved as JPEG."""
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return encoded(Image.fromarray(np.roll(pixels, (dy, dx), (0, 1))), "JPEG", quality=95)


def hamming(a: bytes, b: bytes) -> int:
    return bin(int(image_hash(a), 16) ^ int(image_hash(b), 16)).count("1")


def fingerprint(item_id: str, text: str, first: bytes, second: bytes, embedder) -> filter_pb2.Fingerprint:
    """What the filter returns for a pair it was asked to embed."""
    return filter_pb2.Fingerprint(item_id=item_id, instruction_text=text, image1_phash=image_hash(first),
                                  image2_phash=image_hash(second),
                                  image_embeddings=embed_pair(embedder, first, second),
                                  image_embedder=embedder.name)


def run_duplicates(fingerprints, thresholds: Thresholds, **options) -> list[tuple[str, str]]:
    index = RunDeduplication(thresholds, **options)
    for order, item in enumerate(fingerprints):
        index.add(order, item.item_id, item)
    return [(d.item_id, d.duplicate_of) for d in index.duplicates()]


def test_redrawn_pairs_pixel_hashes_miss_are_caught_and_distinct_pairs_kept():
    knife, laptop = draw("sharp kitchen knife"), draw("old laptop computer")
    sunflowers, taxi = draw("field of sunflowers"), draw("yellow taxi at night")
    pairs = {
        "a": (knife, laptop),
        "b": (sunflowers, taxi),  # distinct
        "c": (redrawn("sharp kitchen knife", 2), redrawn("old laptop computer", 5)),  # mirrored and moved
        "d": (rolled(laptop, 5, 3), rolled(knife, 4, 6)),  # shifted, JPEG, and in swapped order
        "e": (knife, draw("bright red fire alarm on wall")),  # one image shared, the other distinct
    }
    for name in "cd":
        assert min(hamming(a, b) for a in pairs[name] for b in pairs["a"]) > 6  # the pixel rule misses them
    embedder = PaletteEmbedder()
    run = [fingerprint(name, f"instruction {n}", *images, embedder) for n, (name, images) in enumerate(pairs.items())]
    assert run_duplicates(run, Thresholds()) == []
    assert run_duplicates(run, Thresholds(min_image_similarity=0.95)) == [("c", "a"), ("d", "a")]
    # The threshold decides: just above the re-drawn pairs' cosines, nothing is near.
    (a1, a2) = unpack_pair(run[0].image_embeddings)
    closest = 0.0
    for copy in run[2:4]:
        c1, c2 = unpack_pair(copy.image_embeddings)
        closest = max(closest, min(a1 @ c1, a2 @ c2), min(a1 @ c2, a2 @ c1))
    assert 0.95 <= closest < 0.999
    assert run_duplicates(run, Thresholds(min_image_similarity=float(closest) + 0.001)) == []


def test_swapped_pairs_match_and_chains_point_at_the_first_whatever_the_input_order():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(2, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    nudge = lambda v, n: (lambda w: w / np.linalg.norm(w))(v + 0.01 * n)
    pairs = [EmbeddedPair(0, "first", base[0], base[1]),
             EmbeddedPair(1, "swapped", nudge(base[1], 1), nudge(base[0], 1)),
             EmbeddedPair(2, "third", nudge(base[0], 2), nudge(base[1], 2))]
    expected = [("swapped", "first"), ("third", "first")]
    for shuffled in (pairs, pairs[::-1], random.Random(4).sample(pairs, 3)):
        assert [(d.item_id, d.duplicate_of) for d in semantic_duplicates(shuffled)] == expected
    # One image the same and the other unrelated (orthogonal to both) is not a duplicate.
    unrelated = rng.normal(size=16).astype(np.float32)
    unrelated -= base.T @ np.linalg.lstsq(base.T, unrelated, rcond=None)[0]
    unrelated /= np.linalg.norm(unrelated)
    lone = [EmbeddedPair(0, "x", base[0], base[1]), EmbeddedPair(1, "y", base[0], unrelated)]
    assert semantic_duplicates(lone) == []


def clustered_run(rng: np.random.Generator, count: int, dimension: int = 16):
    """Fingerprints in clusters near the threshold: texts, hashes and embeddings
    each make some duplicates on their own, so the rules have to be joined."""
    centres = rng.normal(size=(count // 2, 2, dimension))
    run = []
    for n in range(count):
        rows = centres[rng.integers(len(centres))] + rng.normal(scale=0.12, size=(2, dimension))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        if rng.random() < 0.3:
            rows = rows[::-1]
        text = f"topic {rng.integers(count)} words here"
        hashes = [f"{int(rng.integers(1 << 62)):016x}" if rng.random() < 0.93 else "00000000000000ff",
                  f"{int(rng.integers(1 << 62)):016x}"]
        run.append(filter_pb2.Fingerprint(item_id=f"i{n:03d}", instruction_text=text, image1_phash=hashes[0],
                                          image2_phash=hashes[1] if hashes[0] != "00000000000000ff" else "0" * 16,
                                          image_embeddings=pack_pair(rows), image_embedder="test"))
    return run


def brute_force(run, thresholds: Thresholds) -> set[str]:
    """The seed-order rule read literally: a duplicate has an earlier item near it by any rule."""
    from services.filter.fingerprints import similarity, tokens_of

    def near(a, b) -> bool:
        if similarity(set(tokens_of(a.instruction_text)), set(tokens_of(b.instruction_text))) >= \
                thresholds.min_text_similarity:
            return True
        hashes = lambda f: [int(f.image1_phash, 16), int(f.image2_phash, 16)]
        (a1, a2), (b1, b2) = hashes(a), hashes(b)
        bits = lambda x, y: bin(x ^ y).count("1") <= thresholds.max_image_distance
        if (bits(a1, b1) and bits(a2, b2)) or (bits(a1, b2) and bits(a2, b1)):
            return True
        (x1, x2), (y1, y2) = unpack_pair(a.image_embeddings), unpack_pair(b.image_embeddings)
        t = thresholds.min_image_similarity
        return bool((x1 @ y1 >= t and x2 @ y2 >= t) or (x1 @ y2 >= t and x2 @ y1 >= t))
    return {item.item_id for n, item in enumerate(run) if any(near(item, run[m]) for m in range(n))}


def test_the_kept_set_does_not_depend_on_the_finishing_order_and_reads_the_rule_literally():
    rng = np.random.default_rng(7)
    run = clustered_run(rng, 240)
    thresholds = Thresholds(min_image_similarity=0.9)
    found = run_duplicates(run, thresholds)
    duplicates = {item for item, _ in found}
    pixel_and_text = {item for item, _ in run_duplicates(run, Thresholds())}
    semantic_only = {d.item_id for d in semantic_duplicates(embed_from(run), 0.9)}
    # Each rule finds some the other misses, and the run takes both.
    assert pixel_and_text - semantic_only and semantic_only - pixel_and_text
    assert duplicates == brute_force(run, thresholds) == pixel_and_text | semantic_only
    position = {item.item_id: n for n, item in enumerate(run)}
    for item, first in found:  # every pointer goes back, to an item the run keeps
        assert position[first] < position[item] and first not in duplicates
    for seed in range(4):  # samples finish in any order: the answer is the seed-order one
        index = RunDeduplication(thresholds)
        for order in random.Random(seed).sample(range(len(run)), len(run)):
            index.add(order, run[order].item_id, run[order])
        assert [(d.item_id, d.duplicate_of) for d in index.duplicates()] == found


def test_an_item_both_rules_name_points_at_the_earlier_of_the_two():
    rows = np.eye(4, 8, dtype=np.float32)
    item = lambda name, text, hashes, pair: filter_pb2.Fingerprint(
        item_id=name, instruction_text=text, image1_phash=hashes[0], image2_phash=hashes[1],
        image_embeddings=pack_pair(rows[list(pair)]), image_embedder="test")
    run = [item("a", "first words", ("00000000000000ff", "0000000000000000"), (0, 1)),
           item("b", "other things", ("ffffffff00000000", "00000000ffffffff"), (2, 3)),
           # c repeats b's pictures pixel for pixel and a's by embeddings: the earlier, a, wins.
           # d repeats c's words only: the text and pixel rules' own answer, their group's first, b.
           item("c", "third text", ("ffffffff00000000", "00000000ffffffff"), (1, 0)),
           item("d", "third text", ("0f0f0f0f0f0f0f0f", "f0f0f0f0f0f0f0f0"), (3, 1))]
    found = RunDeduplication(Thresholds(min_image_similarity=0.99))
    for order in (3, 1, 0, 2):
        found.add(order, run[order].item_id, run[order])
    assert [(d.item_id, d.duplicate_of) for d in found.duplicates()] == [("c", "a"), ("d", "b")]
    reasons = [d.reason for d in found.duplicates()]
    assert reasons[0].startswith("images semantically near") and reasons[1].startswith("instruction")


def embed_from(run) -> list[EmbeddedPair]:
    return [EmbeddedPair(n, item.item_id, *unpack_pair(item.image_embeddings)) for n, item in enumerate(run)]


def test_faiss_and_numpy_find_the_same_pairs():
    import faiss  # noqa: F401  the FAISS path must really run here

    pairs = embed_from(clustered_run(np.random.default_rng(3), 600))
    answers = []
    for use_faiss in (True, False):
        answers.append([(d.item_id, d.duplicate_of, d.reason)
                        for d in semantic_duplicates(pairs, 0.9, use_faiss=use_faiss)])
    assert answers[0] == answers[1]
    assert len(answers[0]) > 50


def test_copies_of_one_pair_cost_one_query_and_point_at_the_first():
    rows = np.eye(2, 8, dtype=np.float32)
    copies = [EmbeddedPair(n, f"c{n}", rows[0], rows[1]) for n in range(20_000)]
    found = semantic_duplicates(random.Random(1).sample(copies, len(copies)), 0.99)
    assert len(found) == 19_999 and {d.duplicate_of for d in found} == {"c0"}


def test_a_stop_request_ends_the_search():
    pairs = embed_from(clustered_run(np.random.default_rng(5), 600))
    with pytest.raises(Stopped):
        semantic_duplicates(pairs, 0.9, should_stop=lambda: True)


def test_clip_embeddings_follow_the_rule_and_a_bad_threshold_or_row_is_refused(embedder, drawings_folder):
    """The tiny CLIP's weights are random: which pictures it finds alike is its
    own affair, so the answer is checked against the rule read literally over
    its embeddings, as the filter carries them (float16, through FAISS)."""
    paths = sorted(drawings_folder.glob("*.png"))[:12]
    items = [(n, p.stem, p.read_bytes(), paths[(n + 1) % 12].read_bytes()) for n, p in enumerate(paths)]
    items.append((12, "copy", rolled(paths[2].read_bytes(), 2, 1), paths[3].read_bytes()))
    pairs = embed_pairs(embedder, items)
    assert pairs[0].image1.shape == (16,)
    for threshold in (0.995, 0.999):
        found = semantic_duplicates(pairs, threshold, use_faiss=True)
        expected = {pair.item_id for n, pair in enumerate(pairs)
                    if any(min(pair.image1 @ o.image1, pair.image2 @ o.image2) >= threshold or
                           min(pair.image1 @ o.image2, pair.image2 @ o.image1) >= threshold
                           for o in pairs[:n])}
        assert {d.item_id for d in found} == expected
    assert "copy" in {d.item_id for d in semantic_duplicates(pairs, 0.995)}
    assert hamming(items[-1][2], items[2][2]) > 6
    with pytest.raises(ValueError, match="min_similarity must be above 0 and at most 1"):
        semantic_duplicates(pairs, 1.5)
    with pytest.raises(ValueError, match="not unit embeddings"):
        unpack_pair(pack_pair(np.full((2, 16), 0.5, np.float32)))
    with pytest.raises(ValueError, match="not two float16 rows"):
        unpack_pair(b"\x00" * 6)
