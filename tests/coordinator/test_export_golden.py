"""The demo dataset, exported now, is the one recorded before the stage
declarations replaced the coordinator's per-stage code, plus the real split
the retrieve stage added: same ids, splits, instructions, labels and image
bytes (see golden.py for how it was recorded)."""

from __future__ import annotations

import json

from tests.coordinator.golden import GOLDEN, export_demo


async def test_demo_export_matches_the_recorded_dataset(stages, store, tmp_path):
    recorded = json.loads(GOLDEN.read_text())
    exported = await export_demo(stages.stage_addresses(), store, tmp_path / "dataset")
    assert [row["id"] for row in exported] == [row["id"] for row in recorded]
    assert {row["split"] for row in recorded} == {"train", "easy", "hard", "real"}
    assert exported == recorded
