"""The pipeline: its stages in order, each declared once in its own module.

Everything else that names a stage is derived from `PIPELINE`: the registry
of services and their address variables, the coordinator's address settings,
run-config keys and defaults, each stage's own run options and their
deprecated RunConfig aliases, store keys, the CLI's progress rows, the
export's fields and the benchmark's wiring. Adding a stage is a module here
and one line below; see docs/adding-a-stage.md.

A branch stage (`branches_from`) sits off the main line: after the stage it
branches from has handled a sample, it may take a fork of it, and the fork
goes on from the branch while the sample goes its own way.
"""

from __future__ import annotations

from services.coordinator.sample import Sample
from services.coordinator.stages.annotate import ANNOTATE
from services.coordinator.stages.base import (PipelineStage, ProvenanceList, RunContext, StageApi,
                                              StageCallError, TransientStageError)
from services.coordinator.stages.detoxify import DETOXIFY
from services.coordinator.stages.extract import EXTRACT
from services.coordinator.stages.filter import FILTER
from services.coordinator.stages.options import OptionValue, StageOption
from services.coordinator.stages.refine import REFINE
from services.coordinator.stages.retrieve import RETRIEVE

PIPELINE: tuple[PipelineStage, ...] = (EXTRACT, DETOXIFY, REFINE, FILTER, RETRIEVE, ANNOTATE)

BY_KEY: dict[str, PipelineStage] = {stage.key: stage for stage in PIPELINE}
BY_STAGE: dict[int, PipelineStage] = {stage.stage: stage for stage in PIPELINE}
# A renamed stage's former keys, as written in older run configs and stored runs.
FORMER_KEYS: dict[str, PipelineStage] = {former: stage for stage in PIPELINE for former in stage.former_keys}


def named(key: str) -> PipelineStage | None:
    """The stage a key names: its key, or one it had before a rename (the
    one place a former key is read as its stage); None for no stage."""
    return BY_KEY.get(key) or FORMER_KEYS.get(key)


# Splits a branch finishes (real): their target caps the forks kept, never the seeds started.
BRANCH_SPLITS: frozenset[str] = frozenset(split for stage in PIPELINE if stage.branches_from
                                          for split in stage.finishes)

BRANCHES: dict[str, tuple[PipelineStage, ...]] = {
    stage.key: tuple(other for other in PIPELINE if other.branches_from == stage.key)
    for stage in PIPELINE}


def provenance_lists() -> tuple[ProvenanceList, ...]:
    """Every provenance list the pipeline's stages declare, in pipeline order:
    what each exported record carries (empty where a sample did not pass the
    stage) and the Parquet columns of its provenance. Read from `PIPELINE`
    when called, so the export follows the declared list."""
    return tuple(listed for stage in PIPELINE for listed in stage.provenance_lists)


def deprecated_aliases() -> dict[str, tuple[PipelineStage, StageOption]]:
    """Each RunConfig field (or key of a mapping field, `render.width`) that
    a stage's option once was, and the stage and option it is read as: the
    one table of deprecated run-config keys, from the declarations."""
    return {path: (stage, option) for stage in PIPELINE for option in stage.options
            for path in option.legacy}


def run_options(config) -> dict[str, dict[str, OptionValue]]:
    """Every stage's own options in a run, by stage key then option name, in
    pipeline order (stages with none left out): what the CLI and the browser
    show. Raises RunConfigError as the stages' `run_options` do."""
    return {stage.key: stage.run_options(config) for stage in PIPELINE if stage.options}


def following(stage: PipelineStage, sample: object = None) -> PipelineStage | None:
    """Where `sample` goes after `stage`: a fresh fork to its branch, anything
    else to the next main-line stage (None after the last). Branch stages
    are never reached in pipeline order."""
    branch = BY_KEY.get(getattr(sample, "branch", ""))
    if branch is not None and branch.branches_from == stage.key:
        return branch
    later = PIPELINE[PIPELINE.index(stage) + 1:]
    return next((other for other in later if not other.branches_from), None)


def forks(stage: PipelineStage, sample: object, config) -> list:
    """The forks the run's branches of `stage` take of a sample it accepted."""
    if not isinstance(sample, Sample):
        return []
    return [branch.fork(sample) for branch in BRANCHES[stage.key]
            if branch.used(config) and branch.takes(sample)]


__all__ = ["PIPELINE", "BY_KEY", "BY_STAGE", "BRANCHES", "BRANCH_SPLITS", "FORMER_KEYS", "deprecated_aliases",
           "following", "forks", "named", "provenance_lists", "run_options", "OptionValue", "PipelineStage",
           "ProvenanceList", "RunContext", "StageApi", "StageCallError", "StageOption", "TransientStageError"]
