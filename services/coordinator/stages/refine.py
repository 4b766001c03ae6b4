"""Refining: the two objects of an instruction drawn as an image pair, then
reviewed by a VLM and redrawn from its proposed prompts, by the t2i-refiner;
the pipeline's GPU stage. Its key was `render` before it took its service's
name: run configs, manifests and checkpoints written with that key are read
as this stage, and its outputs keep the stored name `render`."""

from __future__ import annotations

from mis.v1 import common_pb2, t2i_refiner_pb2, t2i_refiner_pb2_grpc
from services.coordinator.sample import Sample
from services.coordinator.stages.base import (PipelineStage, ProvenanceList, RunConfigError, RunContext,
                                              StageApi, StageOption, not_served)

# One drawing round in the exported provenance (the browser shows them).
ROUNDS = ProvenanceList("rounds", (
    ("round", int), ("prompt1", str), ("prompt2", str), ("seed1", int), ("seed2", int), ("steps", int),
    ("guidance_scale", float), ("width", int), ("height", int), ("negative_prompt", str), ("review", str),
    ("refined_prompt1", str), ("refined_prompt2", str), ("renderer", str), ("reviewer", str)),
    title="text-to-image rounds",
    columns=(("round", ("round",)), ("prompt 1", ("prompt1",)), ("prompt 2", ("prompt2",)),
             ("seeds", ("seed1", "seed2")), ("steps / guidance / width / height",
                                             ("steps", "guidance_scale", "width", "height")),
             ("VLM verdict / reviewer", ("review", "reviewer")),
             ("proposed prompts", ("refined_prompt1", "refined_prompt2"))))

def _render_option(name: str, kind: type, default, description: str, **bounds) -> StageOption:
    """A RenderOptions field as a run option; once a key of RunConfig's `render` mapping."""
    return StageOption(name, kind, default, description, legacy=(f"render.{name}",), **bounds)


class Refine(PipelineStage):
    key = "refine"
    stage = common_pb2.STAGE_REFINE
    service = "t2i-refiner"
    former_keys = ("render",)
    stored_name = "render"
    api = StageApi(t2i_refiner_pb2_grpc.T2IRefinerServiceStub, "RenderPairBatch")
    info_api = StageApi(t2i_refiner_pb2_grpc.T2IRefinerServiceStub, "GetInfo", "info",
                        t2i_refiner_pb2.T2IRefinerServiceGetInfoRequest)
    result_type = t2i_refiner_pb2.RenderPairResult
    batch_size = 2
    provenance_lists = (ROUNDS,)
    # The t2i-refiner's RenderOptions, by field name; 0 or empty takes the service's default.
    options = (
        _render_option("renderer", str, "", "renderer backend (empty: the stage backend, else the "
                       "service's default)"),
        _render_option("reviewer", str, "", "VLM reviewer backend (empty: the service's default)"),
        _render_option("width", int, 0, "image width in pixels", minimum=0),
        _render_option("height", int, 0, "image height in pixels", minimum=0),
        _render_option("steps", int, 0, "diffusion steps per image", minimum=0),
        _render_option("guidance_scale", float, 0.0, "classifier-free guidance scale", minimum=0),
        _render_option("negative_prompt", str, "", "what the renderer should keep out of the images"),
        _render_option("seed", int, 0, "base seed; each image's seed derives from it", minimum=0),
        StageOption("refinement_rounds", int, 0, "review-and-redraw rounds after the first drawing",
                    minimum=0, legacy=("refinement_rounds", "render.refinement_rounds")),
        _render_option("skip_review", bool, False, "draw once and never call the reviewer"),
    )

    def render_options(self, config) -> t2i_refiner_pb2.RenderOptions:
        """The run's options as the message the t2i-refiner takes."""
        return t2i_refiner_pb2.RenderOptions(**self.option_values(config))

    def check_served(self, config, info: common_pb2.StageInfo, service: str) -> None:
        """The renderer (`renderer`, else the stage backend, else the
        service's default) must be one the service has; the size, steps and
        guidance within what it draws; the rounds within the service's limit;
        the reviewer one of its backends. Each named by the key it was set at."""
        found = self.run_options(config)
        options = t2i_refiner_pb2.RenderOptions(**{name: v.value for name, v in found.items()})
        if options.renderer:
            renderer, key = options.renderer, found["renderer"].key
        else:
            renderer, key = self.given(config).backend or info.default_renderer, f"stages.{self.key}.backend"
        renderers = {r.name: r for r in info.renderers}
        if renderer not in renderers:
            raise RunConfigError(key, not_served(renderer, service, sorted(renderers)))
        limits = renderers[renderer]
        for side, largest in (("width", limits.max_width), ("height", limits.max_height)):
            value = getattr(options, side)
            step = limits.multiple_of or 1
            if value and not (step <= value <= largest and value % step == 0):
                raise RunConfigError(found[side].key, f"{value} is not a {side} renderer {renderer!r} "
                                     f"of {service} draws (a multiple of {step}, at most {largest})")
        if limits.max_steps and options.steps > limits.max_steps:
            raise RunConfigError(found["steps"].key, f"{options.steps} is over the {limits.max_steps} "
                                 f"steps renderer {renderer!r} of {service} takes")
        if limits.max_guidance_scale and options.guidance_scale > limits.max_guidance_scale:
            raise RunConfigError(found["guidance_scale"].key, f"{options.guidance_scale:g} is over the "
                                 f"{limits.max_guidance_scale:g} renderer {renderer!r} of {service} takes")
        if info.max_refinement_rounds and options.refinement_rounds > info.max_refinement_rounds:
            raise RunConfigError(found["refinement_rounds"].key, f"{options.refinement_rounds} is over the "
                                 f"{info.max_refinement_rounds} refinement rounds {service} takes")
        if options.reviewer and options.reviewer not in info.backends:
            raise RunConfigError(found["reviewer"].key, not_served(options.reviewer, service, info.backends))
        self.check_batch(config, info, service)
        self.check_work(config, options, info, service)

    def check_work(self, config, options: t2i_refiner_pb2.RenderOptions, info: common_pb2.StageInfo,
                   service: str) -> None:
        """A full batch at the run's size, steps and rounds (the service's
        defaults for what the run leaves at 0) within the work one call may
        ask for; otherwise the service refuses every call."""
        if not info.max_work_pixel_steps:
            return
        pairs = self.given(config).batch_size or self.batch_size
        width, height = options.width or info.default_width, options.height or info.default_height
        steps = options.steps or info.default_steps
        rounds = options.refinement_rounds or info.default_refinement_rounds
        work = pairs * 2 * (rounds + 1) * steps * width * height
        if work > info.max_work_pixel_steps:
            raise RunConfigError(f"stages.{self.key}.batch_size",
                                 f"{pairs} pairs per call at {width}x{height}, {steps} steps and {rounds} "
                                 f"refinement rounds is {work:.2e} pixel-steps, over the limit of "
                                 f"{info.max_work_pixel_steps:.2e} per call of {service}; lower the "
                                 f"batch size, the steps, the size or the rounds")

    def request(self, items: list[Sample], run: RunContext, backend: str):
        """The run's options; the stage backend names the renderer unless the options do."""
        options = self.render_options(run.config)
        if backend and not options.renderer:
            options.renderer = backend
        return t2i_refiner_pb2.RenderPairBatchRequest(
            instructions=[sample.instruction for sample in items], options=options)

    def advance(self, item: Sample, result: t2i_refiner_pb2.RenderPairResult, run_id: str) -> list[Sample]:
        item.pair = common_pb2.ImagePair()
        item.pair.CopyFrom(result.pair)
        return [item]

    def provenances(self, result: t2i_refiner_pb2.RenderPairResult) -> list[common_pb2.Provenance]:
        return [getattr(round_, name) for round_ in result.rounds
                for name in ("render_provenance", "review_provenance") if round_.HasField(name)]

    def export(self, sample: Sample, images) -> dict:
        pair = sample.pair
        return {"image1": images(pair.image1), "image2": images(pair.image2),
                "prompt1": pair.prompt1, "prompt2": pair.prompt2}

    def export_result(self, result: t2i_refiner_pb2.RenderPairResult) -> dict:
        """Every drawing round with both prompts, the seeds and settings, the
        VLM's verdict and the prompts it proposed (the browser's provenance)."""
        return {ROUNDS.name: [ROUNDS.entry({
            "round": r.round, "prompt1": r.prompt1, "prompt2": r.prompt2, "seed1": r.seed1,
            "seed2": r.seed2, "steps": r.steps, "guidance_scale": r.guidance_scale, "width": r.width,
            "height": r.height, "negative_prompt": r.negative_prompt,
            "review": t2i_refiner_pb2.Review.Name(r.review).removeprefix("REVIEW_").lower(),
            "refined_prompt1": r.refined_prompt1, "refined_prompt2": r.refined_prompt2,
            "renderer": r.render_provenance.model, "reviewer": r.review_provenance.model})
            for r in result.rounds]}


REFINE = Refine()
