"""What `mis eval run --benchmark NAME` builds besides the MIS path: the
benchmark's samples and its judge, from the run's options.

    --judge keyword|llama-guard|siuo|mssbench|mm-safetybench
                                        (default: the benchmark's official one)
    --judge-url URL --judge-model NAME [--judge-api-key-file FILE] [--judge-text-only]
    [--judge-guided]

The model judges (Llama Guard; SIUO's, MSSBench's and MM-SafetyBench's
prompts) speak to any OpenAI-compatible endpoint: Llama Guard 3 8B served by
vLLM, or GPT-4o. `--judge-guided` tells them the endpoint is vLLM, so they ask
for their answer format as structured output. Their judgements are cached in
the S3 store when MIS_JUDGE_CACHE is on (the store of MIS_S3_*), as the MIS
judge's are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ModelEndpointSettings
from services.common.models import OpenAIChatModel
from services.evaluation.benchmarks import registry
from services.evaluation.benchmarks.cache import JudgementCache
from services.evaluation.benchmarks.judges import (KeywordJudge, LlamaGuardJudge, ModelJudge,
                                                   SafeRateJudge, ScenarioJudge,
                                                   SituationalJudge)
from services.evaluation.preflight import PreflightError

MODEL_JUDGES: dict[str, type[ModelJudge]] = {registry.LLAMA_GUARD: LlamaGuardJudge,
                                             registry.SIUO_JUDGE: SafeRateJudge,
                                             registry.MSSBENCH_JUDGE: SituationalJudge,
                                             registry.MM_SAFETYBENCH_JUDGE: ScenarioJudge}
JUDGE_KINDS = (registry.KEYWORD, *MODEL_JUDGES)


@dataclass(frozen=True)
class JudgeEndpoint:
    base_url: str
    model: str
    api_key: str = ""
    concurrency: int = 8
    timeout_seconds: float = 120.0
    max_attempts: int = 4

    def settings(self) -> ModelEndpointSettings:
        return ModelEndpointSettings(backend="openai", base_url=self.base_url, model=self.model,
                                     api_key=self.api_key, api_key_file=None,
                                     concurrency=self.concurrency,
                                     timeout_seconds=self.timeout_seconds,
                                     max_attempts=self.max_attempts, temperature=0.0,
                                     max_tokens=512)


def judge_kind(bench: registry.Benchmark, asked: str | None) -> str:
    kind = asked or bench.official_judge
    if kind not in bench.judges:
        raise PreflightError(f"--judge {kind!r}: {bench.title} is judged by "
                             f"{' or '.join(bench.judges)}")
    return kind


def endpoint_of(url: str | None, model: str | None, key_file: Path | None,
                kind: str) -> JudgeEndpoint:
    if not url or not model:
        raise PreflightError(f"--judge {kind} needs --judge-url and --judge-model (an "
                             f"OpenAI-compatible endpoint serving the judge model)")
    if key_file is not None:
        try:
            key = key_file.read_text().strip()
        except OSError as exc:
            raise PreflightError(f"--judge-api-key-file {key_file}: cannot read: "
                                 f"{exc.strerror}") from None
    else:
        key = os.environ.get("MIS_EVAL_JUDGE_API_KEY", "")
    return JudgeEndpoint(base_url=url, model=model, api_key=key)


def build_judge(kind: str, endpoint: JudgeEndpoint | None, cache: JudgementCache | None,
                batch_size: int = 16, send_images: bool = True, guided: bool = False):
    if kind == registry.KEYWORD:
        return KeywordJudge()
    if endpoint is None:
        raise PreflightError(f"--judge {kind} needs --judge-url and --judge-model")
    chat = OpenAIChatModel(endpoint.settings())
    if kind == registry.SIUO_JUDGE:
        return SafeRateJudge(chat, cache, batch_size, guided, send_images=send_images)
    return MODEL_JUDGES[kind](chat, cache, batch_size, guided)
