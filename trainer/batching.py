"""Batches of similar length, so little of each batch is padding.

Samples in a safety set vary a lot in length (two images plus a short question, then a
reasoning answer of very different sizes; general samples with 0..n images). Random
batches pad every sample to the longest one. Here an epoch's order is shuffled, cut into
windows of `group_batches` global batches, sorted by length inside each window and cut
into batches, and the batches are shuffled again: the order stays random at the scale of
the run, while neighbours in a batch have similar lengths. The order is a pure function of
(seed, epoch), so resuming at batch k of an epoch replays exactly the same batches.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
from PIL import Image

from trainer.encoding import IGNORE_INDEX, EncodedSample, ImageTokens, open_images


def epoch_batches(lengths: Sequence[int], batch_size: int, world_size: int, rank: int,
                  seed: int, epoch: int, group_batches: int) -> list[list[int]]:
    """This rank's micro-batches (sample indices) for one epoch; same count on every rank."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    global_batch = batch_size * world_size
    # Wrap around so every rank gets the same number of full batches (a rank with fewer
    # batches than the others would hang the collective calls).
    shortfall = -len(order) % global_batch
    order += order[:shortfall]
    window = global_batch * group_batches
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i:i + global_batch] for i in range(0, len(chunk), global_batch))
    rng.shuffle(batches)
    # Deal each global batch round-robin, so ranks see equally long samples (equal step time).
    return [batch[rank::world_size] for batch in batches]


def padding_share(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Fraction of the token slots in these batches that would be padding."""
    slots = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    real = sum(lengths[i] for b in batches for i in b)
    return 1 - real / slots if slots else 0.0


# Small enough that every processor gives it its minimum of vision tokens.
DUMMY_IMAGE_SIDE = 32


class Collator:
    """Pads a micro-batch to its longest sample and adds the vision inputs.

    A micro-batch without images gets a dummy image (as LLaMA-Factory does): its tokens are
    appended to the first row behind the padding, masked from attention and from the loss,
    so they change no output, yet the vision tower and projector run and the projector gets
    a (zero) gradient. Every rank then reduces the same parameters in every step: without
    it, FSDP's reduce-scatter sizes differ between ranks (gloo fails, NCCL hangs) and DDP
    needs `find_unused_parameters`.
    """

    def __init__(self, samples: Sequence[EncodedSample], image_tokens: ImageTokens, pad_token_id: int,
                 image_token_id: int | None = None) -> None:
        self.samples = samples
        self.image_tokens = image_tokens
        self.pad_token_id = pad_token_id
        # Models with multimodal RoPE (Qwen2-VL) locate image tokens through a type mask,
        # which their processor would otherwise build: 1 marks an image token.
        self.image_token_id = image_token_id
        self.dummy_image = Image.new("RGB", (DUMMY_IMAGE_SIDE, DUMMY_IMAGE_SIDE), (255, 255, 255))
        self.dummy_tokens = image_tokens.expansions([self.dummy_image])[0]

    def __call__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        batch = [self.samples[i] for i in indices]
        images = [open_images(sample.images) for sample in batch]
        dummy = not any(images)
        width = max(len(s) for s in batch)
        if dummy:
            width = max(width, len(batch[0]) + len(self.dummy_tokens))
            images[0] = [self.dummy_image]
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, sample in enumerate(batch):
            n = len(sample)
            input_ids[row, :n] = torch.tensor(sample.input_ids)
            labels[row, :n] = torch.tensor(sample.labels)
            attention_mask[row, :n] = 1
        if dummy:
            start = len(batch[0])
            input_ids[0, start:start + len(self.dummy_tokens)] = torch.tensor(self.dummy_tokens)
        inputs = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        if self.image_token_id is not None:
            inputs["mm_token_type_ids"] = (input_ids == self.image_token_id).long()
        inputs.update(self.image_tokens.pixel_inputs(images))
        return inputs


class BatchDataset(torch.utils.data.Dataset):
    """A list of micro-batches as a map-style dataset, so DataLoader workers collate them."""

    def __init__(self, batches: list[list[int]], collator: Collator) -> None:
        self.batches = batches
        self.collator = collator

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        return self.collator(self.batches[position])
