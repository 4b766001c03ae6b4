"""Self-refined text-to-image (MIS-facts section 3.3), as plain Python.

For a batch of neutral instructions: draw one image per object phrase, store
both, ask the VLM whether the pair fits the instruction, and redraw the pairs
it finds not aligned with the prompts it proposed, for the configured number
of refinement rounds. Images of all pairs in a round are drawn together in
batches of `batch_size`. Every round's prompts, seeds, settings, image keys,
review and costs are kept. Nothing is held between calls, so the service
scales by adding replicas.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Mapping

from mis.v1 import common_pb2, t2i_refiner_pb2
from services.common.errors import InvalidArgument, require
from services.common.info import stage_info
from services.common.provenance import provenance
from services.common.store import AsyncStore
from services.common.model_stage import item_error
from services.t2i_refiner.metrics import RenderMetrics
from services.t2i_refiner.rendering import Renderer, RenderSpec, derive_seed
from services.t2i_refiner.pair_review import PairReviewer, PairUnderReview, ReviewOutcome
from services.t2i_refiner.validation import (RenderDefaults, check_instruction, check_work,
                                              render_info, resolve_options)

REVIEW_NAMES = {value: name.removeprefix("REVIEW_").lower()
                for name, value in t2i_refiner_pb2.Review.items()}


@dataclass
class PairJob:
    """One instruction on its way through the rounds."""

    index: int
    instruction: common_pb2.NeutralInstruction
    prompts: tuple[str, str]
    rounds: list[t2i_refiner_pb2.RenderRound] = field(default_factory=list)
    # The last round's PNG bytes, for the review (earlier rounds live in the store).
    latest_images: tuple[bytes, bytes] = (b"", b"")
    rejection: common_pb2.Rejection | None = None


class PairRefiner:
    """`batch(RenderPairBatchRequest) -> RenderPairBatchResponse`."""

    def __init__(self, *, renderers: Mapping[str, Renderer], reviewers: Mapping[str, PairReviewer],
                 store: AsyncStore, defaults: RenderDefaults, batch_size: int,
                 max_batch_items: int, metrics: RenderMetrics) -> None:
        self.renderers = dict(renderers)
        self.reviewers = dict(reviewers)
        self.store = store
        self.defaults = defaults
        self.batch_size = batch_size
        self.max_batch_items = max_batch_items
        self.metrics = metrics
        # One pipeline call at a time per renderer: a GPU pipeline is not
        # re-entrant, and calls from concurrent RPCs interleave batch by batch.
        self._locks = {name: asyncio.Lock() for name in self.renderers}

    def info(self) -> common_pb2.StageInfo:
        """What this replica serves: its reviewers as the backends, its renderers and sizes."""
        info = stage_info("t2i-refiner", [self.reviewers], self.defaults.reviewer,
                          max_batch_items=self.max_batch_items)
        info.MergeFrom(render_info(self.defaults, self.renderers))
        return info

    async def batch(self, request: t2i_refiner_pb2.RenderPairBatchRequest
                    ) -> t2i_refiner_pb2.RenderPairBatchResponse:
        require(len(request.instructions) > 0, "instructions", "at least one instruction is required")
        require(len(request.instructions) <= self.max_batch_items, "instructions",
                f"{len(request.instructions)} instructions, over the limit of {self.max_batch_items}")
        options = resolve_options(request.options, self.defaults, renderers=self.renderers.keys(),
                                  reviewers=self.reviewers.keys())
        check_work(len(request.instructions), options)
        results = [t2i_refiner_pb2.RenderPairResult(instruction_id=item.id)
                   for item in request.instructions]
        jobs: list[PairJob] = []
        seen: set[str] = set()
        for index, instruction in enumerate(request.instructions):
            where = f"instructions[{index}]"
            try:
                check_instruction(instruction, where)
                require(instruction.id not in seen, f"{where}.id",
                        f"duplicate id {instruction.id!r} in this batch")
            except InvalidArgument as exc:
                results[index].error.CopyFrom(item_error(exc))
                self.metrics.items.labels("refine", "invalid").inc()
                continue
            seen.add(instruction.id)
            jobs.append(PairJob(index, instruction, (instruction.object1, instruction.object2)))

        renderer = self.renderers[options.renderer]
        reviewer = self.reviewers[options.reviewer]
        active = jobs
        for round_number in range(options.refinement_rounds + 1):
            if not active:
                break
            await self.draw_round(renderer, active, round_number, options.spec, options.seed)
            if options.skip_review:
                for job in active:
                    job.rounds[-1].review = t2i_refiner_pb2.REVIEW_SKIPPED
                break
            outcomes = await asyncio.gather(*(self.review(reviewer, job) for job in active))
            last_round = round_number == options.refinement_rounds
            active = [job for job, outcome in zip(active, outcomes)
                      if outcome.review == t2i_refiner_pb2.REVIEW_NOT_ALIGNED and not last_round]
            for job in active:
                job.prompts = (job.rounds[-1].refined_prompt1, job.rounds[-1].refined_prompt2)

        for job in jobs:
            result = results[job.index]
            result.rounds.extend(job.rounds)
            final = job.rounds[-1]
            result.pair.CopyFrom(common_pb2.ImagePair(image1=final.image1, image2=final.image2,
                                                      prompt1=final.prompt1, prompt2=final.prompt2))
            if job.rejection is not None:
                result.rejection.CopyFrom(job.rejection)
            self.metrics.items.labels("refine", "rejected" if job.rejection else "ok").inc()
        return t2i_refiner_pb2.RenderPairBatchResponse(results=results)

    async def draw_round(self, renderer: Renderer, jobs: list[PairJob], round_number: int,
                         spec: RenderSpec, base_seed: int) -> None:
        """Draw both images of every job, `batch_size` images per pipeline call."""
        images = [(job, slot, job.prompts[slot],
                   derive_seed(base_seed, job.instruction.id, round_number, slot))
                  for job in jobs for slot in (0, 1)]
        drawings = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            async with self._locks[renderer.name]:
                drawn = await asyncio.to_thread(renderer.draw, [c[2] for c in chunk],
                                                [c[3] for c in chunk], spec)
            self.metrics.images.labels(renderer.name).inc(len(drawn))
            self.metrics.batch_seconds.labels(renderer.name).observe(sum(d.seconds for d in drawn))
            self.metrics.gpu_seconds.inc(sum(d.gpu_seconds for d in drawn))
            drawings.extend(drawn)
        refs = await asyncio.gather(*(self.store.put_image(d.png) for d in drawings))

        for position, job in enumerate(jobs):
            first, second = 2 * position, 2 * position + 1
            seed1, seed2 = images[first][3], images[second][3]
            cost1, cost2 = drawings[first], drawings[second]
            record = provenance(
                common_pb2.STAGE_REFINE, backend=renderer.name, model=renderer.model,
                parameters={**spec.parameters(), "seed1": seed1, "seed2": seed2,
                            "base_seed": base_seed, "device": renderer.device,
                            "batch_size": self.batch_size, "round": round_number},
                latency_seconds=cost1.seconds + cost2.seconds,
                gpu_seconds=cost1.gpu_seconds + cost2.gpu_seconds, attempts=1)
            job.rounds.append(t2i_refiner_pb2.RenderRound(
                round=round_number, prompt1=job.prompts[0], prompt2=job.prompts[1],
                seed1=seed1, seed2=seed2, steps=spec.steps, guidance_scale=spec.guidance_scale,
                width=spec.width, height=spec.height, negative_prompt=spec.negative_prompt,
                image1=refs[first], image2=refs[second], render_provenance=record))
            job.latest_images = (cost1.png, cost2.png)

    async def review(self, reviewer: PairReviewer, job: PairJob) -> ReviewOutcome:
        current = job.rounds[-1]
        instruction = job.instruction
        image1, image2 = job.latest_images
        outcome = await reviewer.review(PairUnderReview(
            category=instruction.category.name, instruction=instruction.instruction,
            query=instruction.placeholder_query, object1=instruction.object1,
            object2=instruction.object2, prompt1=current.prompt1, prompt2=current.prompt2,
            image1=image1, image2=image2))
        current.review = outcome.review
        current.refined_prompt1 = outcome.refined_prompt1
        current.refined_prompt2 = outcome.refined_prompt2
        if outcome.provenance is not None:
            current.review_provenance.CopyFrom(outcome.provenance)
        if outcome.unavailable:
            job.rejection = common_pb2.Rejection(
                reason=common_pb2.REJECTION_REASON_MODEL_UNAVAILABLE, detail=outcome.unavailable)
        self.metrics.reviews.labels(REVIEW_NAMES.get(outcome.review, "unknown")).inc()
        return outcome
