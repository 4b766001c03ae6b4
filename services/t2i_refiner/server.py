"""Wiring of the t2i-refiner service: settings in, server out.

The diffusers renderer is loaded here, before the server starts, so a replica
only reports SERVING once Stable Diffusion is on its device. The offline
renderer and reviewer are always available, for dry runs on any replica.
"""

from __future__ import annotations

import asyncio

from mis.v1 import t2i_refiner_pb2, t2i_refiner_pb2_grpc
from services.common.metrics import Metrics
from services.common.prompts import load_prompt
from services.common.grpc_server import binding
from services.common.model_stage import Backends
from services.common.startup import Wiring, main as service_main
from services.common.store import AsyncStore, Store
from services.t2i_refiner.config import Settings
from services.t2i_refiner.metrics import RenderMetrics
from services.t2i_refiner.offline_renderer import OfflineRenderer
from services.t2i_refiner.refiner import PairRefiner
from services.t2i_refiner.rendering import Renderer, RenderSpec
from services.t2i_refiner.pair_review import PairReviewer, offline_review
from services.t2i_refiner.servicer import T2IRefinerServicer
from services.t2i_refiner.validation import RenderDefaults


async def build_refiner(settings: Settings, metrics: Metrics, *,
                        diffusers_renderer: Renderer | None = None) -> tuple[PairRefiner, list]:
    """The refiner and the closers it needs; `diffusers_renderer` injects a built pipeline."""
    store = Store.from_settings(settings.store)
    await asyncio.to_thread(store.ensure_bucket)
    renderers: dict[str, Renderer] = {"offline": OfflineRenderer()}
    if diffusers_renderer is not None:
        renderers["diffusers"] = diffusers_renderer
    elif settings.renderer == "diffusers":
        from services.t2i_refiner.diffusers_renderer import DiffusersRenderer
        renderers["diffusers"] = await asyncio.to_thread(
            DiffusersRenderer.load, settings.model_path, settings.device)

    prompt = load_prompt("services.t2i_refiner", "review")
    # The shared backend map: the configured VLM plus the offline reviewer.
    backends = Backends.build(settings.vlm, metrics=metrics, responders={"review": offline_review})
    reviewers = {name: PairReviewer(model, prompt, send_images=settings.vlm_send_images)
                 for name, model in backends.models.items()}
    closers = [backends.close]

    defaults = RenderDefaults(
        renderer=settings.renderer,
        reviewer=settings.vlm.backend,
        spec=RenderSpec(settings.width, settings.height, settings.steps, settings.guidance_scale,
                        settings.negative_prompt),
        refinement_rounds=settings.refinement_rounds)
    refiner = PairRefiner(renderers=renderers, reviewers=reviewers, store=AsyncStore(store),
                          defaults=defaults, batch_size=settings.batch_size,
                          max_batch_items=settings.max_batch_items, metrics=RenderMetrics(metrics))
    return refiner, closers


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    refiner, closers = await build_refiner(settings, metrics)
    servicer = T2IRefinerServicer(refiner)
    return Wiring([binding(t2i_refiner_pb2, "T2IRefinerService",
                           t2i_refiner_pb2_grpc.add_T2IRefinerServiceServicer_to_server, servicer)],
                  closers=closers)


def main() -> int:
    return service_main("t2i-refiner", Settings, build)
