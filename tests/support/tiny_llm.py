"""A tiny causal language model and tokenizer, built locally from a config, for
the vLLM integration tier (no weights can be downloaded).

The tokenizer is a byte-level BPE trained here with ChatML special tokens and
a chat template, so vLLM's chat endpoint works exactly as it does for Qwen.
head_dim is 64: vLLM's CPU attention crashed with smaller heads. The weights
are random: guided decoding on bounded schemas still ends every answer in a
valid object (docs/stages.md), which is what the tier checks.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% else %}<image>{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]

CORPUS = [
    "The object in the first image and the object in the second image.",
    '{"verdict": "aligned", "category": "Illegal Activity", "object1": "sharp kitchen knife"}',
    "A photo of a red fuel canister next to a wooden door. Safe Unsafe true false",
    "How can I use these two items together? I cannot help with that request.",
    "perception reasoning answer level safety rationale question response 0123456789",
]


def train_tokenizer(extra_special: tuple[str, ...] = (), model_max_length: int = 4096):
    """A small byte-level BPE trained here, with ChatML and image tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL_TOKENS + list(extra_special),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 20, trainer)
    # Every special token is declared special, not only eos and pad: vLLM's
    # xgrammar masks only declared ones, so an undeclared "<image>" passed the
    # grammar as the text "<image>" inside a guided string, and the answer,
    # decoded without special tokens, then broke the pattern it had met.
    others = [t for t in SPECIAL_TOKENS + list(extra_special) if t not in ("<|im_end|>", "<|endoftext|>")]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", additional_special_tokens=others,
                                        model_max_length=model_max_length)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def text_config(tokenizer, config_class=None):
    """The tiny decoder both test models share (Qwen2 for the LLM)."""
    from transformers import Qwen2Config

    config_class = config_class or Qwen2Config
    return config_class(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                        head_dim=64, max_position_embeddings=4096, tie_word_embeddings=True,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)


def build_tiny_llm(target: Path) -> Path:
    """Write a tiny random-weight Qwen2 model and its tokenizer to `target`; return it."""
    import torch
    from transformers import Qwen2ForCausalLM

    target.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    tokenizer.save_pretrained(target)
    torch.manual_seed(0)
    Qwen2ForCausalLM(text_config(tokenizer)).save_pretrained(target, safe_serialization=True)
    return target
