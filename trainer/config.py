"""The trainer's configuration: one typed object, loaded from YAML plus `key=value` overrides.

A preset (trainer/presets/<name>.yaml) fixes the paper's learning rate and epochs for a
backbone; everything else has a documented default here. Unknown keys, wrong types and
out-of-range values fail at load time with the key's name, before any GPU time is spent.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

# M4-Instruct general samples per MIS safety sample in the paper: 500 for 3,927 (about 11%
# of the mixture). Expressed as a ratio so it scales with the size of the safety split.
PAPER_GENERAL_RATIO = 500 / 3927


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key and the reason."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    # What to train and on what.
    model: str
    dataset: str
    output: str
    general_dataset: str = ""
    general_ratio: float = PAPER_GENERAL_RATIO
    # Held-out split (same layout) whose per-token loss is logged every `eval_every` steps
    # and at the end; "" runs no evaluation.
    eval_dataset: str = ""
    eval_every: int = 0
    # Optimisation (the paper: warm-up ratio 0.03 everywhere; lr/epochs per backbone).
    learning_rate: float = 5e-6
    epochs: int = 3
    warmup_ratio: float = 0.03
    lr_scheduler: Literal["cosine", "linear"] = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    micro_batch_size: int = 1
    grad_accum_steps: int = 1
    # Sequences: no truncation (it would cut image tokens), so long samples are an error
    # unless the user chooses to skip them.
    max_length: int = 4096
    on_too_long: Literal["error", "skip"] = "error"
    # Length grouping: shuffle, then sort inside windows of this many global batches, so a
    # batch holds samples of similar length and little padding.
    length_group_batches: int = 32
    # What is trained.
    finetune: Literal["full", "lora"] = "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # Image budget per backbone (recorded beside the resolved config): Qwen2-VL/2.5-VL resize
    # each image to at most `max_pixels` (0 keeps the model's own limit); InternVL shares
    # `max_dynamic_patch` 448 px tiles among a sample's images, as its official fine-tune does.
    # LLaVA-OneVision's any-resolution grid is the model config's (`image_grid_pinpoints`).
    max_pixels: int = 0
    max_dynamic_patch: int = 12
    # Numerics and memory. bf16 is autocast on one process or under DDP, FSDP's bf16
    # parameter policy (fp32 reductions) under FSDP.
    precision: Literal["bf16", "fp32"] = "bf16"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    gradient_checkpointing: bool = True
    fsdp: bool = False
    # Under FSDP, gradients are reduce-scattered after every micro-batch, so each GPU only
    # ever holds its shard of them. Deferring the sync to the step's last micro-batch saves
    # those collectives but keeps every micro-batch's gradients unsharded in fp32 (about
    # 30 GB per GPU at 8B): only where memory allows.
    fsdp_defer_grad_sync: bool = False
    # Bookkeeping.
    seed: int = 42
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    # Shards are staged to host memory, then written and uploaded by a background thread
    # while training goes on; the COMPLETE marker follows once every rank's shard is up.
    async_checkpoints: bool = True
    # Whether each checkpoint also holds the model in its own (servable) format. `auto`: yes,
    # except for a sharded (FSDP) full fine-tune, where it would gather the whole model on
    # rank 0 at every checkpoint; a LoRA run's adapter is always written (only it is
    # gathered). The final model is always written.
    checkpoint_model: Literal["auto", "always", "never"] = "auto"
    progress_every: int = 10
    log_every: int = 10
    # The GPU's dense bf16 peak in TFLOP/s (989 for an H100/H200 SXM); 0 leaves MFU out of the metrics.
    peak_tflops: float = 0.0
    resume: bool = True
    # Stop (with a checkpoint) after this many optimizer steps in this run; 0 runs to the
    # end. Used to bound a run on a preemptible slot, and by tests to interrupt a run.
    stop_after_steps: int = 0
    # Local scratch for downloads and checkpoints before upload ("" = a temporary folder).
    work_dir: str = ""
    num_workers: int = 2
    # Deadline of every collective call, long enough to cover rank 0 writing and uploading a
    # checkpoint while the other ranks wait at the barrier (NCCL's default is 10 minutes).
    collective_timeout_minutes: int = 60

    def validate(self) -> "TrainConfig":
        for name in ("model", "dataset", "output"):
            if not getattr(self, name):
                raise ConfigError(f"{name}: required, got an empty value")
        positive = ("learning_rate", "epochs", "micro_batch_size", "grad_accum_steps", "max_length",
                    "length_group_batches", "lora_rank", "lora_alpha", "progress_every", "log_every",
                    "max_dynamic_patch", "collective_timeout_minutes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)}")
        for name in ("checkpoint_every", "keep_checkpoints", "stop_after_steps", "num_workers", "max_pixels", "eval_every",
                     "weight_decay", "max_grad_norm", "general_ratio", "peak_tflops"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        return self

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def _coerce(key: str, value: Any) -> Any:
    """Checks one value against its field's type; ints are accepted where floats are."""
    hint = _HINTS[key]
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{key}: must be one of {list(allowed)}, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads "2e-6" (no dot) as a string
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported field type {hint}")  # pragma: no cover


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML and checked against the key's type."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected key=value")
    if key not in _FIELDS:
        raise ConfigError(f"override {text!r}: unknown key {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    # Paths and URIs that YAML would read as something else stay strings.
    if _HINTS[key] is str and not isinstance(value, str):
        value = raw
    return key, _coerce(key, value)


def preset_path(name_or_path: str) -> Path:
    """A preset name (`qwen2_vl_7b`) resolves to the packaged file; anything else is a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"config: file {name_or_path!r} does not exist")
        return candidate
    packaged = importlib.resources.files("trainer") / "presets" / f"{name_or_path}.yaml"
    if not packaged.is_file():
        raise ConfigError(f"config: no preset named {name_or_path!r} (see {', '.join(list_presets())})")
    return Path(str(packaged))


def list_presets() -> list[str]:
    folder = importlib.resources.files("trainer") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(config: str, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    path = preset_path(config)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path}: expected a mapping of keys to values")
    for key in raw:
        if key not in _FIELDS:
            raise ConfigError(f"config {path}: unknown key {key!r}")
    merged = dict(raw)
    for text in overrides:
        key, value = parse_override(text)
        merged[key] = value
    values = {key: _coerce(key, value) for key, value in merged.items()}
    missing = [name for name, f in _FIELDS.items()
               if f.default is dataclasses.MISSING and name not in values]
    if missing:
        raise ConfigError(f"config {path}: missing required key(s) {missing}; "
                          f"set them in the file or as overrides, e.g. {missing[0]}=...")
    return TrainConfig(**values).validate()
