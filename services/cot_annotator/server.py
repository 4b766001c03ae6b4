"""Wiring of the cot-annotator service: settings in, server out.

The offline backend is always available (dry runs on any replica); the
OpenAI-compatible one when MIS_VLM_BACKEND=openai. The judge channel is opened
only when MIS_JUDGE_ADDRESS is set.
"""

from __future__ import annotations

from mis.v1 import cot_annotator_pb2, cot_annotator_pb2_grpc
from services.common.metrics import Metrics
from services.common.model_stage import Backends
from services.common.prompts import load_prompt
from services.common.grpc_server import binding
from services.common.startup import Wiring, main as service_main
from services.common.store import AsyncStore, Store
from services.cot_annotator.annotator import CotAnnotator
from services.cot_annotator.config import Settings
from services.cot_annotator.judge_check import JudgeCheck
from services.judge.client import JudgeClient
from services.cot_annotator.offline import OfflineLabels
from services.cot_annotator.servicer import CotAnnotatorServicer


def build_annotator(settings: Settings, metrics: Metrics) -> tuple[CotAnnotator, list]:
    labels = OfflineLabels.load()
    backends = Backends.build(settings.vlm, metrics=metrics, responders={"annotate": labels.respond},
                              offline_model=labels.version)
    closers = [backends.close]
    judge = None
    if settings.judge.address:
        judge = JudgeCheck(JudgeClient(settings.judge.address, token=settings.judge.token(),
                                       ca=settings.judge.ca_file,
                                       deadline_seconds=settings.judge.timeout_seconds),
                           settings.judge.timeout_seconds)
        closers.append(judge.close)
    annotator = CotAnnotator(
        backends=backends, prompt=load_prompt("services.cot_annotator", "annotate"),
        store=AsyncStore(Store.from_settings(settings.store)),
        max_image_bytes=settings.store.max_image_bytes, send_images=settings.vlm_send_images,
        judge=judge, max_regenerations=settings.max_regenerations,
        max_batch_items=settings.max_batch_items, metrics=metrics)
    return annotator, closers


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    annotator, closers = build_annotator(settings, metrics)
    servicer = CotAnnotatorServicer(annotator)
    return Wiring([binding(cot_annotator_pb2, "CotAnnotatorService",
                           cot_annotator_pb2_grpc.add_CotAnnotatorServiceServicer_to_server,
                           servicer)], closers=closers)


def main() -> int:
    return service_main("cot-annotator", Settings, build)
