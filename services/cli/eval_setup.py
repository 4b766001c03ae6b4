"""What an `mis eval run` talks to, built from its resolved options.

The candidate's settings, the MIS judges (the judge service, or the judge in this
process), and a `--benchmark`'s samples and official judge. Everything here runs
before the first sample is sent, so a missing option, an unreadable key file or a
store that does not answer stops the run with a PreflightError naming the option
(exit 2) instead of failing half-way through.
"""

from __future__ import annotations

import argparse
import os

from services.cli.eval_options import read_secret


def candidate_settings(args: argparse.Namespace):
    """The candidate to answer the samples (None with --skip-generation: the
    answers already in --out are judged); its endpoint is probed before the run."""
    from services.evaluation.generation import CandidateSettings
    from services.evaluation.preflight import PreflightError, check_endpoint

    if args.skip_generation:
        return None
    if args.candidate == "offline":
        return CandidateSettings(base_url="", model="offline", max_tokens=args.max_tokens,
                                 layout=args.prompt_layout, text_only=args.text_only,
                                 backend="offline")
    if not args.model_url or not args.model:
        raise PreflightError("--model-url and --model are required (or --candidate offline, "
                             "or --skip-generation)")
    api_key = (read_secret(args.api_key_file, "--api-key-file") if args.api_key_file
               else os.environ.get("MIS_EVAL_API_KEY", ""))
    check_endpoint(args.model_url)
    return CandidateSettings(base_url=args.model_url, model=args.model, api_key=api_key,
                             max_tokens=args.max_tokens, concurrency=args.concurrency,
                             timeout_seconds=args.timeout, text_only=args.text_only,
                             layout=args.prompt_layout)


def build_judges(args: argparse.Namespace) -> list:
    """An MIS run's judges, one per --judge-backend: clients of the judge service
    at --judge-address, else one in-process judge shared by every backend (the first owns it)."""
    from services.common.settings import SettingsError, load_settings
    from services.common.store import StoreError
    from services.evaluation.judging import InProcessJudge, ServiceJudge
    from services.evaluation.preflight import PreflightError
    from services.judge.client import JudgeClient
    from services.judge.config import Settings
    from services.judge.judge import Judge

    backends = args.judge_backends or [""]
    if args.judge_address:
        token = read_secret(args.judge_token_file, "--judge-token-file") if args.judge_token_file else None
        return [ServiceJudge(JudgeClient(args.judge_address, token=token,
                                         tls=args.judge_tls, ca=args.judge_ca,
                                         cert=args.judge_cert, key=args.judge_key),
                             backend, args.batch_size) for backend in backends]
    try:
        settings = load_settings(Settings)
        judge = Judge.from_settings(settings)
    except SettingsError as exc:
        raise PreflightError(f"judge settings: {exc}") from None
    except StoreError as exc:
        raise PreflightError(
            f"the judge's verdict cache needs the S3 store at {settings.store.endpoint}, which "
            f"did not answer ({str(exc).splitlines()[0][:200]}); start it (mis stack up), or "
            f"set MIS_JUDGE_CACHE=false to judge without a cache") from None
    return [InProcessJudge(judge, backend, args.batch_size, owned=index == 0)
            for index, backend in enumerate(backends)]


def build_judge_store(args: argparse.Namespace):
    """The store that caches a --benchmark's model judgements (None when the
    judge settings turn the cache off)."""
    from services.common.settings import SettingsError, load_settings
    from services.common.store import AsyncStore, Store, StoreError
    from services.evaluation.benchmarks.cache import JudgementCache
    from services.evaluation.preflight import PreflightError
    from services.judge.config import Settings

    try:
        settings = load_settings(Settings)
    except SettingsError as exc:
        raise PreflightError(f"judge settings: {exc}") from None
    if not settings.judge.cache_enabled:
        return JudgementCache(None)
    try:
        store = Store.from_settings(settings.store)
        store.ensure_bucket()
    except StoreError as exc:
        raise PreflightError(
            f"the judge's cache needs the S3 store at {settings.store.endpoint}, which did not "
            f"answer ({str(exc).splitlines()[0][:200]}); start it (mis stack up), or set "
            f"MIS_JUDGE_CACHE=false to judge without a cache") from None
    return JudgementCache(AsyncStore(store))


def benchmark_samples(args: argparse.Namespace):
    """A --benchmark run's benchmark and samples."""
    from services.evaluation.benchmarks import registry
    from services.evaluation.preflight import PreflightError

    bench = registry.benchmark(args.benchmark)
    if args.data is None:
        raise PreflightError(f"--benchmark {bench.name} needs --data, the release folder")
    return bench, bench.read(args.data, args.splits)


def benchmark_judge(args: argparse.Namespace, bench):
    """A --benchmark run's judge: its official one unless --judge says otherwise."""
    from services.evaluation.benchmarks import plan, registry
    from services.evaluation.preflight import check_endpoint

    kind = plan.judge_kind(bench, args.judge)
    endpoint = None
    if kind != registry.KEYWORD:
        endpoint = plan.endpoint_of(args.judge_url, args.judge_model, args.judge_api_key_file, kind)
        check_endpoint(endpoint.base_url)
    cache = build_judge_store(args) if endpoint is not None else None
    return plan.build_judge(kind, endpoint, cache, args.batch_size,
                            send_images=not args.judge_text_only, guided=args.judge_guided)
