"""The offline renderer: a deterministic placeholder per prompt, for dry runs.

It needs no model and no GPU: a PNG of the requested size, a block pattern
drawn from a hash of the prompt and seed, with the prompt written on it, so a
dry run's images are distinguishable (also to the filter's perceptual hash,
which flat colours would fool into calling every pair a duplicate), content
addressed and readable by a person.
"""

from __future__ import annotations

import textwrap
import time
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.common.images import to_png
from services.common.models.offline import stable_hash
from services.t2i_refiner.rendering import Drawing, RenderSpec


def placeholder(prompt: str, seed: int, width: int, height: int) -> bytes:
    """A PNG: a colour from the hash of prompt and seed, the prompt on top."""
    digest = stable_hash("placeholder", prompt, seed)
    background = np.array([(digest >> 16) & 0xFF, (digest >> 8) & 0xFF, digest & 0xFF])
    blocks = np.random.default_rng(digest).integers(0, 256, (8, 8, 3))
    pattern = ((blocks + background) // 2).astype(np.uint8)
    image = Image.fromarray(pattern, "RGB").resize((width, height), Image.Resampling.NEAREST)
    # Dark text on light colours and light text on dark ones stays legible.
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    ink = (0, 0, 0) if luminance > 128 else (255, 255, 255)
    font_size = max(8, min(width, height) // 16)
    font = ImageFont.load_default(size=font_size)
    columns = max(8, int(width / (font_size * 0.6)))
    text = "\n".join(textwrap.wrap(prompt, columns)[: max(1, height // (font_size * 2))])
    ImageDraw.Draw(image).multiline_text((font_size // 2, font_size // 2), text, fill=ink,
                                         font=font, spacing=font_size // 3)
    return to_png(image)


class OfflineRenderer:
    name = "offline"
    model = "placeholder-v1"
    device = "cpu"

    def draw(self, prompts: Sequence[str], seeds: Sequence[int], spec: RenderSpec) -> list[Drawing]:
        drawings = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            started = time.perf_counter()
            png = placeholder(prompt, seed, spec.width, spec.height)
            drawings.append(Drawing(png, time.perf_counter() - started, 0.0))
        return drawings
