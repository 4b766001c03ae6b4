"""A Stable Diffusion 3 pipeline built from configs, with random weights, for
tests and the CPU run of the benchmark (no weights can be downloaded).

Every component is the real diffusers / transformers class the SD3.5 pipeline
loads: an SD3 transformer, a 2-block AutoencoderKL, two CLIP text encoders with
projection, a T5 encoder, the flow-matching scheduler, and tokenizers (a
byte-level BPE trained here, with `model_max_length` set: without it the
pipeline's padding overflows). It draws a 64x64 image in well under a second
on a CPU, and `save_tiny_sd3` writes it in diffusers format so a service
process loads it exactly as it would load Stable Diffusion 3.5 Large.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CORPUS = [
    "a photo of a sharp kitchen knife on a wooden table",
    "a photo of a red fuel canister next to a wooden door",
    "a photo of a young woman holding a glass bottle of pills",
    "a photo of a laptop showing a login page, clearly recognisable",
    "rope ladder, open window, credit card, white powder, lighter, car key",
]

# Kept small so a 64x64 image takes about a tenth of a second on a CPU.
TRANSFORMER_CONFIG: dict[str, Any] = dict(
    sample_size=32, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8,
    num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=32,
    pooled_projection_dim=64, out_channels=4)


def build_tokenizer(max_length: int):
    """A byte-level BPE tokenizer with bos/eos added, trained in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 10, trainer)
    bos, eos = bpe.token_to_id("<s>"), bpe.token_to_id("</s>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>",
                                   model_max_length=max_length)


def build_tiny_sd3(seed: int = 0, t5_max_length: int = 32):
    """A tiny StableDiffusion3Pipeline on the CPU in float32."""
    import torch
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline)
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    clip_tokenizer = build_tokenizer(77)
    t5_tokenizer = build_tokenizer(t5_max_length)
    vocab = len(clip_tokenizer)

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(**TRANSFORMER_CONFIG)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, sample_size=64,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.0609, scaling_factor=1.5035)

    def clip() -> CLIPTextModelWithProjection:
        return CLIPTextModelWithProjection(CLIPTextConfig(
            vocab_size=vocab, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
            num_attention_heads=4, projection_dim=32, max_position_embeddings=77,
            hidden_act="gelu", bos_token_id=clip_tokenizer.bos_token_id,
            eos_token_id=clip_tokenizer.eos_token_id, pad_token_id=clip_tokenizer.pad_token_id))

    text_encoder, text_encoder_2 = clip(), clip()
    text_encoder_3 = T5EncoderModel(T5Config(
        vocab_size=vocab, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=t5_tokenizer.pad_token_id,
        eos_token_id=t5_tokenizer.eos_token_id, decoder_start_token_id=0))
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
        text_encoder=text_encoder, tokenizer=clip_tokenizer,
        text_encoder_2=text_encoder_2, tokenizer_2=clip_tokenizer,
        text_encoder_3=text_encoder_3, tokenizer_3=t5_tokenizer)
    for module in (transformer, vae, text_encoder, text_encoder_2, text_encoder_3):
        module.eval()  # built from configs they start in training mode, with dropout
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_tiny_sd3(target: Path, seed: int = 0) -> Path:
    """Write the tiny pipeline in diffusers format to `target`; return it."""
    pipeline = build_tiny_sd3(seed)
    target.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(target, safe_serialization=True)
    return target
