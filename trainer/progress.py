"""`progress.json`: what the rank-0 trainer tells the outside world about its run.

The coordinator's launcher reads this file from the run's output prefix to report step,
loss and throughput, so no Kubernetes permissions are needed to follow a run. The layout
is fixed: {"step", "total_steps", "loss", "epoch", "state", "tokens", "tokens_per_second",
"updated_at"}; `tokens` counts the real (non-padding) tokens of all ranks trained on so
far, `tokens_per_second` is the last step's rate (null before the first step).
"""

from __future__ import annotations

import datetime

from trainer.store import Store, join

PROGRESS_FILE = "progress.json"


class ProgressReporter:
    def __init__(self, store: Store, output: str, total_steps: int, enabled: bool) -> None:
        self.store = store
        self.uri = join(output, PROGRESS_FILE)
        self.total_steps = total_steps
        self.enabled = enabled  # only rank 0 writes

    def report(self, step: int, loss: float | None, epoch: float, state: str, tokens: int = 0,
               tokens_per_second: float | None = None) -> None:
        if not self.enabled:
            return
        self.store.write_json(self.uri, {
            "step": step, "total_steps": self.total_steps,
            "loss": None if loss is None else round(float(loss), 6),
            "epoch": round(epoch, 4), "state": state, "tokens": int(tokens),
            "tokens_per_second": None if tokens_per_second is None else round(float(tokens_per_second), 3),
            "updated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        })
