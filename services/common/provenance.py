"""Provenance records: how a stage produced an output, from a model completion
or a rendering step, as the `Provenance` message every output carries."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from mis.v1 import common_pb2
from services.common.models.base import Completion

try:
    SERVICE_VERSION = metadata.version("mis-platform")
except metadata.PackageNotFoundError:  # running from a source tree without install
    SERVICE_VERSION = "0+unknown"


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update({k: v for k, v in values.items() if v is not None})
    return out


def provenance(stage: int, *, backend: str, model: str, prompt_version: str = "",
               parameters: dict[str, Any] | None = None, prompt_tokens: int = 0,
               completion_tokens: int = 0, latency_seconds: float = 0.0,
               gpu_seconds: float = 0.0, attempts: int = 1) -> common_pb2.Provenance:
    finished = timestamp_pb2.Timestamp()
    finished.GetCurrentTime()
    return common_pb2.Provenance(
        stage=stage, backend=backend, model=model, prompt_version=prompt_version,
        parameters=_struct(parameters or {}),
        tokens=common_pb2.TokenUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        latency_seconds=latency_seconds, gpu_seconds=gpu_seconds, attempts=attempts,
        finished_at=finished, service_version=SERVICE_VERSION)


def from_completion(stage: int, completion: Completion, prompt_version: str,
                    **extra_parameters: Any) -> common_pb2.Provenance:
    """Provenance of one model call."""
    return provenance(stage, backend=completion.backend, model=completion.model,
                      prompt_version=prompt_version,
                      parameters={**completion.parameters, **extra_parameters},
                      prompt_tokens=completion.prompt_tokens,
                      completion_tokens=completion.completion_tokens,
                      latency_seconds=completion.latency_seconds, attempts=completion.attempts)
