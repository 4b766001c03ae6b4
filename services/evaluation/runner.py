"""The evaluation runner behind `mis eval run`.

1. Generate: every sample without a valid answer gets one from the candidate
   (written to responses.jsonl as it arrives; failures are written as error
   rows and retried on the next run).
2. Judge: every answer without a valid verdict from a judge is judged in
   batches (written to judgements-<judge>.jsonl); errors are rows too.
3. Report: metrics over the judged rows, report.json and report.html.

Stopping at any point and running again resumes, but never mixes:
- an answer is reused only under the same `answer_key` (model, endpoint,
  generation settings, layout, text-only flag and the sample's content hash).
  Answers from other settings are refused with a message, or, with
  `regenerate`, answered again;
- a verdict is reused only for the very answer it judged and from a judge of
  the same identity (backend, judge model, rubric version, images sent),
  learned from a fresh verdict of the current judge before anything is reused.

Empty responses are judged like any other, as the official evaluation does.

The MIS judge speaks the judge contract (JudgeItem in, Verdict out). The other
benchmarks' judges (refusal keywords, Llama Guard, SIUO's and MSSBench's
rubrics) are `AnswerJudge`s: they turn (sample, answer) pairs into judgement
rows themselves, and everything else here (resuming, identity, errors) is the
same for both.
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
from services.evaluation.generation import Candidate, CandidateSettings, answer_key
from services.evaluation.judging import AnswerJudge, JudgeTransport, verdict_identity
from services.evaluation.progress import Bars, NoBars
from services.evaluation.records import RowWriter, read_rows
from services.judge.client import judge_item
from services.judge.verdicts import class_name, verdict_to_json

log = logging.getLogger("mis.evaluation")
RESPONSES = "responses.jsonl"


def judgements_file(label: str) -> str:
    return f"judgements-{label}.jsonl"


class StaleAnswers(RuntimeError):
    """The run folder holds answers made with other settings; the message says which."""


@dataclass
class RunProgress:
    generated: int = 0
    generation_errors: int = 0
    regenerated: int = 0
    judged: dict[str, int] = field(default_factory=dict)
    judge_errors: dict[str, int] = field(default_factory=dict)
    rejudged: dict[str, int] = field(default_factory=dict)


def sample_fields(sample: EvalSample) -> dict:
    paths = [str(path) for path in sample.image_paths]
    fields = {"id": sample.id, "split": sample.split, "question": sample.question,
              "category": sample.category, "sub_category": sample.sub_category,
              "image_path1": paths[0] if paths else "",
              "image_path2": paths[1] if len(paths) > 1 else "",
              "content_sha256": sample.content_sha256}
    if len(paths) != 2:
        fields["image_paths"] = paths
    if sample.meta:
        fields["meta"] = dict(sample.meta)
    return fields


def stale_answers(samples: Sequence[EvalSample], settings: CandidateSettings,
                  rows: dict[str, dict], regenerate: bool) -> set[str]:
    """Ids whose stored answer was made otherwise; raises unless `regenerate`,
    when the settings (not only a sample's content) differ."""
    key = settings.generation_key()
    other = {}
    stale = set()
    for sample in samples:
        row = rows.get(sample.id)
        if row is None or "response" not in row:
            continue
        if row.get("answer_key") != answer_key(key, sample):
            stale.add(sample.id)
            if row.get("generation_key") != key:
                other.setdefault(row.get("model", "?"), row.get("generation", {}))
    if other and not regenerate:
        shown = "; ".join(f"{model} {settings_text(g)}" for model, g in other.items())
        raise StaleAnswers(
            f"the run folder holds answers made with other settings ({shown}), not "
            f"{settings.label} {settings_text(settings.generation())}; use a new --out, or "
            f"--regenerate to answer those {len(stale)} samples again")
    return stale


def settings_text(generation: dict) -> str:
    keys = ("base_url", "max_tokens", "layout", "text_only")
    return "(" + ", ".join(f"{k}={generation.get(k)!r}" for k in keys if k in generation) + ")"


async def generate(samples: Sequence[EvalSample], candidate: Candidate, out_dir: Path,
                   progress: RunProgress, bars: Bars = NoBars(), regenerate: bool = False) -> None:
    settings = candidate.settings
    rows = read_rows(out_dir / RESPONSES)
    stale = stale_answers(samples, settings, rows, regenerate)
    done = {i for i, row in rows.items() if "response" in row} - stale
    pending = [s for s in samples if s.id not in done]
    progress.regenerated = len(stale)
    log.info("generating", extra={"pending": len(pending), "done": len(done)})
    limit = asyncio.Semaphore(settings.concurrency)
    key = settings.generation_key()
    bars.start("generating", len(pending))

    async def one(sample: EvalSample, writer: RowWriter) -> None:
        async with limit:
            row = {**sample_fields(sample), "generation_key": key,
                   "answer_key": answer_key(key, sample), "generation": settings.generation()}
            try:
                row.update(await candidate.respond(sample))
                progress.generated += 1
            except (ModelError, OSError) as exc:
                row["error"] = {"code": type(exc).__name__, "message": str(exc)}
                progress.generation_errors += 1
            writer.write(row)
            bars.advance("generating")

    with RowWriter(out_dir / RESPONSES) as writer:
        await asyncio.gather(*(one(sample, writer) for sample in pending))


def judgement_row(response_row: dict, result: judge_pb2.JudgeItemResult) -> dict:
    row = {key: response_row[key] for key in ("id", "split", "category", "sub_category")}
    row["answer_key"] = response_row.get("answer_key", "")
    if result.HasField("verdict"):
        row["class"] = class_name(result.verdict.response_class)
        row["verdict"] = verdict_to_json(result.verdict)
        row["judge"] = verdict_identity(result.verdict)
    else:
        row["error"] = {"code": result.error.code or "UNKNOWN", "message": result.error.message,
                        "field": result.error.field}
    return row


def unjudgeable(sample: EvalSample, row: dict | None) -> judge_pb2.JudgeItemResult | None:
    """An explicit error when there is no answer to judge for `sample`, else None."""
    if row is None:
        code, message = "NO_RESPONSE", "no answer was generated for this sample"
    elif "response" not in row:
        code, message = "NO_RESPONSE", f"generation failed: {row['error']['message']}"
    elif row.get("content_sha256", sample.content_sha256) != sample.content_sha256:
        code, message = "STALE_RESPONSE", "the sample changed after it was answered"
    else:
        return None
    return judge_pb2.JudgeItemResult(item_id=sample.id,
                                     error=common_pb2.ItemError(code=code, message=message))


def response_item(sample: EvalSample, row: dict) -> judge_pb2.JudgeItem:
    return judge_item(sample.id, sample.question, list(sample.read_images()), row["response"],
                      sample.category, sample.sub_category)


class JudgingPass:
    """One judge over one run folder: what to judge, what to reuse, and the writes."""

    def __init__(self, samples: Sequence[EvalSample], judge: JudgeTransport, out_dir: Path,
                 progress: RunProgress, bars: Bars) -> None:
        self.samples, self.judge, self.progress, self.bars = samples, judge, progress, bars
        self.responses = read_rows(out_dir / RESPONSES)
        self.path = out_dir / judgements_file(judge.label)
        self.previous = read_rows(self.path)
        for counter in (progress.judged, progress.judge_errors, progress.rejudged):
            counter.setdefault(judge.label, 0)

    def reusable(self, sample: EvalSample, identity: dict | None) -> bool:
        row = self.previous.get(sample.id)
        response = self.responses.get(sample.id)
        return (row is not None and "class" in row and response is not None
                and "response" in response and identity is not None
                and row.get("answer_key", "") == response.get("answer_key", "")
                and row.get("judge") == identity
                and unjudgeable(sample, response) is None)

    async def results(self, chunk: Sequence[EvalSample]) -> list[dict]:
        rows: dict[str, dict] = {}
        to_judge = []
        for sample in chunk:
            response = self.responses.get(sample.id)
            error = unjudgeable(sample, response)
            if error is not None:
                rows[sample.id] = judgement_row(response or sample_fields(sample), error)
            else:
                to_judge.append((sample, response))
        if to_judge and isinstance(self.judge, AnswerJudge):
            judged = await self.judge.judge_answers(to_judge)
            for (sample, _), row in zip(to_judge, judged, strict=True):
                rows[sample.id] = row
        elif to_judge:
            results = await self.judge.judge_batch([response_item(s, r) for s, r in to_judge])
            for (sample, response), result in zip(to_judge, results, strict=True):
                rows[sample.id] = judgement_row(response, result)
        return [rows[sample.id] for sample in chunk]

    def record(self, writer: RowWriter, rows: list[dict]) -> None:
        for row in rows:
            key = "judged" if "class" in row else "judge_errors"
            getattr(self.progress, key)[self.judge.label] += 1
            if row["id"] in self.previous:
                self.progress.rejudged[self.judge.label] += 1
        writer.write_all(rows)
        self.bars.advance(f"judging ({self.judge.label})", len(rows))

    async def current_identity(self, writer: RowWriter, pending: list[EvalSample],
                               attempts: int = 3) -> dict | None:
        """Who judges now, from a fresh verdict, before anything is reused; probed
        samples leave `pending` (their new rows are written). None when no probe
        got a verdict: then nothing is reused."""
        judgeable = [s for s in pending if unjudgeable(s, self.responses.get(s.id)) is None]
        for probe in judgeable[:attempts]:
            row = (await self.results([probe]))[0]
            self.record(writer, [row])
            pending.remove(probe)
            if "judge" in row:
                return row["judge"]
        return None

    async def run(self) -> None:
        label = self.judge.label
        with RowWriter(self.path) as writer:
            pending = list(self.samples)
            identity = None
            if any(s.id in self.previous for s in pending):
                identity = await self.current_identity(writer, pending)
            pending = [s for s in pending if not self.reusable(s, identity)]
            log.info("judging", extra={"judge": label, "pending": len(pending)})
            self.bars.start(f"judging ({label})", len(pending))
            for start in range(0, len(pending), self.judge.batch_size):
                self.record(writer, await self.results(pending[start:start + self.judge.batch_size]))


async def judge_responses(samples: Sequence[EvalSample], judge: JudgeTransport, out_dir: Path,
                          progress: RunProgress, bars: Bars = NoBars()) -> None:
    await JudgingPass(samples, judge, out_dir, progress, bars).run()


@dataclass
class EvalPlan:
    samples: Sequence[EvalSample]
    candidate: CandidateSettings | None
    judges: Sequence[JudgeTransport]
    out_dir: Path
    model_label: str = ""
    regenerate: bool = False
    bars: Bars = field(default_factory=NoBars)


async def run_evaluation(plan: EvalPlan) -> RunProgress:
    """Generate, judge with every judge, and leave the rows in `plan.out_dir`."""
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    progress = RunProgress()
    started = time.perf_counter()
    if plan.candidate is not None:
        candidate = Candidate(plan.candidate)
        try:
            await generate(plan.samples, candidate, plan.out_dir, progress, plan.bars,
                           plan.regenerate)
        finally:
            await candidate.close()
    for judge in plan.judges:
        await judge_responses(plan.samples, judge, plan.out_dir, progress, plan.bars)
    log.info("evaluation done", extra={"seconds": round(time.perf_counter() - started, 2),
                                       "generated": progress.generated,
                                       "judged": progress.judged})
    return progress
