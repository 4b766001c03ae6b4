"""Chat completions against any OpenAI-compatible endpoint: vLLM or OpenAI.

One client per endpoint holds a semaphore (the endpoint's concurrency limit),
retries 429, 5xx, timeouts and dropped connections with bounded backoff
(honouring Retry-After), counts tokens, and checks structured output against
the schema it asked for. A bounded schema (`schema.check_bounded`) is sent
with its free text as plain-text patterns (`schema.guided`) and its own bound
as max_tokens, so guided decoding always ends in a complete object. An answer
that does not parse is asked again up to `parse_attempts` times, then raised
as OutputParseError with the raw text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import openai

from services.common.backoff import Backoff, RetriesExhausted, retry
from services.common.setting_groups import ModelEndpointSettings
from services.common.metrics import Metrics
from services.common.models.base import (ChatRequest, Completion, ModelError, ModelUnavailable,
                                         OutputParseError, TokenMeter)
from services.common.models.offline import stable_hash
from services.common.models.schema import (SchemaViolation, UnboundedSchema, check_bounded,
                                           guided, max_answer_chars, parse_json_answer)

log = logging.getLogger("mis.models")


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


class OpenAIChatModel:
    backend = "openai"

    def __init__(self, settings: ModelEndpointSettings, *, metrics: Metrics | None = None,
                 backoff: Backoff | None = None, parse_attempts: int = 2) -> None:
        if not settings.model:
            raise ModelError("the openai backend needs a model name (<prefix>MODEL)")
        self.settings = settings
        self.model = settings.model
        self.meter = TokenMeter()
        self.metrics = metrics
        self.parse_attempts = parse_attempts
        self.backoff = backoff or Backoff(max_attempts=settings.max_attempts)
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url or None,
            api_key=settings.resolved_api_key() or "not-needed",
            timeout=settings.timeout_seconds,
            max_retries=0,  # retries are ours, bounded and counted
        )
        self._endpoint = settings.base_url or "api.openai.com"

    def parameters(self, request: ChatRequest, parse_attempt: int = 0) -> dict[str, Any]:
        temperature = self.settings.temperature if request.temperature is None else request.temperature
        params: dict[str, Any] = {"temperature": temperature, "max_tokens": self.max_tokens(request)}
        seed = self.seed(request, parse_attempt)
        if seed is not None:
            params["seed"] = seed
        return params

    def seed(self, request: ChatRequest, parse_attempt: int = 0) -> int | None:
        """The call's sampling seed. With the endpoint's seed set, it comes
        from that seed and what the call is about (task, inputs, the
        request's own seed such as a regeneration's attempt), so a rerun of
        the same run samples the same answers while different calls differ.
        A re-ask after an answer that did not fit gets a seed of its own:
        the same seed would only sample the same answer again."""
        again = (parse_attempt,) if parse_attempt else ()
        if self.settings.seed is None:
            if request.seed is None or not again:
                return request.seed
            return stable_hash(request.seed, *again) % (1 << 31)
        return stable_hash(self.settings.seed, request.task, request.inputs, request.seed, *again) % (1 << 31)

    def max_tokens(self, request: ChatRequest) -> int:
        """What the request asks for, else a structured call's own bound (the
        longest answer its schema allows, so guided decoding always has room
        to close the object), else the endpoint's setting."""
        if request.max_tokens:
            return request.max_tokens
        if request.schema is not None:
            try:
                check_bounded(request.schema)
            except UnboundedSchema:
                return self.settings.max_tokens
            return max_answer_chars(request.schema)
        return self.settings.max_tokens

    async def _create(self, request: ChatRequest, params: dict[str, Any]):
        extra: dict[str, Any] = {}
        if request.schema is not None:
            extra["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": guided(request.schema),
                                "strict": True},
            }
        if request.pattern is not None:
            extra["extra_body"] = {"structured_outputs": {"regex": request.pattern}}
        async with self._limit:
            return await self._client.chat.completions.create(
                model=self.model, messages=request.messages, **params, **extra)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.model_calls.labels(self._endpoint, outcome).inc()

    async def complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        attempts = 0
        spent_prompt = spent_completion = 0
        last_error: SchemaViolation | None = None
        raw = ""
        for parse_attempt in range(max(1, self.parse_attempts if request.schema else 1)):
            params = self.parameters(request, parse_attempt)
            try:
                response, made = await retry(
                    lambda: self._create(request, params), policy=self.backoff,
                    transient=_transient, retry_after=_retry_after,
                    on_retry=lambda n, e: (self._count("retry"),
                                           log.warning("model call retry", extra={
                                               "task": request.task, "attempt": n, "error": str(e)})))
            except RetriesExhausted as exc:
                self._count("unavailable")
                raise ModelUnavailable(f"{self._endpoint}: {exc.last}", attempts + exc.attempts) from exc
            except openai.APIStatusError as exc:
                self._count("error")
                raise ModelError(f"{self._endpoint} answered {exc.status_code}: {exc.message}") from exc
            attempts += made
            usage = response.usage
            prompt_tokens = usage.prompt_tokens if usage else 0
            completion_tokens = usage.completion_tokens if usage else 0
            self.meter.add(prompt_tokens, completion_tokens)
            spent_prompt += prompt_tokens
            spent_completion += completion_tokens
            if self.metrics is not None:
                self.metrics.model_tokens.labels(self._endpoint, "prompt").inc(prompt_tokens)
                self.metrics.model_tokens.labels(self._endpoint, "completion").inc(completion_tokens)
            raw = (response.choices[0].message.content or "") if response.choices else ""
            parsed: Any = None
            if request.schema is not None:
                try:
                    parsed = parse_json_answer(raw, guided(request.schema))
                except SchemaViolation as exc:
                    self._count("unparseable")
                    last_error = exc
                    continue
            self._count("ok")
            return Completion(text=raw, parsed=parsed, model=response.model or self.model,
                              backend=self.backend, prompt_tokens=spent_prompt,
                              completion_tokens=spent_completion,
                              latency_seconds=time.perf_counter() - started,
                              attempts=attempts, parameters=params)
        raise OutputParseError(f"model output does not fit the schema: {last_error}", raw, attempts,
                               spent_prompt, spent_completion)

    async def close(self) -> None:
        await self._client.close()
