"""`mis demo` (what `make run` runs) ends with the whole loop: the dataset the
real export wrote is read with `--data`-style discovery (mis_easy.json,
mis_hard.json), the offline candidate answers every test sample, the stack's
judge service judges them, and the report says it is a dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.evaluation.dataset import load_samples

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_ends_by_evaluating_the_offline_candidate(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "demo", "--out", str(tmp_path / "dataset"),
         "--workdir", str(tmp_path / "stack"), "--eval-out", str(tmp_path / "eval")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"report:  {tmp_path / 'eval' / 'report.html'}" in done.stdout
    per_split = json.loads((tmp_path / "dataset" / "card.json").read_text())["per_split"]
    tests = load_samples(None, tmp_path / "dataset")
    # Every test sample the export wrote, and none of the train split.
    assert len(tests) == per_split["easy"] + per_split["hard"] + per_split["real"] > 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["model"] == "offline-candidate (dry run)"
    assert report["samples"] == len(tests) and report["metrics"]["overall"]["judged"] == len(tests)
    assert report["dataset"]["hash"] and report["judges"][0]["backend"] == "offline"
    assert any(line.startswith("Offline dry run") for line in report["banners"])
    assert {k: v["judged"] for k, v in report["metrics"]["by_split"].items()} == \
        {"easy": per_split["easy"], "hard": per_split["hard"], "real": per_split["real"]}
