"""gRPC overhead of each stage service: items per second of the batch RPC on a
real service process against the same logic called in-process, with the same
offline backend, the same store and the same requests.

The requests are realistic: demo seeds are carried through the pipeline
in-process first, so each stage gets what the stage before it produced.
Run: `python -m bench.stages`. Target: gRPC overhead under 10% (ratio >= 0.9).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from importlib import resources
from pathlib import Path

from bench.harness import compare
from mis.v1 import cot_annotator_pb2, detoxifier_pb2, extractor_pb2, filter_pb2, t2i_refiner_pb2
from services.common.channels import open_channel
from services.common.metrics import Metrics
from services.common.settings import load_settings
from services.common.store import AsyncStore, Store
from services.coordinator.stages import PIPELINE
from services.extractor.seeds import read_seeds
from services.stack import LocalStack

# Every demo seed for the extractor; downstream batches stay within the
# t2i-refiner's default batch limit (64).
SEEDS = 36
DOWNSTREAM_ITEMS = 60
RENDER = t2i_refiner_pb2.RenderOptions(width=64, height=64, steps=2, refinement_rounds=1)


async def build_logic(env: dict[str, str]) -> dict:
    """Each stage's in-process logic, configured exactly as its process is."""
    from services.cot_annotator import config as cot_config, server as cot_server
    from services.detoxifier import config as detox_config, server as detox_server
    from services.extractor import config as extractor_config, server as extractor_server
    from services.filter import config as filter_config, server as filter_server
    from services.t2i_refiner import config as t2i_config, server as t2i_server

    metrics = Metrics()
    filter_settings = load_settings(filter_config.Settings, env)
    refiner, _ = await t2i_server.build_refiner(load_settings(t2i_config.Settings, env), metrics)
    annotator, _ = cot_server.build_annotator(load_settings(cot_config.Settings, env), metrics)
    return {
        "extractor": extractor_server.build_extraction(load_settings(extractor_config.Settings, env)),
        "detoxifier": detox_server.build_detoxification(load_settings(detox_config.Settings, env)),
        "t2i-refiner": refiner,
        "filter": filter_server.build_classification(
            filter_settings, AsyncStore(Store.from_settings(filter_settings.store))),
        "cot-annotator": annotator,
    }


async def realistic_requests(logic: dict) -> dict:
    """Carry demo seeds through every stage in-process to get each stage's input."""
    seeds_path = resources.files("services.coordinator") / "data" / "demo-seeds.jsonl"
    seeds = list(read_seeds(Path(str(seeds_path)), "jsonl", SEEDS))
    extract = extractor_pb2.ExtractBatchRequest(seeds=seeds)
    queries = [q for r in (await logic["extractor"].batch(extract)).results
               for q in r.queries][:DOWNSTREAM_ITEMS]
    detox = detoxifier_pb2.DetoxifyBatchRequest(queries=queries)
    instructions = [r.instruction for r in (await logic["detoxifier"].batch(detox)).results
                    if r.HasField("instruction")]
    render = t2i_refiner_pb2.RenderPairBatchRequest(instructions=instructions, options=RENDER)
    rendered = (await logic["t2i-refiner"].batch(render)).results
    by_id = {i.id: i for i in instructions}
    items = [filter_pb2.FilterItem(id=r.instruction_id, instruction=by_id[r.instruction_id],
                                   images=r.pair) for r in rendered if r.HasField("pair")]
    classify = filter_pb2.ClassifyBatchRequest(items=items)
    annotate_items = [cot_annotator_pb2.AnnotateItem(id=item.id, instruction=item.instruction,
                                                     images=item.images) for item in items]
    return {
        "extractor": (extract, len(seeds)),
        "detoxifier": (detox, len(queries)),
        "t2i-refiner": (render, len(instructions)),
        "filter": (classify, len(items)),
        "cot-annotator": (cot_annotator_pb2.AnnotateBatchRequest(items=annotate_items),
                          len(annotate_items)),
    }


# The main-line stages, by service: each one's batch RPC is its declared `api`.
# A branch (retrieve) needs a corpus and forks of filtered samples; not measured here.
MEASURED = {stage.service: stage.api for stage in PIPELINE if not stage.branches_from}


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    with tempfile.TemporaryDirectory() as scratch:
        stack = LocalStack(Path(scratch), services=list(MEASURED))
        stack.start()
        try:
            env = {k: v for k, v in stack.base_env().items() if k.startswith("MIS_")}
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)  # grpc.aio channels bind to the current loop
            logic = loop.run_until_complete(build_logic(env))
            requests = loop.run_until_complete(realistic_requests(logic))
            print(f"gRPC batch RPC vs in-process logic, offline backends, {SEEDS} demo seeds, "
                  f"at most {DOWNSTREAM_ITEMS} items downstream")
            for name, api in MEASURED.items():
                request, count = requests[name]
                channel = open_channel(stack.processes[name].address, deadline_seconds=300)
                rpc = getattr(api.stub(channel), api.method)

                def over_grpc(rpc=rpc, request=request, count=count) -> int:
                    loop.run_until_complete(rpc(request))
                    return count

                def in_process(name=name, request=request, count=count) -> int:
                    loop.run_until_complete(logic[name].batch(request))
                    return count

                print(compare(f"{name} ({count} items per batch)", over_grpc, in_process,
                              rounds=rounds, unit="items/s", target=0.9).report(), flush=True)
                loop.run_until_complete(channel.close())
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
