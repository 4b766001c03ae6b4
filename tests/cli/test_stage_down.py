"""`mis runs create` against a coordinator whose stages are down: the
coordinator answers UNAVAILABLE naming the stage, and the CLI prints that,
not the hint for a coordinator that cannot be reached. Real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.common.s3server import free_port
from services.coordinator.stages import PIPELINE

ROOT = Path(__file__).resolve().parents[2]
DEMO_SEEDS = ROOT / "services" / "coordinator" / "data" / "demo-seeds.jsonl"


def test_a_stage_down_at_create_is_named_not_a_missing_coordinator(start_service, tmp_path):
    down = f"127.0.0.1:{free_port()}"
    coordinator = start_service("coordinator", {stage.address_variable: down for stage in PIPELINE})
    config = tmp_path / "run.yaml"
    config.write_text(f"name: t\nseeds:\n  - uri: {DEMO_SEEDS}\n    format: jsonl\n    limit: 2\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MIS_COORDINATOR_ADDRESS", "MIS_STACK_WORKDIR")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "services.cli.main", "runs", "create", str(config),
                           "--coordinator", coordinator.address], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "error: UNAVAILABLE: extractor (stage extract) did not say what it serves" in done.stderr
    assert "no coordinator answers" not in done.stderr
