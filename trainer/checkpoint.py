"""Checkpoints that resume a run exactly, and a model folder that serves as it is.

A checkpoint folder `checkpoints/step-<N>/` under the run's output holds:
- `model/`: the model in its own Hugging Face format (a LoRA run: the adapter), which
  vLLM can serve for an evaluation of the intermediate model (see `checkpoint_model`);
- `state/`: the trained parameters in full precision and the optimizer, as a
  torch.distributed.checkpoint: each rank writes (and uploads) its own shard, nothing is
  gathered, and a run resumes from it on any world size (DCP reshards on load). With
  `async_checkpoints` the shards are staged to host memory and written in the background
  while training goes on;
- `trainer_state.pt`: the scheduler, the data position (the global step, from which epoch
  and batch follow) and the RNG state, from rank 0;
- `COMPLETE`, written last, so a checkpoint cut short by preemption is never resumed from.

The state-dict helpers handle single-process, DDP and FSDP2 models alike.
"""

from __future__ import annotations

import random
import re
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)

from trainer.store import Store, join

MARKER = "COMPLETE"
STATE_FILE = "trainer_state.pt"
SHARDS_DIR = "state"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step:07d}"


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer as a full CPU tensor (on rank 0; empty elsewhere)."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def full_trainable_state(model: torch.nn.Module, trainable: set[str]) -> dict[str, torch.Tensor]:
    """Only the trained parameters, as full CPU tensors on rank 0 (empty elsewhere). A LoRA
    adapter is a few MB: it is gathered parameter by parameter, never with the base model."""
    rank0 = not dist.is_initialized() or dist.get_rank() == 0
    state = {}
    for name, param in model.named_parameters():
        if name not in trainable:
            continue
        tensor = param.detach()
        if hasattr(tensor, "full_tensor"):  # a DTensor shard: every rank joins, in the same order
            tensor = tensor.full_tensor()
        if rank0:
            state[name] = tensor.cpu().clone()
    return state


def _sharded_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   trainable: set[str]) -> dict[str, Any]:
    """This rank's view of the trained parameters and the optimizer (DTensor shards under FSDP)."""
    model_state = get_model_state_dict(model)
    # Frozen weights come back from the base model; only what training changed is kept.
    return {"model": {k: v for k, v in model_state.items() if k in trainable},
            "optimizer": get_optimizer_state_dict(model, optimizer)}


def save_sharded(model: torch.nn.Module, optimizer: torch.optim.Optimizer, trainable: set[str],
                 folder: Path, group: dist.ProcessGroup | None = None, asynchronous: bool = False) -> Future:
    """Writes this rank's shard under `folder`; the future is done once it is on disk.

    Asynchronously, the state is first staged to host memory (so training may change the
    parameters at once) and written by a background thread, whose collectives go over
    `group`, a CPU (gloo) group of their own beside the training's."""
    state = _sharded_state(model, optimizer, trainable)
    no_dist = not dist.is_initialized()
    if asynchronous:
        return dcp.async_save(state, checkpoint_id=str(folder), process_group=group, no_dist=no_dist)
    dcp.save(state, checkpoint_id=str(folder), process_group=group, no_dist=no_dist)
    written: Future = Future()
    written.set_result(None)
    return written


def shard_files(folder: Path) -> list[Path]:
    """The files this rank wrote under `folder` (to upload): DCP's file writer names a rank's
    files `__<rank>_<n>.distcp`, and rank 0 adds `.metadata`."""
    rank = dist.get_rank() if dist.is_initialized() else 0
    mine = sorted(folder.glob(f"__{rank}_*.distcp"))
    return mine + ([folder / ".metadata"] if rank == 0 else [])


def load_sharded(model: torch.nn.Module, optimizer: torch.optim.Optimizer, trainable: set[str],
                 folder: Path) -> None:
    """Restores parameters and optimizer from a sharded checkpoint, whatever world size wrote it."""
    state = _sharded_state(model, optimizer, trainable)
    dcp.load(state, checkpoint_id=str(folder), no_dist=not dist.is_initialized())
    set_model_state_dict(model, state["model"], options=StateDictOptions(strict=False))
    set_optimizer_state_dict(model, optimizer, state["optimizer"])


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
