"""Settings of the detoxifier service: both passes use the LLM endpoint (MIS_LLM_*)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings, ServerSettings
from services.common.settings import env, group, positive


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    llm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_LLM_")
    taxonomy_path: Path | None = env("MIS_TAXONOMY_PATH", None,
                                     help="taxonomy YAML; unset uses the bundled MIS taxonomy")
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 256, check=positive,
                               help="largest batch accepted")
    max_text_chars: int = env("MIS_MAX_TEXT_CHARS", 4000, check=positive,
                              help="longest query accepted")
