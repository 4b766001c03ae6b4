"""What a model call is: the request, the completion, the errors, token counts."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.images import sniff


class ModelError(RuntimeError):
    """A model call failed for good."""


class ModelUnavailable(ModelError):
    """The endpoint kept failing (429, 5xx, timeouts) through every attempt."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class OutputParseError(ModelError):
    """The model answered, but not with JSON that fits the schema.

    `raw` keeps the text so the reason can be recorded with the rejected item.
    """

    def __init__(self, message: str, raw: str, attempts: int = 1, prompt_tokens: int = 0,
                 completion_tokens: int = 0) -> None:
        super().__init__(message)
        self.raw = raw
        self.attempts = attempts
        # What the failed answers cost, so a rejected item still counts in the run's bill.
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(data: bytes) -> dict[str, Any]:
    """An image as a data URL, the form every OpenAI-compatible VLM accepts."""
    kind = sniff(data)
    media_type = kind[0] if kind else "image/png"
    encoded = base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{encoded}"}}


@dataclass(frozen=True)
class ChatRequest:
    """One chat call.

    `messages` are in OpenAI form (content may mix text and image parts).
    `schema` asks for JSON-schema structured output; `pattern`, for an answer
    that is not JSON, asks a vLLM endpoint to decode only text matching that
    regular expression (vLLM's structured outputs; other endpoints refuse the
    field, so a caller sets it only when told the endpoint is vLLM). `task`
    and `inputs` name the job and its structured inputs: the offline backend
    answers from them, and metrics and logs use `task`.
    """

    messages: list[dict[str, Any]]
    task: str
    schema: dict[str, Any] | None = None
    schema_name: str = "answer"
    pattern: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    parsed: Any
    model: str
    backend: str
    prompt_tokens: int
    completion_tokens: int
    latency_seconds: float
    attempts: int
    parameters: dict[str, Any]


class TokenMeter:
    """Running totals of tokens an endpoint has used (thread safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.calls = 0

    def add(self, prompt: int, completion: int) -> None:
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.calls += 1


class ChatModel(Protocol):
    backend: str
    model: str
    meter: TokenMeter

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def close(self) -> None: ...
