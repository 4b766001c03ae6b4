"""Settings of the filter service.

The text label (Safe/Unsafe and sub-category) uses the LLM endpoint (MIS_LLM_*),
the image-harm judgement the VLM endpoint (MIS_VLM_*); the paper used GPT-4o
for both. Semantic near-duplicates need an image embedder (the retriever's:
a local CLIP folder, or the offline palette for dry runs). Images are read from the store, which also signs review-sheet links.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import env, group, one_of, positive
from services.filter.semantic import EMBEDDERS


def _fraction(value: float) -> str | None:
    return None if 0 < value <= 1 else "must be above 0 and at most 1"


def _fraction_or_off(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be between 0 (off) and 1"


def _hash_distance(value: int) -> str | None:
    return None if 0 <= value <= 64 else "must be between 0 and 64"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    llm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_LLM_")
    vlm: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_VLM_")
    vlm_send_images: bool = env(
        "MIS_VLM_SEND_IMAGES", True,
        help="send the images to the VLM; false only for text-only endpoints (object phrases and prompts are used)")
    taxonomy_path: Path | None = env("MIS_TAXONOMY_PATH", None,
                                     help="taxonomy YAML; unset uses the bundled MIS taxonomy")
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 256, check=positive, help="largest batch accepted")
    max_text_chars: int = env("MIS_MAX_TEXT_CHARS", 4000, check=positive,
                              help="longest instruction accepted")
    max_run_items: int = env("MIS_MAX_RUN_ITEMS", 200_000, check=positive,
                             help="most items one Deduplicate or review-sheet call may carry (a whole run)")
    max_image_distance: int = env("MIS_DEDUP_MAX_IMAGE_DISTANCE", 6, check=_hash_distance,
                                  help="default Hamming distance between image hashes counted as a duplicate")
    min_text_similarity: float = env("MIS_DEDUP_MIN_TEXT_SIMILARITY", 0.9, check=_fraction,
                                     help="default token-set similarity of instructions counted as a duplicate")
    min_image_similarity: float = env(
        "MIS_DEDUP_MIN_IMAGE_SIMILARITY", 0.0, check=_fraction_or_off,
        help="default cosine similarity of both images' embeddings counted as a semantic duplicate; 0: off")
    image_embedder: str = env(
        "MIS_DEDUP_IMAGE_EMBEDDER", "none", check=one_of(*EMBEDDERS),
        help="what embeds images when a request asks for embeddings: none, offline (the palette "
             "embedder, dry runs) or clip (MIS_DEDUP_CLIP_PATH)")
    clip_path: Path | None = env(
        "MIS_DEDUP_CLIP_PATH", None,
        help="local CLIP folder (Hugging Face layout) of the clip image embedder; needs the retrieval extra")
    review_link_ttl_seconds: int = env("MIS_REVIEW_LINK_TTL_SECONDS", 7 * 24 * 3600, check=positive,
                                       help="default lifetime of review-sheet image links (S3 allows 7 days at most)")
