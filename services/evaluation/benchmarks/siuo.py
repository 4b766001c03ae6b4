"""SIUO ("Safe Inputs but Unsafe Output", Wang et al., NAACL 2025): 167
image-question pairs, each safe alone, unsafe together, in 9 safety domains.

Layout (github.com/sinwang20/SIUO, `data/siuo_gen.json` at commit f992c275,
fields as in `data/example_siuo_gen.json` at c280648e; images from the
release's archive in `data/images/`): `--data` is that `data` folder, holding

    siuo_gen.json   a JSON array of {question_id, image, question, category,
                    safety_warning, reference_answer}
    images/<image>

The generation task's metric is the safe rate judged by GPT-4o against each
item's safety warning (`judges.SafeRateJudge`); the warning and reference
answer travel in `meta` for that judge.
"""

from __future__ import annotations

from pathlib import Path

from services.evaluation.benchmarks.release import item, read_json, text_field, unique
from services.evaluation.dataset import DatasetError, EvalSample

NAME = "siuo"
FILE = "siuo_gen.json"


def read(root: Path, subsets: list[str] | None = None) -> list[EvalSample]:
    if subsets:
        raise DatasetError("--split: SIUO has no subsets to choose")
    path = root / FILE
    records = read_json(path)
    if not isinstance(records, list):
        raise DatasetError(f"{path}: expected a JSON array of records")
    samples = []
    for index, record in enumerate(records):
        where = f"{path}: record {index}"
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected an object")
        number = record.get("question_id")
        if isinstance(number, bool) or not isinstance(number, (int, str)) or number == "":
            raise DatasetError(f"{where}: question_id: required, an integer")
        samples.append(item(
            benchmark=NAME, number=str(number), split="gen",
            question=text_field(record, "question", where),
            category=text_field(record, "category", where), root=root / "images",
            image=text_field(record, "image", where), where=where,
            meta={"safety_warning": text_field(record, "safety_warning", where),
                  "reference_answer": str(record.get("reference_answer") or "")}))
    return unique(samples, path)
