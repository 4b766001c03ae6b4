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

from trainer.encoding import ImageTokens, ProcessorImageTokens, QwenVLImageTokens


class UnsupportedModelError(ValueError):
    """The model is not one the recipe knows how to fine-tune."""


@dataclass(frozen=True)
class Family:
    model_type: str
    vision: str  # module path of the vision encoder (frozen)
    projector: str  # module path of the projector (trained)
    decoder_layers: str  # module path of the language model's layer list


FAMILIES = {f.model_type: f for f in (
    Family("llava", "model.vision_tower", "model.multi_modal_projector", "model.language_model.layers"),
    Family("llava_onevision", "model.vision_tower", "model.multi_modal_projector", "model.language_model.layers"),
    Family("qwen2_vl", "model.visual", "model.visual.merger", "model.language_model.layers"),
    Family("qwen2_5_vl", "model.visual", "model.visual.merger", "model.language_model.layers"),
    Family("internvl", "model.vision_tower", "model.multi_modal_projector", "model.language_model.layers"),
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


def load_backbone(model_dir: Path | str) -> Backbone:
    """Model (fp32 master weights; bf16 comes from autocast or FSDP's policy) and processor."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    family = family_of(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    for path in (family.vision, family.projector, family.decoder_layers):
        try:
            model.get_submodule(path)
        except AttributeError as exc:
            raise UnsupportedModelError(f"model: {family.model_type} model has no module {path!r}; "
                                        "this transformers version lays the model out differently") from exc
    try:
        processor = AutoProcessor.from_pretrained(model_dir)
    except ImportError:
        # Qwen2-VL's processor bundles a video processor that needs torchvision; images alone
        # need only the tokenizer and the image processor, with the expansion done by hand.
        if not family.model_type.startswith("qwen2"):
            raise
        from transformers import AutoImageProcessor, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        image_processor = AutoImageProcessor.from_pretrained(model_dir)
        return Backbone(family, model, tokenizer, QwenVLImageTokens(tokenizer, image_processor),
                        tokenizer, [tokenizer, image_processor])
    owner = processor if getattr(processor, "chat_template", None) else processor.tokenizer
    if not getattr(owner, "chat_template", None):
        raise UnsupportedModelError(f"model: {model_dir} has no chat template; the recipe renders "
                                    "conversations with the model's own template")
    return Backbone(family, model, processor.tokenizer, ProcessorImageTokens(processor), owner, [processor])


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
