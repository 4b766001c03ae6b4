"""Every supported backbone trains on CPU: a tiny model built from its config, its real
processor class (images only, PIL image processors: no torchvision), and the image-token
counts the model itself computes from the pixels."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from trainer.backbones import ImageBudget, load_backbone
from trainer.batching import Collator
from trainer.config import load_config
from trainer.data import load_records
from trainer.encoding import ConversationEncoder
from trainer.train import run

FAMILIES = ["llava", "qwen2_vl", "qwen2_5_vl", "internvl", "llava_onevision"]


def _losses(caplog) -> list[float]:
    return [float(r.getMessage().split(" loss ")[1].split()[0]) for r in caplog.records
            if r.name == "trainer" and " loss " in r.getMessage()]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_backbone_trains_on_images_and_text(family, tiny_backbones, mis_split, general_split, write_config,
                                                  tmp_path, caplog):
    from transformers import AutoModelForImageTextToText

    caplog.set_level("INFO", logger="trainer")
    output = tmp_path / family
    config = load_config(str(write_config(model=str(tiny_backbones[family]), dataset=str(mis_split),
                                          general_dataset=str(general_split), general_ratio=0.5,
                                          output=str(output), epochs=3)))
    recipe = run(config)
    assert recipe.backbone.family.model_type == family
    losses = _losses(caplog)
    assert len(losses) == recipe.total_steps == 15  # 18 samples, batches of 4, 3 epochs
    assert sum(losses[-3:]) < sum(losses[:3])
    resolved = next(json.loads(r.getMessage().split(" ", 2)[2]) for r in caplog.records
                    if r.getMessage().startswith("resolved config"))
    assert resolved["image_budget"] == recipe.image_budget and resolved["image_budget"]
    assert AutoModelForImageTextToText.from_pretrained(output / "model").config.model_type == family


@pytest.mark.parametrize("family", FAMILIES)
def test_image_tokens_match_the_features_the_model_computes(family, tiny_backbones, mis_split, general_split):
    """The model's forward checks that image tokens and image features agree; a batch of
    safety pairs, a text-only sample and (in its own batch) text alone with the dummy image."""
    backbone = load_backbone(tiny_backbones[family])
    encoder = ConversationEncoder(backbone.image_tokens, backbone.template_owner, max_length=4096)
    samples = [encoder.encode(s) for s in load_records(mis_split, "safety")[:3] + load_records(general_split, "general")[:2]]
    collate = Collator(samples, backbone.image_tokens, pad_token_id=0,
                       image_token_id=backbone.image_tokens.image_token_id)
    with torch.no_grad():
        for indices in ([0, 1, 2, 3], [3, 4]):
            batch = collate(indices)
            assert "pixel_values" in batch
            backbone.model(**batch)


def test_a_text_only_batch_gets_a_dummy_image_that_changes_nothing(tiny_backbones, general_split):
    """The projector gets a gradient (zero), and the loss is the one without the dummy."""
    backbone = load_backbone(tiny_backbones["llava_onevision"])
    encoder = ConversationEncoder(backbone.image_tokens, backbone.template_owner, max_length=4096)
    samples = [encoder.encode(s) for s in load_records(general_split, "general")[:2]]
    batch = Collator(samples, backbone.image_tokens, pad_token_id=0)([0, 1])
    dummy = int((batch["input_ids"] == backbone.image_tokens.image_token_id).sum())
    assert dummy == len(backbone.image_tokens.expansions([Image.new("RGB", (32, 32))])[0]) > 0
    with_dummy = backbone.model(**batch).loss
    plain = {k: v[:, :max(len(s) for s in samples)] for k, v in batch.items()
             if k in ("input_ids", "attention_mask", "labels")}
    torch.testing.assert_close(with_dummy, backbone.model(**plain).loss)
    with_dummy.backward()
    projector = backbone.model.get_submodule(backbone.family.projector)
    assert all(p.grad is not None for p in projector.parameters())


def test_llava_onevision_images_in_different_turns(tiny_llava_onevision, mis_split, tmp_path):
    """Two images of one sample, one per user turn: counted as a multi-image sample (no
    any-resolution tiling), as the model counts them, not as two lone images."""
    folder = tmp_path / "turns"
    shutil.copytree(mis_split, folder)
    records = json.loads((folder / "train.json").read_text())
    records[0]["conversations"] = [
        {"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A knife."},
        {"from": "human", "value": "<image>\nAnd this?"}, {"from": "gpt", "value": "A train station."}]
    (folder / "train.json").write_text(json.dumps(records[:1]))
    backbone = load_backbone(tiny_llava_onevision)
    sample = load_records(folder, "safety")[0]
    encoded = ConversationEncoder(backbone.image_tokens, backbone.template_owner, 4096).encode(sample)
    # Two untiled 28 px images of 2x2 patches: 4 tokens each, plus one "image newline" feature.
    assert encoded.input_ids.count(backbone.image_tokens.image_token_id) == 2 * (4 + 1)
    with torch.no_grad():
        backbone.model(**Collator([encoded], backbone.image_tokens, pad_token_id=0)([0]))


def test_internvl_images_share_the_tile_budget(tiny_internvl):
    """max_dynamic_patch tiles for the sample, divided among its images, plus a thumbnail each."""
    backbone = load_backbone(tiny_internvl, ImageBudget(max_dynamic_patch=6))
    wide = Image.new("RGB", (28 * 8, 28))  # would take 8 tiles if it could
    tokens = backbone.image_tokens
    context = tokens.image_token_id
    one = tokens.expansions([wide])
    two = tokens.expansions([wide, wide])
    assert [run.count(context) for run in one] == [6 + 1]  # 1 token per 28 px tile
    assert [run.count(context) for run in two] == [3 + 1, 3 + 1]
    assert one[0][0] == backbone.tokenizer.convert_tokens_to_ids("<img>")
    assert tokens.pixel_inputs([[wide, wide], [wide]])["pixel_values"].shape[0] == 2 * 4 + 7
