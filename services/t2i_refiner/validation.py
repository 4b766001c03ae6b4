"""Request checks of the t2i-refiner: every bad field is named with the reason.

Options apply to the whole call, so a bad option fails it; a bad instruction
fails only its own item in a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from mis.v1 import common_pb2, t2i_refiner_pb2
from services.common.errors import InvalidArgument, require
from services.t2i_refiner.rendering import RenderSpec

MAX_PHRASE_CHARS = 200
MAX_TEXT_CHARS = 4000
MAX_SIDE = 2048
# SD3 needs sides divisible by the VAE factor (8) times the patch size (2).
SIDE_MULTIPLE = 16
MAX_STEPS = 200
MAX_GUIDANCE = 30.0
MAX_ROUNDS = 5
# Pixel-steps one call may ask for (images x draws x steps x width x height):
# a full default batch (64 pairs, 1024x1024, 28 steps, one refinement round)
# is 7.5e9 and fits; the per-field maxima together would be 6.4e11, about 85
# times that: hours of GPU time and gigabytes of latents from one request.
MAX_WORK_PIXEL_STEPS = 8 * 1024 ** 3


@dataclass(frozen=True)
class RenderDefaults:
    renderer: str
    reviewer: str
    spec: RenderSpec
    refinement_rounds: int


@dataclass(frozen=True)
class ResolvedOptions:
    renderer: str
    reviewer: str
    spec: RenderSpec
    seed: int
    refinement_rounds: int
    skip_review: bool


def renderer_info(name: str) -> common_pb2.RendererInfo:
    """The sizes a renderer draws, as GetInfo reports them and requests are checked."""
    return common_pb2.RendererInfo(name=name, max_width=MAX_SIDE, max_height=MAX_SIDE,
                                   multiple_of=SIDE_MULTIPLE, max_steps=MAX_STEPS,
                                   max_guidance_scale=MAX_GUIDANCE)


def render_info(defaults: RenderDefaults, renderers: Collection[str]) -> common_pb2.StageInfo:
    """The t2i-refiner's own part of its StageInfo: its renderers and what
    they draw, its defaults and the work one call may ask for."""
    spec = defaults.spec
    return common_pb2.StageInfo(
        renderers=[renderer_info(name) for name in sorted(renderers)],
        default_renderer=defaults.renderer, max_refinement_rounds=MAX_ROUNDS,
        default_width=spec.width, default_height=spec.height, default_steps=spec.steps,
        default_refinement_rounds=defaults.refinement_rounds, max_work_pixel_steps=MAX_WORK_PIXEL_STEPS)


def _side(value: int, default: int, field: str) -> int:
    if value == 0:
        return default
    require(0 < value <= MAX_SIDE and value % SIDE_MULTIPLE == 0, field,
            f"must be a multiple of {SIDE_MULTIPLE} between {SIDE_MULTIPLE} and {MAX_SIDE}, got {value}")
    return value


def resolve_options(options: t2i_refiner_pb2.RenderOptions, defaults: RenderDefaults, *,
                    renderers: Collection[str], reviewers: Collection[str]) -> ResolvedOptions:
    """The options in force: the request's where set, the service defaults elsewhere."""
    renderer = options.renderer or defaults.renderer
    require(renderer in renderers, "options.renderer",
            f"{renderer!r} is not available here; choose from {', '.join(sorted(renderers))}")
    reviewer = options.reviewer or defaults.reviewer
    require(reviewer in reviewers, "options.reviewer",
            f"{reviewer!r} is not available here; choose from {', '.join(sorted(reviewers))}")
    width = _side(options.width, defaults.spec.width, "options.width")
    height = _side(options.height, defaults.spec.height, "options.height")
    steps = options.steps or defaults.spec.steps
    require(0 < steps <= MAX_STEPS, "options.steps", f"must be between 1 and {MAX_STEPS}, got {steps}")
    guidance = options.guidance_scale or defaults.spec.guidance_scale
    require(0 <= guidance <= MAX_GUIDANCE, "options.guidance_scale",
            f"must be between 0 and {MAX_GUIDANCE}, got {guidance}")
    negative = options.negative_prompt or defaults.spec.negative_prompt
    require(len(negative) <= MAX_TEXT_CHARS, "options.negative_prompt",
            f"longer than {MAX_TEXT_CHARS} characters")
    require(options.seed >= 0, "options.seed", "must be 0 or greater")
    rounds = options.refinement_rounds or defaults.refinement_rounds
    require(0 <= rounds <= MAX_ROUNDS, "options.refinement_rounds",
            f"must be between 0 and {MAX_ROUNDS}, got {rounds}")
    return ResolvedOptions(renderer, reviewer, RenderSpec(width, height, steps, guidance, negative),
                           options.seed, rounds, options.skip_review)


def _text(value: str, field: str, limit: int) -> None:
    require(value.strip(), field, "required")
    require(len(value) <= limit, field, f"longer than {limit} characters")


def check_instruction(instruction: common_pb2.NeutralInstruction, where: str) -> None:
    """Raise InvalidArgument naming the first bad field of one instruction."""
    _text(instruction.id, f"{where}.id", MAX_PHRASE_CHARS)
    _text(instruction.instruction, f"{where}.instruction", MAX_TEXT_CHARS)
    _text(instruction.category.name, f"{where}.category.name", MAX_PHRASE_CHARS)
    _text(instruction.object1, f"{where}.object1", MAX_PHRASE_CHARS)
    _text(instruction.object2, f"{where}.object2", MAX_PHRASE_CHARS)
    if len(instruction.placeholder_query) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"{where}.placeholder_query", f"longer than {MAX_TEXT_CHARS} characters")


def check_work(instructions: int, options: ResolvedOptions) -> None:
    """Refuse a call whose worst case (every pair redrawn every round) is over
    MAX_WORK_PIXEL_STEPS, naming what to lower."""
    spec = options.spec
    draws = instructions * 2 * (options.refinement_rounds + 1)
    work = draws * spec.steps * spec.width * spec.height
    require(work <= MAX_WORK_PIXEL_STEPS, "instructions",
            f"{instructions} pairs at {spec.width}x{spec.height}, {spec.steps} steps and "
            f"{options.refinement_rounds} refinement rounds is {work:.2e} pixel-steps, over the "
            f"limit of {MAX_WORK_PIXEL_STEPS:.2e} per call; send fewer pairs or fewer steps")
