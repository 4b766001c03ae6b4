"""`mis index build` killed with SIGKILL mid-build resumes where it stopped.

The build runs as a real process against the real S3 server. The test kills
it the moment it reports its first finished shard on stdout (the durable
progress signal), then runs it again: the shards recorded before the kill are
skipped, the others embedded, and the index holds every image exactly once.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading

from services.retriever.retrieval import LoadedIndex
from tests.retriever.corpus import image_folder
from tests.support.processes import ROOT

CORPUS_SIZE = 60
SHARD_SIZE = 5
SHARDS = CORPUS_SIZE // SHARD_SIZE


def build_command(clip_path, folder) -> list[str]:
    return [sys.executable, "-m", "services.cli.main", "index", "build", "resumed", str(folder),
            "--clip", str(clip_path), "--shard-size", str(SHARD_SIZE)]


def lines_of(process: subprocess.Popen) -> "queue.Queue[str | None]":
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_build_killed_after_its_first_shard_resumes_without_redoing_it(
        store, store_env, clip_path, tmp_path):
    drawings_folder = image_folder(tmp_path / "drawings", CORPUS_SIZE)
    first = subprocess.Popen(build_command(clip_path, drawings_folder),
                             env={**os.environ, **store_env, "PYTHONUNBUFFERED": "1"}, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        progress = lines_of(first)
        line = progress.get(timeout=120)
        assert line is not None and line.startswith(f"shard 1/{SHARDS} "), line
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        first.kill()
    recorded = [k for k in store.list_keys("indexes/resumed/shards/") if k.endswith(".json")]
    assert 1 <= len(recorded) < SHARDS
    assert not store.exists("indexes/resumed/manifest.json")

    second = subprocess.run(build_command(clip_path, drawings_folder),
                            env={**os.environ, **store_env}, cwd=ROOT, capture_output=True,
                            text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-2000:]
    shard_lines = [line for line in second.stdout.splitlines() if line.startswith("shard ")]
    assert len(shard_lines) == SHARDS
    assert sum(line.endswith("done earlier") for line in shard_lines) == len(recorded)
    assert sum(line.endswith(f"{SHARD_SIZE} items") for line in shard_lines) == SHARDS - len(recorded)
    loaded = LoadedIndex.load(store, "resumed")
    item_ids = [item["item_id"] for item in loaded.items]
    assert len(item_ids) == len(set(item_ids)) == CORPUS_SIZE
    assert loaded.index.ntotal == CORPUS_SIZE
