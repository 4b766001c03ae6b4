"""How a coordinator run's costs grow with its size: generated seed files of
1k and 10k samples by default (`--samples 2000 20000` for the issue's sizes,
or bigger), offline backends, the real S3 server.

For each size, one run on a coordinator process (`mis serve coordinator`)
killed with SIGKILL once 80% of its samples are finished, then resumed by a
fresh process to the end. Printed per size, and the growth from the
smallest size to each larger one:

- samples/s up to the kill, and the coordinator's overhead per sample: its
  seconds per sample minus those of a direct concurrent client sending the
  same requests straight to the same services (no coordinator, no store;
  measured in the same run, on 500 samples), and beside it the CPU time the
  coordinator process spent per sample from CreateRun to the kill (what its
  overhead costs the machine; the process's start, imports included, is not
  counted);
- the coordinator's peak RSS (VmHWM) in each incarnation;
- the dedup time: the run's near-duplicate index (RunDeduplication) over
  every done sample of the finished run, in the order the samples finished
  (their manifest entries), and its final answer, timed in this process;
- the resume time: from starting the new process until its walk over the
  stored run is done ("run restored"), and the walk alone. The coordinator
  makes a checkpoint every 10 s here (MIS_CHECKPOINT_SECONDS), so both sizes
  resume from one.

Targets: samples/s within 0.8x, RSS and resume time growing at most 2x for
10x the samples, dedup sub-quadratic (growth exponent well under 2),
overhead of 3 ms per sample or less. The stage services run in this process
(real gRPC servers on loopback), so they share its CPU with the direct
client and with nothing else of the coordinator's.

    python -m bench.scale                      # 1k and 10k samples (under 10 minutes here)
    python -m bench.scale --samples 2000 20000 200000   # the issue's sizes and bigger
    options: --concurrency 8 --batch-size 8 --kill-at 0.8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mis.v1 import coordinator_pb2, coordinator_pb2_grpc, filter_pb2  # noqa: E402
from services.common.setting_groups import StoreSettings  # noqa: E402
from services.common.s3server import LocalS3Server  # noqa: E402
from services.common.store import Store  # noqa: E402
from services.coordinator import layout  # noqa: E402
from services.coordinator.callers import GrpcCallers  # noqa: E402
from services.coordinator.finish import thresholds_of  # noqa: E402
from services.coordinator.manifest import SAMPLE  # noqa: E402
from services.coordinator.inputs import load_inputs  # noqa: E402
from services.coordinator.runconfig import parse_run_config  # noqa: E402
from services.coordinator.sample import Seed  # noqa: E402
from services.coordinator.stages import BY_KEY, PIPELINE  # noqa: E402
from services.filter.deduplication import RunDeduplication  # noqa: E402
from tests.support.inprocess import InProcessStages  # noqa: E402
from tests.support.processes import ServiceUnderTest  # noqa: E402
from bench.pipeline import DirectClient  # noqa: E402

import grpc  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "services" / "coordinator" / "data" / "demo-seeds.jsonl"
QUERIES_PER_SEED = 2
# The stages' own options (small drawings, a fixed seed).
OPTIONS = {"extract": {"queries_per_seed": QUERIES_PER_SEED}, "refine": {"width": 32, "height": 32, "seed": 1}}
DIRECT_SEEDS = 250  # seeds the direct client sends
CHECKPOINT_SECONDS = "10"
DIRECT_IN_FLIGHT = 64  # seeds it keeps in flight (the services accept 100 calls at once)


def write_seeds(path: Path, samples: int) -> int:
    """A seed file of samples / 2 seeds: the demo seeds, reworded by a counter,
    so runs have both fresh instructions and near-duplicates."""
    demo = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    seeds = samples // QUERIES_PER_SEED
    with path.open("w") as out:
        for n in range(seeds):
            seed = dict(demo[n % len(demo)])
            seed["id"] = f"gen-{n:07d}"
            if n >= len(demo):
                seed["text"] = f"{seed['text'].rstrip('?')} number {n // len(demo)}?"
            out.write(json.dumps(seed) + "\n")
    return seeds


def run_config(seeds: Path, concurrency: int, batch_size: int) -> coordinator_pb2.RunConfig:
    return parse_run_config({
        "name": "scale", "seeds": [{"uri": str(seeds), "format": "jsonl"}],
        "stages": {key: {"concurrency": concurrency, "batch_size": batch_size, "timeout_seconds": 600,
                         "options": OPTIONS.get(key, {})} for key in BY_KEY}})


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def log_event(service: ServiceUnderTest, message: str, since: int = 0) -> dict | None:
    """The first log entry with this message written after byte `since`."""
    with service.log_path.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    for line in text.splitlines():
        if f'"{message}"' in line:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == message:
                return entry
    return None


@dataclass
class Figures:
    samples: int
    samples_per_second: float
    seconds_per_sample: float
    rss_first_mb: float
    rss_resumed_mb: float
    dedup_seconds: float
    cpu_ms_per_sample: float
    resume_seconds: float
    restore_walk_seconds: float
    manifest_segments: int


async def watch_until(stub, run_id: str, stop) -> coordinator_pb2.Run:
    last = None
    async for reply in stub.WatchRun(coordinator_pb2.WatchRunRequest(run_id=run_id)):
        last = reply.run
        if stop(last):
            return last
    return last


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_dedup(store: Store, run_id: str) -> float:
    """Seconds to index every done sample of the run in the order they
    finished (manifest order) and ask for the duplicates, as the coordinator does."""
    seen, entries = set(), []
    for key in sorted(store.list_keys(layout.manifest_prefix(run_id))):
        for entry in store.get_json(key)["entries"]:
            if entry[0] == SAMPLE and entry[4] == "done" and not entry[13] and entry[1] not in seen:
                seen.add(entry[1])
                entries.append(entry)
    seeds = {seed_id: n for n, seed_id in enumerate(sorted({entry[2] for entry in entries}))}
    fingerprints = [((seeds[e[2]] << 20) | e[3], filter_pb2.Fingerprint(
        item_id=e[1], instruction_text=e[7], image1_phash=e[8], image2_phash=e[9])) for e in entries]
    started = time.perf_counter()
    index = RunDeduplication(thresholds_of(coordinator_pb2.RunConfig()))
    for order, fingerprint in fingerprints:
        index.add(order, fingerprint.item_id, fingerprint)
    index.duplicates()
    return time.perf_counter() - started


async def one_size(samples: int, scratch: Path, env: dict, addresses, args, store: Store) -> Figures:
    seeds_path = scratch / f"seeds-{samples}.jsonl"
    seeds = write_seeds(seeds_path, samples)
    expected = seeds * QUERIES_PER_SEED
    config = run_config(seeds_path, args.concurrency, args.batch_size)
    coordinator_env = {**env, **{stage.address_variable: addresses[stage.service] for stage in PIPELINE},
                       "MIS_COORDINATOR_LOCAL_ROOTS": str(scratch), "MIS_CHECKPOINT_SECONDS": CHECKPOINT_SECONDS}
    workdir = scratch / f"coordinator-{samples}"
    first = ServiceUnderTest("coordinator", workdir, coordinator_env).start()
    cpu_at_start = cpu_seconds(first.process.pid)
    run_id = f"scale-{samples}"
    channel = grpc.aio.insecure_channel(first.address)
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
    started = time.perf_counter()
    await stub.CreateRun(coordinator_pb2.CreateRunRequest(config=config, run_id=run_id))
    at_kill = await watch_until(stub, run_id,
                                lambda run: run.progress.samples_finished >= args.kill_at * expected
                                or run.state not in (coordinator_pb2.RUN_STATE_PENDING,
                                                     coordinator_pb2.RUN_STATE_RUNNING))
    elapsed = time.perf_counter() - started
    rss_first = peak_rss_mb(first.process.pid)
    cpu_first = cpu_seconds(first.process.pid) - cpu_at_start
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    await channel.close()
    finished_before = at_kill.progress.samples_finished
    log_start = first.log_path.stat().st_size

    restarted = time.perf_counter()
    second = ServiceUnderTest("coordinator", workdir, coordinator_env).start()
    restored = None
    while restored is None:
        restored = log_event(second, "run restored", log_start)
        if restored is None:
            await asyncio.sleep(0.05)
    resume_seconds = time.perf_counter() - restarted
    channel = grpc.aio.insecure_channel(second.address)
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
    final = await watch_until(stub, run_id, lambda run: run.state not in (
        coordinator_pb2.RUN_STATE_PENDING, coordinator_pb2.RUN_STATE_RUNNING))
    rss_resumed = peak_rss_mb(second.process.pid)
    await channel.close()
    second.terminate()
    if final.state != coordinator_pb2.RUN_STATE_SUCCEEDED:
        raise RuntimeError(f"run {run_id} ended {final.state}: {final.message}")
    if final.progress.samples_total != expected:
        raise RuntimeError(f"run {run_id}: {final.progress.samples_total} samples, expected {expected}")
    dedup_seconds = await asyncio.to_thread(time_dedup, store, run_id)
    return Figures(samples=expected, samples_per_second=finished_before / elapsed,
                   seconds_per_sample=elapsed / finished_before, rss_first_mb=rss_first,
                   rss_resumed_mb=rss_resumed, dedup_seconds=dedup_seconds,
                   cpu_ms_per_sample=cpu_first * 1000 / finished_before,
                   resume_seconds=resume_seconds, restore_walk_seconds=float(restored.get("seconds", "nan")),
                   manifest_segments=int(restored.get("manifest_segments", 0)))


async def direct_seconds_per_sample(store: Store, addresses, scratch: Path, args) -> float:
    """The direct concurrent client over DIRECT_SEEDS seeds: seconds per sample it made."""
    path = scratch / "seeds-direct.jsonl"
    write_seeds(path, DIRECT_SEEDS * QUERIES_PER_SEED)
    config = run_config(path, args.concurrency, args.batch_size)
    inputs = await asyncio.to_thread(load_inputs, config, store)
    callers, close = await GrpcCallers(addresses).open(config)
    try:
        direct = DirectClient(callers, config, inputs.taxonomy)
        # Each seed straight through every stage, as many at once as the
        # services accept (their concurrent-RPC limit), no barrier between stages.
        slots = asyncio.Semaphore(DIRECT_IN_FLIGHT)

        async def one(index: int, seed) -> None:
            async with slots:
                await direct.one(PIPELINE[0], Seed(seed, index))
        await asyncio.gather(*(one(i, s) for i, s in enumerate(inputs.seeds[:20])))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one(i, s) for i, s in enumerate(inputs.seeds)))
        return (time.perf_counter() - started) / (len(inputs.seeds) * QUERIES_PER_SEED)
    finally:
        await close()


def growth(small: float, large: float) -> str:
    """large / small; no ratio of a side that is not positive (an overhead
    below the baseline's has no growth to speak of)."""
    return f"{large / small:.2f}x" if small > 0 and large > 0 else "n/a"


def report(figures: list[Figures], direct: float) -> None:
    print(f"direct concurrent client: {direct * 1000:.2f} ms per sample "
          f"({DIRECT_SEEDS * QUERIES_PER_SEED} samples)")
    for f in figures:
        overhead = (f.seconds_per_sample - direct) * 1000
        print(f"[{f.samples} samples] {f.samples_per_second:.1f} samples/s, overhead {overhead:.2f} ms/sample "
              f"against the direct client (target <= 3: {'met' if overhead <= 3 else 'NOT met'}; "
              f"coordinator CPU {f.cpu_ms_per_sample:.2f} ms/sample, target <= 3: "
              f"{'met' if f.cpu_ms_per_sample <= 3 else 'NOT met'}), "
              f"peak RSS {f.rss_first_mb:.0f} MB (resumed {f.rss_resumed_mb:.0f} MB), "
              f"dedup {f.dedup_seconds:.2f} s, resume {f.resume_seconds:.2f} s "
              f"(walk {f.restore_walk_seconds:.2f} s, {f.manifest_segments} manifest segments)")
    base = figures[0]
    for f in figures[1:]:
        scale = f.samples / base.samples
        exponent = (math.log(f.dedup_seconds / base.dedup_seconds) / math.log(scale)
                    if base.dedup_seconds > 0 and f.dedup_seconds > 0 else float("nan"))
        rss = max(f.rss_first_mb, f.rss_resumed_mb) / max(base.rss_first_mb, base.rss_resumed_mb)
        rate = f.samples_per_second / base.samples_per_second
        resume = f.resume_seconds / base.resume_seconds
        print(f"growth {base.samples} -> {f.samples} ({scale:.0f}x samples): "
              f"samples/s {rate:.2f}x (target >= 0.8: {'met' if rate >= 0.8 else 'NOT met'}), "
              f"overhead {growth((base.seconds_per_sample - direct), (f.seconds_per_sample - direct))}, "
              f"peak RSS {rss:.2f}x (target <= 2: {'met' if rss <= 2 else 'NOT met'}), "
              f"dedup {growth(base.dedup_seconds, f.dedup_seconds)} (exponent {exponent:.2f}, "
              f"sub-quadratic: {'yes' if exponent < 1.8 else 'NO'}), "
              f"resume {resume:.2f}x (target <= 2: {'met' if resume <= 2 else 'NOT met'})")


async def main_async(args: argparse.Namespace) -> int:
    logging.getLogger("mis").setLevel(logging.ERROR)  # the in-process services' per-call lines
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        s3 = LocalS3Server(scratch / "s3").start()
        try:
            settings = StoreSettings(endpoint=s3.endpoint, access_key=s3.access_key,
                                     secret_key=s3.secret_key, bucket="scale")
            store = Store.from_settings(settings)
            store.ensure_bucket()
            env = {"MIS_S3_ENDPOINT": s3.endpoint, "MIS_S3_ACCESS_KEY": s3.access_key,
                   "MIS_S3_SECRET_KEY": s3.secret_key, "MIS_S3_BUCKET": "scale",
                   "MIS_T2I_WIDTH": "32", "MIS_T2I_HEIGHT": "32", "MIS_LOG_LEVEL": "INFO"}
            stages = await InProcessStages().start_all({**env, "MIS_LLM_CONCURRENCY": "64",
                                                        "MIS_VLM_CONCURRENCY": "64"})
            try:
                addresses = stages.addresses
                direct = await direct_seconds_per_sample(store, stages.stage_addresses(), scratch, args)
                figures = []
                for samples in sorted(args.samples):
                    figures.append(await one_size(samples, scratch, env, addresses, args, store))
                    print(f"  measured {samples} samples", flush=True)
                report(figures, direct)
            finally:
                await stages.stop()
        finally:
            s3.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[1000, 10000],
                        help="run sizes in samples (seeds are half as many)")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight per stage")
    parser.add_argument("--batch-size", type=int, default=8, help="items per call")
    parser.add_argument("--kill-at", type=float, default=0.8, help="fraction of samples finished at the SIGKILL")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
