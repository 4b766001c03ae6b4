"""`mis index build` killed with SIGKILL mid-build resumes where it stopped.

The build runs as a real process against the real S3 server. The test kills
it the moment it reports its first finished shard on stdout (the durable
progress signal), then runs it again: the shards recorded before the kill are
skipped, the others read, and the index holds every item exactly once. The
corpus is in LAION's layout, so the process needs no CLIP (and no torch
import): the shard bookkeeping is the same for every layout.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading

from services.retriever.retrieval import LoadedIndex
from tests.retriever.corpus import laion_shards
from tests.support.processes import ROOT

SHARDS = 40
PER_SHARD = 50


# One FAISS thread: OpenMP threads spin while they wait, which costs a small shared machine dearly.
BUILD_ENV = {"OMP_NUM_THREADS": "1"}


def build_command(folder) -> list[str]:
    return [sys.executable, "-m", "services.cli.main", "index", "build", "resumed", str(folder),
            "--layout", "laion"]


def lines_of(process: subprocess.Popen) -> "queue.Queue[str | None]":
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_build_killed_after_its_first_shard_resumes_without_redoing_it(store, store_env, tmp_path):
    corpus = tmp_path / "laion"
    laion_shards(corpus, shards=SHARDS, per_shard=PER_SHARD, dimension=16)
    first = subprocess.Popen(build_command(corpus),
                             env={**os.environ, **store_env, **BUILD_ENV, "PYTHONUNBUFFERED": "1"}, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = lines_of(first).get(timeout=60)
        assert line is not None and line.startswith(f"shard 1/{SHARDS} "), line
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        first.kill()
    recorded = [k for k in store.list_keys("indexes/resumed/shards/") if k.endswith(".json")]
    assert 1 <= len(recorded) < SHARDS
    assert not store.exists("indexes/resumed/manifest.json")

    second = subprocess.run(build_command(corpus), env={**os.environ, **store_env, **BUILD_ENV}, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    shard_lines = [line for line in second.stdout.splitlines() if line.startswith("shard ")]
    assert len(shard_lines) == SHARDS
    assert sum(line.endswith("done earlier") for line in shard_lines) == len(recorded)
    assert sum(line.endswith(f"{PER_SHARD} items") for line in shard_lines) == SHARDS - len(recorded)
    loaded = LoadedIndex.load(store, "resumed")
    item_ids = [item["item_id"] for item in loaded.items]
    assert len(item_ids) == len(set(item_ids)) == SHARDS * PER_SHARD
    assert loaded.index.ntotal == SHARDS * PER_SHARD
