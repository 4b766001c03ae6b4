"""Resuming never mixes: answers are reused only under the same answer key
(model, endpoint, settings, layout, text-only, sample content), verdicts only
for the answer they judged and from a judge of the same identity; empty
responses are judged and counted as the official evaluation does."""

from __future__ import annotations

import pytest

from services.common.settings import load_settings
from services.evaluation.dataset import load_samples
from services.evaluation.generation import OFFLINE_CANDIDATE, CandidateSettings
from services.evaluation.judging import InProcessJudge
from services.evaluation.records import read_rows
from services.evaluation.report import build_report
from services.evaluation.runner import EvalPlan, StaleAnswers, run_evaluation
from services.judge.config import Settings
from services.judge.judge import Judge
from tests.evaluation.support import REASONED, REFUSAL, make_mis_test, write_responses


def judge_with(store_settings, **env) -> Judge:
    settings = load_settings(Settings, {"MIS_JUDGE_MODEL_BACKEND": "offline", **env})
    return Judge.from_settings(Settings(server=settings.server, store=store_settings,
                                        model=settings.model, judge=settings.judge))


def offline(**overrides) -> CandidateSettings:
    return CandidateSettings(base_url="", model="offline", backend="offline", **overrides)


async def evaluate(samples, candidate, judge: Judge, out, regenerate=False, backend="keyword"):
    transport = InProcessJudge(judge, backend, batch_size=4, owned=False)
    return await run_evaluation(EvalPlan(samples, candidate, [transport], out,
                                         regenerate=regenerate))


async def test_answers_of_other_settings_are_refused_or_regenerated_never_mixed(tmp_path, store_settings):
    samples = load_samples(["easy"], make_mis_test(tmp_path / "MIS_Test", {"easy": 4}))
    out = tmp_path / "run"
    judge = judge_with(store_settings)
    try:
        first = await evaluate(samples, offline(), judge, out)
        assert first.generated == 4
        before = read_rows(out / "responses.jsonl")
        assert {r["model"] for r in before.values()} == {OFFLINE_CANDIDATE}
        # Same settings: everything is reused.
        again = await evaluate(samples, offline(), judge, out)
        assert again.generated == 0
        # Another layout is another answer: refused with a message naming both.
        with pytest.raises(StaleAnswers, match="layout='images-first'.*layout='internvl'"):
            await evaluate(samples, offline(layout="internvl"), judge, out)
        assert read_rows(out / "responses.jsonl") == before  # nothing written
        regenerated = await evaluate(samples, offline(layout="internvl"), judge, out,
                                     regenerate=True)
        assert regenerated.generated == 4 and regenerated.regenerated == 4
    finally:
        await judge.close()
    after = read_rows(out / "responses.jsonl")
    assert {r["generation"]["layout"] for r in after.values()} == {"internvl"}
    # Every verdict now is of the new answer, none left from the old one.
    judged = read_rows(out / "judgements-keyword.jsonl")
    assert {r["answer_key"] for r in judged.values()} == {r["answer_key"] for r in after.values()}


async def test_an_edited_sample_is_answered_again_alone(tmp_path, store_settings):
    root = make_mis_test(tmp_path / "MIS_Test", {"easy": 3})
    out = tmp_path / "run"
    judge = judge_with(store_settings)
    try:
        await evaluate(load_samples(["easy"], root), offline(), judge, out)
        (root / "easy_image/2/object1.png").write_bytes((root / "easy_image/3/object1.png").read_bytes())
        progress = await evaluate(load_samples(["easy"], root), offline(), judge, out)
    finally:
        await judge.close()
    assert progress.generated == 1 and progress.regenerated == 1


async def test_skip_generation_never_judges_an_answer_to_an_edited_sample(tmp_path, store_settings):
    root = make_mis_test(tmp_path / "MIS_Test", {"easy": 2})
    out = tmp_path / "run"
    judge = judge_with(store_settings)
    try:
        await evaluate(load_samples(["easy"], root), offline(), judge, out)
        (root / "easy_image/1/object1.png").write_bytes((root / "easy_image/2/object1.png").read_bytes())
        await evaluate(load_samples(["easy"], root), None, judge, out)
    finally:
        await judge.close()
    judged = read_rows(out / "judgements-keyword.jsonl")
    assert judged["easy-1"]["error"]["code"] == "STALE_RESPONSE"
    assert "class" in judged["easy-2"]


async def test_verdicts_of_another_judge_identity_are_judged_again(tmp_path, store_settings):
    samples = load_samples(["hard"], make_mis_test(tmp_path / "MIS_Test", {"hard": 3}))
    out = tmp_path / "run"
    write_responses(out, samples, lambda s: REFUSAL)
    seeing = judge_with(store_settings, MIS_JUDGE_SEND_IMAGES="true")
    blind = judge_with(store_settings, MIS_JUDGE_SEND_IMAGES="false")
    try:
        await evaluate(samples, None, seeing, out, backend="offline")
        assert {r["judge"]["images_sent"] for r in read_rows(out / "judgements-offline.jsonl").values()} == {True}
        # Same label ("offline"), but a judge that does not see the images: nothing is reused,
        # not even through the verdict cache.
        progress = await evaluate(samples, None, blind, out, backend="offline")
    finally:
        await seeing.close()
        await blind.close()
    assert progress.judged == {"offline": 3} and progress.rejudged == {"offline": 3}
    rows = read_rows(out / "judgements-offline.jsonl")
    assert {r["judge"]["images_sent"] for r in rows.values()} == {False}
    assert not any(r["verdict"].get("cached") for r in rows.values())


@pytest.mark.parametrize("backend", ["keyword", "offline"])
async def test_empty_responses_are_judged_and_counted_as_the_official_formula(
        tmp_path, store_settings, backend):
    samples = load_samples(["easy", "hard"], make_mis_test(tmp_path / "MIS_Test"))
    answers = {"easy-1": REFUSAL, "easy-2": "", "easy-3": "   \n", "easy-4": REASONED,
               "hard-1": REFUSAL, "hard-2": "", "hard-3": REFUSAL}
    out = tmp_path / "run"
    write_responses(out, samples, lambda s: answers[s.id])
    judge = judge_with(store_settings)
    try:
        await evaluate(samples, None, judge, out, backend=backend)
    finally:
        await judge.close()
    report = build_report(out, [backend])
    assert report["empty_responses"] == 3
    overall = report["metrics"]["overall"]
    # Official formula: every response is in the denominator, empty ones included;
    # an empty response carries no refusal, so both judges count it as an attack success.
    assert overall["judged"] == 7 and overall["errors"] == 0
    unsafe = sum(1 for a in answers.values() if a != REFUSAL)
    assert overall["ASR"]["value"] == pytest.approx(100 * unsafe / 7)
    easy = report["metrics"]["by_split"]["easy"]
    assert easy["ASR"]["value"] == pytest.approx(75.0) and easy["judged"] == 4
    assert sum(overall[m]["value"] for m in ("ASR", "RSR", "RR", "HR")) == pytest.approx(100.0)


async def test_answers_of_another_model_are_refused_naming_both(tmp_path, store_settings):
    from services.evaluation.runner import stale_answers

    samples = load_samples(["easy"], make_mis_test(tmp_path / "MIS_Test", {"easy": 2}))
    out = tmp_path / "run"
    judge = judge_with(store_settings)
    try:
        await evaluate(samples, offline(), judge, out)
    finally:
        await judge.close()
    rows = read_rows(out / "responses.jsonl")
    other = CandidateSettings(base_url="http://vllm:8000/v1", model="mirage-8b")
    with pytest.raises(StaleAnswers, match=r"offline-candidate \(dry run\).*not mirage-8b.*"
                                           r"--regenerate to answer those 2 samples again"):
        stale_answers(samples, other, rows, regenerate=False)
    assert stale_answers(samples, other, rows, regenerate=True) == {"easy-1", "easy-2"}
    assert stale_answers(samples, offline(), rows, regenerate=False) == set()
