"""Settings of the cot-annotator service."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.setting_groups import (JudgeClientSettings, ModelEndpointSettings, ServerSettings,
                                    StoreSettings)
from services.common.settings import env, group, non_negative, positive


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    vlm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_VLM_")
    vlm_send_images: bool = env(
        "MIS_VLM_SEND_IMAGES", True,
        help="attach both images to the annotation call; false only for text-only endpoints")
    judge: JudgeClientSettings = group(JudgeClientSettings)
    max_regenerations: int = env("MIS_COT_MAX_REGENERATIONS", 2, check=non_negative,
                                 help="default regenerations after a label fails the quality gate")
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 64, check=positive,
                               help="largest AnnotateBatch accepted")
