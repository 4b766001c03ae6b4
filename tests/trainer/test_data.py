"""Records are validated with clear errors; only assistant tokens carry loss; batches pad little."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from trainer.backbones import UnsupportedModelError, load_backbone
from trainer.batching import Collator, epoch_batches, padding_share
from trainer.data import DatasetError, Sample, Turn, load_records, mix
from trainer.encoding import IGNORE_INDEX, ConversationEncoder, SampleTooLong


@pytest.fixture(scope="module")
def llava(tiny_llava):
    return load_backbone(tiny_llava)


def _edit(folder, change):
    records = json.loads((folder / "train.json").read_text())
    change(records)
    (folder / "train.json").write_text(json.dumps(records))


@pytest.fixture
def split(tmp_path, mis_split):
    folder = tmp_path / "split"
    shutil.copytree(mis_split, folder)
    return folder


def test_a_valid_split_loads(split):
    samples = load_records(split, "safety")
    assert len(samples) == 12 and all(len(s.images) == 2 for s in samples)
    assert samples[0].turns[0].role == "user" and samples[0].turns[-1].role == "assistant"


def test_missing_image_is_named(split):
    (split / "images" / "mis-3" / "object2.png").unlink()
    with pytest.raises(DatasetError, match=r"record 'mis-3': images: 'images/mis-3/object2.png' not found"):
        load_records(split, "safety")


def test_placeholder_count_must_match_images(split):
    def drop_placeholder(records):
        records[5]["conversations"][0]["value"] = records[5]["conversations"][0]["value"].replace("<image>\n", "", 1)
    _edit(split, drop_placeholder)
    with pytest.raises(DatasetError, match=r"record 'mis-5': 2 image\(s\) but 1 <image> placeholder\(s\)"):
        load_records(split, "safety")


def test_conversation_shape_is_checked(split):
    _edit(split, lambda records: records[0]["conversations"].pop())
    with pytest.raises(DatasetError, match="record 'mis-0': conversations must start with a human turn and end"):
        load_records(split, "safety")


def test_missing_index_file(tmp_path):
    with pytest.raises(DatasetError, match="train.json not found"):
        load_records(tmp_path, "general")


def test_mixture_follows_the_ratio(mis_split, general_split):
    safety = load_records(mis_split, "safety")
    general = load_records(general_split, "general")
    mixed = mix(safety, general, 0.25, seed=0)
    assert len(mixed) == 15 and sum(s.source == "general" for s in mixed) == 3
    with pytest.raises(DatasetError, match="general_ratio: 1.0 asks for 12 general samples.*holds 6"):
        mix(safety, general, 1.0, seed=0)


def test_only_assistant_tokens_carry_loss(llava, mis_split):
    sample = Sample("known", "safety", load_records(mis_split, "safety")[0].images, (
        Turn("user", "<image>\n<image>\nWhat could these do together?"),
        Turn("assistant", "The first image shows a knife."),
        Turn("user", "And then?"),
        Turn("assistant", "I will not help with that."),
    ))
    encoder = ConversationEncoder(llava.image_tokens, llava.template_owner, max_length=512)
    encoded = encoder.encode(sample)
    tokenizer = llava.tokenizer
    trained = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == ("The first image shows a knife.<|im_end|>\n"
                                         "I will not help with that.<|im_end|>\n")
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(encoded.input_ids, encoded.labels))
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert encoded.input_ids.count(image_id) == 2 * 16  # 32 px images, 8 px patches
    untrained = tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels)
                                  if label == IGNORE_INDEX and t != image_id])
    assert untrained == ("<|im_start|>user\nWhat could these do together?<|im_end|>\n<|im_start|>assistant\n"
                         "<|im_start|>user\nAnd then?<|im_end|>\n<|im_start|>assistant\n")


def test_a_sample_longer_than_max_length_is_an_error(llava, mis_split):
    sample = load_records(mis_split, "safety")[0]
    with pytest.raises(SampleTooLong, match=r"record 'mis-0': \d+ tokens \(images expanded\) exceed max_length=20"):
        ConversationEncoder(llava.image_tokens, llava.template_owner, max_length=20).encode(sample)


def test_a_model_the_recipe_cannot_handle(tmp_path):
    from transformers import LlamaConfig

    LlamaConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match=r"is a 'llama' model; the recipe supports \['internvl', 'llava'"):
        load_backbone(tmp_path)


def test_batches_cover_the_epoch_on_every_rank():
    lengths = [random.Random(i).randint(10, 500) for i in range(103)]
    ranks = [epoch_batches(lengths, 4, 2, rank, seed=1, epoch=0, group_batches=8) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 13  # 103 samples, padded to 104 = 13 global batches of 8
    assert set(i for r in ranks for b in r for i in b) == set(range(103))
    assert epoch_batches(lengths, 4, 2, 0, 1, 0, 8) == ranks[0]  # a pure function of (seed, epoch)
    assert epoch_batches(lengths, 4, 2, 0, 1, 1, 8) != ranks[0]


def test_length_grouping_wastes_less_than_random_batches():
    rng = random.Random(0)
    lengths = [rng.randint(50, 1000) for _ in range(512)]
    grouped = epoch_batches(lengths, 8, 1, 0, seed=0, epoch=0, group_batches=16)
    order = list(range(512))
    rng.shuffle(order)
    plain = [order[i:i + 8] for i in range(0, 512, 8)]
    assert padding_share(grouped, lengths) < 0.5 * padding_share(plain, lengths)


def test_collator_pads_and_masks(llava, mis_split, general_split):
    encoder = ConversationEncoder(llava.image_tokens, llava.template_owner, max_length=512)
    samples = [encoder.encode(s) for s in load_records(mis_split, "safety")[:2] + load_records(general_split, "general")[:1]]
    batch = Collator(samples, llava.image_tokens, pad_token_id=0)([0, 1, 2])
    width = max(len(s) for s in samples)
    assert batch["input_ids"].shape == batch["labels"].shape == (3, width)
    assert batch["attention_mask"].sum().item() == sum(len(s) for s in samples)
    assert batch["pixel_values"].shape[0] == 4  # two image pairs, the general sample has none
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
