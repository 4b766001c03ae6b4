"""The recipe end to end on CPU: it learns, it resumes exactly, its model loads back."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from trainer.config import load_config
from trainer.train import run


def _losses(caplog) -> list[float]:
    return [float(r.getMessage().split(" loss ")[1].split()[0]) for r in caplog.records
            if r.name == "trainer" and r.getMessage().startswith("step ")]


def test_overfitting_lowers_loss_and_model_loads_back(tiny_llava, mis_split, general_split, write_config,
                                                      tmp_path, caplog):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    caplog.set_level("INFO", logger="trainer")
    output = tmp_path / "run"
    config = load_config(str(write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(output),
                                          general_dataset=str(general_split), general_ratio=0.5, epochs=6)))
    recipe = run(config)
    losses = _losses(caplog)
    assert len(losses) == recipe.total_steps == 6 * 5  # 12 safety + 6 general samples: 5 batches of 4
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3

    progress = json.loads((output / "progress.json").read_text())
    assert progress["state"] == "succeeded" and progress["step"] == progress["total_steps"] == 30
    assert progress["loss"] == pytest.approx(losses[-1], rel=1e-4)

    model = AutoModelForImageTextToText.from_pretrained(output / "model")
    processor = AutoProcessor.from_pretrained(output / "model")
    trained = recipe.raw_model.state_dict()
    loaded = model.state_dict()
    assert set(trained) == set(loaded)
    for name, value in loaded.items():
        torch.testing.assert_close(value, trained[name], msg=name)
    # The vision encoder was frozen: the saved tower equals the one the run started from.
    base = AutoModelForImageTextToText.from_pretrained(tiny_llava).state_dict()
    for name, value in loaded.items():
        if name.startswith("model.vision_tower."):
            assert torch.equal(value, base[name]), name
    assert not torch.equal(loaded["model.multi_modal_projector.linear_1.weight"],
                           base["model.multi_modal_projector.linear_1.weight"])
    assert processor.tokenizer.chat_template


def test_interrupted_and_resumed_run_matches_uninterrupted(tiny_llava, mis_split, write_config, tmp_path):
    def config(output, *overrides):
        path = write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(tmp_path / output),
                            epochs=2, micro_batch_size=2, grad_accum_steps=2, checkpoint_every=2)
        return load_config(str(path), list(overrides))

    straight = run(config("straight"))
    first = run(config("resumed", "stop_after_steps=4"))  # 4 of 6 steps, mid second epoch
    assert first.step == 4
    assert json.loads((tmp_path / "resumed" / "progress.json").read_text())["state"] == "stopped"
    assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()) == ["step-0000002",
                                                                                       "step-0000004"]
    second = run(config("resumed"))
    assert second.step == straight.step == 6
    # Every sample's real tokens, once per epoch; the count survives the resume.
    tokens = [json.loads((tmp_path / name / "progress.json").read_text())["tokens"]
              for name in ("straight", "resumed")]
    assert tokens == [2 * sum(straight.lengths)] * 2

    a = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    opt_a, opt_b = straight.optimizer.state_dict(), second.optimizer.state_dict()
    for key, state in opt_a["state"].items():
        assert torch.equal(state["exp_avg"], opt_b["state"][key]["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], opt_b["state"][key]["exp_avg_sq"])
    assert straight.scheduler.state_dict() == second.scheduler.state_dict()


def test_lora_run_writes_a_merged_model(tiny_llava, mis_split, write_config, tmp_path):
    from transformers import AutoModelForImageTextToText

    output = tmp_path / "lora"
    config = load_config(str(write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(output),
                                          epochs=1, finetune="lora", lora_rank=4, lora_alpha=8)))
    run(config)
    model = AutoModelForImageTextToText.from_pretrained(output / "model")
    names = set(model.state_dict())
    assert not any("lora" in name for name in names)
    base = AutoModelForImageTextToText.from_pretrained(tiny_llava).state_dict()
    assert names == set(base)
    changed = [n for n in names if not torch.equal(model.state_dict()[n], base[n])]
    assert any(".q_proj." in n for n in changed) and any("multi_modal_projector" in n for n in changed)
    assert not any(n.startswith("model.vision_tower.") for n in changed)


def test_held_out_loss_every_n_steps_and_tensorboard_metrics(tiny_llava, mis_split, write_config, tmp_path,
                                                             caplog):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    caplog.set_level("INFO", logger="trainer")
    config = load_config(str(write_config(model=str(tiny_llava), dataset=str(mis_split), output=str(tmp_path / "o"),
                                          eval_dataset=str(mis_split), eval_every=2, epochs=2, peak_tflops=1.0)))
    recipe = run(config)
    evals = [float(r.getMessage().rsplit(" ", 1)[1]) for r in caplog.records
             if r.name == "trainer" and r.getMessage().startswith("eval step ")]
    steps = [int(r.getMessage().split()[2]) for r in caplog.records
             if r.name == "trainer" and r.getMessage().startswith("eval step ")]
    assert steps == [2, 4, 6] and recipe.total_steps == 6
    assert evals[-1] < evals[0]  # the held-out split is the training split here: it must fall
    assert recipe.eval_loss == pytest.approx(evals[-1], abs=1e-4)

    events = EventAccumulator(str(tmp_path / "o" / "tensorboard"))
    events.Reload()
    scalars = {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    assert set(scalars) == {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s",
                            "train/padding_share", "train/mfu", "eval/loss"}
    assert scalars["train/loss"] == pytest.approx(_losses(caplog)[:6], abs=1e-4)
    assert scalars["eval/loss"] == pytest.approx(evals, abs=1e-4)
    assert all(v > 0 for v in scalars["train/tokens_per_s"] + scalars["train/grad_norm"] + scalars["train/mfu"])
    assert all(0 <= v < 1 for v in scalars["train/padding_share"])
    assert max(scalars["train/lr"]) == pytest.approx(3e-3)  # the rate each step used
