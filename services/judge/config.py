"""Settings of the judge service.

The judge's own model endpoint is read under MIS_JUDGE_MODEL_ (BACKEND
offline|openai, BASE_URL, MODEL, ...). The limits below are what make the
judge safe to expose to outside callers: authentication, a per-caller rate
limit, a bounded admission queue and limits on what one item may carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.settings import env, group, non_negative, one_of, positive

KEYWORD_BACKEND = "keyword"


@dataclass(frozen=True)
class JudgeSettings:
    """What the judge itself decides: rubric, backends, cache and caller limits."""

    rubric_version: str = env("MIS_JUDGE_RUBRIC", "mis-judge-v1",
                              help="rubric file services/judge/rubrics/<version>.yaml")
    default_backend: str = env("MIS_JUDGE_DEFAULT_BACKEND", "",
                               check=one_of("", "keyword", "openai", "offline"),
                               help="backend when a request names none; empty: the model "
                                    "backend when MIS_JUDGE_MODEL_BACKEND=openai, else keyword")
    send_images: bool = env("MIS_JUDGE_SEND_IMAGES", True,
                            help="send the images to the judge model; false only for "
                                 "text-only endpoints")
    cache_enabled: bool = env("MIS_JUDGE_CACHE", True, help="cache verdicts in the store")
    auth_tokens_file: Path | None = env("MIS_AUTH_TOKENS_FILE", None,
                                        help="bearer tokens, one per line as name:token; "
                                             "unset: no authentication (local stack only)")
    rate_limit_per_second: float = env("MIS_RATE_LIMIT_PER_SECOND", 100.0, check=non_negative,
                                       help="items per second per caller; 0 disables the limit")
    rate_limit_burst: int = env("MIS_RATE_LIMIT_BURST", 200, check=positive,
                                help="items a caller may send at once above the rate")
    queue_limit: int = env("MIS_QUEUE_LIMIT", 256, check=positive,
                           help="items waiting or in flight at most; more get RESOURCE_EXHAUSTED")
    max_images_per_item: int = env("MIS_MAX_IMAGES_PER_ITEM", 4, check=positive)
    max_batch_items: int = env("MIS_MAX_BATCH_ITEMS", 100, check=positive)
    max_question_chars: int = env("MIS_MAX_QUESTION_CHARS", 20_000, check=positive)
    max_response_chars: int = env("MIS_MAX_RESPONSE_CHARS", 100_000, check=positive)
    stream_window: int = env("MIS_STREAM_WINDOW", 64, check=positive,
                             help="items one stream may have in flight before the server "
                                  "stops reading it (flow control)")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    model: ModelEndpointSettings = group(ModelEndpointSettings, "MIS_JUDGE_MODEL_")
    judge: JudgeSettings = group(JudgeSettings)
