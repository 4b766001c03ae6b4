"""Training specs for the Job tests: a valid request, with fields changed per test."""

from __future__ import annotations

from mis.v1 import coordinator_pb2


def make_spec(**fields) -> coordinator_pb2.TrainingSpec:
    values = {"preset": "qwen2_vl_7b", "dataset_uri": "s3://mis/exports/train-v1"}
    values.update(fields)
    return coordinator_pb2.TrainingSpec(**values)
