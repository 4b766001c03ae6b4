"""The diffusers renderer: Stable Diffusion 3.5 through `StableDiffusion3Pipeline`.

torch and diffusers are imported only here and only when this renderer is
built, so the service runs on the light install with the offline renderer.
Images of one call share size, steps and guidance and are drawn as one batch,
each from its own generator, so an image depends on its seed and not on the
batch it was drawn in. Generators live on the CPU, which makes a seed mean the
same starting noise on any GPU.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from services.common.errors import ResourceExhausted
from services.common.images import to_png
from services.t2i_refiner.rendering import Drawing, RenderSpec

log = logging.getLogger("mis.t2i.diffusers")


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("MIS_T2I_DEVICE=cuda but torch sees no CUDA device")
    return device


class DiffusersRenderer:
    name = "diffusers"

    def __init__(self, pipeline: Any, *, model: str, device: str | None = None) -> None:
        """Wrap an already-built pipeline (tests and benchmarks build their own)."""
        self.pipeline = pipeline
        self.model = model
        self.device = device or str(pipeline.device)
        self.dtype = str(pipeline.dtype).removeprefix("torch.")
        self.pipeline.set_progress_bar_config(disable=True)
        # A pipeline assembled from components may still be in training mode,
        # where dropout would make a seed draw different images.
        for component in pipeline.components.values():
            if hasattr(component, "eval") and hasattr(component, "parameters"):
                component.eval()

    @classmethod
    def load(cls, path: Path, device: str = "auto") -> "DiffusersRenderer":
        """Load a diffusers-format SD3.5 folder: bfloat16 on CUDA, float32 on a CPU."""
        import torch
        from diffusers import StableDiffusion3Pipeline

        device = resolve_device(device)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        started = time.perf_counter()
        pipeline = StableDiffusion3Pipeline.from_pretrained(str(path), dtype=dtype)
        pipeline.to(device)
        log.info("pipeline loaded", extra={"path": str(path), "device": device,
                                           "dtype": str(dtype),
                                           "seconds": round(time.perf_counter() - started, 2)})
        return cls(pipeline, model=Path(path).name, device=device)

    def draw(self, prompts: Sequence[str], seeds: Sequence[int], spec: RenderSpec) -> list[Drawing]:
        import torch

        if len(prompts) != len(seeds):
            raise ValueError("one seed per prompt")
        generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]
        negative = [spec.negative_prompt] * len(prompts) if spec.negative_prompt else None
        on_cuda = self.device.startswith("cuda")
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                output = self.pipeline(
                    prompt=list(prompts), negative_prompt=negative, height=spec.height,
                    width=spec.width, num_inference_steps=spec.steps,
                    guidance_scale=spec.guidance_scale, generator=generators, output_type="pil")
            if on_cuda:
                torch.cuda.synchronize()
        except torch.OutOfMemoryError:
            if on_cuda:
                torch.cuda.empty_cache()
            raise ResourceExhausted(
                f"GPU out of memory drawing {len(prompts)} images at {spec.width}x{spec.height}; "
                "lower MIS_T2I_BATCH_SIZE or the resolution") from None
        seconds = time.perf_counter() - started
        share = seconds / len(prompts)
        return [Drawing(to_png(image), share, share if on_cuda else 0.0)
                for image in output.images]
