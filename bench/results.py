"""What turning a stage result into its stored JSON costs the coordinator:
`services.common.protojson.message_to_dict` against protobuf's
`json_format.MessageToDict` (proto field names), the baseline it replaced,
over the results a real run stores.

A run over the demo seeds (offline backends, the stage services in this
process on loopback, the real S3 server) stores every stage's results; they
are read back, parsed into their messages, checked to convert to equal JSON
both ways, and then converted by each side in alternating rounds. Printed:
results per second each way and the ratio (target >= 1.5, as the
conversion was the largest single cost per sample in a profile of the
coordinator).

    python -m bench.results            # the 100 demo seeds, 5 rounds
    options: --seeds 40 --rounds 9
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

from google.protobuf import json_format

from bench.harness import compare
from services.common.protojson import message_to_dict
from services.common.s3server import LocalS3Server
from services.common.setting_groups import StoreSettings
from services.common.store import Store
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.runconfig import parse_run_config
from services.coordinator.runs import RunManager
from services.coordinator.stages import PIPELINE
from tests.support.inprocess import InProcessStages

DEMO = Path(__file__).resolve().parents[1] / "services" / "coordinator" / "data" / "demo-seeds.jsonl"


async def stored_results(store: Store, env: dict, seeds: int) -> list:
    """Every stage result a run over `seeds` demo seeds stored, as messages."""
    stages = await InProcessStages().start_all(env)
    try:
        manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
        await manager.start()
        config = parse_run_config({"name": "results", "queries_per_seed": 2,
                                   "seeds": [{"uri": str(DEMO), "format": "jsonl", "limit": seeds}]})
        run = await manager.create(config, "results")
        task = manager.get(run.id).task
        await task
        await manager.close()
    finally:
        await stages.stop()
    by_stage = {stage.key: stage for stage in PIPELINE}
    results = []
    for key in store.list_keys(layout.run_prefix(run.id) + "outputs/"):
        for output_key, _, stored in store.get_json(key)["outputs"]:
            stage = by_stage[output_key.rsplit("/", 1)[1].removesuffix(".json")]
            results.append(stage.result_from_json(stored["result"]))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="demo seeds the run takes")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    logging.getLogger("mis").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder, LocalS3Server(Path(folder) / "s3") as s3:
        store = Store.from_settings(StoreSettings(endpoint=s3.endpoint, access_key=s3.access_key,
                                                  secret_key=s3.secret_key, bucket="results"))
        store.ensure_bucket()
        env = {"MIS_S3_ENDPOINT": s3.endpoint, "MIS_S3_ACCESS_KEY": s3.access_key,
               "MIS_S3_SECRET_KEY": s3.secret_key, "MIS_S3_BUCKET": "results"}
        results = asyncio.run(stored_results(store, env, args.seeds))
    kinds = sorted({type(result).__name__ for result in results})
    print(f"{len(results)} stored results of {len(kinds)} kinds ({', '.join(kinds)})")
    differ = [r for r in results if message_to_dict(r) != json_format.MessageToDict(
        r, preserving_proto_field_name=True)]
    if not results:
        print("no ratio: the run stored no results")
        return 1
    if differ:
        print(f"no ratio: {len(differ)} of {len(results)} results convert differently")
        return 1

    def fast() -> int:
        for result in results:
            message_to_dict(result)
        return len(results)

    def baseline() -> int:
        for result in results:
            json_format.MessageToDict(result, preserving_proto_field_name=True)
        return len(results)

    print(compare("stage result to stored JSON", fast, baseline, rounds=args.rounds,
                  unit="results/s", target=1.5).report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
