"""Turns a conversation into token ids and labels, with loss on the assistant's tokens only.

The model's own chat template renders the conversation. Which characters belong to the
assistant is found by rendering prefixes: the text between "everything before the reply,
with the generation prompt" and "everything up to and including the reply" is the reply
(with the template's end-of-turn marker, which the model must learn to emit). That works
for any template whose renderings of a conversation's prefixes are prefixes of each other,
and fails loudly otherwise. Each piece is tokenized on its own and image placeholders are
expanded to the number of image tokens the vision encoder produces for that image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image

from trainer.data import IMAGE_PLACEHOLDER, DatasetError, Sample

IGNORE_INDEX = -100  # label value that the loss skips


class ImageTokens(Protocol):
    """How a backbone turns images into placeholder tokens and pixel inputs."""

    image_token: str

    def tokenize(self, text: str, images: list[Image.Image]) -> list[int]:
        """Token ids of `text` with each image token expanded for its image."""

    def pixel_inputs(self, images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        """The vision inputs of the model's forward for these images (per sample, in order)."""


class ProcessorImageTokens:
    """Uses the model's own processor, which knows its family's expansion rules."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_token = processor.image_token

    def tokenize(self, text: str, images: list[Image.Image]) -> list[int]:
        if not images:
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        # Nested per sample: LLaVA-OneVision tiles a lone image (any-resolution) but not the
        # images of a multi-image sample, and tells them apart by this nesting.
        encoded = self.processor(text=[text], images=[images], add_special_tokens=False)
        ids = encoded["input_ids"][0]
        return ids.tolist() if hasattr(ids, "tolist") else list(ids)

    def pixel_inputs(self, images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        # Through the processor rather than its image processor alone, so any
        # processor-level image settings apply exactly as in `tokenize`.
        with_images = [group for group in images if group]
        encoded = self.processor(text=[self.image_token * len(group) for group in with_images],
                                 images=with_images, return_tensors="pt", padding=True)
        return {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")}


class QwenVLImageTokens:
    """Qwen2-VL / Qwen2.5-VL without the full processor (it needs torchvision for video).

    Each `<|image_pad|>` becomes grid_t * grid_h * grid_w / merge_size**2 copies, exactly
    what Qwen2VLProcessor does.
    """

    image_token = "<|image_pad|>"

    def __init__(self, tokenizer: Any, image_processor: Any) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.merge_length = image_processor.merge_size ** 2

    def tokenize(self, text: str, images: list[Image.Image]) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not images:
            return ids
        grids = self.image_processor(images=images, return_tensors="pt")["image_grid_thw"]
        counts = iter(int(g.prod()) // self.merge_length for g in grids)
        expanded: list[int] = []
        for token in ids:
            expanded.extend([token] * next(counts) if token == self.image_token_id else [token])
        return expanded

    def pixel_inputs(self, images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        encoded = self.image_processor(images=[image for group in images for image in group], return_tensors="pt")
        return {"pixel_values": encoded["pixel_values"], "image_grid_thw": encoded["image_grid_thw"]}


@dataclass(frozen=True)
class EncodedSample:
    input_ids: list[int]
    labels: list[int]
    images: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.input_ids)


def to_messages(sample: Sample) -> list[dict[str, Any]]:
    """Chat messages in the structured-content form VLM templates expect."""
    messages = []
    for turn in sample.turns:
        content: list[dict[str, str]] = []
        pieces = turn.text.split(IMAGE_PLACEHOLDER)
        for number, piece in enumerate(pieces):
            if number > 0:
                content.append({"type": "image"})
                piece = piece[1:] if piece.startswith("\n") else piece  # the dataset's layout newline
            if piece:
                content.append({"type": "text", "text": piece})
        messages.append({"role": turn.role, "content": content})
    return messages


def open_images(paths: tuple[Path, ...] | list[Path]) -> list[Image.Image]:
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


class ConversationEncoder:
    def __init__(self, image_tokens: ImageTokens, chat_template_owner: Any, max_length: int) -> None:
        self.image_tokens = image_tokens
        self.template = chat_template_owner  # the processor or tokenizer holding the chat template
        self.max_length = max_length

    def _render(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        return self.template.apply_chat_template(messages, tokenize=False,
                                                 add_generation_prompt=generation_prompt)

    def segments(self, sample: Sample) -> list[tuple[str, bool]]:
        """(text, is_assistant) pieces whose concatenation is the rendered conversation."""
        messages = to_messages(sample)
        pieces: list[tuple[str, bool]] = []
        done = ""
        for position, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = self._render(messages[:position], generation_prompt=True)
            full = self._render(messages[:position + 1], generation_prompt=False)
            if not prompt.startswith(done) or not full.startswith(prompt):
                raise DatasetError(f"record {sample.sample_id!r}: the model's chat template does not "
                                   "render conversation prefixes as prefixes; cannot locate the "
                                   "assistant tokens")
            pieces.append((prompt[len(done):], False))
            pieces.append((full[len(prompt):], True))
            done = full
        return pieces

    def encode(self, sample: Sample) -> EncodedSample:
        images = open_images(sample.images)
        pieces = self.segments(sample)
        rendered = sum(text.count(self.image_tokens.image_token) for text, _ in pieces)
        if rendered != len(images):
            raise DatasetError(f"record {sample.sample_id!r}: the chat template rendered {rendered} image "
                               f"token(s) for {len(images)} image(s)")
        input_ids: list[int] = []
        labels: list[int] = []
        remaining = list(images)
        for text, trained in pieces:
            wanted = text.count(self.image_tokens.image_token)
            piece_images, remaining = remaining[:wanted], remaining[wanted:]
            ids = self.image_tokens.tokenize(text, piece_images)
            input_ids.extend(ids)
            labels.extend(ids if trained else [IGNORE_INDEX] * len(ids))
        if len(input_ids) > self.max_length:
            raise SampleTooLong(f"record {sample.sample_id!r}: {len(input_ids)} tokens (images expanded) "
                                f"exceed max_length={self.max_length}; raise max_length, shrink the "
                                f"images, or set on_too_long=skip")
        return EncodedSample(input_ids, labels, sample.images)


class SampleTooLong(DatasetError):
    """A sample does not fit `max_length`; truncating would cut image tokens or the answer."""
