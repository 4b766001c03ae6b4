"""Filtering: a rendered pair is labelled and split (train, easy, hard) or
rejected. Only train samples go on to the CoT annotation; test samples are
finished here. The fingerprint the filter returns goes into the run's
near-duplicate index as the sample finishes (pipeline.py); `DEDUP` is the
service's whole-run RPC for callers that hold every fingerprint at once."""

from __future__ import annotations

from mis.v1 import common_pb2, filter_pb2, filter_pb2_grpc
from services.coordinator.sample import Sample
from services.coordinator.stages.base import PipelineStage, RunContext, StageApi, StageOption
from services.filter.fingerprints import Thresholds

DEDUP = StageApi(filter_pb2_grpc.FilterServiceStub, "Deduplicate", "duplicates")
_DEFAULTS = Thresholds()


class Filter(PipelineStage):
    key = "filter"
    stage = common_pb2.STAGE_FILTER
    service = "filter"
    api = StageApi(filter_pb2_grpc.FilterServiceStub, "ClassifyBatch")
    info_api = StageApi(filter_pb2_grpc.FilterServiceStub, "GetInfo", "info",
                        filter_pb2.FilterServiceGetInfoRequest)
    result_type = filter_pb2.ClassifyResult
    finishes = ("easy", "hard", "real")
    # The run's near-duplicate thresholds (finish.thresholds_of), for the end-of-run dedup.
    options = (
        StageOption("dedup_max_image_distance", int, _DEFAULTS.max_image_distance,
                    "image-hash bits within which two pairs are near-duplicates", minimum=1, maximum=64,
                    legacy=("dedup_max_image_distance",)),
        StageOption("dedup_min_text_similarity", float, _DEFAULTS.min_text_similarity,
                    "instruction similarity from which two pairs are near-duplicates",
                    minimum=0, maximum=1, legacy=("dedup_min_text_similarity",)),
        StageOption("dedup_min_image_similarity", float, _DEFAULTS.min_image_similarity,
                    "both images' CLIP cosine from which two pairs are semantic near-duplicates; the "
                    "filter then embeds every pair (MIS_DEDUP_IMAGE_EMBEDDER); 0: off (docs/retrieval.md)",
                    minimum=0, maximum=1, legacy=("dedup_min_image_similarity",)),
    )

    def request(self, items: list[Sample], run: RunContext, backend: str):
        return filter_pb2.ClassifyBatchRequest(
            items=[filter_pb2.FilterItem(id=s.id, instruction=s.instruction, images=s.pair)
                   for s in items],
            options=filter_pb2.FilterOptions(
                backend=backend, taxonomy=run.taxonomy,
                image_embeddings=self.option_values(run.config)["dedup_min_image_similarity"] > 0))

    def advance(self, item: Sample, result: filter_pb2.ClassifyResult, run_id: str) -> list[Sample]:
        item.classified = result
        return [item] if result.split == common_pb2.SPLIT_TRAIN else []

    def export(self, sample: Sample, images) -> dict:
        fields = {"split": sample.split, "filter_reason": sample.classified.reason}
        category = sample.classified.category
        if category.name:  # the filter's label wins over the detoxifier's
            fields.update(category=category.name, sub_category=category.sub_category)
        return fields


FILTER = Filter()
