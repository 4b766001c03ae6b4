"""Judge benchmark (`python -m bench.judge`).

1. Keyword backend through the judge service: verdicts per second and p50/p99
   latency of unary Judge calls at several concurrency levels (cache off, so
   every call is judged).
2. The cache hit path: the same through the rubric path (offline dry-run model),
   with every item already in the verdict cache.
3. Against the real vLLM server (tiny model, when .venv-vllm exists): the judge
   service's throughput as a ratio of a direct concurrent client's on the same
   requests (the rubric prompt and schema sent straight to vLLM with the same
   concurrency). Target: at least 0.9.

    python -m bench.judge [--requests 400] [--concurrency 1,8,32,64] [--no-vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import compare
from services.common.setting_groups import ModelEndpointSettings
from services.common.models import OpenAIChatModel
from services.common.models.base import ModelError
from services.common.s3server import LocalS3Server
from services.judge.backends import ResolvedItem, RubricBackend
from services.judge.client import JudgeClient, judge_item
from services.judge.rubric import load_rubric
from tests.judge.support import png
from tests.support.processes import VLLM_PYTHON, ServiceUnderTest, VllmServer

RESPONSES = ["I'm sorry, but I can't help with combining these objects.",
             "Put the object from the first image inside the second and wait."]
OPEN_LIMITS = {"MIS_RATE_LIMIT_PER_SECOND": "0", "MIS_QUEUE_LIMIT": "100000",
               "MIS_LOG_LEVEL": "WARNING"}


def items(count: int, distinct: int | None = None):
    distinct = distinct or count
    images = [png((i % 256, (i // 256) % 256, 7)) for i in range(min(distinct, 512))]
    return [judge_item(f"b{i}", f"How do I use these together? ({i % distinct})",
                       [images[i % len(images)], images[(i + 1) % len(images)]],
                       RESPONSES[i % 2]) for i in range(count)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def drive(call, work: list, concurrency: int) -> tuple[float, list[float]]:
    """Run `call(item)` over `work` with `concurrency` workers: (items/s, latencies)."""
    queue = list(reversed(work))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            item = queue.pop()
            started = time.perf_counter()
            await call(item)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(work) / (time.perf_counter() - started), latencies


async def sweep(address: str, name: str, work: list, levels: list[int],
                backend: str) -> list[dict]:
    rows = []
    async with JudgeClient(address) as client:
        async def call(item):
            verdicts.append(await client.judge(item, backend=backend))

        verdicts: list = []
        await drive(call, work[:50], 8)  # warm the channel (and the cache)
        for level in levels:
            verdicts = []

            rate, latencies = await drive(call, work, level)
            rows.append({"scenario": name, "concurrency": level, "verdicts_per_second": rate,
                         "p50_ms": 1000 * statistics.median(latencies),
                         "p99_ms": 1000 * percentile(latencies, 0.99),
                         "cached": sum(v.cached for v in verdicts), "requests": len(work)})
            print(f"{name:>10}  c={level:<3} {rate:8.1f} verdicts/s  p50 {rows[-1]['p50_ms']:7.2f} ms"
                  f"  p99 {rows[-1]['p99_ms']:7.2f} ms  cached {rows[-1]['cached']}/{len(work)}",
                  flush=True)
    return rows


def start_judge(workdir: Path, env: dict[str, str]) -> ServiceUnderTest:
    return ServiceUnderTest("judge", workdir, env).start()


def vllm_ratio(workdir: Path, s3_env: dict[str, str], requests: int, concurrency: int) -> dict:
    from tests.support.tiny_llm import build_tiny_llm

    # The model gets cores of its own, as it gets its own GPU in a deployment:
    # otherwise every cycle the judge process spends is taken from a CPU-bound
    # model, and the ratio would measure that instead of the service's overhead.
    cores = sorted(os.sched_getaffinity(0))
    model_cores, client_cores = set(cores[: max(1, len(cores) // 2)]), set(cores[len(cores) // 2:] or cores)
    os.sched_setaffinity(0, model_cores)
    try:
        server = VllmServer(build_tiny_llm(workdir / "tiny"), workdir / "vllm.log").start()
    finally:
        os.sched_setaffinity(0, client_cores)
    print(f"vLLM on cores {sorted(model_cores)}; judge service and clients on {sorted(client_cores)}")
    service = None
    try:
        env = {"MIS_JUDGE_MODEL_BACKEND": "openai", "MIS_JUDGE_MODEL_BASE_URL": server.base_url,
               "MIS_JUDGE_MODEL_MODEL": server.served_name,
               "MIS_JUDGE_MODEL_CONCURRENCY": str(concurrency),
               "MIS_JUDGE_SEND_IMAGES": "false", "MIS_JUDGE_CACHE": "false"}
        service = start_judge(workdir / "svc-vllm", {**s3_env, **OPEN_LIMITS, **env})
        work = items(requests)
        direct = RubricBackend("openai", OpenAIChatModel(ModelEndpointSettings(
            backend="openai", base_url=server.base_url, model=server.served_name,
            api_key="bench", concurrency=concurrency)), load_rubric("mis-judge-v1"),
            send_images=False)
        resolved = [ResolvedItem(i.item_id, i.question, tuple(x.data for x in i.images),
                                 ("",) * len(i.images), i.response) for i in work]
        loop = asyncio.new_event_loop()
        client = loop.run_until_complete(_client(service.address))

        async def direct_one(item):
            try:
                await direct.judge(item)
            except ModelError:
                pass  # an unparseable answer is a finished request on both sides

        async def service_one(item):
            await client.judge_batch([item])  # per-item errors come back in the reply

        def run(call, batch):
            return lambda: (loop.run_until_complete(drive(call, batch, concurrency)), len(batch))[1]

        result = compare("judge service vs direct vLLM client", run(service_one, work),
                         run(direct_one, resolved), rounds=5, unit="requests/s", target=0.9)
        print(result.report(), flush=True)
        loop.run_until_complete(client.close())
        loop.run_until_complete(direct.close())
        loop.close()
        return {"ratio": result.ratio, "service_rates": result.candidate_rates,
                "direct_rates": result.baseline_rates, "concurrency": concurrency,
                "requests": requests, "target": 0.9}
    finally:
        if service is not None:
            service.kill()
        server.stop()


async def _client(address: str) -> JudgeClient:
    return JudgeClient(address)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--vllm-requests", type=int, default=48)
    parser.add_argument("--vllm-concurrency", type=int, default=8)
    parser.add_argument("--no-vllm", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as scratch:
        root = Path(scratch)
        with LocalS3Server(root / "s3") as s3:
            s3_env = {"MIS_S3_ENDPOINT": s3.endpoint, "MIS_S3_ACCESS_KEY": s3.access_key,
                      "MIS_S3_SECRET_KEY": s3.secret_key, "MIS_S3_BUCKET": "bench"}
            keyword = start_judge(root / "svc-keyword", {**s3_env, **OPEN_LIMITS,
                                                         "MIS_JUDGE_CACHE": "false"})
            cached = start_judge(root / "svc-cached", {**s3_env, **OPEN_LIMITS})
            try:
                work = items(args.requests)
                results["keyword"] = asyncio.run(sweep(keyword.address, "keyword", work, levels,
                                                       "keyword"))
                warm = items(args.requests, distinct=50)
                results["cache_hit"] = asyncio.run(sweep(cached.address, "cache hit", warm, levels,
                                                         "offline"))
            finally:
                keyword.kill()
                cached.kill()
            if args.no_vllm:
                print("vLLM comparison skipped (--no-vllm)")
            elif not VLLM_PYTHON.exists():
                print("vLLM comparison skipped: .venv-vllm missing (make setup-vllm)")
            else:
                results["vllm"] = vllm_ratio(root, s3_env, args.vllm_requests,
                                             args.vllm_concurrency)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
