"""What a renderer is: prompts and seeds in, PNG images out, in one batched call.

A renderer is synchronous and may hold a GPU; the refiner calls it from a
worker thread, one call at a time, so the event loop keeps answering (health
checks included) while images are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from services.common.models.offline import stable_hash

# Seeds stay below 2**32 so every generator (torch, numpy) accepts them.
SEED_RANGE = 2 ** 32


@dataclass(frozen=True)
class RenderSpec:
    """Settings shared by every image of one pipeline call."""

    width: int
    height: int
    steps: int
    guidance_scale: float
    negative_prompt: str = ""

    def parameters(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "steps": self.steps,
                "guidance_scale": self.guidance_scale, "negative_prompt": self.negative_prompt}


@dataclass(frozen=True)
class Drawing:
    """One drawn image and its share of the call's cost."""

    png: bytes
    seconds: float
    gpu_seconds: float


class Renderer(Protocol):
    # "diffusers" or "offline", as recorded in provenance.
    name: str
    model: str
    device: str

    def draw(self, prompts: Sequence[str], seeds: Sequence[int], spec: RenderSpec) -> list[Drawing]:
        """Draw one image per prompt with its own seed, as one batch."""
        ...


def derive_seed(base_seed: int, instruction_id: str, round_number: int, slot: int) -> int:
    """The seed of one image, from the request's base seed and the image's place.

    It depends on the instruction id, not on the batch it came in, so the same
    instruction redrawn in any batch gets the same seed and the same image.
    """
    return stable_hash("t2i-seed", base_seed, instruction_id, round_number, slot) % SEED_RANGE
