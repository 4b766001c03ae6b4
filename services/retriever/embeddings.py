"""CLIP's two towers, text and image, in one shared embedding space.

The retriever embeds corpus photos with the image tower once, at index build
time, and each object phrase with the text tower per query; cosine similarity
between the two is the retrieval score. Real weights (for example
openai/clip-vit-large-patch14, whose 768-dim space LAION's published
embeddings use) load from a local folder in the Hugging Face layout: no hub
access at run time. Tests build a tiny random CLIP the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# CLIP was trained on captions, so a bare noun phrase embeds better inside one.
QUERY_TEMPLATE = "a photo of {}"


class EmbedderError(ValueError):
    """The model folder is missing or is not a CLIP model."""


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 and contiguous (what FAISS takes):
    inner product is then cosine similarity."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _features(output: Any) -> Any:
    # transformers 5 returns a model output whose pooler_output is the projection.
    return getattr(output, "pooler_output", output)


@dataclass
class ClipEmbedder:
    model: Any
    tokenizer: Any
    image_processor: Any
    name: str

    @classmethod
    def load(cls, path: Path) -> "ClipEmbedder":
        """Model, tokenizer and image processor from one local folder."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise EmbedderError(f"{path}: no config.json; expected a CLIP model folder")
        from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

        try:
            model = CLIPModel.from_pretrained(path).eval()
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"{path}: not a CLIP model: {exc}") from None
        tokenizer = AutoTokenizer.from_pretrained(path)
        if (path / "preprocessor_config.json").is_file():
            processor = CLIPImageProcessorPil.from_pretrained(path)
        else:
            # The model's own input size, with CLIP's default normalisation.
            side = model.config.vision_config.image_size
            processor = CLIPImageProcessorPil(size={"shortest_edge": side},
                                              crop_size={"height": side, "width": side})
        return cls(model, tokenizer, processor, path.name)

    @property
    def dimension(self) -> int:
        return int(self.model.config.projection_dim)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        limit = int(self.model.config.text_config.max_position_embeddings)
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=limit,
                                return_tensors="pt")
        with torch.inference_mode():
            output = self.model.get_text_features(input_ids=tokens["input_ids"],
                                                  attention_mask=tokens["attention_mask"])
        return normalized(_features(output).float().numpy())

    def embed_queries(self, phrases: Sequence[str]) -> np.ndarray:
        return self.embed_texts([QUERY_TEMPLATE.format(phrase) for phrase in phrases])

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """PIL images in, one unit row per image out."""
        import torch

        pixels = self.image_processor(images=[image.convert("RGB") for image in images],
                                      return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            output = self.model.get_image_features(pixel_values=pixels)
        return normalized(_features(output).float().numpy())
