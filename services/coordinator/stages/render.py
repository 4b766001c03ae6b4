"""Rendering: the two objects of an instruction drawn as an image pair (and
refined after a VLM review) by the t2i-refiner; its GPU stage."""

from __future__ import annotations

from google.protobuf import json_format

from mis.v1 import common_pb2, t2i_refiner_pb2, t2i_refiner_pb2_grpc
from services.coordinator.sample import Sample
from services.coordinator.stages.base import PipelineStage, RunContext, StageApi


class Render(PipelineStage):
    key = "render"
    stage = common_pb2.STAGE_RENDER
    service = "t2i-refiner"
    api = StageApi(t2i_refiner_pb2_grpc.T2IRefinerServiceStub, "RenderPairBatch")
    result_type = t2i_refiner_pb2.RenderPairResult
    batch_size = 2

    def request(self, items: list[Sample], run: RunContext, backend: str):
        """The run's `render` options; the stage backend names the renderer
        unless the options do; `refinement_rounds` is a run-level knob."""
        options = t2i_refiner_pb2.RenderOptions()
        if run.config.HasField("render"):
            json_format.ParseDict(json_format.MessageToDict(run.config.render), options)
        if backend and not options.renderer:
            options.renderer = backend
        if run.config.refinement_rounds:
            options.refinement_rounds = run.config.refinement_rounds
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
        return {"rounds": [{
            "round": r.round, "prompt1": r.prompt1, "prompt2": r.prompt2, "seed1": r.seed1,
            "seed2": r.seed2, "steps": r.steps, "guidance_scale": r.guidance_scale, "width": r.width,
            "height": r.height, "negative_prompt": r.negative_prompt,
            "review": t2i_refiner_pb2.Review.Name(r.review).removeprefix("REVIEW_").lower(),
            "refined_prompt1": r.refined_prompt1, "refined_prompt2": r.refined_prompt2,
            "renderer": r.render_provenance.model, "reviewer": r.review_provenance.model}
            for r in result.rounds]}


RENDER = Render()
