"""A backbone's processor without its video half, so no torchvision is needed.

Every supported processor bundles a video processor, and transformers' video processors
require torchvision. The recipe trains on images only, and a PyPI torchvision does not
load beside the CPU torch this project pins (its C++ operators are built for another
torch). So when `AutoProcessor` fails for want of torchvision, the same processor class
is built from the same files with the video processor left out; the image processor then
comes in its PIL backend, which transformers selects by itself when torchvision is absent.
Token expansion, chat template and pixel values are the processor's own, unchanged.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

_PARTS = ("image_processor", "tokenizer", "video_processor")


class _WithoutVideo:
    """Mixed in before a processor class: the video processor is not one of its parts.

    The class keeps its name, so what it saves loads with `AutoProcessor` wherever
    torchvision is installed.
    """

    @classmethod
    def get_attributes(cls) -> list[str]:
        return [name for name in super().get_attributes() if name != "video_processor"]


def images_only(class_name: str) -> type:
    """The processor class `class_name` (e.g. "InternVLProcessor") that takes no video processor."""
    import transformers

    base = getattr(transformers, class_name)
    return type(class_name, (_WithoutVideo, base), {"__module__": base.__module__, "__doc__": base.__doc__})


def load_processor(model_dir: Path | str, class_name: str) -> Any:
    """`AutoProcessor.from_pretrained`, or the images-only processor where the video part cannot load."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        return AutoProcessor.from_pretrained(model_dir)
    except (ImportError, OSError):
        # ImportError: the video processor needs torchvision; OSError: the folder has no
        # video processor config (as the tiny models built here). If the images-only
        # processor cannot be built either, its own error names the missing part.
        pass
    cls = images_only(class_name)
    processor_dict, _ = cls.get_processor_dict(model_dir)
    accepted = inspect.signature(cls.__mro__[2].__init__).parameters
    options = {k: v for k, v in processor_dict.items() if k in accepted and k not in _PARTS}
    return cls(image_processor=AutoImageProcessor.from_pretrained(model_dir),
               tokenizer=AutoTokenizer.from_pretrained(model_dir), **options)
