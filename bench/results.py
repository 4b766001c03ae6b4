"""What storing a stage result, and reading it back, costs the coordinator:
the serialized message (`PipelineStage.stored_result` / `result_of`)
against json_format's JSON object (`MessageToDict` with proto field names,
parsed back by `ParseDict`), the form it replaced.

A run over the demo seeds (offline backends, the stage services in this
process on loopback, the real S3 server) stores every stage's results; they
are read back, checked to come back equal both ways, and then stored (made
into the stored output's text, as the grouped outputs write it) and read
(text to message) by each side in alternating rounds. Printed: results per
second each way and the ratio (target >= 1.5: the JSON conversion was the
largest single cost per sample in a profile of the coordinator), and the
stored text's size each way.

    python -m bench.results            # the 100 demo seeds, 5 rounds
    options: --seeds 40 --rounds 9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path

from google.protobuf import json_format

from bench.harness import compare
from services.common.s3server import LocalS3Server
from services.common.setting_groups import StoreSettings
from services.common.store import Store
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.runconfig import parse_run_config
from services.coordinator.runs import RunManager
from services.coordinator.stages import PIPELINE
from services.coordinator.stages.base import RESULT_JSON
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
    by_stage = {stage.stored_as: stage for stage in PIPELINE}
    results = []
    for key in store.list_keys(layout.run_prefix(run.id) + "outputs/"):
        for output_key, _, stored in store.get_json(key)["outputs"]:
            stage = by_stage[output_key.rsplit("/", 1)[1].removesuffix(".json")]
            results.append((stage, stage.result_of(stored)))
    return results


def as_message(stage, result) -> str:
    return json.dumps(stage.stored_result(result))


def as_json(stage, result) -> str:
    return json.dumps({RESULT_JSON: json_format.MessageToDict(result, preserving_proto_field_name=True)})


def stored_each_way(results: list) -> tuple[list[str], list[str]]:
    return ([as_message(stage, result) for stage, result in results],
            [as_json(stage, result) for stage, result in results])


def read_back(results: list, texts: list[str]) -> list:
    return [stage.result_of(json.loads(text)) for (stage, _), text in zip(results, texts)]


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
    kinds = sorted({type(result).__name__ for _, result in results})
    print(f"{len(results)} stored results of {len(kinds)} kinds ({', '.join(kinds)})")
    if not results:
        print("no ratio: the run stored no results")
        return 1
    messages, jsons = stored_each_way(results)
    expected = [result for _, result in results]
    for side, texts in (("message", messages), ("JSON", jsons)):
        if read_back(results, texts) != expected:
            print(f"no ratio: results stored as {side} do not read back equal")
            return 1

    def store_messages() -> int:
        return len([as_message(stage, result) for stage, result in results])

    def store_jsons() -> int:
        return len([as_json(stage, result) for stage, result in results])

    print(compare("store a stage result", store_messages, store_jsons, rounds=args.rounds,
                  unit="results/s", target=1.5).report())
    print(compare("read a stored result", lambda: len(read_back(results, messages)),
                  lambda: len(read_back(results, jsons)), rounds=args.rounds,
                  unit="results/s", target=1.5).report())
    print(f"stored text: {sum(map(len, messages)) / 1024:.0f} KiB as messages, "
          f"{sum(map(len, jsons)) / 1024:.0f} KiB as JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())
