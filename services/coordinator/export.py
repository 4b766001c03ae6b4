"""Dataset export from a finished run, and the publishing of a written tree
that the import (importing.py) shares.

Both build `DatasetRecord`s and hand them to `dataset.write_tree`, then
publish the tree to datasets/<name>/<version>/ in the store, so an exported
and an imported dataset look the same to the trainer and the evaluation.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections import Counter
from pathlib import Path

from google.protobuf import json_format

from mis.v1 import common_pb2, coordinator_pb2
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.store import ObjectNotFound, Store, StoreError
from services.coordinator import layout
from services.coordinator.dataset import WrittenDataset, write_tree
from services.coordinator.localpaths import LocalRoots
from services.coordinator.outputs import StoredOutputs
from services.coordinator.records import DatasetRecord, SetAside
from services.coordinator.review.state import card_section, load_review
from services.coordinator.runwalk import RunWalk, WalkedSample, walk_run
from services.coordinator.sample import Sample, Seed
from services.coordinator.stages import BRANCHES, BY_STAGE, PIPELINE, PipelineStage, following

log = logging.getLogger("mis.coordinator.export")

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def label(value: str, field: str) -> str:
    """A dataset name or version: a plain name, matched as a whole (no trailing newline)."""
    if not _LABEL.fullmatch(value):
        raise InvalidArgument(field, "letters, digits, '.', '_' and '-', at most 80")
    return value


def dataset_name(config: coordinator_pb2.RunConfig) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", config.name).strip("-") or "mis"


def _image_reader(store: Store):
    return lambda ref: (lambda: store.get_image(ref))


def replay(store: "Store | StoredOutputs", run_id: str, entry: dict, fanned: dict[str, list[Sample]]
           ) -> tuple[Sample, list[PipelineStage]]:
    """A kept sample rebuilt from its stored outputs by the same stage
    declarations the pipeline applied (`fanned` caches each seed's samples),
    with the stages it went through. Pass a `StoredOutputs` to read a run
    whose outputs were stored in groups."""
    first = PIPELINE[0]
    seed_id = entry["seed_id"]
    if seed_id not in fanned:
        seed = Seed(common_pb2.Seed(id=seed_id), entry["seed_index"])
        stored = store.get_json(seed.output_key(run_id, first.stored_as))
        fanned[seed_id] = first.apply(seed, first.result_of(stored), run_id)
    sample = fanned[seed_id][entry["query_index"]]
    passed = [first]
    stage = following(first, sample)
    while stage is not None:
        stored = store.get_json(sample.output_key(run_id, stage.stored_as))
        passed.append(stage)
        moved = stage.apply(sample, stage.result_of(stored), run_id)
        fork = next((f for f in (b.fork(sample) for b in BRANCHES[stage.key]) if f.id == entry["id"]), None)
        if fork is not None:  # the entry is a fork a branch took here: follow it
            sample, moved = fork, [fork]
        if not moved:
            break
        stage = following(stage, sample)
    return sample, passed


def _made_by(record: common_pb2.Provenance) -> tuple[str, str, str, str]:
    declared = BY_STAGE.get(record.stage)
    name = declared.key if declared else common_pb2.Stage.Name(record.stage).removeprefix("STAGE_").lower()
    return (name, record.backend, record.model, record.prompt_version)


def _sent(record: common_pb2.Provenance) -> str:
    """The parameters a call was made with (sampling settings, seeds), as sorted JSON."""
    return json.dumps(json_format.MessageToDict(record.parameters), sort_keys=True) if record.parameters.fields else ""


_UNSET = {"split": "", "instruction": "", "category": "", "sub_category": "", "image1": None, "image2": None}


def sample_record(walked: WalkedSample, images, review: dict) -> DatasetRecord:
    """The exported record of a walked sample: the fields and provenance
    lists each stage it went through exports (a rejecting stage adds
    nothing), with the provenance of every model call behind it."""
    sample = walked.sample
    fields: dict = {}
    lists: dict[str, list[dict]] = {}
    for stage in walked.passed:
        if stage.key == walked.rejected_at:
            break
        fields.update(stage.export(sample, images))
        lists.update(stage.exported_provenance(walked.results[stage.key]))
    return DatasetRecord(**{**_UNSET, **fields}, made_by=[_made_by(p) for p in sample.provenance],
                         parameters=[_sent(p) for p in sample.provenance], review=review.get(sample.id, {}),
                         stage_provenance=lists)


def _set_aside(walk: RunWalk, result: dict, review, records: list[DatasetRecord], images) -> list[SetAside]:
    """What the dataset leaves out, in seed order: reviewers' rejections,
    stage rejections, near-duplicates and samples over their split's target."""
    rejected = review.rejected()
    duplicates = {d["id"]: d for d in result.get("duplicates", [])}
    over_target = set(result.get("over_target", []))
    kept = {r.id: r for r in records}
    aside = []
    for sample_id, walked in walk.samples.items():
        if sample_id in rejected and sample_id in kept:
            decision = rejected[sample_id]
            aside.append(SetAside(kept[sample_id], "reviewer", decision["reason"], decision["note"]))
        elif sample_id in kept:
            continue
        elif walked.rejection is not None:
            reason = common_pb2.RejectionReason.Name(walked.rejection.reason)
            aside.append(SetAside(sample_record(walked, images, {}), "rejected", reason,
                                  walked.rejection.detail, stage=walked.rejected_at))
        elif sample_id in duplicates:
            entry = duplicates[sample_id]
            aside.append(SetAside(sample_record(walked, images, {}), "near-duplicate",
                                  common_pb2.RejectionReason.Name(common_pb2.REJECTION_REASON_DUPLICATE),
                                  entry.get("reason", ""), duplicate_of=entry.get("duplicate_of", "")))
        elif sample_id in over_target:
            aside.append(SetAside(sample_record(walked, images, {}), "over-target", "split target reached"))
    return aside


def run_records(store: Store, run_id: str, review: dict | None = None
                ) -> tuple[list[DatasetRecord], dict, RunWalk]:
    """The finished samples of a run, in result.json's order, its result, and
    the walk over every sample it made: each record's fields are what the
    stages it went through export; `review` is the reviewers' decisions."""
    try:
        result = store.get_json(layout.result_record(run_id))
    except ObjectNotFound:
        raise FailedPrecondition(f"run {run_id} has no result yet; export it when it has finished") from None
    walk = walk_run(store, run_id)
    images = _image_reader(store)
    records = [sample_record(walk.samples[entry["id"]], images, review or {}) for entry in result["samples"]]
    return records, result, walk


def _remove(store: Store, keys: list[str]) -> None:
    for key in keys:
        try:
            store.delete(key)
        except StoreError as exc:
            log.warning("could not remove a dataset object", extra={"key": key, "error": str(exc)})


def publish(store: Store, written: WrittenDataset, name: str, version: str) -> None:
    """Upload a written tree to datasets/<name>/<version>/. When an upload
    fails, what this call wrote is removed again before the error goes on;
    when all succeed, objects of an earlier, larger version under the same
    prefix are removed, so the prefix holds exactly this tree."""
    prefix = layout.dataset_prefix(name, version)
    earlier = set(store.list_keys(prefix))
    uploaded: list[str] = []
    try:
        for path in written.files:
            key = prefix + path.relative_to(written.root).as_posix()
            content_type = {"json": "application/json", "md": "text/markdown", "png": "image/png",
                            "jsonl": "application/x-ndjson", "html": "text/html",
                            "parquet": "application/vnd.apache.parquet"}.get(path.suffix.lstrip("."),
                                                                               "application/octet-stream")
            store.put_bytes(key, path.read_bytes(), content_type)
            uploaded.append(key)
    except BaseException:
        _remove(store, uploaded)
        raise
    _remove(store, sorted(earlier - set(uploaded)))


def manifest_of(store: Store, name: str, version: str, written: WrittenDataset) -> coordinator_pb2.DatasetManifest:
    prefix = layout.dataset_prefix(name, version)
    return coordinator_pb2.DatasetManifest(name=name, version=version,
                                           uri=f"s3://{store.bucket}/{prefix}",
                                           per_split=written.per_split,
                                           card_key=prefix + "README.md")


def _export_folder(local_dir: str, roots: LocalRoots | None) -> Path:
    """Where a local copy goes: inside a local root, and a folder (or nothing yet)."""
    target = (roots or LocalRoots.parse("")).confine(local_dir, "local_dir")
    if target.exists() and not target.is_dir():
        raise InvalidArgument("local_dir", f"{target} exists and is not a folder")
    return target


def export_run(store: Store, run: coordinator_pb2.Run, version: str = "",
               local_dir: str = "", roots: LocalRoots | None = None) -> coordinator_pb2.DatasetManifest:
    """Write a finished run's dataset to the store (and `local_dir` when given,
    which must lie inside the coordinator's local roots)."""
    if run.state != coordinator_pb2.RUN_STATE_SUCCEEDED:
        raise FailedPrecondition(f"run {run.id} is {coordinator_pb2.RunState.Name(run.state)}; "
                                 "only a finished run can be exported")
    name = dataset_name(run.config)
    version = label(version, "version") if version else run.id
    target = _export_folder(local_dir, roots) if local_dir else None
    review = load_review(store, run.id)
    records, result, walk = run_records(store, run.id, review.decisions)
    images = _image_reader(store)
    aside = _set_aside(walk, result, review, records, images)
    rejected = review.rejected()  # a reviewer's rejection takes the sample out of every later export
    dropped = [r for r in records if r.id in rejected]
    records = [r for r in records if r.id not in rejected]
    models = sorted({m for r in records for m in r.made_by})
    card = {"name": name, "version": version, "run_id": run.id,
            "created_at": run.updated_at.ToJsonString(),
            "description": "Multi-image safety samples built by the MIS pipeline: two images "
                           "whose combination carries the harm, a neutral instruction, and for "
                           "train samples a safety chain-of-thought label.",
            "models": [{"stage": s, "backend": b, "model": m, "prompt_version": p}
                       for s, b, m, p in models],
            "cost": {"prompt_tokens": run.progress.tokens.prompt_tokens,
                     "completion_tokens": run.progress.tokens.completion_tokens,
                     "gpu_seconds": run.progress.gpu_seconds, **walk.cost_section()},
            "config": run.config.name,
            "run_config": json_format.MessageToDict(run.config, preserving_proto_field_name=True),
            "set_aside": dict(sorted(Counter(a.kind for a in aside).items()))}
    if review.decisions:
        card["review"] = card_section(review, dropped)
    with tempfile.TemporaryDirectory() as scratch:
        written = write_tree(records, target or Path(scratch) / "dataset", card, aside)
        publish(store, written, name, version)
    return manifest_of(store, name, version, written)
