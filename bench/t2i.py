"""Images per second of the t2i-refiner's batched drawing against a plain
one-image-at-a-time diffusers loop, same pipeline, prompts, seeds and settings.

The candidate is the service's own path (`DiffusersRenderer.draw`, called in
chunks of the batch size as `PairRefiner` does, PNG encoding included); the
baseline calls the pipeline once per image and keeps the PIL image. Ratio
above 1 means batching pays.

    python -m bench.t2i              # on a GPU: the Stable Diffusion 3.5 Large architecture
                                     # (38-layer MMDiT, CLIP-L, CLIP-G, T5-XXL, SD3 VAE) with
                                     # random weights in bfloat16, 1024x1024, 28 steps
    python -m bench.t2i --device cpu # the tiny SD3 pipeline at 64x64: same code path, but it
                                     # measures per-call overhead, not SD3.5 throughput
    options: --images 8 --batch-size 4 --steps 28 --size 1024 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.harness import compare  # noqa: E402
from services.t2i_refiner.diffusers_renderer import DiffusersRenderer  # noqa: E402
from services.t2i_refiner.rendering import RenderSpec, derive_seed  # noqa: E402
from tests.support.tiny_sd3 import build_tiny_sd3, build_tokenizer  # noqa: E402

OBJECTS = ["sharp kitchen knife", "crowded concert", "red fuel canister", "wooden door",
           "bottle of sleeping pills", "glass of whiskey", "laptop with a login page",
           "credit card", "coil of rope", "open window", "butane lighter", "car key"]

# stabilityai/stable-diffusion-3.5-large transformer/config.json (8.1B parameters).
SD35_LARGE_TRANSFORMER = dict(
    sample_size=128, patch_size=2, in_channels=16, num_layers=38, attention_head_dim=64,
    num_attention_heads=38, joint_attention_dim=4096, caption_projection_dim=2432,
    pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192, qk_norm="rms_norm",
    dual_attention_layers=())


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_sd35_large(device: str = "cuda", dtype: torch.dtype = torch.bfloat16):
    """The SD3.5 Large pipeline's architecture with random weights, built on the device."""
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline)
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    clip_tokenizer, t5_tokenizer = build_tokenizer(77), build_tokenizer(256)
    torch.manual_seed(0)
    # Initialising on the device in bfloat16 avoids 50 GB of float32 on the host.
    with torch.device(device), default_dtype(dtype):
        transformer = SD3Transformer2DModel(**SD35_LARGE_TRANSFORMER)
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=16, layers_per_block=2,
            block_out_channels=(128, 256, 512, 512), norm_num_groups=32, sample_size=1024,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            use_quant_conv=False, use_post_quant_conv=False,
            scaling_factor=1.5305, shift_factor=0.0609)
        clip_l = CLIPTextModelWithProjection(CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, projection_dim=768, max_position_embeddings=77,
            hidden_act="quick_gelu", eos_token_id=clip_tokenizer.eos_token_id))
        clip_g = CLIPTextModelWithProjection(CLIPTextConfig(
            vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
            num_attention_heads=20, projection_dim=1280, max_position_embeddings=77,
            hidden_act="gelu", eos_token_id=clip_tokenizer.eos_token_id))
        t5 = T5EncoderModel(T5Config(
            vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
            feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
            dropout_rate=0.0, decoder_start_token_id=0))
    for module in (transformer, vae, clip_l, clip_g, t5):
        module.eval()
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
        text_encoder=clip_l, tokenizer=clip_tokenizer, text_encoder_2=clip_g,
        tokenizer_2=clip_tokenizer, text_encoder_3=t5, tokenizer_3=t5_tokenizer)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=3.5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    if device == "cuda":
        pipeline = build_sd35_large("cuda")
        size, steps = args.size or 1024, args.steps or 28
        what = "SD3.5 Large architecture, random weights, bfloat16, CUDA"
    else:
        pipeline = build_tiny_sd3()
        size, steps = args.size or 64, args.steps or 8
        what = ("tiny SD3 pipeline on the CPU (no GPU here): this measures per-call overhead "
                "saved by batching, not SD3.5 throughput")
    print(f"t2i: {what}; built in {time.perf_counter() - started:.0f}s; "
          f"{args.images} images at {size}x{size}, {steps} steps, guidance {args.guidance}, "
          f"batch size {args.batch_size}", flush=True)

    renderer = DiffusersRenderer(pipeline, model="bench", device=device)
    spec = RenderSpec(size, size, steps, args.guidance)
    prompts = [OBJECTS[i % len(OBJECTS)] for i in range(args.images)]
    seeds = [derive_seed(0, f"bench-{i}", 0, 0) for i in range(args.images)]

    def batched() -> int:
        for start in range(0, len(prompts), args.batch_size):
            renderer.draw(prompts[start:start + args.batch_size],
                          seeds[start:start + args.batch_size], spec)
        return len(prompts)

    def one_at_a_time() -> int:
        for prompt, seed in zip(prompts, seeds):
            with torch.inference_mode():
                pipeline(prompt=prompt, height=size, width=size, num_inference_steps=steps,
                         guidance_scale=args.guidance,
                         generator=torch.Generator("cpu").manual_seed(seed))
        if device == "cuda":
            torch.cuda.synchronize()
        return len(prompts)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = compare(f"t2i images/s, batched (batch {args.batch_size}) vs one at a time",
                     batched, one_at_a_time, rounds=args.rounds, unit="images/s")
    print(result.report())
    if device == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2 ** 30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
