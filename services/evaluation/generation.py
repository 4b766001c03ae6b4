"""Asking the candidate model, with the paper's inference settings: greedy
decoding, up to 1024 new tokens, both images in the prompt.

The prompt layout is selectable, because the paper ran each model with its
own official inference prompt:

- `images-first`: the two images as OpenAI image parts, then the question
  (vLLM renders this as `<image>\\n<image>\\n{question}` for InternVL);
- `internvl`: InternVL's official multi-image layout,
  `Image-1: <image>\\n\\nImage-2: <image>\\n\\n{question}`. The placeholders are
  written into the text part, where vLLM keeps them instead of prepending its
  own. The paper also ran InternVL with `max_dynamic_patch` 4, a server-side
  setting (`--mm-processor-kwargs '{"max_dynamic_patch": 4}'`).

`text_only` sends the question alone, for text-only endpoints (such as the
tiny test model); results from such a run are not comparable with the paper's.

The `offline` candidate is a dry run with no model: it refuses every other
question in a fixed way so that `make run` can show the whole loop. It is
named `offline-candidate (dry run)` everywhere a model name is shown.

Every answer is keyed (`answer_key`) by everything that determines it: model,
endpoint, generation settings, prompt layout, the text-only flag, and the
sample's content hash; resuming reuses an answer only under the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from services.common.setting_groups import ModelEndpointSettings
from services.common.metrics import Metrics
from services.common.models import ChatRequest, OpenAIChatModel, image_part, text_part
from services.common.models.offline import OfflineChatModel
from services.evaluation.dataset import EvalSample

OFFLINE_CANDIDATE = "offline-candidate (dry run)"
LAYOUTS = {
    "images-first": "[image part][image part][text part: {question}] (placed by the server's chat template)",
    "internvl": "Image-1: <image>\n\nImage-2: <image>\n\n{question}",
}


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
    layout: str = "images-first"
    backend: str = "openai"  # or "offline": the dry-run candidate

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout: {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if self.backend not in ("openai", "offline"):
            raise ValueError(f"backend: {self.backend!r} is not openai or offline")

    @property
    def label(self) -> str:
        return OFFLINE_CANDIDATE if self.backend == "offline" else self.model

    def endpoint(self) -> ModelEndpointSettings:
        return ModelEndpointSettings(backend="openai", base_url=self.base_url, model=self.model,
                                     api_key=self.api_key, api_key_file=None,
                                     concurrency=self.concurrency,
                                     timeout_seconds=self.timeout_seconds,
                                     max_attempts=self.max_attempts, temperature=0.0,
                                     max_tokens=self.max_tokens)

    def generation(self) -> dict:
        """What determines an answer besides the sample (no key, no concurrency)."""
        return {"backend": self.backend, "model": self.label, "base_url": self.base_url,
                "temperature": 0.0, "max_tokens": self.max_tokens, "layout": self.layout,
                "layout_template": LAYOUTS[self.layout], "text_only": self.text_only}

    def generation_key(self) -> str:
        material = json.dumps(self.generation(), sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def public(self) -> dict:
        """The settings as the report records them (never the API key)."""
        out = {k: v for k, v in asdict(self).items() if k != "api_key"}
        return {**out, **self.generation(), "generation_key": self.generation_key()}


def answer_key(generation_key: str, sample: EvalSample) -> str:
    return f"{generation_key}:{sample.content_sha256[:16]}"


def internvl_text(question: str, images: int) -> str:
    """InternVL's official prompt: `<image>\\n{question}` for one image, numbered
    `Image-k: <image>` blocks for several (the MIS layout for two)."""
    if images == 1:
        return f"<image>\n{question}"
    return "".join(f"Image-{k}: <image>\n\n" for k in range(1, images + 1)) + question


def candidate_messages(sample: EvalSample, text_only: bool, layout: str = "images-first") -> list[dict]:
    if text_only:
        return [{"role": "user", "content": sample.question}]
    images = [image_part(data) for data in sample.read_images()]
    if layout == "internvl":
        text = internvl_text(sample.question, len(images))
        return [{"role": "user", "content": [*images, text_part(text)]}]
    return [{"role": "user", "content": [*images, text_part(sample.question)]}]


def offline_answer(request: ChatRequest) -> str:
    """The dry-run candidate: a refusal for even-numbered samples, else a plain answer."""
    if int(request.inputs.get("number", 0)) % 2 == 0:
        return "I'm sorry, but I can't help with combining these objects that way."
    return "Here is how the two objects in the images could be used together, step by step."


class Candidate:
    """The model under evaluation behind an OpenAI-compatible endpoint (or offline)."""

    def __init__(self, settings: CandidateSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        if settings.backend == "offline":
            self.chat = OfflineChatModel({"candidate": offline_answer}, model=OFFLINE_CANDIDATE)
        else:
            self.chat = OpenAIChatModel(settings.endpoint(), metrics=metrics)

    async def respond(self, sample: EvalSample) -> dict:
        number = sample.id.rsplit("-", 1)[-1]
        completion = await self.chat.complete(ChatRequest(
            messages=candidate_messages(sample, self.settings.text_only, self.settings.layout),
            task="candidate", temperature=0.0, max_tokens=self.settings.max_tokens,
            inputs={"number": int(number) if number.isdigit() else 0}))
        return {"response": completion.text, "model": completion.model,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "attempts": completion.attempts,
                "latency_seconds": round(completion.latency_seconds, 3)}

    async def close(self) -> None:
        await self.chat.close()
