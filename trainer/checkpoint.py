"""Checkpoints that resume a run exactly, and a model folder that serves as it is.

A checkpoint folder `checkpoints/step-<N>/` under the run's output holds:
- `model/`: the model in its own Hugging Face format (a LoRA run: the adapter), which
  vLLM can serve for an evaluation of the intermediate model;
- `trainer_state.pt`: the trained parameters in full precision, the optimizer and the
  scheduler, the data position (the global step, from which epoch and batch follow),
  and the RNG state;
- `COMPLETE`, written last, so a checkpoint cut short by preemption is never resumed from.

State is gathered to full tensors on rank 0 with torch.distributed.checkpoint's
state-dict helpers, which handle single-process, DDP and FSDP2 models alike; on resume
rank 0 reads the file and broadcasts it.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)

from trainer.store import Store, join

MARKER = "COMPLETE"
STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step:07d}"


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer as a full CPU tensor (on rank 0; empty elsewhere)."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def gather_training_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                          trainable: set[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = get_model_state_dict(model, options=options)
    optimizer_state = get_optimizer_state_dict(model, optimizer, options=options)
    # Frozen weights come back from the base model; only what training changed is kept.
    return {k: v for k, v in model_state.items() if k in trainable}, optimizer_state


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def latest_checkpoint(store: Store, output: str) -> str | None:
    """URI of the newest complete checkpoint under `output`, if any."""
    root = join(output, "checkpoints")
    steps = sorted((int(m.group(1)), name) for name in store.list_dirs(root)
                   if (m := _STEP_DIR.match(name)))
    for _, name in reversed(steps):
        if store.exists(join(root, name, MARKER)):
            return join(root, name)
    return None


def prune_checkpoints(store: Store, output: str, keep: int) -> None:
    if keep <= 0:
        return
    root = join(output, "checkpoints")
    names = sorted(name for name in store.list_dirs(root) if _STEP_DIR.match(name))
    for name in names[:-keep]:
        store.remove_dir(join(root, name))


def load_training_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        state_path: Path | None, distributed: bool) -> dict[str, Any]:
    """Restores parameters and optimizer; returns the rest (scheduler, position, rng).

    `state_path` is read on rank 0 only (None elsewhere) and broadcast from there.
    """
    rank0 = not distributed or dist.get_rank() == 0
    state: dict[str, Any] = torch.load(state_path, map_location="cpu", weights_only=False) if rank0 else {}
    options = StateDictOptions(full_state_dict=True, strict=False, broadcast_from_rank0=distributed)
    set_model_state_dict(model, state.get("model", {}), options=options)
    set_optimizer_state_dict(model, optimizer, state.get("optimizer", {}), options=options)
    rest = [{k: v for k, v in state.items() if k not in ("model", "optimizer")}]
    if distributed:
        dist.broadcast_object_list(rest, src=0)
    return rest[0]
