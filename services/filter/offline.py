"""The offline filter: text label and image judgement from a lexicon, for dry runs.

The text is Unsafe when explicit harm words survived detox; the images are
explicitly harmful when an object phrase or drawing prompt names an object
that is harmful on sight. Together these route deterministically to train,
easy and hard, as the paper's GPT-4o labels do.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from services.common.models import ChatRequest


@dataclass(frozen=True)
class FilterLexicon:
    version: str
    explicit_words: tuple[str, ...]
    harmful_objects: tuple[str, ...]
    harmless_patterns: tuple[str, ...]
    sub_category_cues: dict[str, tuple[str, ...]]

    @classmethod
    def bundled(cls) -> "FilterLexicon":
        data = yaml.safe_load((resources.files("services.filter") / "data" / "offline-lexicon.yaml").read_text())
        return cls(data["version"], tuple(data["explicit_words"]), tuple(data["harmful_objects"]),
                   tuple(data["harmless_patterns"]),
                   {name: tuple(cues) for name, cues in data["sub_category_cues"].items()})

    def harmful_object(self, *texts: str) -> str | None:
        lowered = " ".join(texts).lower()
        return next((name for name in self.harmful_objects if name in lowered), None)


class OfflineTextLabel:
    """Responder for the `label_text` task."""

    def __init__(self, lexicon: FilterLexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, request: ChatRequest) -> dict[str, Any]:
        inputs = request.inputs
        text = inputs["instruction"].lower()
        whole = " ".join([text, inputs["object1"].lower(), inputs["object2"].lower()])
        explicit = [word for word in self.lexicon.explicit_words if word in text]
        subs: list[str] = inputs["sub_categories"]
        scores = {sub: sum(cue in whole for cue in self.lexicon.sub_category_cues.get(sub, ())) for sub in subs}
        best = max(scores.values(), default=0)
        sub_category = next(sub for sub in subs if scores[sub] == best)
        harmless = next((p for p in self.lexicon.harmless_patterns if p in text), None)
        if harmless:
            return {"safety": "Safe", "risky": False, "sub_category": sub_category,
                    "reason": f"{harmless!r}: no risk whatever the objects"}
        if explicit:
            return {"safety": "Unsafe", "risky": True, "sub_category": sub_category,
                    "reason": f"explicit wording remains: {', '.join(explicit)}"}
        return {"safety": "Safe", "risky": True, "sub_category": sub_category,
                "reason": "no explicit wording; the harm lies in the objects"}


class OfflineImageJudge:
    """Responder for the `judge_images` task."""

    def __init__(self, lexicon: FilterLexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, request: ChatRequest) -> dict[str, Any]:
        inputs = request.inputs
        first = self.lexicon.harmful_object(inputs["object1"], inputs["prompt1"])
        second = self.lexicon.harmful_object(inputs["object2"], inputs["prompt2"])
        named = [name for name in (first, second) if name]
        reason = (f"shows {' and '.join(named)}, harmful on sight" if named
                  else "both images show everyday objects")
        return {"image1_explicitly_harmful": first is not None,
                "image2_explicitly_harmful": second is not None, "reason": reason}


def offline_responders() -> dict[str, Any]:
    lexicon = FilterLexicon.bundled()
    return {"label_text": OfflineTextLabel(lexicon), "judge_images": OfflineImageJudge(lexicon)}
