"""A run that reads its data and model from S3 and writes progress, checkpoints and the
final model back to S3 (a real S3 server on loopback), then resumes from S3."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest.mock import patch

import pytest

from trainer.config import load_config
from trainer.store import Store, StoreError
from trainer.train import run


@pytest.fixture
def bucket(s3_server, store, store_env, bucket_name):
    """A fresh bucket on the real S3 server, with the trainer's MIS_S3_* variables set."""
    with patch.dict(os.environ, store_env):
        yield s3_server.data_dir / bucket_name


def test_run_from_and_to_s3_with_resume(bucket, tiny_llava, mis_split, write_config, tmp_path):
    store = Store()
    s3 = f"s3://{bucket.name}"
    store.publish_dir(mis_split, f"{s3}/exports/train-v1")
    store.publish_dir(tiny_llava, f"{s3}/models/tiny-llava")
    path = write_config(model=f"{s3}/models/tiny-llava", dataset=f"{s3}/exports/train-v1",
                        output=f"{s3}/runs/r1", epochs=2, checkpoint_every=2, keep_checkpoints=1,
                        progress_every=1, work_dir=str(tmp_path / "scratch"))

    first = run(load_config(str(path), ["stop_after_steps=3"]))
    assert first.step == 3
    runs = bucket / "runs" / "r1"  # the server's folder: what is stored, read directly
    assert json.loads((runs / "progress.json").read_text())["state"] == "stopped"
    # keep_checkpoints=1: step 2 was pruned once step 3 was written.
    assert sorted(p.name for p in (runs / "checkpoints").iterdir()) == ["step-0000003"]
    assert (runs / "checkpoints" / "step-0000003" / "COMPLETE").is_file()
    assert (runs / "checkpoints" / "step-0000003" / "model" / "config.json").is_file()

    second = run(load_config(str(path), [f"work_dir={tmp_path / 'other-node'}"]))  # a fresh node resumes
    assert second.step == second.total_steps == 6
    progress = json.loads((runs / "progress.json").read_text())
    assert progress["state"] == "succeeded" and progress["step"] == 6
    assert (runs / "model" / "model.safetensors").is_file()
    assert (runs / "model" / "tokenizer.json").is_file()


def test_missing_credentials_are_named(monkeypatch):
    monkeypatch.delenv("MIS_S3_ENDPOINT", raising=False)
    with pytest.raises(StoreError, match="MIS_S3_ENDPOINT: required"):
        Store().fetch_dir("s3://mis/exports/x", Path("/nonexistent"))


def test_an_empty_prefix_is_an_error(bucket, tmp_path):
    with pytest.raises(StoreError, match=f"s3://{bucket.name}/exports/none: no objects under this prefix"):
        Store().fetch_dir(f"s3://{bucket.name}/exports/none", tmp_path / "x")
