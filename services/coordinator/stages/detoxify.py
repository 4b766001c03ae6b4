"""Detoxification: a harmful query becomes a neutral instruction about two
objects, each to be drawn in its own image."""

from __future__ import annotations

from mis.v1 import common_pb2, detoxifier_pb2, detoxifier_pb2_grpc
from services.coordinator.sample import Sample
from services.coordinator.stages.base import PipelineStage, RunContext, StageApi


class Detoxify(PipelineStage):
    key = "detoxify"
    stage = common_pb2.STAGE_DETOXIFY
    service = "detoxifier"
    api = StageApi(detoxifier_pb2_grpc.DetoxifierServiceStub, "DetoxifyBatch")
    info_api = StageApi(detoxifier_pb2_grpc.DetoxifierServiceStub, "GetInfo", "info",
                        detoxifier_pb2.DetoxifierServiceGetInfoRequest)
    result_type = detoxifier_pb2.DetoxifyResult

    def request(self, items: list[Sample], run: RunContext, backend: str):
        return detoxifier_pb2.DetoxifyBatchRequest(
            queries=[sample.query for sample in items],
            options=detoxifier_pb2.DetoxifyOptions(backend=backend, taxonomy=run.taxonomy))

    def advance(self, item: Sample, result: detoxifier_pb2.DetoxifyResult, run_id: str) -> list[Sample]:
        item.instruction = common_pb2.NeutralInstruction()
        item.instruction.CopyFrom(result.instruction)
        item.instruction.id = item.id
        item.instruction.query_id = item.id
        return [item]

    def export(self, sample: Sample, images) -> dict:
        category = sample.instruction.category
        return {"instruction": sample.instruction.instruction, "category": category.name,
                "sub_category": category.sub_category}


DETOXIFY = Detoxify()
