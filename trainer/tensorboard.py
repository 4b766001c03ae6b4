"""Training metrics for TensorBoard, beside the `progress.json` the coordinator reads.

Rank 0 writes event files under `work_dir/tensorboard` and publishes the folder to
`<output>/tensorboard` with every checkpoint and at the end, so `tensorboard --logdir`
works on a copy of the output (or on the S3 prefix through a mounted bucket).

Per optimizer step: train/loss (per token), train/lr, train/grad_norm (before
clipping), train/tokens_per_s (real tokens of all ranks), train/padding_share and, when
`peak_tflops` is set, train/mfu (6 x trainable parameters x tokens/s over the peak of all
GPUs, the usual estimate). Per evaluation: eval/loss.
"""

from __future__ import annotations

from pathlib import Path


class TrainingMetrics:
    def __init__(self, folder: Path, enabled: bool, trainable_params: int, peak_tflops: float,
                 world_size: int) -> None:
        self.folder = folder
        self.enabled = enabled  # only rank 0 writes
        self.flops_per_token = 6 * trainable_params
        self.peak_flops = peak_tflops * 1e12 * world_size
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            folder.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(folder))

    def step(self, step: int, loss: float, lr: float, grad_norm: float, tokens: float, slots: float,
             seconds: float) -> None:
        if self.writer is None:
            return
        tokens_per_s = tokens / seconds if seconds > 0 else 0.0
        scalars = {"train/loss": loss, "train/lr": lr, "train/grad_norm": grad_norm,
                   "train/tokens_per_s": tokens_per_s,
                   "train/padding_share": 1 - tokens / slots if slots else 0.0}
        if self.peak_flops:
            scalars["train/mfu"] = self.flops_per_token * tokens_per_s / self.peak_flops
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def evaluation(self, step: int, loss: float) -> None:
        if self.writer is not None:
            self.writer.add_scalar("eval/loss", loss, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
