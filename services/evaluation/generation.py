"""Asking the candidate model, with the paper's inference settings: greedy
decoding, up to 1024 new tokens, the content laid out as image 1, image 2,
then the question.

`text_only` sends the question alone, for text-only endpoints (such as the
tiny test model); results from such a run are not comparable with the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import ModelEndpointSettings
from services.common.metrics import Metrics
from services.common.models import ChatRequest, OpenAIChatModel, image_part, text_part
from services.evaluation.dataset import EvalSample


@dataclass(frozen=True)
class CandidateSettings:
    base_url: str
    model: str
    api_key: str = ""
    max_tokens: int = 1024
    concurrency: int = 8
    timeout_seconds: float = 300.0
    max_attempts: int = 4
    text_only: bool = False

    def endpoint(self) -> ModelEndpointSettings:
        return ModelEndpointSettings(backend="openai", base_url=self.base_url, model=self.model,
                                     api_key=self.api_key, api_key_file=None,
                                     concurrency=self.concurrency,
                                     timeout_seconds=self.timeout_seconds,
                                     max_attempts=self.max_attempts, temperature=0.0,
                                     max_tokens=self.max_tokens)


def candidate_messages(sample: EvalSample, text_only: bool) -> list[dict]:
    if text_only:
        return [{"role": "user", "content": sample.question}]
    first, second = sample.read_images()
    return [{"role": "user", "content": [image_part(first), image_part(second),
                                         text_part(sample.question)]}]


class Candidate:
    """The model under evaluation behind an OpenAI-compatible endpoint."""

    def __init__(self, settings: CandidateSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.chat = OpenAIChatModel(settings.endpoint(), metrics=metrics)

    async def respond(self, sample: EvalSample) -> dict:
        completion = await self.chat.complete(ChatRequest(
            messages=candidate_messages(sample, self.settings.text_only), task="candidate",
            temperature=0.0, max_tokens=self.settings.max_tokens))
        return {"response": completion.text, "model": completion.model,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "attempts": completion.attempts,
                "latency_seconds": round(completion.latency_seconds, 3)}

    async def close(self) -> None:
        await self.chat.close()
