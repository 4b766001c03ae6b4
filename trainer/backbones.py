"""The backbones the recipe can train, and what "freeze the vision encoder" means for each.

A backbone is loaded through transformers' auto classes for image-text-to-text models.
Per family we name the vision encoder (frozen), the projector (trained, even where it
sits inside the vision module, as Qwen2-VL's merger does) and the decoder layers (the
units FSDP shards). Anything else is refused up front with the list of what works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainer.encoding import ImageTokens, InternVLImageTokens, ProcessorImageTokens
from trainer.processors import load_processor


class UnsupportedModelError(ValueError):
    """The model is not one the recipe knows how to fine-tune."""


@dataclass(frozen=True)
class Family:
    model_type: str
    vision: str  # module path of the vision encoder (frozen)
    projector: str  # module path of the projector (trained)
    decoder_layers: str  # module path of the language model's layer list
    processor: str  # the transformers processor class


_LLAVA_LIKE = ("model.vision_tower", "model.multi_modal_projector", "model.language_model.layers")
_QWEN_LIKE = ("model.visual", "model.visual.merger", "model.language_model.layers")
FAMILIES = {f.model_type: f for f in (
    Family("llava", *_LLAVA_LIKE, "LlavaProcessor"),
    Family("llava_onevision", *_LLAVA_LIKE, "LlavaOnevisionProcessor"),
    Family("qwen2_vl", *_QWEN_LIKE, "Qwen2VLProcessor"),
    Family("qwen2_5_vl", *_QWEN_LIKE, "Qwen2_5_VLProcessor"),
    Family("internvl", *_LLAVA_LIKE, "InternVLProcessor"),
)}

_HINTS = {
    "internvl_chat": "this is InternVL's original remote-code format; convert it to the Hugging Face "
                     "format first (transformers' convert_internvl_weights_to_hf.py) and pass that folder",
    "minicpmv": "MiniCPM-V ships only remote code, which has no auto class for image-text-to-text "
                "training here",
}


@dataclass
class Backbone:
    family: Family
    model: torch.nn.Module
    tokenizer: Any
    image_tokens: ImageTokens
    template_owner: Any  # what holds the chat template: the processor, or the tokenizer
    savables: list[Any]  # processor parts saved beside the model so it loads back as it came


def family_of(model_dir: Path | str) -> Family:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"model: cannot read a model config from {model_dir} ({exc})") from exc
    model_type = getattr(config, "model_type", "")
    if model_type not in FAMILIES:
        hint = _HINTS.get(model_type, "")
        raise UnsupportedModelError(
            f"model: {model_dir} is a {model_type!r} model; the recipe supports "
            f"{sorted(FAMILIES)}" + (f" ({hint})" if hint else ""))
    return FAMILIES[model_type]


@dataclass(frozen=True)
class ImageBudget:
    """How many vision tokens an image may cost, per backbone (the config's knobs)."""

    max_pixels: int = 0  # Qwen2-VL / Qwen2.5-VL: pixels per image after resizing (0: the model's own)
    max_dynamic_patch: int = 12  # InternVL: tiles shared by a sample's images


def load_backbone(model_dir: Path | str, budget: ImageBudget = ImageBudget(),
                  attn_implementation: str = "sdpa", on_meta: bool = False) -> Backbone:
    """Model (fp32 master weights; bf16 comes from autocast or FSDP's policy) and processor.

    `on_meta` builds the model from its config on the meta device, without reading or
    allocating its weights: under FSDP only rank 0 loads them, and the others receive their
    shards from it."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    family = family_of(model_dir)
    if on_meta:
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(model_dir),
                                                            dtype=torch.float32,
                                                            attn_implementation=attn_implementation)
    else:
        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32,
                                                            attn_implementation=attn_implementation)
    for path in (family.vision, family.projector, family.decoder_layers):
        try:
            model.get_submodule(path)
        except AttributeError as exc:
            raise UnsupportedModelError(f"model: {family.model_type} model has no module {path!r}; "
                                        "this transformers version lays the model out differently") from exc
    processor = load_processor(model_dir, family.processor)
    owner = processor if getattr(processor, "chat_template", None) else processor.tokenizer
    if not getattr(owner, "chat_template", None):
        raise UnsupportedModelError(f"model: {model_dir} has no chat template; the recipe renders "
                                    "conversations with the model's own template")
    if family.model_type == "internvl":
        image_tokens: ImageTokens = InternVLImageTokens(processor, budget.max_dynamic_patch)
    else:
        if budget.max_pixels and family.model_type.startswith("qwen2"):
            size = processor.image_processor.size
            processor.image_processor.size = type(size)(
                shortest_edge=min(size.shortest_edge, budget.max_pixels), longest_edge=budget.max_pixels)
        image_tokens = ProcessorImageTokens(processor)
    return Backbone(family, model, processor.tokenizer, image_tokens, owner, [processor])


def image_budget_of(backbone: Backbone) -> dict[str, Any]:
    """What an image may cost in this run, for the resolved-config log line."""
    image_processor = backbone.image_tokens.processor.image_processor
    if isinstance(backbone.image_tokens, InternVLImageTokens):
        return {"max_dynamic_patch": backbone.image_tokens.max_dynamic_patch,
                "tile": [image_processor.size.height, image_processor.size.width]}
    if backbone.family.model_type.startswith("qwen2"):
        return {"max_pixels": image_processor.size.get("longest_edge"),
                "min_pixels": image_processor.size.get("shortest_edge")}
    if backbone.family.model_type == "llava_onevision":
        return {"vision_aspect_ratio": backbone.model.config.vision_aspect_ratio,
                "image_grid_pinpoints_max": list(max(map(tuple, backbone.model.config.image_grid_pinpoints)))}
    return {"size": {k: v for k, v in vars(image_processor.size).items() if v is not None}}


def freeze_vision(model: torch.nn.Module, family: Family) -> None:
    """Vision encoder frozen; projector and language model trained."""
    vision = family.vision + "."
    projector = family.projector + "."
    for name, param in model.named_parameters():
        param.requires_grad = not (name.startswith(vision) and not name.startswith(projector))


def apply_lora(model: torch.nn.Module, family: Family, rank: int, alpha: int, dropout: float) -> torch.nn.Module:
    """LoRA adapters on the language model's linear layers; the projector stays fully trained."""
    from peft import LoraConfig, get_peft_model

    layers = family.decoder_layers.replace(".", r"\.")
    config = LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=dropout,
        target_modules=rf".*{layers}\.\d+\..*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
        modules_to_save=[family.projector.rsplit(".", 1)[-1]])
    return get_peft_model(model, config)


def trainable_parameter_names(model: torch.nn.Module) -> set[str]:
    return {name for name, param in model.named_parameters() if param.requires_grad}
