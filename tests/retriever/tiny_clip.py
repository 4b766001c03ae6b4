"""A tiny random CLIP and its tokenizer, built locally from a config and saved
in the Hugging Face layout, so tests load it through the same path as real
weights (no downloads)."""

from __future__ import annotations

from pathlib import Path

WORDS = ("a photo of the red green blue square circle triangle knife bottle cat dog car "
         "tree house cup lamp chair book phone key shoe")


def train_clip_tokenizer(max_length: int = 32):
    """A byte-level BPE with CLIP's start and end tokens around every text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|pad|>", "<|startoftext|>", "<|endoftext|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([WORDS] * 8, trainer)
    start, end = bpe.token_to_id("<|startoftext|>"), bpe.token_to_id("<|endoftext|>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", start), ("<|endoftext|>", end)])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|startoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   model_max_length=max_length)


def build_tiny_clip(target: Path, projection_dim: int = 16) -> Path:
    """Write a tiny random CLIP (32x32 images) and its tokenizer to `target`."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    target.mkdir(parents=True, exist_ok=True)
    tokenizer = train_clip_tokenizer()
    tokenizer.save_pretrained(target)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=32,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, image_size=32, patch_size=8),
        projection_dim=projection_dim)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(target, safe_serialization=True)
    return target
