"""Settings of the extractor service.

Text seeds go to the LLM endpoint (MIS_LLM_*), image seeds to the VLM endpoint
(MIS_VLM_*), as in the paper (Qwen2.5-72B-Instruct and InternVL2.5-78B).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import env, group, positive


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    llm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_LLM_")
    vlm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_VLM_")
    vlm_send_images: bool = env(
        "MIS_VLM_SEND_IMAGES", True,
        help="send seed images to the VLM; false only for text-only endpoints (the seed's caption is used)")
    taxonomy_path: Path | None = env("MIS_TAXONOMY_PATH", None,
                                     help="taxonomy YAML; unset uses the bundled MIS taxonomy")
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 256, check=positive,
                               help="largest batch accepted")
    max_text_chars: int = env("MIS_MAX_TEXT_CHARS", 4000, check=positive,
                              help="longest seed text accepted")
