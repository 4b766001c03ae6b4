"""Tiny models, a tokenizer trained here and a small MIS-style dataset, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainer import tiny


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    return tiny.build_llava(tmp_path_factory.mktemp("models") / "llava")


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory) -> Path:
    return tiny.build_qwen2_vl(tmp_path_factory.mktemp("models") / "qwen2_vl")


@pytest.fixture(scope="session")
def tiny_internvl(tmp_path_factory) -> Path:
    return tiny.build_internvl(tmp_path_factory.mktemp("models") / "internvl")


@pytest.fixture(scope="session")
def tiny_llava_onevision(tmp_path_factory) -> Path:
    return tiny.build_llava_onevision(tmp_path_factory.mktemp("models") / "llava_onevision")


@pytest.fixture(scope="session")
def tiny_qwen2_5_vl(tmp_path_factory) -> Path:
    return tiny.build_qwen2_5_vl(tmp_path_factory.mktemp("models") / "qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_backbones(tiny_llava, tiny_qwen2_vl, tiny_qwen2_5_vl, tiny_internvl, tiny_llava_onevision) -> dict[str, Path]:
    """Every supported family, by model_type."""
    return {"llava": tiny_llava, "qwen2_vl": tiny_qwen2_vl, "qwen2_5_vl": tiny_qwen2_5_vl,
            "internvl": tiny_internvl, "llava_onevision": tiny_llava_onevision}


@pytest.fixture(scope="session")
def mis_split(tmp_path_factory) -> Path:
    return tiny.write_dataset(tmp_path_factory.mktemp("data") / "mis", samples=12)


@pytest.fixture(scope="session")
def general_split(tmp_path_factory) -> Path:
    return tiny.write_dataset(tmp_path_factory.mktemp("data") / "general", samples=6, seed=1,
                              images_per_sample=0, prefix="general")


@pytest.fixture
def write_config(tmp_path):
    """Writes a config file for a CPU run and returns its path."""
    def write(**values) -> Path:
        base = {"precision": "fp32", "num_workers": 0, "checkpoint_every": 0, "log_every": 1,
                "learning_rate": 3e-3, "epochs": 2, "micro_batch_size": 4, "gradient_checkpointing": False,
                "work_dir": str(tmp_path / "work")}
        base.update(values)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(base))
        return path
    return write
