"""Settings of the t2i-refiner service.

Rendering defaults follow the Stable Diffusion 3.5 Large model card's diffusers
example (1024x1024, 28 steps, guidance 3.5); the paper never published its
own. A request's RenderOptions override them per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import SettingsError, env, group, non_negative, one_of, positive


def multiple_of_16(value: int) -> str | None:
    # SD3 needs sides divisible by the VAE factor (8) times the patch size (2).
    return None if value > 0 and value % 16 == 0 else "must be a positive multiple of 16"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    vlm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_VLM_")
    vlm_send_images: bool = env(
        "MIS_VLM_SEND_IMAGES", True,
        help="attach both images to the review call; false only for text-only endpoints")
    renderer: str = env("MIS_T2I_RENDERER", "offline", check=one_of("diffusers", "offline"),
                        help="diffusers: Stable Diffusion 3.5; offline: drawn placeholders for dry runs")
    model_path: Path | None = env("MIS_T2I_MODEL_PATH", None,
                                  help="local folder of the SD3.5 pipeline in diffusers format")
    device: str = env("MIS_T2I_DEVICE", "auto", check=one_of("auto", "cuda", "cpu"),
                      help="auto: CUDA when available, else CPU")
    batch_size: int = env("MIS_T2I_BATCH_SIZE", 4, check=positive,
                          help="images per pipeline call")
    width: int = env("MIS_T2I_WIDTH", 1024, check=multiple_of_16, help="default image width")
    height: int = env("MIS_T2I_HEIGHT", 1024, check=multiple_of_16, help="default image height")
    steps: int = env("MIS_T2I_STEPS", 28, check=positive, help="default denoising steps")
    guidance_scale: float = env("MIS_T2I_GUIDANCE", 3.5, check=non_negative,
                                help="default classifier-free guidance scale")
    negative_prompt: str = env("MIS_T2I_NEGATIVE_PROMPT", "", help="default negative prompt")
    refinement_rounds: int = env("MIS_T2I_REFINEMENT_ROUNDS", 1, check=non_negative,
                                 help="default rounds of review and redraw after the first drawing")
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 64, check=positive,
                               help="largest RenderPairBatch accepted")

    def __post_init__(self) -> None:
        if self.renderer == "diffusers" and self.model_path is None:
            raise SettingsError("MIS_T2I_MODEL_PATH: required when MIS_T2I_RENDERER=diffusers")
