"""The MIRage recipe: supervised safety fine-tuning of a multi-image VLM, top to bottom.

    python -m trainer.train --config qwen2_vl_7b dataset=s3://mis/exports/v3 output=s3://mis/runs/r1
    torchrun --nproc-per-node 8 -m trainer.train --config qwen2_vl_7b fsdp=true ...

setup    reads the config, joins the process group, fetches data and model, freezes the
         vision encoder, encodes every conversation (loss on assistant tokens only), builds
         length-grouped batches, the optimizer and the warm-up + decay schedule, and resumes
         from the newest complete checkpoint under the output;
train    runs optimizer steps (gradient accumulation, bf16, clipping), reports progress,
         checkpoints every `checkpoint_every` steps;
finish   writes the final model in its own format (bf16, LoRA merged) for vLLM to serve;
cleanup  records the outcome and leaves the process group.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from trainer import backbones, checkpoint
from trainer.batching import BatchDataset, Collator, epoch_batches, padding_share
from trainer.config import TrainConfig, load_config
from trainer.data import load_records, mix
from trainer.encoding import IGNORE_INDEX, ConversationEncoder, EncodedSample, SampleTooLong
from trainer.tensorboard import TrainingMetrics
from trainer.progress import ProgressReporter
from trainer.store import Store, is_s3, join

log = logging.getLogger("trainer")


class MIRageRecipe:
    def __init__(self, config: TrainConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store()
        self.step = 0
        self.saved_step = -1
        self.last_loss: float | None = None
        # Real (non-padding) tokens of all ranks trained on so far, and the last step's rate:
        # what `mis train watch` shows, since steps/s hides the batch and sequence sizes.
        self.tokens_seen = 0
        self.tokens_per_second: float | None = None
        self.preempted = False  # set by SIGTERM; the run checkpoints and stops after this step
        self.sharded = False  # FSDP applied (it then owns the bf16 casts, not autocast)
        # One checkpoint at a time is written and uploaded in the background (async_checkpoints).
        self.checkpoint_io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self.pending_checkpoint: Future | None = None
        self.checkpoint_group = None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        cfg = self.config
        self._join_process_group()
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.work = Path(cfg.work_dir or Path(tempfile.gettempdir()) /
                         f"mirage-{hashlib.sha1(cfg.output.encode()).hexdigest()[:12]}")
        self.work.mkdir(parents=True, exist_ok=True)
        self._watch_for_preemption()

        model_dir = self.model_dir = self._fetch_model(cfg.model)
        # Under FSDP only rank 0 reads the weights; the other ranks build the model on the
        # meta device and get their shards from rank 0 once it is sharded (_parallelize).
        self.weights_from_rank0 = self.distributed and cfg.fsdp and not self.rank0
        self.backbone = backbones.load_backbone(model_dir, backbones.ImageBudget(cfg.max_pixels, cfg.max_dynamic_patch),
                                                cfg.attn_implementation, on_meta=self.weights_from_rank0)
        self.image_budget = backbones.image_budget_of(self.backbone)
        if self.rank0:
            log.info("resolved config %s", json.dumps({**cfg.as_dict(), "image_budget": self.image_budget},
                                                      sort_keys=True, default=str))
        model = self.backbone.model
        backbones.freeze_vision(model, self.backbone.family)
        if cfg.finetune == "lora":
            model = backbones.apply_lora(model, self.backbone.family, cfg.lora_rank, cfg.lora_alpha,
                                         cfg.lora_dropout)
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        self.raw_model = model  # moved to the device by _parallelize (after sharding, with FSDP)
        self.trainable = backbones.trainable_parameter_names(self.raw_model)

        self.samples = self._encode_dataset()
        self.lengths = [len(s) for s in self.samples]
        self.micro_per_epoch = math.ceil(len(self.samples) / (cfg.micro_batch_size * self.world_size))
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / cfg.grad_accum_steps)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.collator = Collator(self.samples, self.backbone.image_tokens, self._pad_token_id(),
                                 self._image_type_token_id())
        self._setup_evaluation()

        self.model = self._parallelize(self.raw_model)
        params = [p for p in self.raw_model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        from transformers import get_scheduler

        self.scheduler = get_scheduler(cfg.lr_scheduler, self.optimizer,
                                       num_warmup_steps=math.ceil(cfg.warmup_ratio * self.total_steps),
                                       num_training_steps=self.total_steps)
        self.progress = ProgressReporter(self.store, cfg.output, self.total_steps, enabled=self.rank0)
        self.metrics = TrainingMetrics(self.work / "tensorboard", self.rank0, sum(p.numel() for p in params),
                                       cfg.peak_tflops, self.world_size)
        self._resume()
        if self.rank0:
            n_trainable = sum(p.numel() for p in params)
            log.info("samples=%d steps=%d (per epoch %d) trainable_params=%d padding_share_epoch0=%.3f",
                     len(self.samples), self.total_steps, self.steps_per_epoch, n_trainable,
                     padding_share(self._batches(0), self.lengths))

    def _setup_evaluation(self) -> None:
        cfg = self.config
        self.eval_loss: float | None = None
        if not cfg.eval_dataset:
            return
        held_out = self._encode(load_records(self._fetch(cfg.eval_dataset, "eval"), "eval"), "eval_dataset")
        self.eval_collator = Collator(held_out, self.backbone.image_tokens, self._pad_token_id(),
                                      self._image_type_token_id())
        # Every rank the same number of batches (the split wraps around to fill the last).
        self.eval_batches = epoch_batches([len(s) for s in held_out], cfg.micro_batch_size,
                                          self.world_size, self.rank, cfg.seed, 0, cfg.length_group_batches)

    def _join_process_group(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.distributed = self.world_size > 1
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            self.device = torch.device("cuda", local_rank)
        else:
            self.device = torch.device("cpu")
        if self.distributed:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo",
                                    timeout=timedelta(minutes=self.config.collective_timeout_minutes))
            # Checkpoint writes coordinate on a CPU group of their own, so a background save
            # never interleaves its collectives with the training's.
            self.checkpoint_group = dist.new_group(backend="gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.local_rank = local_rank
        self.rank0 = self.rank == 0

    def _watch_for_preemption(self) -> None:
        """SIGTERM (a preempted or deleted pod) finishes the current step, checkpoints, exits 0."""
        def request_stop(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
            self.preempted = True

        self._previous_sigterm = signal.signal(signal.SIGTERM, request_stop)

    def _stop_requested(self) -> bool:
        """Whether any rank was told to stop; all ranks agree, so they stop at the same step."""
        if not self.distributed:
            return self.preempted
        flag = torch.tensor([1.0 if self.preempted else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def _fetch(self, uri: str, name: str) -> Path:
        """Local copy of a model or dataset; on each node the first rank downloads it."""
        if not is_s3(uri):
            return self.store.fetch_dir(uri, Path(uri))
        dest = self.work / name
        if self.local_rank == 0:
            self.store.fetch_dir(uri, dest)
        self._barrier()
        return dest

    def _fetch_model(self, uri: str) -> Path | str:
        """An s3:// model is downloaded; a local folder is used in place; anything else is
        taken as a Hugging Face Hub id, which from_pretrained resolves (HF_TOKEN if gated)."""
        if is_s3(uri) or Path(uri).is_dir():
            return self._fetch(uri, "model")
        return uri

    def _encode_dataset(self) -> list[EncodedSample]:
        cfg = self.config
        safety = load_records(self._fetch(cfg.dataset, "dataset"), "safety")
        general = load_records(self._fetch(cfg.general_dataset, "general"), "general") if cfg.general_dataset else []
        return self._encode(mix(safety, general, cfg.general_ratio, cfg.seed), "dataset")

    def _encode(self, mixture: list, key: str) -> list[EncodedSample]:
        cfg = self.config
        encoder = ConversationEncoder(self.backbone.image_tokens, self.backbone.template_owner, cfg.max_length)
        samples, skipped = [], 0
        for sample in mixture:
            try:
                samples.append(encoder.encode(sample))
            except SampleTooLong:
                if cfg.on_too_long == "error":
                    raise
                skipped += 1
        if skipped and self.rank0:
            log.warning("%s: skipped %d sample(s) longer than max_length=%d", key, skipped, cfg.max_length)
        if not samples:
            raise ValueError(f"{key}: no sample fits max_length; nothing to train on")
        return samples

    def _image_type_token_id(self) -> int | None:
        """The image token id if the model takes `mm_token_type_ids` (multimodal RoPE)."""
        if "mm_token_type_ids" not in inspect.signature(self.backbone.model.forward).parameters:
            return None
        return self.backbone.tokenizer.convert_tokens_to_ids(self.backbone.image_tokens.image_token)

    def _pad_token_id(self) -> int:
        tokenizer = self.backbone.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise backbones.UnsupportedModelError("model: the tokenizer has neither a pad nor an eos token")
        return pad

    def _parallelize(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.distributed:
            return model.to(self.device)  # bf16 through autocast, also where fsdp=true
        if self.config.fsdp:
            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

            policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
                if self.config.precision == "bf16" else MixedPrecisionPolicy()
            # Decoder layers are sharded one by one. The vision encoder stays in the root unit:
            # a batch without images skips it on some ranks, and a unit of its own would then
            # all-gather on some ranks only and hang.
            # Through the backbone: a LoRA model wraps it, and its layers are the same modules.
            loaded = model.state_dict() if self.rank0 else {}  # references, not copies
            for layer in self.backbone.model.get_submodule(self.backbone.family.decoder_layers):
                fully_shard(layer, mp_policy=policy)
            fully_shard(model, mp_policy=policy)
            self.sharded = True
            self._shard_weights_from_rank0(model, loaded)
            return model
        from torch.nn.parallel import DistributedDataParallel

        model.to(self.device)
        # Every trained parameter is used in every micro-batch (text-only ones get a dummy image).
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _shard_weights_from_rank0(self, model: torch.nn.Module, loaded: dict[str, torch.Tensor]) -> None:
        """Rank 0's loaded weights, broadcast once and kept by each rank as its shards. The
        meta ranks' storage is allocated only now, for their shards alone."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        if self.weights_from_rank0:
            model.to_empty(device=self.device)
            log.info("model built on the meta device; its shards come from rank 0")
        else:
            model.to(self.device)  # only this rank's shards travel to the GPU
        set_model_state_dict(model, loaded, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
        # Buffers are not sharded, and non-persistent ones (rotary tables) are in no state dict.
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)

    def _resume(self) -> None:
        if not self.config.resume:
            return
        found = checkpoint.latest_checkpoint(self.store, self.config.output) if self.rank0 else None
        if self.distributed:
            box = [found]
            dist.broadcast_object_list(box, src=0)
            found = box[0]
        if found is None:
            return
        folder = Path(found)
        if is_s3(found):
            # On each node its first rank downloads the checkpoint; every rank reads what it needs.
            folder = self.work / "resume"
            if self.local_rank == 0:
                shutil.rmtree(folder, ignore_errors=True)
                self.store.fetch_dir(found, folder)
            self._barrier()
        rest = torch.load(folder / checkpoint.STATE_FILE, map_location="cpu", weights_only=False)
        if rest["total_steps"] != self.total_steps:
            raise ValueError(f"resume: checkpoint {found} was made for {rest['total_steps']} steps, "
                             f"this run has {self.total_steps}; the data or batch settings changed")
        checkpoint.load_sharded(self.raw_model, self.optimizer, self.trainable, folder / checkpoint.SHARDS_DIR)
        self.scheduler.load_state_dict(rest["scheduler"])
        checkpoint.restore_rng(rest["rng"])
        self.step = rest["step"]
        self.tokens_seen = int(rest.get("tokens_seen", 0))
        if self.rank0:
            log.info("resumed from %s at step %d", found, self.step)

    # ------------------------------------------------------------------ train
    def _batches(self, epoch: int) -> list[list[int]]:
        cfg = self.config
        return epoch_batches(self.lengths, cfg.micro_batch_size, self.world_size, self.rank,
                             cfg.seed, epoch, cfg.length_group_batches)

    def _step_groups(self, epoch: int, first_step: int):
        """Yields lists of micro-batches, one list per optimizer step, from `first_step` on."""
        accum = self.config.grad_accum_steps
        batches = self._batches(epoch)[first_step * accum:]
        loader = torch.utils.data.DataLoader(
            BatchDataset(batches, self.collator), batch_size=None, num_workers=self.config.num_workers,
            # Its own generator, so the loader does not draw from the global RNG (that would
            # make a resumed run's dropout differ from an uninterrupted one).
            generator=torch.Generator().manual_seed(self.config.seed + epoch))
        group = []
        for batch in loader:
            group.append(batch)
            if len(group) == accum:
                yield group
                group = []
        if group:
            yield group

    def _forward_backward(self, group: list[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Backward of one optimizer step's micro-batches; returns (summed token loss, tokens) here.

        The loss is normalised per token over the whole step, all micro-batches of all ranks,
        so every assistant token weighs the same however the batch is cut (a long reasoning
        answer is not under-weighted beside a short one). DDP and FSDP average gradients over
        ranks, so each rank scales by world_size / tokens of the step.
        """
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.config.precision == "bf16" and not self.sharded)
        tokens = torch.tensor(float(sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in group)),
                              device=self.device)
        if self.distributed:
            dist.all_reduce(tokens)
        scale = self.world_size / tokens.clamp(min=1.0)
        total = torch.zeros((), device=self.device)
        for position, batch in enumerate(group):
            batch = {k: v.to(self.device) for k, v in batch.items()}
            labels = batch.pop("labels")
            last = position == len(group) - 1
            # DDP reduces gradients once per optimizer step. FSDP2 reduce-scatters after each
            # micro-batch unless told to defer (which keeps the gradients unsharded meanwhile).
            sync = contextlib.nullcontext()
            if isinstance(self.model, torch.nn.parallel.DistributedDataParallel) and not last:
                sync = self.model.no_sync()
            elif hasattr(self.model, "set_requires_gradient_sync"):  # FSDP2
                self.model.set_requires_gradient_sync(last or not self.config.fsdp_defer_grad_sync)
            # The language-model head runs only where a next token carries loss (the answers),
            # not over the prompt and its thousands of image tokens.
            positions, targets = labelled_positions(labels)
            with sync:
                with autocast:
                    logits = self.model(**batch, logits_to_keep=positions).logits
                loss_sum = token_loss_sum(logits, targets)
                (loss_sum * scale).backward()
            total += loss_sum.detach()
        return total, tokens

    def train(self) -> None:
        cfg = self.config
        stop_at = self.step + cfg.stop_after_steps if cfg.stop_after_steps else self.total_steps
        self.model.train()
        self._report_progress(self.step / self.steps_per_epoch, "running")
        while self.step < min(stop_at, self.total_steps):
            epoch, first = divmod(self.step, self.steps_per_epoch)
            started = time.perf_counter()
            for group in self._step_groups(epoch, first):
                self._optimizer_step(group, started)
                self._report(epoch)
                if self._stop_requested():
                    log.warning("SIGTERM: stopping at step %d with a checkpoint", self.step)
                    stop_at = self.step
                if self.step >= stop_at:
                    break
                started = time.perf_counter()  # step time leaves out evaluations and checkpoints
            # Each pass of the while loop finishes one epoch (or stops early).
        if self.step < self.total_steps and self.saved_step != self.step:
            self.save_checkpoint()  # stopped early: leave a checkpoint to resume from

    def _optimizer_step(self, group: list[dict[str, torch.Tensor]], started: float) -> None:
        """One optimizer step on these micro-batches; records its loss and metrics."""
        loss_sum, tokens = self._forward_backward(group)
        params = [p for p in self.raw_model.parameters() if p.requires_grad]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm or float("inf"))
        lr = self.scheduler.get_last_lr()[0]  # the rate this step uses
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        # Summed loss, real tokens and token slots of this step, over all ranks.
        masks = [b["attention_mask"] for b in group]
        totals = torch.stack([loss_sum, torch.tensor(float(sum(int(m.sum()) for m in masks)), device=self.device),
                              torch.tensor(float(sum(m.numel() for m in masks)), device=self.device)])
        if self.distributed:
            dist.all_reduce(totals)  # SUM: gloo has no AVG
        self.last_loss = float(totals[0] / tokens.clamp(min=1.0))
        if hasattr(grad_norm, "full_tensor"):  # a DTensor under FSDP
            grad_norm = grad_norm.full_tensor()
        seconds = time.perf_counter() - started
        self.tokens_seen += int(totals[1])
        self.tokens_per_second = float(totals[1]) / seconds if seconds > 0 else None
        self.metrics.step(self.step, self.last_loss, lr, float(grad_norm), float(totals[1]), float(totals[2]),
                          seconds)

    def _report_progress(self, epoch: float, state: str) -> None:
        self.progress.report(self.step, self.last_loss, epoch, state, self.tokens_seen, self.tokens_per_second)

    def _report(self, epoch: int) -> None:
        cfg = self.config
        fraction = self.step / self.steps_per_epoch
        if self.rank0 and (self.step % cfg.log_every == 0 or self.step == self.total_steps):
            log.info("step %d/%d epoch %.2f loss %.4f lr %.3g", self.step, self.total_steps, fraction,
                     self.last_loss, self.scheduler.get_last_lr()[0])
        if self.step % cfg.progress_every == 0:
            self._report_progress(fraction, "running")
        if cfg.eval_dataset and ((cfg.eval_every and self.step % cfg.eval_every == 0)
                                 or self.step == self.total_steps):
            self.evaluate()
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
            self.save_checkpoint()

    @torch.no_grad()
    def evaluate(self) -> float:
        """Per-token loss on the held-out split, over all ranks; logged as `eval step N loss X`."""
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16,
                                  enabled=self.config.precision == "bf16" and not self.sharded)
        self.model.eval()
        total = torch.zeros(2, device=self.device)  # summed loss, labelled tokens
        for indices in self.eval_batches:
            batch = {k: v.to(self.device) for k, v in self.eval_collator(indices).items()}
            positions, targets = labelled_positions(batch.pop("labels"))
            with autocast:
                logits = self.model(**batch, logits_to_keep=positions).logits
            total += torch.stack([token_loss_sum(logits, targets), (targets != IGNORE_INDEX).sum().float()])
        self.model.train()
        if self.distributed:
            dist.all_reduce(total)
        self.eval_loss = float(total[0] / total[1].clamp(min=1.0))
        if self.rank0:
            log.info("eval step %d loss %.4f", self.step, self.eval_loss)
        self.metrics.evaluation(self.step, self.eval_loss)
        return self.eval_loss

    def _prune_local_checkpoints(self) -> None:
        """The local copies are staging for the upload; keep as many as the output keeps."""
        local = self.work / "checkpoints"
        if self.config.keep_checkpoints <= 0 or not local.is_dir():
            return
        names = sorted(p.name for p in local.iterdir() if p.is_dir() and p.name.startswith("step-"))
        for name in names[:-self.config.keep_checkpoints]:
            shutil.rmtree(local / name, ignore_errors=True)

    # ------------------------------------------------------------------ checkpoint
    def save_checkpoint(self) -> None:
        """Each rank writes and uploads its shard of the training state; rank 0 adds the model
        in its own format (see `checkpoint_model`), the scheduler, position and RNG, and the
        COMPLETE marker last. With `async_checkpoints` the writing and uploading go on in the
        background while training continues; the next checkpoint or the end waits for it."""
        self.wait_for_checkpoint()
        self.saved_step = self.step
        name = checkpoint.step_dir_name(self.step)
        local = self.work / "checkpoints" / name
        remote = join(self.config.output, "checkpoints", name)
        if self.rank0:
            shutil.rmtree(local, ignore_errors=True)
        self._barrier()
        shards = local / checkpoint.SHARDS_DIR
        shards.mkdir(parents=True, exist_ok=True)
        written = checkpoint.save_sharded(self.raw_model, self.optimizer, self.trainable, shards,
                                          self.checkpoint_group, self.config.async_checkpoints)
        if self._checkpoints_hold_model():
            self._export_model(local / "model", final=False)  # collective
        if self.rank0:
            torch.save({"scheduler": self.scheduler.state_dict(), "rng": checkpoint.rng_state(), "step": self.step,
                        "tokens_seen": self.tokens_seen, "total_steps": self.total_steps, "config": self.config.as_dict()},
                       local / checkpoint.STATE_FILE)
            self._publish_metrics()
        self.pending_checkpoint = self.checkpoint_io.submit(self._complete_checkpoint, written, local, remote,
                                                            name, self.step)
        if not self.config.async_checkpoints:
            self.wait_for_checkpoint()

    def _complete_checkpoint(self, written: Future, local: Path, remote: str, name: str, step: int) -> None:
        """In the background: once this rank's shard is on disk it is uploaded; once every
        rank's is up, rank 0 publishes the rest with the marker last, then prunes."""
        written.result()
        for path in checkpoint.shard_files(local / checkpoint.SHARDS_DIR):
            self.store.publish_file(path, join(remote, checkpoint.SHARDS_DIR, path.name))
        if self.distributed:
            dist.barrier(group=self.checkpoint_group)  # every shard is up before the marker
        if self.rank0:
            (local / checkpoint.MARKER).write_text(str(step))
            self.store.publish_dir(local, remote, last=checkpoint.MARKER, skip=checkpoint.SHARDS_DIR)
            checkpoint.prune_checkpoints(self.store, self.config.output, self.config.keep_checkpoints)
            self._prune_local_checkpoints()
            log.info("checkpoint %s written", name)

    def wait_for_checkpoint(self) -> None:
        """Until the checkpoint in flight, if any, is complete; its failure is raised here."""
        pending, self.pending_checkpoint = self.pending_checkpoint, None
        if pending is not None:
            pending.result()

    def _checkpoints_hold_model(self) -> bool:
        choice = self.config.checkpoint_model
        if choice == "auto":
            return self.config.finetune == "lora" or not self.sharded
        return choice == "always"

    def _export_model(self, folder: Path, final: bool) -> None:
        """The model in its own format: bf16 for a bf16 run; a LoRA run's adapter or, at the end, merged."""
        adapter_only = self.config.finetune == "lora" and not final
        state = (checkpoint.full_trainable_state(self.raw_model, self.trainable) if adapter_only
                 else checkpoint.full_model_state(self.raw_model))
        if not self.rank0:
            return
        folder.mkdir(parents=True, exist_ok=True)
        dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float32
        model = self.raw_model
        if self.config.finetune == "lora":
            if adapter_only:
                model.save_pretrained(folder, state_dict=state)  # the adapter, gathered alone
                return
            model = self._merged_copy(state) if self.sharded else model.merge_and_unload()
            state = model.state_dict()
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        model.save_pretrained(folder, state_dict=state)
        # save_pretrained records the dtype of the in-memory (fp32 master) parameters; the
        # config must name the saved one, or vLLM's dtype=auto serves bf16 weights as fp32.
        config = model.config
        for part in [config, *(getattr(config, key, None) for key in getattr(config, "sub_configs", {}))]:
            if part is not None:
                part.dtype = dtype
        config.save_pretrained(folder)
        for part in self.backbone.savables:
            part.save_pretrained(folder)

    def _merged_copy(self, state: dict[str, torch.Tensor]) -> torch.nn.Module:
        """A LoRA run under FSDP: its adapters merged into a CPU copy of the base model (rank 0),
        since the sharded model's own weights cannot be merged in place."""
        from transformers import AutoModelForImageTextToText

        cfg = self.config
        base = AutoModelForImageTextToText.from_pretrained(self.model_dir, dtype=torch.float32)
        copy = backbones.apply_lora(base, self.backbone.family, cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout)
        copy.load_state_dict(state)
        return copy.merge_and_unload()

    def _publish_metrics(self) -> None:
        self.metrics.flush()
        if self.metrics.folder.is_dir():
            self.store.publish_dir(self.metrics.folder, join(self.config.output, "tensorboard"))

    # ------------------------------------------------------------------ finish and cleanup
    def finish(self) -> None:
        self.wait_for_checkpoint()
        if self.step < self.total_steps:
            if self.rank0:
                log.info("stopped at step %d of %d (stop_after_steps or SIGTERM); resume to continue",
                         self.step, self.total_steps)
            self._report_progress(self.step / self.steps_per_epoch, "stopped")
            if self.rank0:
                self._publish_metrics()
            return
        local = self.work / "final-model"
        if self.rank0:
            shutil.rmtree(local, ignore_errors=True)
        self._export_model(local, final=True)
        if self.rank0:
            self.store.publish_dir(local, join(self.config.output, "model"))
            log.info("final model written to %s", join(self.config.output, "model"))
        self._report_progress(float(self.config.epochs), "succeeded")
        if self.rank0:
            self.metrics.close()
            self._publish_metrics()
        self._barrier()

    def fail(self, error: BaseException) -> None:
        if getattr(self, "progress", None) is not None:
            self._report_progress(self.step / max(1, getattr(self, "steps_per_epoch", 1)), "failed")
        log.error("training failed: %s", error)

    def cleanup(self) -> None:
        if self.pending_checkpoint is not None and not self.pending_checkpoint.done():
            log.warning("a checkpoint was still being written when the run ended; it stays incomplete")
        self.checkpoint_io.shutdown(wait=False, cancel_futures=True)
        if getattr(self, "metrics", None) is not None:
            self.metrics.close()
        if getattr(self, "_previous_sigterm", None) is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if dist.is_initialized():
            dist.destroy_process_group()


def labelled_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (shared by the batch's rows) whose next token carries loss, and those tokens."""
    following = labels[:, 1:]
    positions = (following != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
    return positions, following[:, positions]


def token_loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of `logits` against `targets`, summed over the labelled ones, in fp32."""
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                                             ignore_index=IGNORE_INDEX, reduction="sum")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the rank, so logs from many ranks can be told apart."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "rank": self.rank,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def run(config: TrainConfig, store: Store | None = None) -> MIRageRecipe:
    recipe = MIRageRecipe(config, store)
    try:
        recipe.setup()
        recipe.train()
        recipe.finish()
    except BaseException as error:
        recipe.fail(error)
        raise
    finally:
        recipe.cleanup()
    return recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a preset name (see trainer/presets) or a YAML path")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter(rank=int(os.environ.get("RANK", "0"))))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    config = load_config(args.config, args.overrides)
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
