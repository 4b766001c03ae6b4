"""The pipeline: its stages in order, each declared once in its own module.

Everything else that names a stage is derived from `PIPELINE`: the registry
of services and their address variables, the coordinator's address settings,
run-config keys and defaults, store keys, the CLI's progress rows, the
export's fields and the benchmark's wiring. Adding a stage is a module here
and one line below; see docs/adding-a-stage.md.
"""

from __future__ import annotations

from services.coordinator.stages.annotate import ANNOTATE
from services.coordinator.stages.base import (PipelineStage, RunContext, StageApi, StageCallError,
                                              TransientStageError)
from services.coordinator.stages.detoxify import DETOXIFY
from services.coordinator.stages.extract import EXTRACT
from services.coordinator.stages.filter import FILTER
from services.coordinator.stages.render import RENDER

PIPELINE: tuple[PipelineStage, ...] = (EXTRACT, DETOXIFY, RENDER, FILTER, ANNOTATE)

BY_KEY: dict[str, PipelineStage] = {stage.key: stage for stage in PIPELINE}
BY_STAGE: dict[int, PipelineStage] = {stage.stage: stage for stage in PIPELINE}


def following(stage: PipelineStage) -> PipelineStage | None:
    """The stage after `stage`, or None after the last."""
    index = PIPELINE.index(stage)
    return PIPELINE[index + 1] if index + 1 < len(PIPELINE) else None


__all__ = ["PIPELINE", "BY_KEY", "BY_STAGE", "following", "PipelineStage", "RunContext",
           "StageApi", "StageCallError", "TransientStageError"]
