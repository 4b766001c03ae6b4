"""The offline embedder: a CLIP stand-in for dry runs, without torch.

Its shared space is a palette of 64 colours (four levels per channel). A word
of a phrase is one colour, chosen by its hash (black, the background, is no
word's colour); a phrase embeds as the count of its words' colours, and a
picture as its histogram over the palette. So a picture drawn in the colours
of its caption's words (`draw`, what the bundled corpus is made of) is found
by phrases that share those words, and search is exact cosine similarity as
with CLIP. It reads pixels, not captions, but it knows nothing of what a real
photo shows: use it for the bundled corpus and tests, CLIP for real corpora.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any, Sequence

import numpy as np

from services.retriever.embeddings import normalized

LEVELS = 4                   # per channel
DIMENSION = LEVELS ** 3      # 64 colours
_STEP = 255 // (LEVELS - 1)  # 85
# Words that name no object, so they draw and count nothing.
STOPWORDS = frozenset("a an the of on in at with and or by to for from photo picture image its".split())


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS]


def colour_index(word: str) -> int:
    """The palette colour of a word: 1..63 (0, black, is the background)."""
    return 1 + int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % (DIMENSION - 1)


def colour(index: int) -> tuple[int, int, int]:
    return ((index // (LEVELS * LEVELS)) * _STEP, (index // LEVELS % LEVELS) * _STEP, (index % LEVELS) * _STEP)


def draw(caption: str, size: int = 32) -> bytes:
    """A PNG of one vertical band per word of the caption, in the word's colour."""
    from PIL import Image

    bands = [colour(colour_index(w)) for w in words(caption)] or [(0, 0, 0)]
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    edges = np.linspace(0, size, len(bands) + 1).astype(int)
    for band, (start, end) in zip(bands, zip(edges[:-1], edges[1:])):
        pixels[:, start:end] = band
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


class PaletteEmbedder:
    """Text and images into the palette space; unit rows, like ClipEmbedder's."""

    name = "offline-palette-v1"
    dimension = DIMENSION

    def embed_queries(self, phrases: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(phrases), DIMENSION), dtype=np.float32)
        for row, phrase in enumerate(phrases):
            for word in words(phrase):
                vectors[row, colour_index(word)] += 1.0
        return normalized(vectors)

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """PIL images in: each pixel counts for its nearest palette colour."""
        vectors = np.zeros((len(images), DIMENSION), dtype=np.float32)
        for row, image in enumerate(images):
            pixels = np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.int32)
            levels = np.rint(pixels / _STEP).astype(np.int32)
            index = levels[..., 0] * LEVELS * LEVELS + levels[..., 1] * LEVELS + levels[..., 2]
            counts = np.bincount(index.ravel(), minlength=DIMENSION).astype(np.float32)
            counts[0] = 0.0  # the background
            vectors[row] = counts
        return normalized(vectors)
