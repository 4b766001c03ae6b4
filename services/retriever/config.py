"""Settings of the retriever service.

The CLIP model folder gives the text tower that embeds object phrases; it must
be the model (or the embedding space) the index was built with. The photo
check uses the VLM endpoint (MIS_VLM_*), offline for dry runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.config import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import env, group, positive


@dataclass(frozen=True)
class Settings:
    clip_path: Path = env("MIS_RETRIEVER_CLIP_PATH",
                          help="local folder of the CLIP model (Hugging Face layout) the indexes were built with")
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    vlm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_VLM_")
    index: str = env("MIS_RETRIEVER_INDEX", "", help="index searched when a request names none")
    top_k: int = env("MIS_RETRIEVER_TOP_K", 8, check=positive,
                     help="candidates returned or checked when a request asks for 0")
    max_top_k: int = env("MIS_RETRIEVER_MAX_TOP_K", 100, check=positive, help="largest top_k accepted")
    fetch_urls: bool = env("MIS_RETRIEVER_FETCH_URLS", False,
                           help="fetch photos by url (http/https, MIS_MAX_IMAGE_BYTES at most, type-checked) "
                                "for corpora indexed from embeddings alone")
    fetch_timeout_seconds: float = env("MIS_RETRIEVER_FETCH_TIMEOUT_SECONDS", 10.0, check=positive,
                                       help="deadline of one photo fetch by url")
    max_text_chars: int = env("MIS_MAX_TEXT_CHARS", 4000, check=positive,
                              help="longest object phrase or instruction accepted")
