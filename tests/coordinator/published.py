"""A published run for the publishing and browser tests: 12 demo seeds over
the offline stage services (the run makes a near-duplicate), one train
sample rejected and one accepted by a reviewer, exported to a folder."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from mis.v1 import coordinator_pb2
from services.coordinator.callers import GrpcCallers
from services.coordinator.export import export_run
from services.coordinator.review.state import ACCEPT, REJECT, load_review, save_review
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import small_config

REJECT_NOTE = "meaningless pair"


@dataclass
class Published:
    folder: Path
    manifest: coordinator_pb2.DatasetManifest
    run: coordinator_pb2.Run
    result: dict              # the run's result.json
    rejected_id: str          # the train sample the reviewer rejected
    accepted_id: str          # and the one accepted


async def publish_reviewed_run(stages, store, folder: Path) -> Published:
    manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
    try:
        run = await manager.create(small_config(limit=12), "pub")
        async for snapshot in manager.watch(run.id, interval=0.05):
            run = snapshot
    finally:
        await manager.close()
    assert run.state == coordinator_pb2.RUN_STATE_SUCCEEDED, run.message
    result = store.get_json(f"runs/{run.id}/result.json")
    rejected_id, accepted_id = [s["id"] for s in result["samples"] if s["split"] == "train"][:2]
    review = load_review(store, run.id)
    review.decide(rejected_id, REJECT, REJECT_NOTE, "2026-12-01T00:00:00Z")
    review.decide(accepted_id, ACCEPT, "", "2026-12-01T00:00:00Z")
    save_review(store, run.id, review)
    manifest = await asyncio.to_thread(export_run, store, run, "v1", str(folder))
    return Published(folder, manifest, run, result, rejected_id, accepted_id)
