"""JailbreakV-28K (Luo et al., COLM 2024): 28,000 jailbreak text-image pairs
(20,000 transferred from LLM jailbreaks, 8,000 image-based) over RedTeam-2K's
harmful queries in 16 safety policies, judged by Llama Guard.

Layout (huggingface.co/datasets/JailbreakV-28K/JailBreakV-28k, dataset card
"Dataset Details" at commit 6a25690c; the card's configs at c6541428 name
`JailBreakV_28K.csv` and `mini_JailBreakV_28K.csv`): `--data` is the
release's `JailBreakV_28K` folder, holding

    JailBreakV_28K.csv        id, jailbreak_query, redteam_query, format, policy,
    mini_JailBreakV_28K.csv   image_path, from, selected_mini, transfer_from_llm
    <image_path>              e.g. figstep/query_..., llm_transfer_attack/...

Subsets (`--split`): `full`, `mini` (default full). Samples are split by
attack `format` (template, persuade, logic, figstep, query-relevant) and
categorised by `policy`. The candidate sees `jailbreak_query` with the image;
the release's evaluation judges (jailbreak_query, response) with Llama Guard.
"""

from __future__ import annotations

from pathlib import Path

from services.evaluation.benchmarks.release import choose, item, read_csv, unique
from services.evaluation.dataset import DatasetError, EvalSample

NAME = "jailbreakv-28k"
SUBSETS = {"full": "JailBreakV_28K.csv", "mini": "mini_JailBreakV_28K.csv"}
COLUMNS = ("id", "jailbreak_query", "redteam_query", "format", "policy", "image_path")


def read(root: Path, subsets: list[str] | None = None) -> list[EvalSample]:
    samples: list[EvalSample] = []
    for subset in choose(subsets, tuple(SUBSETS), ("full",), "JailbreakV-28K"):
        path = root / SUBSETS[subset]
        for index, row in enumerate(read_csv(path, COLUMNS)):
            where = f"{path}: row {index + 2}"  # the header is row 1
            for name in COLUMNS:
                if not (row.get(name) or "").strip():
                    raise DatasetError(f"{where}: {name}: required, not empty")
            samples.append(item(
                benchmark=NAME, number=row["id"].strip(), split=row["format"],
                question=row["jailbreak_query"], category=row["policy"], root=root,
                image=row["image_path"], where=where,
                meta={"redteam_query": row["redteam_query"], "source": row.get("from", ""),
                      "transfer_from_llm": row.get("transfer_from_llm", "")}))
    return unique(samples, root)
