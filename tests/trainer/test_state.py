"""State handling: local checkpoint copies are pruned, SIGTERM (a preempted pod) ends
the run with a checkpoint and exit code 0, from which the next run resumes, and a
checkpoint is written in the background while training goes on."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from trainer.config import load_config
from trainer.store import Store
from trainer.train import run

REPO = Path(__file__).resolve().parents[2]


def test_local_and_published_checkpoints_are_pruned(tiny_llava, mis_split, write_config, tmp_path):
    config = load_config(str(write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(tmp_path / "out"),
                                          epochs=2, checkpoint_every=1, keep_checkpoints=2)))
    recipe = run(config)
    assert recipe.total_steps == 6
    expected = ["step-0000005", "step-0000006"]
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == expected
    assert sorted(p.name for p in (tmp_path / "work" / "checkpoints").iterdir()) == expected


def _wait_for_line(process: subprocess.Popen, needle: str, deadline_s: float) -> list[str]:
    """Lines of the process's stdout up to the first containing `needle`, within a deadline."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            continue
        line = process.stdout.readline()
        if not line:
            break  # the process ended
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no {needle!r} in the trainer's output within {deadline_s}s:\n" + "".join(lines[-20:]))


def test_sigterm_checkpoints_and_exits_cleanly_then_resumes(tiny_llava, mis_split, write_config, tmp_path):
    output = tmp_path / "out"
    path = write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(output), epochs=20,
                        checkpoint_every=0, progress_every=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "trainer.train", "--config", str(path)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_line(process, '"message": "step 2/60', deadline_s=120)
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, remaining[-3000:]
    progress = json.loads((output / "progress.json").read_text())
    assert progress["state"] == "stopped" and 2 <= progress["step"] < 60
    stopped_at = progress["step"]
    checkpoint = output / "checkpoints" / f"step-{stopped_at:07d}"
    assert (checkpoint / "COMPLETE").read_text() == str(stopped_at)
    assert "SIGTERM: stopping at step" in remaining

    resumed = run(load_config(str(path), ["stop_after_steps=1"]))
    assert resumed.step == stopped_at + 1


class HeldCheckpointUpload(Store):
    """A store whose upload of step 2's checkpoint is held until the trainer has reported a
    later step: it returns only if training went on while the checkpoint was in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.held = threading.Event()
        self.release = threading.Event()
        self.steps_while_held: list[int] = []

    def publish_file(self, path: Path, uri: str) -> None:
        if "/checkpoints/step-0000002/" in uri and not self.release.is_set():
            self.held.set()
            if not self.release.wait(60):
                raise TimeoutError("training did not go on while the checkpoint was uploading")
        super().publish_file(path, uri)

    def write_json(self, uri: str, payload: dict) -> None:
        if uri.endswith("progress.json") and self.held.is_set() and payload["step"] > 2:
            self.steps_while_held.append(payload["step"])
            self.release.set()
        super().write_json(uri, payload)


def test_training_goes_on_while_a_checkpoint_uploads(tiny_llava, mis_split, write_config, tmp_path):
    store = HeldCheckpointUpload()
    config = load_config(str(write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(tmp_path / "out"),
                                          epochs=2, checkpoint_every=2, progress_every=1, keep_checkpoints=3)))
    recipe = run(config, store)
    assert recipe.step == 6 and store.steps_while_held[0] == 3
    # The held checkpoint still completed, marker and all.
    for step in (2, 4, 6):
        assert (tmp_path / "out" / "checkpoints" / f"step-{step:07d}" / "COMPLETE").read_text() == str(step)
