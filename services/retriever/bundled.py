"""The bundled corpus: a few dozen pictures for dry runs, drawn when the
offline retriever first searches it, so `make run` shows a real split
without a photo collection and without committed image bytes.

Its captions (data/bundled-corpus.yaml) name the objects the offline
extractor writes; each picture is drawn in the palette of its caption's
words (offline.draw), so the offline embedder finds it by those words. It is
built like any corpus (build.IndexBuilder), as the `exact` numpy index, into
indexes/bundled/ of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import yaml

from services.common.store import Store
from services.retriever.build import IndexBuilder, index_prefix
from services.retriever.offline import PaletteEmbedder, draw
from services.retriever.retrieval import BUNDLED_INDEX
from services.retriever.sources import CorpusItem, Shard


def captions() -> tuple[str, list[str]]:
    data = yaml.safe_load((resources.files("services.retriever") / "data" / "bundled-corpus.yaml").read_text())
    return data["version"], list(data["captions"])


def slug(caption: str) -> str:
    return "-".join(caption.lower().replace("'", "").split())


@dataclass
class BundledCorpus:
    """The corpus as a one-shard source for IndexBuilder."""

    layout: str = "bundled"
    root: str = ""
    shard_ids: list[str] = field(default_factory=lambda: ["bundled-0"])

    def __post_init__(self) -> None:
        self.version, self.captions = captions()
        self.root = self.version

    def read(self, shard_id: str) -> Shard:
        return Shard(shard_id, [CorpusItem(f"{self.version}/{slug(c)}.png", caption=c, image=draw(c))
                                for c in self.captions])


def ensure_bundled_index(store: Store, embedder: PaletteEmbedder) -> None:
    """Build the bundled index unless the store holds it already."""
    if store.exists(f"{index_prefix(BUNDLED_INDEX)}manifest.json"):
        return
    builder = IndexBuilder(store, BUNDLED_INDEX, BundledCorpus(), embedder, kind="exact")
    builder.embed_all()
    builder.assemble()
