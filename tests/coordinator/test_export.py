"""Dataset export of a finished run (MIS_Test test splits, conversation-format
train split, Parquet loadable with `datasets`, the dataset card), import of a
MIS_Test-style folder, and the HTML browser checked in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mis.v1 import coordinator_pb2
from services.common.errors import FailedPrecondition, InvalidArgument
from services.coordinator import layout
from services.coordinator.browser import write_browser
from services.coordinator.callers import GrpcCallers
from services.coordinator.export import export_run
from services.coordinator.importing import import_folder
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import small_config

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def finished_run(stages, store):
    manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
    run = await manager.create(small_config(limit=10), "export-me")
    async for snapshot in manager.watch(run.id, interval=0.05):
        run = snapshot
    assert run.state == coordinator_pb2.RUN_STATE_SUCCEEDED, run.message
    yield run
    await manager.close()


@pytest.fixture
async def exported(finished_run, store, tmp_path):
    folder = tmp_path / "dataset"
    manifest = await asyncio.to_thread(export_run, store, finished_run, "v1", str(folder))
    return manifest, folder, finished_run


def is_png(path: Path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG"


async def test_export_writes_the_fixed_layout(exported, store):
    manifest, folder, run = exported
    result = store.get_json(layout.result_record(run.id))
    assert dict(manifest.per_split) == result["per_split"]
    assert set(result["per_split"]) == {"train", "easy", "hard"}
    for split in ("easy", "hard"):
        assert not (folder / f"{split}.json").exists()  # only the public MIS_Test names
        records = json.loads((folder / f"mis_{split}.json").read_text())
        assert len(records) == result["per_split"][split]
        for number, record in enumerate(records, 1):
            assert set(record) == {"question", "category", "sub_category", "image_path1",
                                   "image_path2", "id"}
            assert record["image_path1"] == f"{split}_image/{number}/object1.png"
            assert is_png(folder / record["image_path1"]) and is_png(folder / record["image_path2"])
    train = json.loads((folder / "train" / "train.json").read_text())
    assert len(train) == result["per_split"]["train"]
    for record in train:
        assert record["images"] == [f"images/{record['id']}/object1.png",
                                    f"images/{record['id']}/object2.png"]
        human, gpt = record["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n<image>\n")
        assert gpt["from"] == "gpt" and gpt["value"].strip()
        assert all(is_png(folder / "train" / p) for p in record["images"])
    card = json.loads((folder / "card.json").read_text())
    assert card["per_split"] == result["per_split"]
    assert sum(card["per_category"]["train"].values()) == result["per_split"]["train"]
    assert {m["stage"] for m in card["models"]} >= {"extract", "detoxify", "filter", "annotate"}
    assert all(m["prompt_version"] for m in card["models"] if m["stage"] != "refine")
    assert card["cost"]["prompt_tokens"] > 0
    readme = (folder / "README.md").read_text()
    assert "## Samples per split" in readme and "prompt version" in readme
    # The same tree in the store.
    keys = set(store.list_keys(layout.dataset_prefix("test", "v1")))
    local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {k[len(layout.dataset_prefix("test", "v1")):] for k in keys} == local
    assert manifest.uri == f"s3://{store.bucket}/datasets/test/v1/"


async def test_parquet_export_loads_with_datasets(exported):
    datasets = pytest.importorskip("datasets")
    manifest, folder, _ = exported
    loaded = datasets.load_dataset("parquet", data_files={
        split: str(folder / "parquet" / f"{split}.parquet") for split in manifest.per_split},
        cache_dir=str(folder.parent / "hf-cache"))
    for split, count in manifest.per_split.items():
        assert loaded[split].num_rows == count
    row = loaded["train"][0]
    assert row["cot_label"] and row["image1"].size[0] > 0


async def test_reimport_of_an_export_keeps_every_sample(exported, store):
    manifest, folder, _ = exported
    imported, count = await asyncio.to_thread(import_folder, store, str(folder), "reimported", "r1")
    assert count == sum(manifest.per_split.values())
    assert dict(imported.per_split) == dict(manifest.per_split)
    assert store.exists("datasets/reimported/r1/mis_easy.json")


def test_import_rejects_paths_that_escape_the_root(store, tmp_path):
    root = tmp_path / "mis_test"
    (root / "easy_image" / "1").mkdir(parents=True)
    picture = Image.new("RGB", (8, 8), "red")
    picture.save(root / "easy_image" / "1" / "object1.png")
    picture.save(tmp_path / "outside.png")
    record = {"question": "q", "category": "Violent", "sub_category": "Weapon-Related Violence",
              "image_path1": "easy_image/1/object1.png", "image_path2": "../outside.png", "id": 1}
    (root / "mis_easy.json").write_text(json.dumps([record]))
    with pytest.raises(InvalidArgument) as caught:
        import_folder(store, str(root), "bad", "v1")
    assert caught.value.field == "mis_easy.json[0].image_path2"
    assert "escapes the dataset root" in caught.value.reason
    record["image_path2"] = str(tmp_path / "outside.png")
    (root / "mis_easy.json").write_text(json.dumps([record]))
    with pytest.raises(InvalidArgument, match="absolute"):
        import_folder(store, str(root), "bad", "v1")
    record["image_path2"] = "easy_image/1/object1.png"
    (root / "mis_easy.json").write_text(json.dumps([record]))
    manifest, count = import_folder(store, str(root), "good", "v1")
    assert count == 1 and manifest.per_split["easy"] == 1


async def test_an_unfinished_run_is_not_exported(store):
    run = coordinator_pb2.Run(id="r", state=coordinator_pb2.RUN_STATE_RUNNING)
    with pytest.raises(FailedPrecondition, match="only a finished run"):
        export_run(store, run)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make setup-browser)")
async def test_browser_shows_the_pairs_in_headless_chromium(exported, tmp_path):
    manifest, folder, _ = exported
    page = write_browser(folder)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--allow-file-access-from-files"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    total = sum(manifest.per_split.values())
    assert dom.count('class="sample"') == total
    assert f"{total} of {total} shown" in dom  # the script ran and counted
    for split in manifest.per_split:
        assert f'data-split="{split}"' in dom
    screenshot = tmp_path / "browser.png"
    subprocess.run([*flags, f"--screenshot={screenshot}", "--window-size=1280,1600", page.as_uri()],
                   capture_output=True, timeout=60, check=True)
    with Image.open(screenshot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # The drawn images make a page of many colours; a page without them has a handful.
    assert colours is not None and len(colours) > 500
    shutil.copy(screenshot, folder / "browser-screenshot.png")


def test_import_takes_the_short_split_names_too(store, tmp_path):
    """The export writes mis_easy.json (the public MIS_Test name); a folder
    with the short easy.json imports the same."""
    root = tmp_path / "short"
    (root / "easy_image" / "1").mkdir(parents=True)
    for name in ("object1.png", "object2.png"):
        Image.new("RGB", (8, 8), "blue").save(root / "easy_image" / "1" / name)
    record = {"question": "q", "category": "Violent", "sub_category": "Weapon-Related Violence",
              "image_path1": "easy_image/1/object1.png", "image_path2": "easy_image/1/object2.png", "id": 1}
    (root / "easy.json").write_text(json.dumps([record]))
    manifest, count = import_folder(store, str(root), "short", "v1")
    assert count == 1 and dict(manifest.per_split) == {"easy": 1}
    assert store.exists("datasets/short/v1/mis_easy.json")
    assert not store.exists("datasets/short/v1/easy.json")
