"""The demo dataset's signature, and the recorded one it must keep matching.

The signature is what a refactor of the coordinator must not change: each
exported sample's id, split, instruction, labels and the SHA-256 of both of
its images, read back from the exported folder (samples.jsonl and the image
files it names). Recorded once into data/demo-export.json by

    .venv/bin/python -m tests.coordinator.golden

(it starts the offline stages in this process and a local S3 server), and
compared by test_export_golden.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path

from mis.v1 import coordinator_pb2
from services.common.store import Store
from services.coordinator.callers import GrpcCallers
from services.coordinator.export import export_run
from services.coordinator.runconfig import load_run_config
from services.coordinator.runs import RunManager

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "services" / "coordinator" / "configs" / "demo.yaml"
GOLDEN = Path(__file__).with_name("data") / "demo-export.json"
# Sample ids, and so the offline drawings, derive from the run id: fix it.
RUN_ID = "golden-demo"
FIELDS = ("id", "split", "instruction", "category", "sub_category", "harmful_query",
          "cot_label", "filter_reason", "seed_id")


def export_signature(folder: Path) -> list[dict]:
    """Every exported sample, in export order, with the hashes of its images."""
    rows = []
    for line in (folder / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        row = {name: sample[name] for name in FIELDS}
        for number in (1, 2):
            row[f"image{number}_sha256"] = hashlib.sha256(
                (folder / sample[f"image_path{number}"]).read_bytes()).hexdigest()
        rows.append(row)
    return rows


async def export_demo(stage_addresses, store: Store, folder: Path) -> list[dict]:
    """Run the demo config over the given stages, export it to `folder`, sign it."""
    manager = RunManager(store, GrpcCallers(stage_addresses))
    try:
        run = await manager.create(load_run_config(DEMO_CONFIG), RUN_ID)
        async with asyncio.timeout(300):
            async for snapshot in manager.watch(run.id, interval=0.05):
                run = snapshot
    finally:
        await manager.close()
    if run.state != coordinator_pb2.RUN_STATE_SUCCEEDED:
        raise RuntimeError(f"the demo run ended {run.state}: {run.message}")
    await asyncio.to_thread(export_run, store, run, "golden", str(folder))
    return export_signature(folder)


async def _record() -> None:
    from services.common.setting_groups import StoreSettings
    from services.common.s3server import LocalS3Server
    from tests.support.inprocess import InProcessStages
    from tests.coordinator.conftest import SERVICE_ENV
    with tempfile.TemporaryDirectory() as scratch, \
            LocalS3Server(Path(scratch) / "s3", log_path=Path(scratch) / "rclone.log") as s3:
        settings = StoreSettings(endpoint=s3.endpoint, access_key=s3.access_key,
                                 secret_key=s3.secret_key, bucket="golden", timeout_seconds=10.0)
        store = Store.from_settings(settings)
        store.ensure_bucket()
        env = {**SERVICE_ENV, "MIS_S3_ENDPOINT": s3.endpoint, "MIS_S3_ACCESS_KEY": s3.access_key,
               "MIS_S3_SECRET_KEY": s3.secret_key, "MIS_S3_BUCKET": "golden"}
        stages = await InProcessStages().start_all(env)
        try:
            rows = await export_demo(stages.stage_addresses(), store, Path(scratch) / "dataset")
        finally:
            await stages.stop()
    GOLDEN.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(rows)} samples recorded in {GOLDEN}")


if __name__ == "__main__":
    asyncio.run(_record())
