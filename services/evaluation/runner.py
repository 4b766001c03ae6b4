"""The evaluation runner behind `mis eval run`.

1. Generate: every sample without a response gets one from the candidate
   (written to responses.jsonl as it arrives; failures are written as error
   rows and retried on the next run).
2. Judge: every response without a verdict from a judge is judged in batches
   (written to judgements-<judge>.jsonl); errors are rows too.
3. Report: metrics over the judged rows, report.json and report.html.

Stopping at any point and running again resumes: ids already answered are
skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from mis.v1 import common_pb2, judge_pb2
from services.common.models import ModelError
from services.evaluation.dataset import EvalSample
from services.evaluation.generation import Candidate, CandidateSettings
from services.evaluation.judging import JudgeTransport
from services.evaluation.records import RowWriter, read_rows
from services.judge.client import judge_item
from services.judge.verdicts import class_name, verdict_to_json

log = logging.getLogger("mis.evaluation")
RESPONSES = "responses.jsonl"


def judgements_file(label: str) -> str:
    return f"judgements-{label}.jsonl"


@dataclass
class RunProgress:
    generated: int = 0
    generation_errors: int = 0
    judged: dict[str, int] = field(default_factory=dict)
    judge_errors: dict[str, int] = field(default_factory=dict)


def sample_fields(sample: EvalSample) -> dict:
    return {"id": sample.id, "split": sample.split, "question": sample.question,
            "category": sample.category, "sub_category": sample.sub_category,
            "image_path1": str(sample.image_paths[0]), "image_path2": str(sample.image_paths[1])}


async def generate(samples: Sequence[EvalSample], candidate: Candidate, out_dir: Path,
                   progress: RunProgress) -> None:
    done = {i for i, row in read_rows(out_dir / RESPONSES).items() if "response" in row}
    pending = [s for s in samples if s.id not in done]
    log.info("generating", extra={"pending": len(pending), "done": len(done)})
    limit = asyncio.Semaphore(candidate.settings.concurrency)

    async def one(sample: EvalSample, writer: RowWriter) -> None:
        async with limit:
            row = sample_fields(sample)
            try:
                row.update(await candidate.respond(sample))
                progress.generated += 1
            except (ModelError, OSError) as exc:
                row["error"] = {"code": type(exc).__name__, "message": str(exc)}
                progress.generation_errors += 1
            writer.write(row)

    with RowWriter(out_dir / RESPONSES) as writer:
        await asyncio.gather(*(one(sample, writer) for sample in pending))


def judgement_row(response_row: dict, result: judge_pb2.JudgeItemResult) -> dict:
    row = {key: response_row[key] for key in ("id", "split", "category", "sub_category")}
    if result.HasField("verdict"):
        row["class"] = class_name(result.verdict.response_class)
        row["verdict"] = verdict_to_json(result.verdict)
    else:
        row["error"] = {"code": result.error.code or "UNKNOWN", "message": result.error.message,
                        "field": result.error.field}
    return row


async def judge_responses(samples: Sequence[EvalSample], judge: JudgeTransport, out_dir: Path,
                          progress: RunProgress) -> None:
    responses = read_rows(out_dir / RESPONSES)
    path = out_dir / judgements_file(judge.label)
    judged = {i for i, row in read_rows(path).items() if "class" in row}
    by_id = {s.id: s for s in samples}
    pending = [by_id[i] for i in by_id if i not in judged and i in responses]
    log.info("judging", extra={"judge": judge.label, "pending": len(pending)})
    progress.judged.setdefault(judge.label, 0)
    progress.judge_errors.setdefault(judge.label, 0)
    with RowWriter(path) as writer:
        for start in range(0, len(pending), judge.batch_size):
            chunk = pending[start:start + judge.batch_size]
            to_judge, rows = [], []
            for sample in chunk:
                response_row = responses[sample.id]
                if "response" not in response_row:
                    # No response to judge: say so rather than leave the row out.
                    rows.append(judgement_row(response_row, judge_pb2.JudgeItemResult(
                        item_id=sample.id, error=common_pb2.ItemError(
                            code="NO_RESPONSE",
                            message=f"generation failed: {response_row['error']['message']}"))))
                    continue
                to_judge.append((sample, response_row))
            if to_judge:
                items = [judge_item(sample.id, sample.question, list(sample.read_images()),
                                    row["response"], sample.category, sample.sub_category)
                         for sample, row in to_judge]
                results = await judge.judge_batch(items)
                rows += [judgement_row(row, result)
                         for (_, row), result in zip(to_judge, results, strict=True)]
            for row in rows:
                key = "judged" if "class" in row else "judge_errors"
                getattr(progress, key)[judge.label] += 1
            writer.write_all(rows)


@dataclass
class EvalPlan:
    samples: Sequence[EvalSample]
    candidate: CandidateSettings | None
    judges: Sequence[JudgeTransport]
    out_dir: Path
    model_label: str = ""


async def run_evaluation(plan: EvalPlan) -> RunProgress:
    """Generate, judge with every judge, and leave the rows in `plan.out_dir`."""
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    progress = RunProgress()
    started = time.perf_counter()
    if plan.candidate is not None:
        candidate = Candidate(plan.candidate)
        try:
            await generate(plan.samples, candidate, plan.out_dir, progress)
        finally:
            await candidate.close()
    for judge in plan.judges:
        await judge_responses(plan.samples, judge, plan.out_dir, progress)
    log.info("evaluation done", extra={"seconds": round(time.perf_counter() - started, 2),
                                       "generated": progress.generated,
                                       "judged": progress.judged})
    return progress
