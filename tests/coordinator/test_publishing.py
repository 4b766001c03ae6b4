"""Publishing a run's dataset as the ecosystem expects, checked against the
tools that read it: `datasets.load_dataset` on the exported folder (the
card's front matter names the Parquet file of every split), the dataset
card, LLaMA-Factory's dataset_info.json, InternVL's meta file and ms-swift's
JSONL beside the ShareGPT train file, and the left-out samples under
rejected/. A real run over the offline stage services and the real S3 server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.coordinator.published import publish_reviewed_run


@pytest.fixture
async def published(stages, store, tmp_path):
    return await publish_reviewed_run(stages, store, tmp_path / "dataset")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def front_matter(readme: str) -> tuple[dict, str]:
    found = re.fullmatch(r"---\n(.*?)\n---\n(.*)", readme, re.DOTALL)
    assert found, readme[:200]
    return yaml.safe_load(found.group(1)), found.group(2)


async def test_load_dataset_on_the_folder_gives_the_splits_with_images(published):
    datasets = pytest.importorskip("datasets")
    folder, manifest, rejected_id = published.folder, published.manifest, published.rejected_id
    loaded = datasets.load_dataset(str(folder), cache_dir=str(folder.parent / "hf-cache"))
    assert set(loaded) == set(manifest.per_split) == {"train", "easy", "hard"}
    index = {row["id"]: row for row in lines(folder / "samples.jsonl")}
    for split, count in manifest.per_split.items():
        rows = loaded[split]
        assert rows.num_rows == count
        assert isinstance(rows.features["image1"], datasets.Image)
        for row in rows:
            expected = index[row["id"]]
            assert row["split"] == split == expected["split"]
            for column in ("instruction", "harmful_query", "category", "sub_category", "filter_reason",
                           "cot_label", "seed_id", "prompt1", "prompt2"):
                assert row[column] == expected[column], column
            assert row["provenance"] == expected["provenance"]
            assert row["image1"].size == row["image2"].size == (64, 64)
    assert rejected_id not in {row["id"] for row in loaded["train"]}
    train = loaded["train"][0]
    assert train["cot_label"] and train["harmful_query"] and train["filter_reason"]
    provenance = train["provenance"]
    assert {m["stage"] for m in provenance["models"]} >= {"extract", "detoxify", "refine", "filter", "annotate"}
    assert all(m["prompt_version"] for m in provenance["models"] if m["model"] != "placeholder-v1")
    first, *later = provenance["rounds"]
    assert first["round"] == 0 and first["prompt1"] and first["prompt2"] and first["seed1"]
    # Each call's parameters as sent: the sampling settings, and each drawing's seeds.
    sent = [json.loads(m["parameters"]) for m in provenance["models"] if m["parameters"]]
    assert any("temperature" in p for p in sent)
    assert {(r["seed1"], r["seed2"]) for r in provenance["rounds"]} <= {(p.get("seed1"), p.get("seed2")) for p in sent}
    # The pair's final prompts are the last round's.
    assert (provenance["rounds"][-1]["prompt1"], provenance["rounds"][-1]["prompt2"]) == \
        (train["prompt1"], train["prompt2"])


async def test_card_has_hub_front_matter_run_config_and_cost_per_stage_and_model(published):
    folder, manifest, run = published.folder, published.manifest, published.run
    meta, body = front_matter((folder / "README.md").read_text())
    assert meta["license"] == "cc-by-nc-4.0"
    assert meta["task_categories"] == ["visual-question-answering", "image-text-to-text"]
    [config] = meta["configs"]
    assert config["config_name"] == "default"
    files = {entry["split"]: entry["path"] for entry in config["data_files"]}
    assert set(files) == set(manifest.per_split)
    assert all((folder / path).is_file() for path in files.values())
    assert "**Content warning.**" in body
    card = json.loads((folder / "card.json").read_text())
    shown = re.search(r"## Run configuration\n\n```yaml\n(.*?)\n```", body, re.DOTALL)
    assert yaml.safe_load(shown.group(1)) == card["run_config"]
    assert card["run_config"]["name"] == "test" and card["run_config"]["queries_per_seed"] == 2
    cost = card["cost"]
    # Summed over every stored output, it is what the run itself counted.
    assert sum(c["prompt_tokens"] for c in cost["per_stage"].values()) == run.progress.tokens.prompt_tokens
    assert sum(c["completion_tokens"] for c in cost["per_model"]) == run.progress.tokens.completion_tokens
    assert list(cost["per_stage"]) == ["extract", "detoxify", "refine", "filter", "annotate"]
    by_model = {(c["stage"], c["model"]): c for c in cost["per_model"]}
    assert by_model[("refine", "placeholder-v1")]["calls"] > 0
    assert by_model[("annotate", "cot-offline-v1")]["calls"] >= manifest.per_split["train"]
    assert "| annotate / offline / cot-offline-v1 |" in body and "Per stage" in body
    assert card["set_aside"]["reviewer"] == 1 and card["set_aside"]["near-duplicate"] >= 1


async def test_llamafactory_dataset_info_maps_to_the_train_file(published):
    folder, manifest = published.folder, published.manifest
    train = folder / "train"
    [(name, entry)] = json.loads((train / "dataset_info.json").read_text()).items()
    assert name == "mis_train" and entry["formatting"] == "sharegpt"
    records = json.loads((train / entry["file_name"]).read_text())
    assert len(records) == manifest.per_split["train"]
    columns, tags = entry["columns"], entry["tags"]
    for record in records:
        turns = record[columns["messages"]]
        assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
        assert turns[0][tags["content_tag"]].count("<image>") == len(record[columns["images"]]) == 2
        # LLaMA-Factory resolves images against the folder holding dataset_info.json.
        assert all((train / path).is_file() for path in record[columns["images"]])


async def test_internvl_meta_names_an_annotation_whose_images_exist(published):
    folder, manifest = published.folder, published.manifest
    meta_path = folder / "train" / "internvl_meta.json"
    [(name, entry)] = json.loads(meta_path.read_text()).items()
    assert set(entry) == {"root", "annotation", "data_augment", "repeat_time", "length"}
    assert entry["data_augment"] is False and entry["repeat_time"] == 1
    annotation = meta_path.parent / entry["annotation"]
    rows = lines(annotation)
    assert entry["length"] == len(rows) == manifest.per_split["train"]
    for row in rows:
        human, gpt = row["conversations"]
        assert human["from"] == "human" and human["value"].startswith("Image-1: <image>\nImage-2: <image>\n")
        assert human["value"].count("<image>") == len(row["image"]) == 2
        assert gpt["from"] == "gpt" and gpt["value"]
        for image in row["image"]:
            with Image.open(meta_path.parent / entry["root"] / image) as drawn:
                assert drawn.format == "PNG"


async def test_swift_jsonl_has_messages_and_images(published):
    folder, manifest = published.folder, published.manifest
    rows = lines(folder / "train" / "swift_train.jsonl")
    assert len(rows) == manifest.per_split["train"]
    for row in rows:
        assert set(row) == {"messages", "images"}
        user, assistant = row["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].count("<image>") == len(row["images"]) == 2 and assistant["content"]
        assert all((folder / "train" / path).is_file() for path in row["images"])


async def test_left_out_samples_stay_browsable_with_why_and_their_images(published):
    folder, rejected_id, result = published.folder, published.rejected_id, published.result
    aside = {row["id"]: row for row in lines(folder / "rejected" / "rejected.jsonl")}
    kept = {row["id"] for row in lines(folder / "samples.jsonl")}
    assert not kept & set(aside)
    reviewer = aside[rejected_id]
    assert (reviewer["kind"], reviewer["reason"], reviewer["note"]) == (
        "reviewer", "REJECTION_REASON_REVIEWER", "meaningless pair")
    assert reviewer["image_path1"] == f"rejected/{rejected_id}/object1.png"
    duplicates = {d["id"]: d for d in result["duplicates"]}
    assert duplicates
    for sample_id, entry in duplicates.items():
        row = aside[sample_id]
        assert row["kind"] == "near-duplicate" and row["duplicate_of"] == entry["duplicate_of"]
        assert row["note"] == entry["reason"] and row["provenance"]["rounds"]
    # Reviewer rejections and near-duplicates were drawn: their images are kept.
    for row in (r for r in aside.values() if r["kind"] in ("reviewer", "near-duplicate")):
        for key in ("image_path1", "image_path2"):
            with Image.open(folder / row[key]) as image:
                assert image.size == (64, 64)
