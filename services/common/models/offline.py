"""The offline backend: deterministic answers with no model, for dry runs.

It is named "offline" in every provenance record so its output can never pass
for a model's. A stage gives it a responder that builds the answer from the
request's structured `inputs` (a lexicon, templates); without one it fills the
schema deterministically from a hash of the inputs.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable

from services.common.models.base import ChatRequest, Completion, TokenMeter
from services.common.models.schema import check

Responder = Callable[[ChatRequest], Any]


def stable_hash(*parts: Any) -> int:
    """A hash that is the same in every process (unlike hash())."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def fill_schema(schema: dict[str, Any], seed: int, path: str = "") -> Any:
    """A deterministic value that fits `schema`, chosen from `seed`."""
    kind = schema.get("type")
    if "enum" in schema:
        options = schema["enum"]
        return options[stable_hash(seed, path) % len(options)]
    if kind == "object":
        return {name: fill_schema(sub, seed, f"{path}.{name}")
                for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = min(max(schema.get("minItems", 1), 1), schema.get("maxItems", 1 << 30))
        return [fill_schema(schema.get("items", {}), seed, f"{path}[{i}]") for i in range(count)]
    if kind == "integer":
        return stable_hash(seed, path) % 100
    if kind == "number":
        return (stable_hash(seed, path) % 1000) / 1000
    if kind == "boolean":
        return bool(stable_hash(seed, path) % 2)
    if "pattern" in schema:
        # Pattern-bound strings in our schemas are short phrases of words.
        return f"offline {stable_hash(seed, path) % 10_000:04d}"
    text = f"offline {path.strip('.') or 'text'} {stable_hash(seed, path) % 10_000:04d}"
    return text[-schema.get("maxLength", len(text)):]


class OfflineChatModel:
    backend = "offline"

    def __init__(self, responders: dict[str, Responder] | None = None,
                 model: str = "offline-lexicon-v1") -> None:
        self.model = model
        self.responders = dict(responders or {})
        self.meter = TokenMeter()

    async def complete(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        responder = self.responders.get(request.task)
        if responder is not None:
            answer = responder(request)
        elif request.schema is not None:
            answer = fill_schema(request.schema, stable_hash(request.task, request.inputs))
        else:
            answer = f"offline answer for {request.task}"
        if request.schema is not None:
            check(answer, request.schema)
        text = answer if isinstance(answer, str) else json.dumps(answer)
        # Offline calls count words so dry runs exercise the accounting path.
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.messages)
        completion_tokens = len(text.split())
        self.meter.add(prompt_tokens, completion_tokens)
        return Completion(text=text, parsed=answer if request.schema is not None else None,
                          model=self.model, backend=self.backend, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens,
                          latency_seconds=time.perf_counter() - started, attempts=1,
                          parameters={"temperature": 0.0})

    async def close(self) -> None:
        return None
