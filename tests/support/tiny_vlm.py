"""A tiny vision-language model for the integration tier, built locally from a
config: Idefics3 (SigLIP-style vision tower, pixel shuffle, a Llama decoder).

Why Idefics3: of the architectures vLLM's CPU build serves, it is the one whose
vLLM module and HF processor both work without torchvision (vLLM's LLaVA
imports Pixtral's torchvision processor, Qwen2-VL's and InternVL's need it
too), and it takes any number of images per prompt. Images are 56x56 with
14-pixel patches and a pixel-shuffle factor of 2: four tokens per image, so
two images cost eight tokens plus their markers.

It shares the text model's tokenizer (trained here, with the Idefics3 image
tokens added), chat template and random-weight decoder.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE, PATCH_SIZE, SCALE_FACTOR = 56, 14, 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR ** 2
IDEFICS_TOKENS = ("<fake_token_around_image>", "<global-img>", "<end_of_utterance>")


def build_processor(tokenizer):
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    from tests.support.tiny_llm import CHAT_TEMPLATE

    images = Idefics3ImageProcessorPil(size={"longest_edge": IMAGE_SIZE},
                                       max_image_size={"longest_edge": IMAGE_SIZE},
                                       do_image_splitting=False)
    return Idefics3Processor(image_processor=images, tokenizer=tokenizer,
                             image_seq_len=IMAGE_SEQ_LEN, chat_template=CHAT_TEMPLATE)


def build_tiny_vlm(target: Path) -> Path:
    """Write a tiny random-weight Idefics3 model, its processor and tokenizer to `target`."""
    import torch
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration,
                              Idefics3VisionConfig, LlamaConfig)

    from tests.support.tiny_llm import text_config, train_tokenizer

    target.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(extra_special=IDEFICS_TOKENS)
    processor = build_processor(tokenizer)
    text = text_config(tokenizer, LlamaConfig)
    vision = Idefics3VisionConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=1,
                                  num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE)
    config = Idefics3Config(vision_config=vision.to_dict(), text_config=text.to_dict(),
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                            scale_factor=SCALE_FACTOR, tie_word_embeddings=True,
                            pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config)
    processor.save_pretrained(target)
    tokenizer.save_pretrained(target)
    model.save_pretrained(target, safe_serialization=True)
    return target
