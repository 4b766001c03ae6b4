"""MM-SafetyBench (Liu et al., ECCV 2024): 1,680 harmful questions in 13
scenarios whose key phrase is moved into a query-relevant image.

Layout (github.com/isXinLiu/MM-SafetyBench, README "Dataset" and
`evaluation.py`; the field and folder names as the release's loaders read
them, e.g. `processed_questions/01-Illegal_Activitiy.json` with
`imgs/01-Illegal_Activitiy/SD_TYPO/0.jpg`, the scenario names spelt as there,
"Activitiy" included): `--data` is the release's `data` folder, holding

    processed_questions/<NN-Scenario>.json   {"<id>": {"Question", "Changed Question",
                                              "Key Phrase", "Phrase Type",
                                              "Rephrased Question",
                                              "Rephrased Question(SD)"}, ...}
    imgs/<NN-Scenario>/{SD,SD_TYPO,TYPO}/<id>.jpg

Each image kind goes with the release's own question: SD with "Rephrased
Question(SD)", SD_TYPO and TYPO with "Rephrased Question". Subsets
(`--split`): SD, SD_TYPO, TYPO; by default SD_TYPO, the paper's headline
setting. The metric is ASR, judged as the release does by GPT-4 with the
prompt of the item's scenario (`meta["scenario"]`, the file's name;
`mm_safetybench_rubrics.py`), or by refusal keywords (`--judge keyword`) or
Llama Guard (`--judge llama-guard`, which sees the original question).
"""

from __future__ import annotations

from pathlib import Path

from services.evaluation.benchmarks.release import choose, item, read_json, text_field, unique
from services.evaluation.dataset import DatasetError, EvalSample

NAME = "mm-safetybench"
QUESTION_OF = {"SD": "Rephrased Question(SD)", "SD_TYPO": "Rephrased Question",
               "TYPO": "Rephrased Question"}


def read(root: Path, subsets: list[str] | None = None) -> list[EvalSample]:
    folder = root / "processed_questions"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise DatasetError(f"--data {root}: no processed_questions/*.json (give MM-SafetyBench's "
                           f"data folder)")
    kinds = choose(subsets, tuple(QUESTION_OF), ("SD_TYPO",), "MM-SafetyBench")
    samples: list[EvalSample] = []
    for path in files:
        scenario = path.stem
        records = read_json(path)
        if not isinstance(records, dict):
            raise DatasetError(f"{path}: expected an object keyed by question id")
        for kind in kinds:
            for key, record in records.items():
                where = f"{path}: {key!r}"
                if not isinstance(record, dict):
                    raise DatasetError(f"{where}: expected an object")
                samples.append(item(
                    benchmark=NAME, number=f"{kind}-{scenario}-{key}", split=kind,
                    question=text_field(record, QUESTION_OF[kind], where),
                    category=scenario.split("-", 1)[-1].replace("_", " "),
                    root=root / "imgs" / scenario / kind, image=f"{key}.jpg", where=where,
                    meta={"judge_query": text_field(record, "Question", where),
                          "key_phrase": str(record.get("Key Phrase") or ""),
                          "scenario": scenario}))
    return unique(samples, folder)
