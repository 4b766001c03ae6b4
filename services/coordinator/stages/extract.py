"""Extraction: a seed (text or image) becomes up to N harmful queries, each
the start of one sample. The first stage: its items are seeds, and it fans
out, so its output is stored per seed (layout.extract_output)."""

from __future__ import annotations

from mis.v1 import common_pb2, extractor_pb2, extractor_pb2_grpc
from services.coordinator import layout
from services.coordinator.sample import Sample, Seed
from services.coordinator.stages.base import PipelineStage, RunContext, StageApi, StageOption

DEFAULT_QUERIES_PER_SEED = 2


class Extract(PipelineStage):
    key = "extract"
    stage = common_pb2.STAGE_EXTRACT
    service = "extractor"
    api = StageApi(extractor_pb2_grpc.ExtractorServiceStub, "ExtractBatch")
    info_api = StageApi(extractor_pb2_grpc.ExtractorServiceStub, "GetInfo", "info",
                        extractor_pb2.ExtractorServiceGetInfoRequest)
    result_type = extractor_pb2.ExtractResult
    options = (
        StageOption("queries_per_seed", int, DEFAULT_QUERIES_PER_SEED,
                    "harmful queries the extractor asks for per seed", minimum=1, maximum=5,
                    legacy=("queries_per_seed",)),
    )

    def request(self, items: list[Seed], run: RunContext, backend: str):
        return extractor_pb2.ExtractBatchRequest(
            seeds=[item.seed for item in items], options=extractor_pb2.ExtractOptions(
                backend=backend, taxonomy=run.taxonomy,
                queries_per_seed=self.option_values(run.config)["queries_per_seed"]))

    def rejected(self, result: extractor_pb2.ExtractResult) -> bool:
        return result.HasField("rejection") or not result.queries

    def advance(self, item: Seed, result: extractor_pb2.ExtractResult, run_id: str) -> list[Sample]:
        """One sample per query; its id derives from the run, seed and query index."""
        samples = []
        for query_index, extracted in enumerate(result.queries):
            sample_id = layout.sample_id(run_id, item.seed.id, query_index)
            query = common_pb2.HarmfulQuery()
            query.CopyFrom(extracted)
            query.id = sample_id
            query.seed_id = item.seed.id
            samples.append(Sample(sample_id, item.seed.id, item.index, query_index, query))
        return samples

    def provenances(self, result: extractor_pb2.ExtractResult) -> list[common_pb2.Provenance]:
        return [result.provenance] if result.HasField("provenance") else []

    def export(self, sample: Sample, images) -> dict:
        return {"id": sample.id, "seed_id": sample.seed_id, "harmful_query": sample.query.query}


EXTRACT = Extract()
