"""Every shipped preset loads and validates; overrides are typed; bad values are named."""

from __future__ import annotations

import pytest

from trainer.config import ConfigError, TrainConfig, list_presets, load_config, preset_path

REQUIRED = ["dataset=s3://mis/exports/train-v1", "output=s3://mis/runs/r1"]
# The paper's table (MIS-facts section 5); Qwen2.5-VL takes Qwen2-VL's settings.
PAPER = {"qwen2_vl_7b": (2e-6, 3), "qwen2_5_vl_7b": (2e-6, 3), "llava_onevision_7b": (5e-6, 3),
         "internvl2_5_8b": (5e-6, 2)}


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_loads_and_validates(name):
    text = preset_path(name).read_text()
    assert text.startswith("#")
    header = "".join(line for line in text.splitlines() if line.startswith("#"))
    assert f"-m trainer.train --config {name}" in header
    config = load_config(name, REQUIRED) if "dataset:" not in text else load_config(name)
    assert isinstance(config, TrainConfig)
    assert config.warmup_ratio == 0.03 or name.startswith("tiny")
    if name in PAPER:
        assert (config.learning_rate, config.epochs) == PAPER[name]
        assert config.precision == "bf16" and config.finetune == "full"


def test_presets_cover_the_paper_backbones():
    assert set(PAPER) <= set(list_presets())


def test_overrides_are_typed():
    config = load_config("qwen2_vl_7b", REQUIRED + ["epochs=1", "learning_rate=1e-5", "fsdp=false",
                                                    "finetune=lora", "model=/models/q"])
    assert (config.epochs, config.learning_rate, config.fsdp, config.finetune, config.model) == \
        (1, 1e-5, False, "lora", "/models/q")


@pytest.mark.parametrize("override, message", [
    ("epochs=two", "epochs: must be an integer"),
    ("epochs=0", "epochs: must be > 0"),
    ("lr_scheduler=step", "lr_scheduler: must be one of"),
    ("warmup_ratio=1.5", "warmup_ratio: must be in [0, 1)"),
    ("batchsize=2", "unknown key 'batchsize'"),
    ("epochs", "expected key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError) as error:
        load_config("qwen2_vl_7b", REQUIRED + [override])
    assert message in str(error.value)


def test_missing_dataset_is_reported():
    with pytest.raises(ConfigError, match=r"missing required key\(s\) \['dataset', 'output'\]"):
        load_config("qwen2_vl_7b")


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="no preset named 'qwen9'.*qwen2_vl_7b"):
        load_config("qwen9")


def test_unknown_key_in_a_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndataset: d\noutput: o\nlearnin_rate: 1e-5\n")
    with pytest.raises(ConfigError, match="unknown key 'learnin_rate'"):
        load_config(str(path))
