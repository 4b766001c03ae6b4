"""Settings of the retriever service.

The CLIP model folder gives the text tower that embeds object phrases; it must
be the model (or the embedding space) the index was built with. Without one
the service embeds with the offline palette embedder (offline.py) and its
default index is the bundled corpus (bundled.py): a dry run, like the other
services' offline backends. The photo check uses the VLM endpoint (MIS_VLM_*);
the classification of a retrieved pair is the filter's own, so it uses the
LLM endpoint too (MIS_LLM_*), as the filter does. Both are offline by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import env, group, positive


@dataclass(frozen=True)
class Settings:
    clip_path: Path | None = env("MIS_RETRIEVER_CLIP_PATH", None,
                                 help="local folder of the CLIP model (Hugging Face layout) the indexes "
                                      "were built with; unset: the offline palette embedder (dry runs)")
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    llm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_LLM_")
    vlm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_VLM_")
    vlm_send_images: bool = env("MIS_VLM_SEND_IMAGES", True,
                                help="send the photos to the VLM when classifying a pair (as the filter does)")
    taxonomy_path: Path | None = env("MIS_TAXONOMY_PATH", None,
                                     help="taxonomy YAML; unset uses the bundled MIS taxonomy")
    index: str = env("MIS_RETRIEVER_INDEX", "",
                     help="index searched when a request names none; unset with the offline embedder: "
                          "the bundled corpus")
    top_k: int = env("MIS_RETRIEVER_TOP_K", 8, check=positive,
                     help="candidates returned or checked when a request asks for 0")
    max_top_k: int = env("MIS_RETRIEVER_MAX_TOP_K", 100, check=positive, help="largest top_k accepted")
    faiss_gpu: bool = env("MIS_RETRIEVER_FAISS_GPU", True,
                          help="search indexes on every GPU the installed FAISS sees (a faiss-gpu build); "
                               "false keeps them on the CPU")
    lancedb: str = env("MIS_RETRIEVER_LANCEDB", "",
                       help="LanceDB database (a folder) holding indexes of kind lance; unset: where "
                            "each was built (its manifest's)")
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 256, check=positive, help="largest batch accepted")
    fetch_urls: bool = env("MIS_RETRIEVER_FETCH_URLS", False,
                           help="fetch photos by url (http/https, MIS_MAX_IMAGE_BYTES at most, type-checked) "
                                "for corpora indexed from embeddings alone")
    fetch_timeout_seconds: float = env("MIS_RETRIEVER_FETCH_TIMEOUT_SECONDS", 10.0, check=positive,
                                       help="deadline of one photo fetch by url")
    max_text_chars: int = env("MIS_MAX_TEXT_CHARS", 4000, check=positive,
                              help="longest object phrase or instruction accepted")
