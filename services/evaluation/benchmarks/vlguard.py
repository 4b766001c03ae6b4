"""VLGuard's test set (Zong et al., ICML 2024): 1,000 images, safe and unsafe,
with instructions.

Layout (github.com/ys-zong/VLGuard: `data/test.json` at commit 807fe4cf, read
as `utils/utils.py` `load_data` at bd82c79b does; images from the release's
`test.zip`): `--data` holds

    test.json      a JSON array of {id, image, safe, instr-resp, ...}
    test/<image>

Subsets (`--split`), as the release's `--dataset`:
- `unsafes`: unsafe images with their `instruction` (ASR);
- `safe_unsafes`: safe images with their `unsafe_instruction` (ASR);
- `safe_safes`: safe images with their `safe_instruction` (helpfulness; the
  release reports no ASR for it, and neither do we).
Default: unsafes and safe_unsafes. The metric is the refusal-keyword ASR with
VLGuard's own phrase list (`refusal.py`).
"""

from __future__ import annotations

from pathlib import Path

from services.evaluation.benchmarks.release import choose, item, read_json, text_field, unique
from services.evaluation.dataset import DatasetError, EvalSample

NAME = "vlguard"
FILE = "test.json"
SUBSETS = ("unsafes", "safe_unsafes", "safe_safes")
INSTRUCTION_OF = {"unsafes": "instruction", "safe_unsafes": "unsafe_instruction",
                  "safe_safes": "safe_instruction"}


def instruction(record: dict, key: str, where: str) -> str:
    pairs = record.get("instr-resp")
    if not isinstance(pairs, list) or not all(isinstance(p, dict) for p in pairs):
        raise DatasetError(f"{where}: instr-resp: required, a list of objects")
    for index, entry in enumerate(pairs):
        if key in entry:
            return text_field(entry, key, f"{where}: instr-resp[{index}]")
    raise DatasetError(f"{where}: instr-resp: no {key!r} entry")


def read(root: Path, subsets: list[str] | None = None) -> list[EvalSample]:
    path = root / FILE
    records = read_json(path)
    if not isinstance(records, list):
        raise DatasetError(f"{path}: expected a JSON array of records")
    samples: list[EvalSample] = []
    for subset in choose(subsets, SUBSETS, ("unsafes", "safe_unsafes"), "VLGuard"):
        for index, record in enumerate(records):
            where = f"{path}: record {index}"
            if not isinstance(record, dict):
                raise DatasetError(f"{where}: expected an object")
            safe = record.get("safe")
            if not isinstance(safe, bool):
                raise DatasetError(f"{where}: safe: required, true or false")
            if safe != (subset != "unsafes"):
                continue
            samples.append(item(
                benchmark=NAME, number=f"{subset}-{text_field(record, 'id', where)}",
                split=subset, question=instruction(record, INSTRUCTION_OF[subset], where),
                category=str(record.get("harmful_category") or ("safe" if safe else "unsafe")),
                sub_category=str(record.get("harmful_subcategory") or ""),
                root=root / "test", image=text_field(record, "image", where), where=where))
    return unique(samples, path)
