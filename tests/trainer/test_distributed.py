"""The recipe under torchrun with two CPU processes (gloo): DDP, FSDP2, and an FSDP run
interrupted and resumed from its sharded checkpoint (on two ranks, and on one), which must
land where DDP lands; FSDP in bf16 with text-only micro-batches, whose losses must be those
of one process; and LoRA under FSDP.

12 samples, 2 per micro-batch on each of 2 ranks, 2 micro-batches per step: 2 steps per
epoch (the second one a single micro-batch), 6 in 3 epochs; the interruption at step 3
falls inside the second epoch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainer.config import load_config
from trainer.train import run

REPO = Path(__file__).resolve().parents[2]


def _torchrun(config: Path, *overrides: str, processes: int = 2, log: list | None = None) -> list[float]:
    """Runs the recipe on `processes` CPU ranks; returns rank 0's per-step losses (and puts
    every rank's log records in `log`, when given)."""
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", str(processes), "-m",
                             "trainer.train", "--config", str(config), *overrides],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if log is not None:
        log.extend(records)
    messages = [record["message"] for record in records if record["rank"] == 0]
    return [float(m.split(" loss ")[1].split()[0]) for m in messages if m.startswith("step ") and " loss " in m]


@pytest.mark.slow
def test_fsdp_bf16_with_text_only_micro_batches_matches_one_process(tiny_llava, tmp_path, write_config):
    """Half the samples have no image: some ranks get a text-only micro-batch while others
    get images, and without the dummy image their reduce-scatters would differ in size."""
    from trainer import tiny

    safety = tiny.write_dataset(tmp_path / "safety", samples=6, seed=4)
    general = tiny.write_dataset(tmp_path / "general", samples=6, seed=5, images_per_sample=0, prefix="general")
    # One sample per rank and micro-batch, two micro-batches per step: the global batches are
    # those of one process with two samples per micro-batch.
    config = write_config(model=str(tiny_llava), dataset=str(safety), general_dataset=str(general),
                          general_ratio=1.0, output=str(tmp_path / "fsdp"), epochs=2, micro_batch_size=1,
                          grad_accum_steps=2, precision="bf16", fsdp=True, length_group_batches=1)
    sharded = _torchrun(config)
    single = _torchrun(config, f"output={tmp_path / 'single'}", "micro_batch_size=2", processes=1)
    assert len(sharded) == len(single) == 6
    # bf16 parameters under FSDP, bf16 autocast on one process: close, not equal.
    assert sharded == pytest.approx(single, rel=2e-2)
    model = load_file(tmp_path / "fsdp" / "model" / "model.safetensors")
    assert {v.dtype for v in model.values() if v.is_floating_point()} == {torch.bfloat16}


@pytest.mark.slow
def test_fsdp_resumed_run_matches_ddp(tiny_llava, mis_split, write_config, tmp_path):
    config = write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(tmp_path / "ddp"),
                          epochs=3, micro_batch_size=2, grad_accum_steps=2, checkpoint_every=2)
    _torchrun(config)
    fsdp = tmp_path / "fsdp"
    log: list[dict] = []
    _torchrun(config, f"output={fsdp}", "fsdp=true", "stop_after_steps=3", f"work_dir={tmp_path / 'w1'}", log=log)
    # Only rank 0 read the weights; rank 1 built the model on the meta device (and still
    # trains to the DDP run's weights, below).
    built_on_meta = {r["rank"] for r in log if r["message"].startswith("model built on the meta device")}
    assert built_on_meta == {1}
    assert json.loads((fsdp / "progress.json").read_text())["step"] == 3
    # The sharded checkpoint also resumes on one process (DCP reshards), with micro-batches
    # of 4 so the global batches are those of 2 ranks x 2.
    resharded = tmp_path / "resharded"
    shutil.copytree(fsdp, resharded)
    # The resumed half defers the gradient sync to each step's last micro-batch; the first
    # half reduce-scattered after every micro-batch: both must give DDP's weights.
    _torchrun(config, f"output={fsdp}", "fsdp=true", "fsdp_defer_grad_sync=true", f"work_dir={tmp_path / 'w2'}")
    one = run(load_config(str(config), [f"output={resharded}", "fsdp=true", "micro_batch_size=4",
                                        f"work_dir={tmp_path / 'w3'}"]))
    assert one.step == 6 and one.world_size == 1

    progress = json.loads((fsdp / "progress.json").read_text())
    assert progress["state"] == "succeeded" and progress["step"] == progress["total_steps"] == 6
    # A sharded full fine-tune's checkpoints gather nothing on rank 0 (checkpoint_model=auto):
    # shards only, where the unsharded run's also hold the servable model.
    assert not (fsdp / "checkpoints" / "step-0000006" / "model").exists()
    assert (fsdp / "checkpoints" / "step-0000006" / "state" / ".metadata").is_file()
    assert (tmp_path / "ddp" / "checkpoints" / "step-0000006" / "model" / "config.json").is_file()
    ddp_model = load_file(tmp_path / "ddp" / "model" / "model.safetensors")
    fsdp_model = load_file(fsdp / "model" / "model.safetensors")
    assert ddp_model.keys() == fsdp_model.keys()
    base = load_file(tiny_llava / "model.safetensors")
    for name, value in ddp_model.items():
        # Same batches, same maths; only the order of the gradient reductions differs.
        torch.testing.assert_close(fsdp_model[name], value, rtol=1e-4, atol=1e-5, msg=name)
    one_model = load_file(resharded / "model" / "model.safetensors")
    for name, value in ddp_model.items():
        torch.testing.assert_close(one_model[name], value, rtol=1e-4, atol=1e-5, msg=name)
    head = next(name for name in base if "lm_head" in name)
    assert not torch.equal(ddp_model[head], base[head])


@pytest.mark.slow
def test_lora_under_fsdp_matches_one_process(tiny_llava, mis_split, write_config, tmp_path):
    """LoRA adapters sharded with the decoder layers: checkpoints hold the adapter, and the
    merged final model is the one a single process trains."""
    config = write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(tmp_path / "fsdp"), epochs=1,
                          micro_batch_size=2, grad_accum_steps=2, checkpoint_every=1, finetune="lora",
                          lora_rank=4, lora_alpha=8, lora_dropout=0.0, fsdp=True)
    sharded = _torchrun(config)
    # One process with micro-batches of 4 sees the global batches of 2 ranks x 2.
    single = run(load_config(str(config), [f"output={tmp_path / 'single'}", f"work_dir={tmp_path / 'w1'}",
                                           "micro_batch_size=4"]))
    assert len(sharded) == single.total_steps == 2
    assert (tmp_path / "fsdp" / "checkpoints" / "step-0000001" / "model" / "adapter_config.json").is_file()
    merged = load_file(tmp_path / "fsdp" / "model" / "model.safetensors")
    reference = load_file(tmp_path / "single" / "model" / "model.safetensors")
    assert merged.keys() == reference.keys() and not any("lora" in name for name in merged)
    for name, value in reference.items():
        torch.testing.assert_close(merged[name], value, rtol=1e-4, atol=1e-5, msg=name)
    base = load_file(tiny_llava / "model.safetensors")
    query = next(name for name in base if "layers.0.self_attn.q_proj.weight" in name and "vision" not in name)
    assert not torch.equal(merged[query], base[query])  # the adapters were merged in
