"""What a stage service serves, as the `StageInfo` its GetInfo answers: built
here once from the service's own backends and limits, so every service
reports them the same way and the coordinator can check a run against them
before it sends any work."""

from __future__ import annotations

from typing import Collection, Sequence

from mis.v1 import common_pb2


def served_backends(models: Sequence[Collection[str]]) -> list[str]:
    """The backend names a request may give: those every model of the service
    has (its LLM and its VLM), since one `backend` option picks from each."""
    names = set(models[0]) if models else set()
    for more in models[1:]:
        names &= set(more)
    return sorted(names)


def stage_info(service: str, models: Sequence[Collection[str]], default_backend: str, *,
               max_batch_items: int) -> common_pb2.StageInfo:
    """The StageInfo of `service`: `models` are the backend names of each of
    its models (a `Backends.models`), `default_backend` what an empty
    backend takes. A service with more to say (the t2i-refiner) merges its
    own fields in."""
    return common_pb2.StageInfo(service=service, backends=served_backends(models),
                                default_backend=default_backend, max_batch_items=max_batch_items)
