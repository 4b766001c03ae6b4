"""The placement defaults shared by the Job tests, and the emulated cluster behind them.

Every test that talks to the `cluster` has each of its API requests checked, at the end,
against the Role the chart renders: a call the Role does not grant fails the test (a
real API server would answer 403).
"""

from __future__ import annotations

import pytest

from services.coordinator.training import Placement
from services.coordinator.training.placement import Toleration
from tests.training_jobs.fixtures import cluster, kmock_options  # noqa: F401  (fixtures)


@pytest.fixture
def placement() -> Placement:
    return Placement(image="registry.example/mis-trainer:0.1.0", output_root="s3://mis/runs",
                     node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
                     tolerations=(Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),),
                     secret_names=("mis-s3", "mis-hub-token"), cpu_request="32", memory_request="512Gi")
