"""Tiny vision-language models and tokenizers, built from configs, for tests and benchmarks.

No weights are downloaded: a byte-level BPE tokenizer is trained on a few sentences and
a model with the real architecture of each supported family (LLaVA: CLIP + Llama;
Qwen2-VL and Qwen2.5-VL; InternVL: InternViT + Qwen2; LLaVA-OneVision: SigLIP + Qwen2) is
initialised at random and saved with `save_pretrained` beside its real processor class
(images only, see trainer/processors.py), so the recipe loads it by path exactly as it
loads a real checkpoint. A small MIS-style dataset of coloured
image pairs with conversations is written beside it.

    python -m trainer.tiny --out /tmp/tiny   # writes /tmp/tiny/{llava,data,general}
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image

from trainer.processors import images_only

SPECIALS_LLAVA = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<image>"]
SPECIALS_QWEN = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                 "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

# A ChatML template that renders structured content; `image_markup` is what one image becomes.
_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}IMAGE_MARKUP"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "The first image shows a kitchen knife and the second image shows a crowded train station.",
    "Combining these objects could put people at risk, so I will not give instructions for that.",
    "Here is a safe way to store the object in the first image away from children.",
    "Describe the relationship between the object in the first image and the place in the second image.",
    "What is the capital of France? The capital of France is Paris.",
    "Count the apples in the picture. There are three red apples on the table.",
]


def build_tokenizer(specials: list[str], image_markup: str, pad: str, eos: str, bos: str | None,
                    extra: dict[str, str] | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=pad, eos_token=eos, bos_token=bos,
        chat_template=_TEMPLATE.replace("IMAGE_MARKUP", image_markup),
        model_max_length=4096,  # in-memory tokenizers otherwise report an absurd maximum
        # Named special tokens a processor looks up on its tokenizer (InternVL's <img>, ...).
        **({"extra_special_tokens": extra} if extra else {}),
    )


def build_llava(out: Path, image_size: int = 32, hidden_size: int = 64, layers: int = 2) -> Path:
    """A LLaVA (CLIP + Llama) with `image_size` px input and 8 px patches; saved at `out`."""
    from transformers import (CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tokenizer = build_tokenizer(SPECIALS_LLAVA, "<image>", pad="<pad>", eos="<|im_end|>", bos="<s>")
    patch = 8
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=image_size, patch_size=patch)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1, vision_feature_select_strategy="default",
                         image_seq_length=(image_size // patch) ** 2)
    model = LlavaForConditionalGeneration(config)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                           crop_size={"height": image_size, "width": image_size}),
        tokenizer=tokenizer, patch_size=patch, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=tokenizer.chat_template)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_qwen2_vl(out: Path, hidden_size: int = 64, layers: int = 2) -> Path:
    """A Qwen2-VL with a 2-block vision tower; images of 56 px give 4 image tokens each."""
    vision = dict(depth=2, embed_dim=32, hidden_size=hidden_size, num_heads=2, mlp_ratio=2,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    return _build_qwen("Qwen2VL", out, vision, hidden_size, layers)


def build_qwen2_5_vl(out: Path, hidden_size: int = 64, layers: int = 2) -> Path:
    """A Qwen2.5-VL (windowed attention in block 0, full in block 1); 4 image tokens per image."""
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=hidden_size,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                  fullatt_block_indexes=[1])
    return _build_qwen("Qwen2_5_VL", out, vision, hidden_size, layers)


def _build_qwen(prefix: str, out: Path, vision: dict, hidden_size: int, layers: int) -> Path:
    import transformers
    from transformers import Qwen2VLImageProcessorPil

    markup = "<|vision_start|><|image_pad|><|vision_end|>"
    tokenizer = build_tokenizer(SPECIALS_QWEN, markup, pad="<|endoftext|>", eos="<|im_end|>", bos=None)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS_QWEN}
    config = getattr(transformers, f"{prefix}Config")(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=None, eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"],
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [2, 3, 3]}),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    return out



SPECIALS_INTERNVL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]


def _qwen2_text(tokenizer, hidden_size: int, layers: int, eos: str, pad: str) -> dict:
    """A two-layer Qwen2 decoder, the language model of InternVL2.5 and LLaVA-OneVision."""
    return dict(model_type="qwen2", vocab_size=len(tokenizer), hidden_size=hidden_size,
                intermediate_size=hidden_size * 2, num_hidden_layers=layers, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False,
                eos_token_id=tokenizer.convert_tokens_to_ids(eos), pad_token_id=tokenizer.convert_tokens_to_ids(pad))


def build_internvl(out: Path, hidden_size: int = 64, layers: int = 2, tile: int = 28) -> Path:
    """A transformers-native InternVL (InternViT + Qwen2) with `tile` px tiles of 14 px patches.

    A tile gives (tile/14)**2 patches, merged 2x2 by the pixel shuffle: 1 token at 28 px.
    Images are cut into up to 12 tiles (plus a thumbnail), as InternVL2.5 does.
    """
    from transformers import GotOcr2ImageProcessorPil, InternVLConfig, InternVLForConditionalGeneration

    tokenizer = build_tokenizer(SPECIALS_INTERNVL, "<IMG_CONTEXT>\n", pad="<|endoftext|>", eos="<|im_end|>",
                                bos=None, extra={"start_image_token": "<img>", "end_image_token": "</img>",
                                                 "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    patch = 14
    seq_length = (tile // patch) ** 2 // 4
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=[tile, tile], patch_size=[patch, patch]),
        text_config=_qwen2_text(tokenizer, hidden_size, layers, "<|im_end|>", "<|endoftext|>"),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=seq_length,
        downsample_ratio=0.5)
    model = InternVLForConditionalGeneration(config)
    image_processor = GotOcr2ImageProcessorPil(size={"height": tile, "width": tile}, crop_to_patches=True,
                                               min_patches=1, max_patches=12)
    processor = images_only("InternVLProcessor")(image_processor=image_processor, tokenizer=tokenizer,
                                                 image_seq_length=seq_length, chat_template=tokenizer.chat_template)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_llava_onevision(out: Path, hidden_size: int = 64, layers: int = 2, tile: int = 28) -> Path:
    """A LLaVA-OneVision (SigLIP + Qwen2) whose any-resolution grid is 1x1 to 2x2 tiles of `tile` px."""
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil)

    tokenizer = build_tokenizer(SPECIALS_QWEN + ["<image>", "<video>"], "<image>\n", pad="<|endoftext|>",
                                eos="<|im_end|>", bos=None)
    patch = 14
    pinpoints = [[tile * h, tile * w] for h in (1, 2) for w in (1, 2)]
    config = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2, image_size=tile, patch_size=patch,
                           vision_use_head=False),
        text_config=_qwen2_text(tokenizer, hidden_size, layers, "<|im_end|>", "<|endoftext|>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=pinpoints, vision_aspect_ratio="anyres_max_9", vision_feature_layer=-1,
        vision_feature_select_strategy="full")
    model = LlavaOnevisionForConditionalGeneration(config)
    image_processor = LlavaOnevisionImageProcessorPil(size={"height": tile, "width": tile},
                                                      image_grid_pinpoints=pinpoints)
    processor = images_only("LlavaOnevisionProcessor")(
        image_processor=image_processor, tokenizer=tokenizer, num_image_tokens=(tile // patch) ** 2,
        vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_9",
        chat_template=tokenizer.chat_template)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def write_dataset(out: Path, samples: int, seed: int = 0, images_per_sample: int = 2,
                  prefix: str = "mis", max_answer_sentences: int = 4, image_sizes: tuple[int, ...] = (24, 40, 64)) -> Path:
    """A train.json in the exporter's layout, with solid-colour PNGs and varied answer lengths."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for number in range(samples):
        sample_id = f"{prefix}-{number}"
        paths = []
        for which in range(images_per_sample):
            relative = f"images/{sample_id}/object{which + 1}.png"
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            colour = tuple(rng.randrange(256) for _ in range(3))
            Image.new("RGB", (rng.choice(image_sizes), rng.choice(image_sizes)), colour).save(out / relative)
            paths.append(relative)
        question = rng.choice(CORPUS[3:])
        answer = " ".join(rng.choice(CORPUS[:3]) for _ in range(rng.randint(1, max_answer_sentences)))
        records.append({
            "id": sample_id, "images": paths, "category": "Violent", "sub_category": "Public Violence and Rioting",
            "conversations": [{"from": "human", "value": "<image>\n" * images_per_sample + question},
                              {"from": "gpt", "value": answer}],
        })
    (out / "train.json").write_text(json.dumps(records, indent=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    build_llava(args.out / "llava")
    write_dataset(args.out / "data", args.samples)
    write_dataset(args.out / "general", max(1, args.samples // 4), seed=1, images_per_sample=0, prefix="general")
    print(args.out)


if __name__ == "__main__":
    main()
