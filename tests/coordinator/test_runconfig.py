"""Run configs: the shipped YAML files load and validate; mistakes are named
by key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator.runconfig import (RunConfigError, load_run_config, parse_run_config,
                                            stage_config)
from services.coordinator.stages import PIPELINE

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "services" / "coordinator" / "configs").glob("*.yaml"))


def test_there_are_shipped_configs():
    assert {p.name for p in CONFIGS} >= {"demo.yaml", "vllm-example.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    config = load_run_config(path)
    assert config.name and config.seeds
    for info in PIPELINE:
        filled = stage_config(config, info)
        assert filled.concurrency > 0 and filled.batch_size > 0 and filled.max_attempts > 0


def test_demo_config_points_at_the_bundled_seeds():
    config = load_run_config(next(p for p in CONFIGS if p.name == "demo.yaml"))
    seeds = Path(config.seeds[0].uri)
    assert seeds.is_absolute() and seeds.is_file()
    assert config.seeds[0].format == coordinator_pb2.SEED_FORMAT_JSONL
    categories = {line.split('"category": "')[1].split('"')[0]
                  for line in seeds.read_text().splitlines() if line.strip()}
    assert len(categories) == 6


def test_short_spellings_become_the_proto_form(tmp_path):
    (tmp_path / "seeds.jsonl").write_text("")
    config = parse_run_config({"seeds": "seeds.jsonl", "stages": {"refine": {"concurrency": 3}}},
                              tmp_path)
    assert config.seeds[0].uri == str(tmp_path / "seeds.jsonl")
    assert config.stages[0].stage == common_pb2.STAGE_REFINE and config.stages[0].concurrency == 3


@pytest.mark.parametrize("raw, key, reason", [
    ({"seeds": ["s"], "stages": {"refine": {"concurency": 3}}}, "stages.refine.concurency", "unknown key"),
    ({"seeds": ["s"], "stages": {"paint": {}}}, "stages.paint", "unknown stage"),
    ({"seeds": ["s"], "targets": {"train": "many"}}, "targets.train", "expected an integer"),
    ({"seeds": ["s"], "stages": {"refine": {"concurrency": -1}}}, "stages.refine.concurrency", "1 or more"),
    ({"seeds": [{"uri": "s", "format": "csv"}]}, "seeds[0].format", "unknown value 'CSV'"),
    ({"seeds": []}, "seeds", "at least one"),
    ({"seeds": ["s"], "queries_per_seed": 9}, "queries_per_seed", "between 1 and 5"),
    ({"seeds": ["s"], "stages": [{"stage": "refine"}, {"stage": "refine"}]}, "stages.refine", "given twice"),
    ({"seeds": ["s"], "colour": "red"}, "colour", "unknown key"),
    ({"seeds": ["s"], "targets": {"train": -2}}, "targets.train", "0 (no target)"),
])
def test_bad_configs_name_the_key_and_the_reason(raw, key, reason):
    with pytest.raises(RunConfigError) as caught:
        parse_run_config(raw)
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_unreadable_files_are_reported(tmp_path):
    with pytest.raises(RunConfigError, match="cannot read"):
        load_run_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("seeds: [unclosed")
    with pytest.raises(RunConfigError, match="not valid YAML"):
        load_run_config(tmp_path / "bad.yaml")


def test_cli_reports_a_bad_config_with_its_key(tmp_path, capsys):
    from services.cli.main import main
    path = tmp_path / "run.yaml"
    path.write_text("seeds: [x.jsonl]\nstages:\n  refine: {batch_sise: 2}\n")
    assert main(["runs", "create", str(path), "--coordinator", "127.0.0.1:1"]) == 2
    assert "stages.refine.batch_sise: unknown key" in capsys.readouterr().err
