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
    image_token_id: int

    def expansions(self, images: list[Image.Image]) -> list[list[int]]:
        """The token ids each image token of a sample with these images becomes, in order."""

    def tokenize(self, text: str, expansions: list[list[int]]) -> list[int]:
        """Token ids of `text`, each image token replaced by the next of `expansions` (consumed)."""

    def pixel_inputs(self, images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        """The vision inputs of the model's forward for these images (per sample, in order)."""


class ProcessorImageTokens:
    """Uses the model's own processor, which knows its family's expansion rules.

    Expansions are computed once per sample from all its images, because the count of an
    image's tokens can depend on the others: LLaVA-OneVision tiles a lone image (any
    resolution) but not the images of a multi-image sample, and InternVL shares a tile
    budget among a sample's images. Tokenizing each turn with only its own images would
    disagree with what the model computes from the whole sample.
    """

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_token = processor.image_token
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        # Between the image tokens of the probe text: a special token no expansion contains.
        self._separator = self.tokenizer.eos_token or self.tokenizer.pad_token
        self._separator_id = self.tokenizer.convert_tokens_to_ids(self._separator)

    def image_options(self, count: int) -> dict[str, Any]:
        """Image-processor options for a sample with `count` images (none by default)."""
        return {}

    def expansions(self, images: list[Image.Image]) -> list[list[int]]:
        if not images:
            return []
        probe = self._separator.join([self.image_token] * len(images))
        ids = self.processor(text=[probe], images=[images], add_special_tokens=False,
                             **self.image_options(len(images)))["input_ids"][0]
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        runs: list[list[int]] = [[]]
        for token in ids:
            if token == self._separator_id:
                runs.append([])
            else:
                runs[-1].append(token)
        if len(runs) != len(images):  # pragma: no cover - a processor that rewrites the separator
            raise ValueError(f"{type(self.processor).__name__}: expanded {len(images)} image token(s) "
                             f"into {len(runs)} run(s)")
        return runs

    def tokenize(self, text: str, expansions: list[list[int]]) -> list[int]:
        """Token ids of `text`, each image token replaced by the next of `expansions` (consumed)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        expanded: list[int] = []
        for token in ids:
            expanded.extend(expansions.pop(0) if token == self.image_token_id else [token])
        return expanded

    def pixel_inputs(self, images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        # Through the processor rather than its image processor alone, so any
        # processor-level image settings apply exactly as in `expansions`.
        with_images = [group for group in images if group]
        encoded = self.processor(text=[self.image_token * len(group) for group in with_images],
                                 images=with_images, return_tensors="pt", padding=True)
        return {k: v for k, v in encoded.items() if k not in _TEXT_KEYS}


_TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids")


class InternVLImageTokens(ProcessorImageTokens):
    """InternVL: a sample's images share `max_dynamic_patch` tiles, as in the official fine-tune
    (each image gets max(1, max_dynamic_patch // number of images), plus its thumbnail)."""

    def __init__(self, processor: Any, max_dynamic_patch: int) -> None:
        super().__init__(processor)
        self.max_dynamic_patch = max_dynamic_patch

    def image_options(self, count: int) -> dict[str, Any]:
        return {"max_patches": max(1, self.max_dynamic_patch // count)}

    def pixel_inputs(self, images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        # Each sample with its own tile budget; InternVL takes the tiles of a batch stacked.
        tiles = [self.processor(text=[self.image_token * len(group)], images=[group], return_tensors="pt",
                                **self.image_options(len(group)))["pixel_values"]
                 for group in images if group]
        return {"pixel_values": torch.cat(tiles)}


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
        expansions = self.image_tokens.expansions(images)
        for text, trained in pieces:
            ids = self.image_tokens.tokenize(text, expansions)
            input_ids.extend(ids)
            labels.extend(ids if trained else [IGNORE_INDEX] * len(ids))
        if len(input_ids) > self.max_length:
            raise SampleTooLong(f"record {sample.sample_id!r}: {len(input_ids)} tokens (images expanded) "
                                f"exceed max_length={self.max_length}; raise max_length, shrink the "
                                f"images, or set on_too_long=skip")
        return EncodedSample(input_ids, labels, sample.images)


class SampleTooLong(DatasetError):
    """A sample does not fit `max_length`; truncating would cut image tokens or the answer."""
