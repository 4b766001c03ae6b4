"""What a stage service serves, as the `StageInfo` its GetInfo answers: built
here once from the service's own backends and limits, so every service
reports them the same way and the coordinator can check a run against them
before it sends any work."""

from __future__ import annotations

from typing import Collection, Iterable, Sequence

from mis.v1 import common_pb2


def served_backends(models: Sequence[Collection[str]]) -> list[str]:
    """The backend names a request may give: those every model of the service
    has (its LLM and its VLM), since one `backend` option picks from each."""
    names = set(models[0]) if models else set()
    for more in models[1:]:
        names &= set(more)
    return sorted(names)


def stage_info(service: str, models: Sequence[Collection[str]], default_backend: str, *,
               max_batch_items: int, renderers: Iterable[common_pb2.RendererInfo] = (),
               default_renderer: str = "", max_refinement_rounds: int = 0) -> common_pb2.StageInfo:
    """The StageInfo of `service`: `models` are the backend names of each of
    its models (a `Backends.models`), `default_backend` what an empty
    backend takes."""
    return common_pb2.StageInfo(
        service=service, backends=served_backends(models), default_backend=default_backend,
        max_batch_items=max_batch_items, renderers=list(renderers),
        default_renderer=default_renderer, max_refinement_rounds=max_refinement_rounds)
