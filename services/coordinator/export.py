"""Dataset export from a finished run, and import of a MIS_Test-style folder.

Both build `DatasetRecord`s and hand them to `dataset.write_tree`, then upload
the tree to datasets/<name>/<version>/ in the store, so an exported and an
imported dataset look the same to the trainer and the evaluation.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from mis.v1 import common_pb2, coordinator_pb2
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.images import ImageRejected, inspect_image
from services.common.store import ObjectNotFound, Store
from services.coordinator import layout
from services.coordinator.dataset import TEST_SPLITS, WrittenDataset, write_tree
from services.coordinator.records import DatasetRecord
from services.coordinator.sample import Sample, Seed
from services.coordinator.stages import BY_STAGE, PIPELINE, PipelineStage, following

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def _label(value: str, field: str) -> str:
    if not _LABEL.match(value):
        raise InvalidArgument(field, "letters, digits, '.', '_' and '-', at most 80")
    return value


def dataset_name(config: coordinator_pb2.RunConfig) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", config.name).strip("-") or "mis"


def _image_reader(store: Store):
    return lambda ref: (lambda: store.get_image(ref))


def replay(store: Store, run_id: str, entry: dict, fanned: dict[str, list[Sample]]
           ) -> tuple[Sample, list[PipelineStage]]:
    """A kept sample rebuilt from its stored outputs by the same stage
    declarations the pipeline applied (`fanned` caches each seed's samples),
    with the stages it went through."""
    first = PIPELINE[0]
    seed_id = entry["seed_id"]
    if seed_id not in fanned:
        seed = Seed(common_pb2.Seed(id=seed_id), entry["seed_index"])
        stored = store.get_json(seed.output_key(run_id, first.key))
        fanned[seed_id] = first.apply(seed, first.result_from_json(stored["result"]), run_id)
    sample = fanned[seed_id][entry["query_index"]]
    passed = [first]
    stage = following(first)
    while stage is not None:
        stored = store.get_json(sample.output_key(run_id, stage.key))
        passed.append(stage)
        if not stage.apply(sample, stage.result_from_json(stored["result"]), run_id):
            break
        stage = following(stage)
    return sample, passed


def _made_by(record: common_pb2.Provenance) -> tuple[str, str, str, str]:
    declared = BY_STAGE.get(record.stage)
    name = declared.key if declared else common_pb2.Stage.Name(record.stage).removeprefix("STAGE_").lower()
    return (name, record.backend, record.model, record.prompt_version)


def run_records(store: Store, run_id: str) -> tuple[list[DatasetRecord], dict]:
    """The finished samples of a run, in result.json's order, and its result:
    each record's fields are what the stages it went through export."""
    try:
        result = store.get_json(layout.result_record(run_id))
    except ObjectNotFound:
        raise FailedPrecondition(f"run {run_id} has no result yet; export it when it has finished") from None
    images = _image_reader(store)
    fanned: dict[str, list[Sample]] = {}
    records = []
    for entry in result["samples"]:
        sample, passed = replay(store, run_id, entry, fanned)
        fields: dict = {}
        for stage in passed:
            fields.update(stage.export(sample, images))
        records.append(DatasetRecord(**fields, made_by=[_made_by(p) for p in sample.provenance]))
    return records, result


def upload(store: Store, written: WrittenDataset, prefix: str) -> None:
    for path in written.files:
        relative = path.relative_to(written.root).as_posix()
        content_type = {"json": "application/json", "md": "text/markdown",
                        "png": "image/png"}.get(path.suffix.lstrip("."), "application/octet-stream")
        store.put_bytes(prefix + relative, path.read_bytes(), content_type)


def _manifest(store: Store, name: str, version: str, written: WrittenDataset) -> coordinator_pb2.DatasetManifest:
    prefix = layout.dataset_prefix(name, version)
    return coordinator_pb2.DatasetManifest(name=name, version=version,
                                           uri=f"s3://{store.bucket}/{prefix}",
                                           per_split=written.per_split,
                                           card_key=prefix + "README.md")


def export_run(store: Store, run: coordinator_pb2.Run, version: str = "",
               local_dir: str = "") -> coordinator_pb2.DatasetManifest:
    """Write a finished run's dataset to the store (and `local_dir` when given)."""
    if run.state != coordinator_pb2.RUN_STATE_SUCCEEDED:
        raise FailedPrecondition(f"run {run.id} is {coordinator_pb2.RunState.Name(run.state)}; "
                                 "only a finished run can be exported")
    name = dataset_name(run.config)
    version = _label(version, "version") if version else run.id
    records, _ = run_records(store, run.id)
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
                     "gpu_seconds": run.progress.gpu_seconds},
            "config": run.config.name}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(local_dir) if local_dir else Path(scratch) / "dataset"
        written = write_tree(records, root, card)
        upload(store, written, layout.dataset_prefix(name, version))
    return _manifest(store, name, version, written)


# -- import ---------------------------------------------------------------------------------

def _inside(root: Path, relative: object, where: str) -> Path:
    """A path inside the dataset root, or InvalidArgument naming the record field."""
    if not isinstance(relative, str) or not relative.strip():
        raise InvalidArgument(where, "required, a path relative to the dataset root")
    if Path(relative).is_absolute():
        raise InvalidArgument(where, f"{relative!r} is absolute; paths are relative to the dataset root")
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise InvalidArgument(where, f"{relative!r} escapes the dataset root")
    if not target.is_file():
        raise InvalidArgument(where, f"{relative!r}: no such file")
    return target


def _checked_reader(path: Path, where: str, max_bytes: int):
    data = path.read_bytes()
    try:
        inspect_image(data, max_bytes)
    except ImageRejected as exc:
        raise InvalidArgument(where, str(exc)) from None
    return lambda: data


def _read_array(path: Path) -> list:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidArgument(path.name, f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, list):
        raise InvalidArgument(path.name, "expected a JSON array of records")
    return data


def folder_records(folder: Path, max_image_bytes: int) -> list[DatasetRecord]:
    """Records of a MIS_Test-style folder (mis_easy.json or easy.json, ...), plus
    train/train.json in the conversation format when present."""
    root = folder.resolve()
    if not root.is_dir():
        raise InvalidArgument("path", f"{folder}: not a folder")
    records: list[DatasetRecord] = []
    for split in TEST_SPLITS:
        candidates = [root / f"mis_{split}.json", root / f"{split}.json"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            continue
        for index, item in enumerate(_read_array(path)):
            where = f"{path.name}[{index}]"
            if not isinstance(item, dict):
                raise InvalidArgument(where, "expected a JSON object")
            for key in ("question", "category", "sub_category"):
                if not isinstance(item.get(key), str) or not item[key].strip():
                    raise InvalidArgument(f"{where}.{key}", "required, a non-empty string")
            image1 = _inside(root, item.get("image_path1"), f"{where}.image_path1")
            image2 = _inside(root, item.get("image_path2"), f"{where}.image_path2")
            records.append(DatasetRecord(
                id=f"{split}-{item.get('id', index + 1)}", split=split, instruction=item["question"],
                category=item["category"], sub_category=item["sub_category"],
                image1=_checked_reader(image1, f"{where}.image_path1", max_image_bytes),
                image2=_checked_reader(image2, f"{where}.image_path2", max_image_bytes)))
    train = root / "train" / "train.json"
    if train.is_file():
        train_root = train.parent.resolve()
        for index, item in enumerate(_read_array(train)):
            where = f"train/train.json[{index}]"
            images = item.get("images") if isinstance(item, dict) else None
            turns = item.get("conversations") if isinstance(item, dict) else None
            if not isinstance(images, list) or len(images) != 2:
                raise InvalidArgument(f"{where}.images", "expected two image paths")
            if not isinstance(turns, list) or len(turns) != 2:
                raise InvalidArgument(f"{where}.conversations", "expected a human and a gpt turn")
            paths = [_inside(train_root, p, f"{where}.images[{n}]") for n, p in enumerate(images)]
            question = str(turns[0].get("value", "")).replace("<image>\n", "").strip()
            records.append(DatasetRecord(
                id=str(item.get("id", f"train-{index}")), split="train", instruction=question,
                category=str(item.get("category", "")), sub_category=str(item.get("sub_category", "")),
                image1=_checked_reader(paths[0], f"{where}.images[0]", max_image_bytes),
                image2=_checked_reader(paths[1], f"{where}.images[1]", max_image_bytes),
                cot_label=str(turns[1].get("value", ""))))
    if not records:
        raise InvalidArgument("path", f"{folder}: no mis_easy.json, mis_hard.json, mis_real.json "
                                      "(or easy.json, ...) or train/train.json found")
    return records


def import_folder(store: Store, folder: str, name: str, version: str) -> tuple[coordinator_pb2.DatasetManifest, int]:
    if not folder:
        raise InvalidArgument("path", "required")
    name = _label(name or Path(folder).resolve().name, "name")
    version = _label(version or "imported", "version")
    records = folder_records(Path(folder), store.max_image_bytes)
    card = {"name": name, "version": version, "source": f"imported from {Path(folder).name}",
            "description": "A MIS_Test-style dataset imported into the store."}
    with tempfile.TemporaryDirectory() as scratch:
        written = write_tree(records, Path(scratch) / "dataset", card)
        upload(store, written, layout.dataset_prefix(name, version))
    return _manifest(store, name, version, written), len(records)
