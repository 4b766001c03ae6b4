"""Precision and loss are what the config says: per-token loss over a whole step, bf16 at
any world size, and an exported model whose config names the dtype of its weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from trainer import tiny
from trainer.config import load_config
from trainer.train import MIRageRecipe


def _gradients(recipe: MIRageRecipe) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in recipe.raw_model.named_parameters() if p.grad is not None}
    recipe.optimizer.zero_grad(set_to_none=True)
    return grads


def test_accumulated_loss_equals_the_loss_of_one_big_batch(tiny_llava, tmp_path, write_config):
    # Answers of 1 to 12 sentences: per-micro-batch means would weigh their tokens unequally.
    data = tiny.write_dataset(tmp_path / "data", samples=4, seed=3, max_answer_sentences=12)
    config = load_config(str(write_config(model=str(tiny_llava), dataset=str(data), output=str(tmp_path / "o"),
                                          micro_batch_size=2, grad_accum_steps=2)))
    recipe = MIRageRecipe(config)
    recipe.setup()
    with torch.no_grad():  # spiky logits: tokens' losses then differ widely, as in a trained model
        recipe.raw_model.get_output_embeddings().weight.normal_(std=2.0)
    order = sorted(range(4), key=lambda i: len(recipe.samples[i]))
    small, large = order[:2], order[2:]
    loss_sum, tokens = recipe._forward_backward([recipe.collator(small), recipe.collator(large)])
    accumulated = _gradients(recipe)
    big_sum, big_tokens = recipe._forward_backward([recipe.collator(small + large)])
    big = _gradients(recipe)
    recipe.cleanup()

    assert tokens == big_tokens
    torch.testing.assert_close(loss_sum / tokens, big_sum / big_tokens)
    assert accumulated.keys() == big.keys() and accumulated
    for name, grad in big.items():
        torch.testing.assert_close(accumulated[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # The old per-micro-batch mean differs here, so this test tells the two apart.
    with torch.no_grad():  # the model's own loss: the mean of each micro-batch
        means = [recipe.raw_model(**recipe.collator(part)).loss for part in (small, large)]
        # The head run on the answer positions only gives the model's own loss of one batch.
        own = recipe.raw_model(**recipe.collator(small + large)).loss
    assert abs(float(sum(means) / 2 - big_sum / big_tokens)) > 0.05
    torch.testing.assert_close(big_sum / big_tokens, own)


@pytest.mark.parametrize("preset,build", [("internvl2_5_8b", tiny.build_internvl),
                                          ("qwen2_vl_7b", tiny.build_qwen2_vl),
                                          ("qwen2_5_vl_7b", tiny.build_qwen2_5_vl),
                                          ("llava_onevision_7b", tiny.build_llava_onevision)])
def test_a_preset_trains_its_tiny_twin_in_bf16_on_one_process(preset, build, mis_split, general_split, tmp_path):
    """The preset as shipped (bf16, fsdp=true, gradient checkpointing), on one process: FSDP
    is not applied there, and autocast must still run the decoder in bf16."""
    twin = build(tmp_path / "twin")
    output = tmp_path / "run"
    config = load_config(preset, [f"model={twin}", f"dataset={mis_split}", f"general_dataset={general_split}",
                                  f"output={output}", f"work_dir={tmp_path / 'work'}", "epochs=1",
                                  "num_workers=0", "micro_batch_size=2", "checkpoint_every=0"])
    assert config.precision == "bf16" and config.fsdp and config.gradient_checkpointing
    recipe = MIRageRecipe(config)
    recipe.setup()
    seen: list[torch.dtype] = []
    layer = recipe.raw_model.get_submodule(recipe.backbone.family.decoder_layers)[0]
    layer.self_attn.q_proj.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        recipe.train()
        recipe.finish()
    finally:
        recipe.cleanup()
    assert seen and set(seen) == {torch.bfloat16}
    assert recipe.last_loss == recipe.last_loss and recipe.step == recipe.total_steps  # finite, finished
    saved = json.loads((output / "model" / "config.json").read_text())
    assert saved["dtype"] == "bfloat16"
    weights = load_file(output / "model" / "model.safetensors")
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.bfloat16}
