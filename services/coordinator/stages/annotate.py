"""CoT annotation: a train sample gets its safety chain-of-thought label
(perception, reasoning, safe answer), checked by the quality gate and,
when the run asks, by the judge. The last stage."""

from __future__ import annotations

from mis.v1 import common_pb2, cot_annotator_pb2, cot_annotator_pb2_grpc
from services.coordinator.sample import Sample
from services.coordinator.stages.base import PipelineStage, RunContext, StageApi, StageOption


class Annotate(PipelineStage):
    key = "annotate"
    stage = common_pb2.STAGE_ANNOTATE
    service = "cot-annotator"
    api = StageApi(cot_annotator_pb2_grpc.CotAnnotatorServiceStub, "AnnotateBatch")
    info_api = StageApi(cot_annotator_pb2_grpc.CotAnnotatorServiceStub, "GetInfo", "info",
                        cot_annotator_pb2.CotAnnotatorServiceGetInfoRequest)
    result_type = cot_annotator_pb2.AnnotateResult
    options = (
        StageOption("max_cot_regenerations", int, 0, "regenerations of a label that fails the quality "
                    "gate (0: the service's default)", minimum=0, legacy=("max_cot_regenerations",)),
        StageOption("use_judge", bool, False, "ask the judge about every label and regenerate unsafe "
                    "ones (the cot-annotator needs MIS_JUDGE_ADDRESS)", legacy=("use_judge",)),
    )

    def request(self, items: list[Sample], run: RunContext, backend: str):
        options = self.option_values(run.config)
        return cot_annotator_pb2.AnnotateBatchRequest(
            items=[cot_annotator_pb2.AnnotateItem(id=s.id, instruction=s.instruction,
                                                  images=s.pair, harmful_query=s.query.query)
                   for s in items],
            options=cot_annotator_pb2.AnnotateOptions(
                backend=backend, max_regenerations=options["max_cot_regenerations"],
                use_judge=options["use_judge"]))

    def advance(self, item: Sample, result: cot_annotator_pb2.AnnotateResult, run_id: str) -> list[Sample]:
        item.cot = result
        return []

    def export(self, sample: Sample, images) -> dict:
        return {"cot_label": sample.cot.cot.label} if sample.cot is not None else {}


ANNOTATE = Annotate()
