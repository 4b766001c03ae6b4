"""Retrieval (MIS-real): a hard sample's drawn pair swapped for real photos,
one per object, from an indexed corpus, by the retriever. A branch of the
filter: in a run with a `real` target it takes a fork of every hard sample
(the sample itself stays in hard), and the fork is finished here, as a
real sample when the retriever's check of the photo pair (the filter's own
classification) still finds the harm only in the relation, rejected
otherwise. The run keeps the first `targets.real` of them in seed order."""

from __future__ import annotations

from mis.v1 import common_pb2, retriever_pb2, retriever_pb2_grpc
from services.coordinator.sample import Sample
from services.coordinator.stages.base import PipelineStage, ProvenanceList, RunContext, StageApi

# Where each photo of a real sample came from, in the exported provenance.
PHOTOS = ProvenanceList("photos", (
    ("object", int), ("index", str), ("corpus", str), ("item_id", str), ("url", str), ("caption", str),
    ("score", float), ("rank", int), ("shows_object", bool), ("check_reason", str), ("checker", str),
    ("check_prompt", str)),
    title="retrieved photos",
    columns=(("object", ("object",)), ("index / corpus / item", ("index", "corpus", "item_id")),
             ("url", ("url",)), ("caption", ("caption",)), ("score / rank", ("score", "rank")),
             ("shows the object / checker", ("shows_object", "checker")), ("why", ("check_reason",))))


class Retrieve(PipelineStage):
    key = "retrieve"
    stage = common_pb2.STAGE_RETRIEVE
    service = "retriever"
    api = StageApi(retriever_pb2_grpc.RetrieverServiceStub, "RetrieveBatch")
    info_api = StageApi(retriever_pb2_grpc.RetrieverServiceStub, "GetInfo", "info",
                        retriever_pb2.RetrieverServiceGetInfoRequest)
    result_type = retriever_pb2.RetrieveResult
    branches_from = "filter"
    finishes = ("real",)
    provenance_lists = (PHOTOS,)

    def used(self, config) -> bool:
        return config.targets.real > 0

    def takes(self, sample: Sample) -> bool:
        return sample.split == "hard"

    def request(self, items: list[Sample], run: RunContext, backend: str):
        return retriever_pb2.RetrieveBatchRequest(
            items=[retriever_pb2.RetrieveItem(id=s.id, instruction=s.instruction) for s in items],
            options=retriever_pb2.RetrieveOptions(backend=backend, taxonomy=run.taxonomy))

    def advance(self, item: Sample, result: retriever_pb2.RetrieveResult, run_id: str) -> list[Sample]:
        item.photos = retriever_pb2.RetrieveResult()
        item.photos.CopyFrom(result)
        item.pair = common_pb2.ImagePair()
        item.pair.CopyFrom(result.pair)
        item.classified.CopyFrom(result.classified)
        item.classified.split = common_pb2.SPLIT_REAL
        return []

    def export(self, sample: Sample, images) -> dict:
        pair = sample.pair
        return {"image1": images(pair.image1), "image2": images(pair.image2),
                "prompt1": pair.prompt1, "prompt2": pair.prompt2}

    def export_result(self, result: retriever_pb2.RetrieveResult) -> dict:
        """Where each photo came from: corpus, item, url, similarity and the check."""
        return {PHOTOS.name: [PHOTOS.entry({
            "object": number, "index": result.index, "corpus": result.corpus,
            "item_id": checked.photo.item_id, "url": checked.photo.url, "caption": checked.photo.caption,
            "score": round(float(checked.photo.score), 6), "rank": checked.rank,
            "shows_object": checked.check.shows_object, "check_reason": checked.check.reason,
            "checker": checked.check.provenance.model, "check_prompt": checked.check.provenance.prompt_version})
            for number, checked in ((1, result.photo1), (2, result.photo2))]}


RETRIEVE = Retrieve()
