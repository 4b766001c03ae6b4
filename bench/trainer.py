"""Throughput of the MIRage recipe against a plain transformers `Trainer`, same model and data.

The recipe batches samples of similar length (trainer/batching.py); the `Trainer` baseline
draws random batches and pads each to its longest sample (the usual dynamic padding).
Both train the same model from the same weights on the same encoded samples with the
same collator, so the difference is the recipe's: length-grouped batches, and the
language-model head run on the answer positions only. Reported: real (non-padding) tokens
per second for each, their ratio (target >= 1.5), and the share of token slots that were
padding. Each model is freed before the next is built; `--json` prints one JSON object on
stdout and nothing else (the libraries' own prints go to stderr).

    python bench/trainer.py                       # tiny LLaVA on CPU (builds everything locally)
    python bench/trainer.py --config qwen2-vl-2b/config.json --image-size 448 --peak-tflops 989
        # on a GPU: a real-size model from its config.json with random weights; adds peak
        # memory and MFU (model FLOPs utilisation, 6 x trainable params x tokens / time / peak)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import tiny  # noqa: E402
from trainer.batching import Collator  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.train import MIRageRecipe  # noqa: E402


class CountingCollator:
    """Wraps a collator to count real and padded token slots of every batch it builds."""

    def __init__(self, inner: Collator) -> None:
        self.inner = inner
        self.real = 0
        self.slots = 0

    def __call__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        batch = self.inner(indices)
        self.real += int(batch["attention_mask"].sum())
        self.slots += batch["attention_mask"].numel()
        return batch

    @property
    def padding_share(self) -> float:
        return 1 - self.real / self.slots if self.slots else 0.0


def build_model_from_config(config_path: Path, out: Path) -> Path:
    """A real-size model with random weights, its special-token ids mapped onto the tiny tokenizer."""
    from transformers import AutoConfig, AutoModelForImageTextToText, Qwen2VLImageProcessorPil

    config = AutoConfig.from_pretrained(config_path)
    if config.model_type in ("qwen2_vl", "qwen2_5_vl"):
        tokenizer = tiny.build_tokenizer(tiny.SPECIALS_QWEN, "<|vision_start|><|image_pad|><|vision_end|>",
                                         pad="<|endoftext|>", eos="<|im_end|>", bos=None)
        for attribute, token in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                                 ("vision_start_token_id", "<|vision_start|>"),
                                 ("vision_end_token_id", "<|vision_end|>")):
            setattr(config, attribute, tokenizer.convert_tokens_to_ids(token))
        parts = [tokenizer, Qwen2VLImageProcessorPil()]
    else:
        raise SystemExit(f"--config: benchmarking supports qwen2_vl / qwen2_5_vl configs, got {config.model_type!r}")
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    for part in parts:
        part.save_pretrained(out)
    return out


def recipe_run(cfg: TrainConfig) -> tuple[MIRageRecipe, CountingCollator, float]:
    recipe = MIRageRecipe(cfg)
    recipe.setup()
    counting = CountingCollator(recipe.collator)
    recipe.collator = counting
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    recipe.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return recipe, counting, time.perf_counter() - start


def trainer_run(cfg: TrainConfig, collator: Collator, family, total_steps: int,
                out: Path) -> tuple[CountingCollator, float]:
    """The baseline: transformers' Trainer, random batches, same samples and collator."""
    from transformers import AutoModelForImageTextToText, Trainer, TrainingArguments

    from trainer.backbones import freeze_vision

    model = AutoModelForImageTextToText.from_pretrained(cfg.model, dtype=torch.float32)
    freeze_vision(model, family)
    counting = CountingCollator(collator)
    samples = collator.samples
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.grad_accum_steps, num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate, warmup_steps=math.ceil(cfg.warmup_ratio * total_steps),
        lr_scheduler_type=cfg.lr_scheduler,
        max_grad_norm=cfg.max_grad_norm, bf16=cfg.precision == "bf16", seed=cfg.seed,
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        save_strategy="no", logging_strategy="no", report_to=[], remove_unused_columns=False,
        dataloader_num_workers=cfg.num_workers, use_cpu=not torch.cuda.is_available())
    # The dataset is the sample indices; the collator turns a list of them into a batch.
    trainer = Trainer(model=model, args=args, train_dataset=list(range(len(samples))),
                      data_collator=counting)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del trainer, model
    free_memory()
    return counting, seconds


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def bench_config(args: argparse.Namespace, model_dir: Path, data: Path, root: Path, gpu: bool) -> TrainConfig:
    """The recipe's settings for the benchmark: bf16 and gradient checkpointing on a GPU."""
    return TrainConfig(model=str(model_dir), dataset=str(data), output=str(root / "run"),
                       learning_rate=1e-4, epochs=args.epochs, micro_batch_size=args.batch_size,
                       precision="bf16" if gpu else "fp32", gradient_checkpointing=gpu,
                       num_workers=2 if gpu else 0, checkpoint_every=0, log_every=10_000,
                       progress_every=10_000, max_length=args.max_length, resume=False,
                       work_dir=str(root / "work")).validate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="a model config.json (real size, random weights); GPU")
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()

    # With --json, stdout carries the report only; what the libraries print goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with quiet, tempfile.TemporaryDirectory(prefix="bench-trainer-") as scratch:
        root = Path(scratch)
        if args.config:
            model_dir = build_model_from_config(args.config, root / "model")
            sizes = (args.image_size // 2, args.image_size)
        else:
            model_dir = tiny.build_llava(root / "model", image_size=args.image_size, hidden_size=128, layers=4)
            sizes = (args.image_size,)
        # Answers from one to twelve sentences: the length spread of real safety CoT labels.
        data = tiny.write_dataset(root / "data", args.samples, max_answer_sentences=12, image_sizes=sizes)
        gpu = torch.cuda.is_available()
        cfg = bench_config(args, model_dir, data, root, gpu)
        recipe, ours, ours_seconds = recipe_run(cfg)
        peak_memory = torch.cuda.max_memory_allocated() if gpu else None
        trainable = sum(p.numel() for p in recipe.raw_model.parameters() if p.requires_grad)
        family, total_steps = recipe.backbone.family, recipe.total_steps
        collator = Collator(recipe.samples, recipe.backbone.image_tokens, ours.inner.pad_token_id,
                            ours.inner.image_token_id)
        # Free the recipe (model, optimizer, gradients) before the baseline builds its own.
        recipe.cleanup()
        del recipe, ours.inner
        free_memory()
        theirs, theirs_seconds = trainer_run(cfg, collator, family, total_steps, root / "hf")

    ours_tps = ours.real / ours_seconds
    theirs_tps = theirs.real / theirs_seconds
    report = {
        "model": str(args.config or "tiny-llava"),
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "recipe_tokens_per_s": round(ours_tps, 1),
        "trainer_tokens_per_s": round(theirs_tps, 1),
        "ratio": round(ours_tps / theirs_tps, 3),
        "target_ratio": 1.5,
        "recipe_padding_share": round(ours.padding_share, 4),
        "trainer_padding_share": round(theirs.padding_share, 4),
    }
    if gpu:
        report["peak_memory_gib"] = round(peak_memory / 2**30, 2)
        report["mfu"] = round(6 * trainable * ours_tps / (args.peak_tflops * 1e12), 4)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
