"""`progress.json`: what the rank-0 trainer tells the outside world about its run.

The coordinator's launcher reads this file from the run's output prefix to report step
and loss, so no Kubernetes permissions are needed to follow a run. The layout is fixed:
{"step", "total_steps", "loss", "epoch", "state", "updated_at"}.
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

    def report(self, step: int, loss: float | None, epoch: float, state: str) -> None:
        if not self.enabled:
            return
        self.store.write_json(self.uri, {
            "step": step, "total_steps": self.total_steps,
            "loss": None if loss is None else round(float(loss), 6),
            "epoch": round(epoch, 4), "state": state,
            "updated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        })
