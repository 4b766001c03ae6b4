"""Semantic near-duplicates of image pairs (services/filter/semantic.py) with
the tiny CLIP and the offline palette embedder: re-drawn pairs that pixel
hashes miss, swapped pairs, order independence and the chain to the first."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from services.filter.fingerprints import image_hash
from services.filter.semantic import EmbeddedPair, embed_pairs, semantic_duplicates
from services.retriever.offline import PaletteEmbedder, draw


def redrawn(caption: str, shift: int) -> bytes:
    """The same picture drawn again: the bands moved and a border added."""
    image = Image.open(io.BytesIO(draw(caption, size=40))).convert("RGB")
    canvas = Image.new("RGB", (48, 48), (0, 0, 0))
    canvas.paste(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (shift, 8 - shift))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_a_redrawn_pair_pixel_hashes_miss_is_a_semantic_duplicate():
    first = (draw("sharp kitchen knife"), draw("old laptop computer"))
    again = (redrawn("sharp kitchen knife", 2), redrawn("old laptop computer", 5))
    other = (draw("field of sunflowers"), draw("yellow taxi at night"))
    assert hamming(image_hash(first[0]), image_hash(again[0])) > 6  # the pixel rule's default misses it
    pairs = embed_pairs(PaletteEmbedder(), [(0, "a", *first), (1, "b", *other), (2, "c", *again)])
    [duplicate] = semantic_duplicates(pairs)
    assert (duplicate.item_id, duplicate.duplicate_of) == ("c", "a")
    assert duplicate.reason.startswith("images semantically near (cosine 0.")


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


def test_clip_embeddings_find_the_same_drawing_and_refuse_a_bad_threshold(embedder, drawings_folder):
    paths = sorted(drawings_folder.glob("*.png"))[:6]
    items = [(n, p.stem, p.read_bytes(), paths[(n + 1) % 6].read_bytes()) for n, p in enumerate(paths)]
    items.append((6, "copy", paths[2].read_bytes(), paths[3].read_bytes()))
    [duplicate] = semantic_duplicates(embed_pairs(embedder, items), 0.999)
    assert (duplicate.item_id, duplicate.duplicate_of) == ("copy", paths[2].stem)
    with pytest.raises(ValueError, match="min_similarity must be above 0 and at most 1"):
        semantic_duplicates(embed_pairs(embedder, items), 1.5)
