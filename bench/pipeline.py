"""Throughput of a coordinator run against two baselines on the same vLLM
servers and the same seeds, and the coordinator's per-sample overhead.

Throughput is seeds taken to an outcome per second (each seed yields its
samples or its rejections; with the tests' random-weight models most queries
are rejected on the way, so samples per second alone would read near zero),
printed with the samples each side made.

- candidate: a coordinator run (`RunManager`, the pipelined engine with its
  durable store writes) over the five stage services;
- (a) the paper-style loop: every seed, then every query of it, through the
  stages one request at a time;
- (b) the ceiling: the same requests sent straight to the services, each
  stage's whole set at once (no coordinator, no store writes), with at most
  the run's `concurrency` calls of a stage in flight, as the coordinator.
  Target: candidate >= 0.9 of (b).

Both sides take `--concurrency` calls per stage in flight. Its default, 64, is
the limit the stage services put on each model endpoint here
(MIS_*_CONCURRENCY), which is what a user running on these servers would set:
a run capped lower than its endpoints admit queues its items for nothing.

The stage services run in this process as real gRPC servers with their model
endpoints pointed at two vLLM servers: the tiny text model and the tiny VLM
the tests use (built locally, no download), the VLM sent both images, with
seeded sampling as in the integration tier. Then the same comparison with the
offline backends gives the coordinator's overhead per sample. On vLLM it also
prints each side's engine steps (from the servers' metrics): the same tokens
come out on every side, so more steps mean the servers ran smaller batches.

    python -m bench.pipeline                 # vLLM (starts it: minutes on CPU) and offline
    python -m bench.pipeline --offline-only  # only the overhead with offline backends
    options: --seeds 36 --rounds 3 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mis.v1 import coordinator_pb2  # noqa: E402
from services.common.setting_groups import StoreSettings  # noqa: E402
from services.common.s3server import LocalS3Server  # noqa: E402
from services.common.store import Store  # noqa: E402
from services.coordinator.callers import GrpcCallers  # noqa: E402
from tests.support.inprocess import InProcessStages  # noqa: E402
from services.coordinator.inputs import load_inputs  # noqa: E402
from services.coordinator.runconfig import parse_run_config  # noqa: E402
from services.coordinator.sample import Seed  # noqa: E402
from services.coordinator.stages import BY_KEY, PIPELINE, RunContext, following  # noqa: E402
from services.coordinator.runs import RunManager  # noqa: E402

SEEDS = Path(__file__).resolve().parents[1] / "services" / "coordinator" / "data" / "demo-seeds.jsonl"
# The stages' own options (small drawings, a fixed seed).
OPTIONS = {"extract": {"queries_per_seed": 2}, "refine": {"width": 64, "height": 64, "seed": 1}}


def run_config(seeds: int, concurrency: int) -> coordinator_pb2.RunConfig:
    return parse_run_config({
        "name": "bench", "seeds": [{"uri": str(SEEDS), "format": "jsonl", "limit": seeds}],
        "stages": {key: {"concurrency": concurrency, "batch_size": 1, "timeout_seconds": 600,
                         "options": OPTIONS.get(key, {})} for key in BY_KEY}})


class DirectClient:
    """The stages called straight, without the coordinator: one request at a
    time (the paper-style loop) or each stage's whole set at once (the
    ceiling). Requests and results go through the same stage declarations
    the coordinator uses, so the comparison follows the pipeline as declared."""

    def __init__(self, callers: dict, config: coordinator_pb2.RunConfig, taxonomy,
                 concurrency: int = 0) -> None:
        self.callers = callers
        self.context = RunContext(config, taxonomy)
        self.finished = 0  # samples that reached an outcome in the current pass
        # At most `concurrency` calls of a stage in flight (0: no cap), the
        # run's own cap, so that both sides send with the same concurrency.
        self.slots = {stage.key: asyncio.Semaphore(concurrency) for stage in PIPELINE} if concurrency else {}

    async def step(self, stage, item) -> list:
        """One item through one stage: what goes on to the next stage."""
        slot = self.slots.get(stage.key)
        async with slot if slot is not None else contextlib.nullcontext():
            reply = await self.callers[stage.key](stage.request([item], self.context, ""))
        result = stage.results_of(reply, 1)[0]
        if (result.HasField("error") and result.error.code) or stage.rejected(result):
            return []
        moved = stage.apply(item, result, "bench")
        if not moved:
            self.finished += 1  # accepted, and nothing goes on: the sample is done here
        return moved

    async def one(self, stage, item) -> None:
        for moved in await self.step(stage, item):
            await self.one(following(stage), moved)

    async def sequential(self, seeds) -> int:
        """The samples produced."""
        self.finished = 0
        for index, seed in enumerate(seeds):
            await self.one(PIPELINE[0], Seed(seed, index))
        return self.finished

    async def ceiling(self, seeds) -> int:
        """Every stage's requests all at once, one request per item, as a
        direct concurrent client would send them; the samples produced."""
        self.finished = 0
        items = [Seed(seed, index) for index, seed in enumerate(seeds)]
        for stage in (s for s in PIPELINE if not s.branches_from):  # the main line; no branch runs here
            moved = await asyncio.gather(*(self.step(stage, item) for item in items))
            items = [sample for samples in moved for sample in samples]
        return self.finished


async def coordinator_run(store: Store, addresses, config, label: str) -> int:
    manager = RunManager(store, GrpcCallers(addresses))
    run = await manager.create(config, f"{label}-{time.time_ns()}")
    async for snapshot in manager.watch(run.id, interval=0.05):
        run = snapshot
    await manager.close()
    if run.state != coordinator_pb2.RUN_STATE_SUCCEEDED:
        raise RuntimeError(f"bench run ended {run.state}: {run.message}")
    # The samples that reached an accepted outcome, as the direct client counts
    # them (it does not deduplicate, so near-duplicates count too).
    return sum(run.progress.per_split.values()) + run.progress.near_duplicates


SIDES = ("coordinator", "sequential", "ceiling")


def engine_steps(servers) -> int:
    """The steps the vLLM servers' engines have run so far (each step one
    batch), from their Prometheus metrics."""
    http = urllib3.PoolManager(retries=False, timeout=10.0)
    total = 0.0
    for server in servers:
        text = http.request("GET", server.base_url.removesuffix("/v1") + "/metrics").data.decode()
        total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("vllm:iteration_tokens_total_count"))
    return int(total)


async def measure(store: Store, env: dict, seeds: int, concurrency: int, rounds: int, label: str,
                  servers=()) -> None:
    """Time every side `rounds` times (alternating the order) and report
    their medians; `servers`: the vLLM servers whose engine steps are counted."""
    stages = await InProcessStages().start_all(env)
    times: dict[str, list[float]] = {name: [] for name in SIDES}
    steps: dict[str, list[int]] = {name: [] for name in SIDES}
    produced: dict[str, int] = {}
    try:
        config = run_config(seeds, concurrency)
        inputs = await asyncio.to_thread(load_inputs, config, store)
        callers, close = await GrpcCallers(stages.stage_addresses()).open(config)
        direct = DirectClient(callers, config, inputs.taxonomy, concurrency)
        sides = {"coordinator": lambda: coordinator_run(store, stages.stage_addresses(), config, label),
                 "sequential": lambda: direct.sequential(inputs.seeds),
                 "ceiling": lambda: direct.ceiling(inputs.seeds)}
        await sides["coordinator"]()  # warm-up
        for index in range(rounds):
            for name in (SIDES if index % 2 == 0 else SIDES[::-1]):
                stepped = await asyncio.to_thread(engine_steps, servers) if servers else 0
                started = time.perf_counter()
                produced[name] = await sides[name]()
                times[name].append(time.perf_counter() - started)
                if servers:
                    steps[name].append(await asyncio.to_thread(engine_steps, servers) - stepped)
        await close()
    finally:
        await stages.stop()
    report(label, len(inputs.seeds), rounds, {name: statistics.median(v) for name, v in times.items()},
           produced, {name: statistics.median(v) for name, v in steps.items() if v})


def report(label: str, seed_count: int, rounds: int, median: dict[str, float], produced: dict[str, int],
           steps: dict[str, float]) -> None:
    rate = {name: seed_count / value for name, value in median.items()}
    print(f"[{label}] {seed_count} seeds, {rounds} rounds (medians); samples produced: "
          + ", ".join(f"{name} {produced[name]}" for name in SIDES))
    for name in SIDES:
        print(f"  {name:<12} {median[name]:7.2f} s  {rate[name]:7.2f} seeds/s  "
              f"{produced[name] / median[name]:7.2f} samples/s")
    if steps:
        # The same requests give the same tokens on every side; the steps say
        # how many batches the servers ran them in (fewer: fuller batches).
        print("  vLLM engine steps: " + ", ".join(f"{name} {steps[name]:.0f}" for name in SIDES))
    empty = [name for name in SIDES if not produced[name]]
    if empty:
        # Two pipelines that produce nothing are not compared: the ratio would mean nothing.
        print(f"  no ratio: {', '.join(empty)} produced no samples")
        return
    print(f"  coordinator / sequential loop (a): {rate['coordinator'] / rate['sequential']:.2f}  target >= 5: "
          f"{'met' if rate['coordinator'] / rate['sequential'] >= 5 else 'NOT met'}")
    ratio = rate["coordinator"] / rate["ceiling"]
    print(f"  coordinator / direct concurrent client (b): {ratio:.2f}  target >= 0.9: "
          f"{'met' if ratio >= 0.9 else 'NOT met'}")
    overhead = (median["coordinator"] - median["ceiling"]) / produced["coordinator"] * 1000
    print(f"  coordinator overhead over the ceiling: {overhead:.1f} ms per sample")


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        s3 = LocalS3Server(Path(scratch) / "s3").start()
        try:
            settings = StoreSettings(endpoint=s3.endpoint, access_key=s3.access_key,
                                     secret_key=s3.secret_key, bucket="bench")
            store = Store.from_settings(settings)
            store.ensure_bucket()
            env = {"MIS_S3_ENDPOINT": s3.endpoint, "MIS_S3_ACCESS_KEY": s3.access_key,
                   "MIS_S3_SECRET_KEY": s3.secret_key, "MIS_S3_BUCKET": "bench",
                   "MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64",
                   "MIS_LLM_CONCURRENCY": "64", "MIS_VLM_CONCURRENCY": "64"}
            await measure(store, env, args.seeds, args.concurrency, args.rounds, "offline")
            if not args.offline_only:
                from tests.support.processes import VLLM_PYTHON, VllmServer, vllm_env
                from tests.support.tiny_llm import build_tiny_llm
                from tests.support.tiny_vlm import build_tiny_vlm
                if not VLLM_PYTHON.exists():
                    print("vLLM venv missing (make setup-vllm): the vLLM comparison is skipped")
                    return 0
                llm = VllmServer(build_tiny_llm(Path(scratch) / "tiny-llm"), Path(scratch) / "llm.log")
                vlm = VllmServer(build_tiny_vlm(Path(scratch) / "tiny-vlm"), Path(scratch) / "vlm.log",
                                 served_name="tiny-vlm", images_per_prompt=2)
                try:
                    llm.launch(), vlm.launch()
                    llm.wait_ready(900.0), vlm.wait_ready(900.0)
                    # The integration tier's settings: the VLM sees both images,
                    # and seeded sampling makes both sides send the same answers.
                    vllm_vars = {**vllm_env(llm, "MIS_LLM_"), **vllm_env(vlm, "MIS_VLM_"),
                                 "MIS_VLM_SEND_IMAGES": "true",
                                 "MIS_LLM_TEMPERATURE": "1.0", "MIS_VLM_TEMPERATURE": "1.0",
                                 "MIS_LLM_SEED": "1", "MIS_VLM_SEED": "1",
                                 "MIS_LLM_CONCURRENCY": "64", "MIS_VLM_CONCURRENCY": "64"}
                    await measure(store, {**env, **vllm_vars}, args.seeds, args.concurrency,
                                  args.rounds, "vllm", servers=(llm, vlm))
                finally:
                    llm.stop(), vlm.stop()
        finally:
            s3.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=36)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64,
                        help="calls in flight per stage, on both sides (default: the endpoints' limit)")
    parser.add_argument("--offline-only", action="store_true")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
