"""Run configs: the YAML file a user edits, turned into the `RunConfig`
message, with defaults filled in and every mistake reported as the key at
fault and the reason (`stages.refine.concurrency: must be 1 or more`).

A stage's own options sit under its settings, `stages.refine.options:
{refinement_rounds: 1, width: 512}`, checked against the options its
declaration lists (stages/options.py); the RunConfig fields they once were
(`refinement_rounds`, `render: {...}`, ...) are still read, as deprecated
aliases.

YAML is friendlier than the proto's JSON form in three ways, all optional:
stages may be a mapping keyed by stage name (`refine: {concurrency: 2}`),
stage and seed-format names may be short and lower-case (`refine`,
`jsonl`), and relative seed and taxonomy paths are read relative to the
config file. A stage's former key (`render`) is read as the stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor, json_format

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator.sample import SPLIT_NAMES, split_target
from services.coordinator.stages import BY_KEY, BY_STAGE, PIPELINE, PipelineStage, named
from services.coordinator.stages.base import RunConfigError
from services.coordinator.stages.extract import DEFAULT_QUERIES_PER_SEED

__all__ = ["RunConfigError", "parse_run_config", "load_run_config", "validate_run_config",
           "validate_served", "stage_config", "DEFAULT_QUERIES_PER_SEED"]


DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_MAX_ATTEMPTS = 4

_SEED_FORMATS = {"jsonl": "SEED_FORMAT_JSONL", "mis_test": "SEED_FORMAT_MIS_TEST",
                 "vlguard": "SEED_FORMAT_VLGUARD"}


def _stage_enum_name(value: Any, key: str) -> Any:
    stage = named(value.lower()) if isinstance(value, str) else None
    if stage is not None:
        return common_pb2.Stage.Name(stage.stage)
    if isinstance(value, str) and value.upper() in common_pb2.Stage.keys():
        return value.upper()
    if isinstance(value, str):
        raise RunConfigError(key, f"unknown stage {value!r} (expected one of {', '.join(BY_KEY)})")
    return value


def _normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """Short YAML spellings to the proto's JSON form."""
    data = dict(raw)
    stages = data.get("stages")
    if isinstance(stages, dict):
        listed = []
        for name, body in stages.items():
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise RunConfigError(f"stages.{name}", "expected a mapping of stage settings")
            listed.append({**body, "stage": _stage_enum_name(name, f"stages.{name}")})
        data["stages"] = listed
    elif isinstance(stages, list):
        data["stages"] = [
            {**body, "stage": _stage_enum_name(body.get("stage"), f"stages[{i}].stage")}
            if isinstance(body, dict) else body for i, body in enumerate(stages)]
    seeds = data.get("seeds")
    if isinstance(seeds, (str, dict)):
        seeds = [seeds]
    if isinstance(seeds, list):
        normalised = []
        for body in seeds:
            body = {"uri": body} if isinstance(body, str) else body
            if isinstance(body, dict) and isinstance(body.get("format"), str):
                fmt = body["format"]
                body = {**body, "format": _SEED_FORMATS.get(fmt.lower(), fmt.upper())}
            normalised.append(body)
        data["seeds"] = normalised
    return data


_INTEGERS = {descriptor.FieldDescriptor.TYPE_INT32, descriptor.FieldDescriptor.TYPE_INT64,
             descriptor.FieldDescriptor.TYPE_UINT32, descriptor.FieldDescriptor.TYPE_UINT64}
_NUMBERS = {descriptor.FieldDescriptor.TYPE_FLOAT, descriptor.FieldDescriptor.TYPE_DOUBLE}


def _check_scalar(value: Any, field: descriptor.FieldDescriptor, where: str) -> None:
    """A scalar of the field's type, checked here so every mistake is named by
    its key (the protobuf parser's errors are text, not data)."""
    kind = field.type
    if kind == field.TYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        if value not in names and not (isinstance(value, int) and not isinstance(value, bool)
                                       and value in field.enum_type.values_by_number):
            raise RunConfigError(where, f"unknown value {value!r} (expected one of {', '.join(names)})")
    elif kind == field.TYPE_BOOL and not isinstance(value, bool):
        raise RunConfigError(where, f"expected true or false, got {value!r}")
    elif kind == field.TYPE_STRING and not isinstance(value, str):
        raise RunConfigError(where, f"expected a string, got {value!r}")
    elif kind in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int)):
        raise RunConfigError(where, f"expected an integer, got {value!r}")
    elif kind in _NUMBERS and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise RunConfigError(where, f"expected a number, got {value!r}")


def _item_path(where: str, key: str, index: int, item: Any) -> str:
    """`stages.refine` for a stage entry, `seeds[0]` otherwise."""
    label = item.get("stage") if isinstance(item, dict) and key == "stages" else None
    if isinstance(label, str) and label.startswith("STAGE_") and label in common_pb2.Stage.keys():
        stage = BY_STAGE.get(common_pb2.Stage.Value(label))
        label = stage.key if stage else label
    return f"{where}.{label}" if isinstance(label, str) else f"{where}[{index}]"


def _check_keys(value: Any, message: descriptor.Descriptor, path: str) -> None:
    """Unknown keys and mistyped values named by their path, before parsing."""
    if not isinstance(value, dict):
        raise RunConfigError(path, "expected a mapping")
    fields = {f.name: f for f in message.fields}
    fields.update({f.json_name: f for f in message.fields})
    for key, inner in value.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            known = ", ".join(f.name for f in message.fields)
            raise RunConfigError(where, f"unknown key (expected one of {known})")
        if field.message_type is not None and field.message_type.full_name.startswith("google.protobuf."):
            # A free mapping (a stage's options): its keys are checked against the declarations.
            if field.message_type.full_name == "google.protobuf.Struct" and not isinstance(inner, dict):
                raise RunConfigError(where, "expected a mapping")
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if not isinstance(inner, dict):
                raise RunConfigError(where, "expected a mapping")
            for name, item in inner.items():
                _check_scalar(item, field.message_type.fields_by_name["value"], f"{where}.{name}")
            continue
        items = [inner]
        if field.is_repeated:
            if not isinstance(inner, list):
                raise RunConfigError(where, "expected a list")
            items = inner
        for index, item in enumerate(items):
            at = _item_path(where, key, index, item) if field.is_repeated else where
            if field.message_type is not None:
                _check_keys(item, field.message_type, at)
            else:
                _check_scalar(item, field, at)


def parse_run_config(raw: Any, base_dir: Path | None = None) -> coordinator_pb2.RunConfig:
    """A mapping (parsed YAML) to a RunConfig; relative paths resolved against `base_dir`."""
    if not isinstance(raw, dict):
        raise RunConfigError("", "a run config is a mapping of keys (name, seeds, stages, ...)")
    data = _normalise(raw)
    try:
        _check_keys(data, coordinator_pb2.RunConfig.DESCRIPTOR, "")
        config = json_format.ParseDict(data, coordinator_pb2.RunConfig())
    except json_format.ParseError as exc:  # what the checks above let through, e.g. int32 overflow
        raise RunConfigError("", str(exc)) from None
    except RunConfigError as exc:
        raise _as_written(exc, raw) from None
    if base_dir is not None:
        for seed in config.seeds:
            if seed.uri and "://" not in seed.uri and not Path(seed.uri).is_absolute():
                seed.uri = str((base_dir / seed.uri).resolve())
        if config.taxonomy and "://" not in config.taxonomy and not Path(config.taxonomy).is_absolute():
            config.taxonomy = str((base_dir / config.taxonomy).resolve())
    try:
        validate_run_config(config)
    except RunConfigError as exc:
        raise _as_written(exc, raw) from None
    return config


def _as_written(error: RunConfigError, raw: dict[str, Any]) -> RunConfigError:
    """The error named by the stage key the config wrote, where that is a
    former key (`stages.render.concurency`), not by the key it is read as."""
    stages = raw.get("stages")
    written = list(stages) if isinstance(stages, dict) else [
        body.get("stage") for body in stages if isinstance(body, dict)] if isinstance(stages, list) else []
    for name in (name for name in written if isinstance(name, str)):
        stage = named(name.lower())
        prefix = f"stages.{stage.key}" if stage is not None and stage.key != name.lower() else None
        if prefix and (error.key == prefix or error.key.startswith(prefix + ".")):
            return RunConfigError(f"stages.{name}{error.key[len(prefix):]}", error.reason)
    return error


def load_run_config(path: str | Path) -> coordinator_pb2.RunConfig:
    """Read and validate a YAML run config file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RunConfigError("", f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RunConfigError("", f"{path} is not valid YAML: {exc}") from None
    return parse_run_config(raw, path.parent.resolve())


def validate_run_config(config: coordinator_pb2.RunConfig) -> None:
    """Semantic checks the parser cannot make; raises RunConfigError."""
    if not config.seeds:
        raise RunConfigError("seeds", "at least one seed source is required")
    for index, seed in enumerate(config.seeds):
        if not seed.uri.strip():
            raise RunConfigError(f"seeds[{index}].uri", "required")
        if seed.limit < 0:
            raise RunConfigError(f"seeds[{index}].limit", "must be 0 (all) or more")
    seen: set[int] = set()
    for stage in config.stages:
        info = BY_STAGE.get(stage.stage)
        if info is None:
            raise RunConfigError("stages", f"{common_pb2.Stage.Name(stage.stage)} is not a pipeline "
                                 f"stage (expected one of {', '.join(BY_KEY)})")
        key = f"stages.{info.key}"
        if stage.stage in seen:
            raise RunConfigError(key, "given twice")
        seen.add(stage.stage)
        for name in ("concurrency", "batch_size", "max_attempts"):
            if getattr(stage, name) < 0:
                raise RunConfigError(f"{key}.{name}", "must be 1 or more (0 takes the default)")
        if stage.timeout_seconds < 0:
            raise RunConfigError(f"{key}.timeout_seconds", "must be positive (0 takes the default)")
        for position, endpoint in enumerate(stage.endpoints):
            if not endpoint.strip():
                raise RunConfigError(f"{key}.endpoints[{position}]", "empty endpoint")
    named = config.targets.DESCRIPTOR.fields_by_name
    for name in config.targets.by_split:
        if name in named:
            raise RunConfigError(f"targets.by_split.{name}", f"{name} has its own key, targets.{name}")
        if name not in SPLIT_NAMES.values():
            raise RunConfigError(f"targets.by_split.{name}",
                                 f"unknown split (splits: {', '.join(SPLIT_NAMES.values())})")
    for name in SPLIT_NAMES.values():
        if split_target(config.targets, name) < 0:
            key = f"targets.{name}" if name in named else f"targets.by_split.{name}"
            raise RunConfigError(key, "must be 0 (no target) or more")
    for info in PIPELINE:
        info.run_options(config)  # each stage's own options, and their deprecated aliases
        info.check_config(config)


def validate_served(config: coordinator_pb2.RunConfig,
                    served: dict[str, list[tuple[str, common_pb2.StageInfo]]]) -> None:
    """The run against what its stages serve: `served` holds, per stage key,
    the GetInfo answer of each replica that gave one. A replica is named in
    the message only where the stage has several (they may differ)."""
    for stage in PIPELINE:
        answers = served.get(stage.key, [])
        for address, info in answers:
            label = stage.service if len(answers) == 1 else f"{stage.service} at {address}"
            stage.check_served(config, info, label)


def stage_config(config: coordinator_pb2.RunConfig, info: PipelineStage) -> coordinator_pb2.StageConfig:
    """The stage's settings with defaults filled in (endpoints may stay empty)."""
    found = next((s for s in config.stages if s.stage == info.stage), None)
    out = coordinator_pb2.StageConfig(stage=info.stage)
    if found is not None:
        out.CopyFrom(found)
    out.concurrency = out.concurrency or info.concurrency
    out.batch_size = out.batch_size or info.batch_size
    out.timeout_seconds = out.timeout_seconds or DEFAULT_TIMEOUT_SECONDS
    out.max_attempts = out.max_attempts or DEFAULT_MAX_ATTEMPTS
    return out
