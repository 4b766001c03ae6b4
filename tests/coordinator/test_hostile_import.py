"""Imports and local paths as an attacker or a careless caller would use
them: ids that are paths, duplicate ids, labels outside the taxonomy,
symlinks out of the folder, a store write failing mid-way, a smaller
re-import, paths outside the coordinator's local roots. Against the real S3
server, and once over gRPC through a real coordinator process."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import grpc
import pytest
from PIL import Image

from mis.v1 import coordinator_pb2 as pb
from services.common.errors import InvalidArgument
from services.common.store import Store, StoreError
from services.coordinator.callers import GrpcCallers
from services.coordinator.config import StageAddresses
from services.coordinator.export import export_run
from services.coordinator.importing import import_folder
from services.coordinator.inputs import load_inputs
from services.coordinator.localpaths import LocalRoots
from services.coordinator.runconfig import parse_run_config
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import DEMO_SEEDS, coordinator_stub
from tests.hostile.fuzz import bomb_png, truncated_png

LABELS = {"category": "Violent", "sub_category": "Weapon-Related Violence"}


def _train_item(item_id: str | None, index: int) -> dict:
    item = {"images": [f"images/{index}/a.png", f"images/{index}/b.png"],
            "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "safe"}],
            **LABELS}
    if item_id is not None:
        item["id"] = item_id
    return item


def train_folder(root: Path, ids: list[str | None]) -> Path:
    """A folder with train/train.json holding one record per id (None: no id given)."""
    for index in range(len(ids)):
        folder = root / "train" / "images" / str(index)
        folder.mkdir(parents=True, exist_ok=True)
        for name, colour in (("a.png", "red"), ("b.png", "blue")):
            Image.new("RGB", (8, 8), colour).save(folder / name)
    items = [_train_item(item_id, index) for index, item_id in enumerate(ids)]
    (root / "train" / "train.json").write_text(json.dumps(items))
    return root


def easy_folder(root: Path, records: list[dict]) -> Path:
    (root / "easy_image" / "1").mkdir(parents=True, exist_ok=True)
    for name in ("object1.png", "object2.png"):
        Image.new("RGB", (8, 8), "green").save(root / "easy_image" / "1" / name)
    items = [{"question": "q", **LABELS, "image_path1": "easy_image/1/object1.png",
              "image_path2": "easy_image/1/object2.png", **record} for record in records]
    (root / "mis_easy.json").write_text(json.dumps(items))
    return root


def keys(store: Store, prefix: str = "") -> list[str]:
    return list(store.list_keys(prefix))


def test_a_train_id_that_is_a_path_is_refused_and_nothing_is_written(store, tmp_path):
    folder = train_folder(tmp_path / "ds", ["ok-1", "../../../../escaped"])
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "hostile", "v1")
    assert caught.value.field == "train/train.json[1].id"
    assert "not a plain name" in caught.value.reason
    assert keys(store) == []
    assert not list(tmp_path.rglob("escaped"))


@pytest.mark.parametrize("ids, field, other", [
    (["same", "same"], "train/train.json[1].id", "train/train.json[0]"),
    # The second record's given id is the id generated for the first.
    ([None, "train-0"], "train/train.json[1].id", "train/train.json[0]"),
])
def test_duplicate_and_generated_ids_are_an_error_naming_both(store, tmp_path, ids, field, other):
    folder = train_folder(tmp_path / "ds", ids)
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "dup", "v1")
    assert caught.value.field == field
    assert f"also the id of {other}" in caught.value.reason
    assert keys(store) == []


def test_a_test_split_id_colliding_with_a_generated_one_names_both(store, tmp_path):
    folder = easy_folder(tmp_path / "ds", [{}, {"id": 1}])  # the first is numbered 1
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "dup", "v1")
    assert caught.value.field == "mis_easy.json[1].id"
    assert "also the id of mis_easy.json[0]" in caught.value.reason


@pytest.mark.parametrize("labels, field, reason", [
    ({"category": "Gardening", "sub_category": "Weapon-Related Violence"}, "category", "not a category"),
    ({"category": "Violent", "sub_category": "Identity Theft"}, "sub_category", "belongs to 'Privacy'"),
    ({"category": "Violent", "sub_category": "Pottery"}, "sub_category", "not in the taxonomy"),
])
def test_labels_outside_the_taxonomy_are_refused(store, tmp_path, labels, field, reason):
    folder = easy_folder(tmp_path / "ds", [labels])
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "labels", "v1")
    assert caught.value.field == f"mis_easy.json[0].{field}"
    assert reason in caught.value.reason
    assert keys(store) == []


def test_a_split_file_symlinked_out_of_the_folder_is_refused(store, tmp_path):
    outside = easy_folder(tmp_path / "outside", [{}])
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "mis_easy.json").symlink_to(outside / "mis_easy.json")
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "linked", "v1")
    assert caught.value.field == "mis_easy.json"
    assert "escapes the dataset root" in caught.value.reason
    assert keys(store) == []


def test_a_train_folder_symlinked_out_of_the_folder_is_refused(store, tmp_path):
    outside = train_folder(tmp_path / "outside", ["t1"])
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train").symlink_to(outside / "train", target_is_directory=True)
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "linked", "v1")
    assert caught.value.field == "train"
    assert keys(store) == []


@dataclasses.dataclass
class FailingStore(Store):
    """The real store, whose put fails after `puts_allowed` objects, as a
    store that goes away mid-way would."""

    puts_allowed: int = 0

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if self.puts_allowed <= 0:
            raise StoreError(f"put {key}: connection reset", "ConnectionReset")
        self.puts_allowed -= 1
        super().put_bytes(key, data, content_type)


def test_a_write_failing_mid_way_leaves_nothing_stored(store, tmp_path):
    folder = train_folder(tmp_path / "ds", ["t1", "t2", "t3"])
    failing = FailingStore(store.client, store.bucket, puts_allowed=4)
    with pytest.raises(StoreError):
        import_folder(failing, str(folder), "partial", "v1")
    assert failing.puts_allowed == 0  # four objects were written before the failure
    assert keys(store) == []


def test_a_smaller_reimport_leaves_no_objects_of_the_old_version(store, tmp_path):
    import_folder(store, str(train_folder(tmp_path / "big", ["t1", "t2", "t3"])), "shrink", "v1")
    assert any(key.startswith("datasets/shrink/v1/train/images/t3/") for key in keys(store))
    manifest, count = import_folder(store, str(train_folder(tmp_path / "small", ["t1"])), "shrink", "v1")
    assert count == 1
    stored = keys(store, "datasets/shrink/v1/")
    assert [k for k in stored if "/images/" in k] == ["datasets/shrink/v1/train/images/t1/object1.png",
                                                      "datasets/shrink/v1/train/images/t1/object2.png"]
    assert json.loads(store.get_bytes("datasets/shrink/v1/train/train.json"))[0]["id"] == "t1"


def test_paths_outside_the_local_roots_are_refused(store, tmp_path):
    roots = LocalRoots.parse(str(tmp_path / "allowed"))
    folder = train_folder(tmp_path / "elsewhere", ["t1"])
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "out", "v1", roots)
    assert caught.value.field == "path" and "MIS_COORDINATOR_LOCAL_ROOTS" in caught.value.reason
    # A link inside the root that leads out of it is outside too.
    (tmp_path / "allowed").mkdir()
    (tmp_path / "allowed" / "link").symlink_to(folder, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="outside the coordinator's local roots"):
        import_folder(store, str(tmp_path / "allowed" / "link"), "out", "v1", roots)
    outside = tmp_path / "elsewhere" / "seeds.jsonl"
    outside.write_bytes(DEMO_SEEDS.read_bytes())
    config = parse_run_config({"name": "t", "seeds": [{"uri": str(outside), "format": "jsonl"}]})
    with pytest.raises(InvalidArgument) as caught:
        load_inputs(config, store, roots)
    assert caught.value.field == "seeds[0].uri"
    # The platform's own bundled seeds are readable wherever the roots are,
    # and its data folder is still no place to write.
    assert roots.confine_readable(str(DEMO_SEEDS), "seeds[0].uri") == DEMO_SEEDS.resolve()
    with pytest.raises(InvalidArgument, match="outside the coordinator's local roots"):
        roots.confine(str(DEMO_SEEDS.parent / "export"), "local_dir")
    config = parse_run_config({"name": "t", "taxonomy": "/etc/passwd",
                               "seeds": [{"uri": str(DEMO_SEEDS), "format": "jsonl"}]})
    with pytest.raises(InvalidArgument) as caught:
        load_inputs(config, store, LocalRoots.parse(str(DEMO_SEEDS.parent)))
    assert caught.value.field == "taxonomy"
    assert keys(store) == []


@pytest.mark.parametrize("local_dir, reason", [("file", "is not a folder"), ("with\x00nul", "NUL byte")])
def test_export_local_dir_that_is_a_file_or_holds_a_nul_is_refused(store, tmp_path, local_dir, reason):
    (tmp_path / "file").write_text("not a folder")
    run = pb.Run(id="r1", state=pb.RUN_STATE_SUCCEEDED)
    with pytest.raises(InvalidArgument) as caught:
        export_run(store, run, local_dir=str(tmp_path / local_dir))
    assert caught.value.field == "local_dir" and reason in caught.value.reason


async def test_a_run_id_with_a_trailing_newline_is_refused(store):
    manager = RunManager(store, GrpcCallers(StageAddresses()), resume=False)
    with pytest.raises(InvalidArgument) as caught:
        await manager.create(pb.RunConfig(name="t"), "fuzznl\n")
    assert caught.value.field == "run_id"


async def test_the_coordinator_answers_invalid_argument_not_unavailable(start_service, store, tmp_path):
    folder = train_folder(tmp_path / "ds", ["ok-1", "../../../../escaped"])
    coordinator = start_service("coordinator", {"MIS_COORDINATOR_LOCAL_ROOTS": str(tmp_path)})
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ImportDataset(pb.ImportDatasetRequest(path=str(folder), name="hostile"), timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "train/train.json[1].id" in caught.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ImportDataset(pb.ImportDatasetRequest(path="/etc", name="etc"), timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("path:")
    assert await asyncio.to_thread(keys, store) == []
    assert not list(tmp_path.rglob("escaped"))


@pytest.mark.parametrize("name, version, field", [("name\n", "v1", "name"), ("ok", "v1\n", "version"),
                                                  ("../up", "v1", "name")])
def test_dataset_names_and_versions_are_matched_whole(store, tmp_path, name, version, field):
    folder = train_folder(tmp_path / "ds", ["t1"])
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), name, version)
    assert caught.value.field == field
    assert keys(store) == []


@pytest.mark.parametrize("replacement, reason", [
    (bomb_png(), "declares more than"),
    (truncated_png(), "truncated or corrupt"),
    (b"a line of text", "not an image"),
])
def test_hostile_images_in_an_import_are_refused_naming_the_file(store, tmp_path, replacement, reason):
    folder = train_folder(tmp_path / "ds", ["ok-1", "ok-2"])
    (folder / "train" / "images" / "1" / "b.png").write_bytes(replacement)
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(folder), "hostile", "v1")
    assert caught.value.field == "train/train.json[1].images[1]"
    assert reason in caught.value.reason
    assert keys(store) == []
