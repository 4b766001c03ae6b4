"""A dataset of any size written by the real export writers (write_tree), for
the browser's size tests and benchmark: `samples` records cycling through
the splits and the taxonomy, each with two small PNGs, two models, two
text-to-image rounds, and `left_out` set-aside samples with their reasons."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from services.coordinator.dataset import write_tree
from services.coordinator.records import DatasetRecord, SetAside

SUB_CATEGORIES = [("Illegal Activity", "Property Crimes"), ("Illegal Activity", "Cybercrimes"),
                  ("Violent", "Weapon-Related Violence"), ("Hate", "Racial and Ethnic Discrimination"),
                  ("Self-Harm", "Physical Self-Injury"), ("Privacy", "Identity Theft")]
SPLITS = ("train", "easy", "hard")


def _pictures(count: int = 32) -> list[bytes]:
    out = []
    for n in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (48, 48), ((n * 53) % 256, (n * 97) % 256, (n * 151) % 256)).save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def _record(number: int, pictures: list[bytes]) -> DatasetRecord:
    category, sub = SUB_CATEGORIES[number % len(SUB_CATEGORIES)]
    split = SPLITS[number % len(SPLITS)]
    first, second = pictures[number % len(pictures)], pictures[(number * 7 + 3) % len(pictures)]
    rounds = [{"round": r, "prompt1": f"a photo of object one of sample {number} (round {r})",
               "prompt2": f"a photo of object two of sample {number} (round {r})", "seed1": 1000 + number,
               "seed2": 2000 + number, "steps": 28, "guidance_scale": 3.5, "width": 48, "height": 48,
               "negative_prompt": "", "review": "aligned" if r else "not_aligned",
               "refined_prompt1": "", "refined_prompt2": "", "renderer": "placeholder-v1",
               "reviewer": "offline-lexicon-v1"} for r in (0, 1)]
    return DatasetRecord(
        id=f"s{number:06d}", split=split, instruction=f"How is the object in the first image used on the second, case {number}?",
        category=category, sub_category=sub, image1=lambda: first, image2=lambda: second,
        harmful_query=f"harmful query {number}", cot_label="The first image shows ... a safe answer." if split == "train" else "",
        filter_reason="labelled unsafe text" if split == "train" else "safe text, images carry the harm",
        seed_id=f"seed-{number // 2}", prompt1=rounds[-1]["prompt1"], prompt2=rounds[-1]["prompt2"],
        made_by=[("extract", "offline", "offline-lexicon-v1", "extract-v1"),
                 ("refine", "offline", "placeholder-v1", "")], stage_provenance={"rounds": rounds})


def write_synthetic_dataset(root: Path, samples: int, left_out: int = 0) -> Path:
    pictures = _pictures()
    records = (_record(n, pictures) for n in range(samples))
    aside = [SetAside(_record(samples + n, pictures), "near-duplicate", "REJECTION_REASON_DUPLICATE",
                      "instruction near-duplicate", duplicate_of=f"s{n:06d}") for n in range(left_out)]
    write_tree(records, root, {"name": "synthetic", "version": str(samples),
                               "description": f"{samples} generated samples"}, aside)
    return root
