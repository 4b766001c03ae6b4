"""Searching a stored index for the photos of an object phrase.

An index is loaded from the store once (manifest, FAISS index, item records)
and kept; a query embeds the phrase with the CLIP text tower and searches by
cosine similarity. An index of kind `lance` is opened in its LanceDB
database instead, which holds the records too (lance.py). Knows nothing of
gRPC.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from services.common.errors import InvalidArgument, NotFound
from services.common.store import ObjectNotFound, Store
from services.retriever import index as faiss_index
from services.retriever import lance
from services.retriever.build import index_prefix
from services.retriever.sources import SourceError

BUNDLED_INDEX = "bundled"  # bundled.py builds it


class TextEmbedder(Protocol):
    dimension: int

    def embed_queries(self, phrases: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Candidate:
    item_id: str
    url: str
    caption: str
    score: float
    image: dict | None


@dataclass
class LoadedIndex:
    name: str
    manifest: dict
    index: object
    items: list[dict] | None  # None: the index holds the records (lance)

    @classmethod
    def load(cls, store: Store, name: str, use_gpu: bool = True, lancedb: str = "") -> "LoadedIndex":
        """The index from the store, on the GPUs FAISS sees when `use_gpu`
        (index.for_search); a `lance` one from `lancedb`, or where it was built."""
        try:
            prefix = index_prefix(name)
        except (SourceError, ValueError) as exc:
            raise InvalidArgument("index", str(exc)) from None
        try:
            manifest = store.get_json(f"{prefix}manifest.json")
        except ObjectNotFound:
            raise NotFound(f"index {name!r}: not built (no {prefix}manifest.json); "
                           f"run `mis index build`") from None
        if manifest["kind"] == lance.KIND:
            return cls._load_lance(name, manifest, lancedb or manifest["lancedb"])
        index = faiss_index.from_bytes(store.get_bytes(f"{prefix}index.faiss", max_bytes=1 << 40),
                                       manifest["kind"])
        index = faiss_index.for_search(index, use_gpu)
        items: list[dict] = []
        for shard in manifest["shards"]:
            items += store.get_json(f"{prefix}shards/{shard['id']}.json")["items"]
        if len(items) != index.ntotal:
            raise NotFound(f"index {name!r}: {len(items)} item records for {index.ntotal} vectors")
        return cls(name, manifest, index, items)

    @classmethod
    def _load_lance(cls, name: str, manifest: dict, database: str) -> "LoadedIndex":
        try:
            index = lance.LanceIndex.open(database, name)
        except lance.LanceUnavailable as exc:
            raise InvalidArgument("index", f"index {name!r}: {exc}") from None
        except ValueError as exc:  # LanceDB: no such table
            raise NotFound(f"index {name!r}: no table {name!r} in LanceDB {database!r}: {exc}") from None
        if index.ntotal != manifest["count"]:
            raise NotFound(f"index {name!r}: {index.ntotal} rows in LanceDB for {manifest['count']} items")
        return cls(name, manifest, index, None)

    def search(self, query: np.ndarray, k: int) -> list[Candidate]:
        if self.items is None:
            hits = self.index.nearest(query, k)
        else:
            scores, ids = faiss_index.search(self.index, query.reshape(1, -1), k)
            hits = [(float(score), self.items[i]) for score, i in zip(scores[0], ids[0]) if i >= 0]
        return [Candidate(item["item_id"], item.get("url", ""), item.get("caption", ""), score, item.get("image"))
                for score, item in hits]


class Retriever:
    """Top-k photos per phrase over named indexes, loaded on first use."""

    def __init__(self, store: Store, embedder: TextEmbedder, default_index: str,
                 default_top_k: int, max_top_k: int,
                 bundled: Callable[[], None] | None = None, use_gpu: bool = True,
                 lancedb: str = "") -> None:
        # `bundled` builds the bundled corpus's index (the offline embedder's), on first use.
        self.bundled = bundled
        self.use_gpu = use_gpu
        self.lancedb = lancedb
        self.store = store
        self.embedder = embedder
        self.default_index = default_index
        self.default_top_k = default_top_k
        self.max_top_k = max_top_k
        self._loaded: dict[str, LoadedIndex] = {}
        self._lock = threading.Lock()

    def loaded(self, name: str) -> LoadedIndex:
        name = name or self.default_index
        if not name:
            raise InvalidArgument("index", "required: this service has no default index (MIS_RETRIEVER_INDEX)")
        with self._lock:
            if name not in self._loaded:
                if name == BUNDLED_INDEX and self.bundled is not None:
                    self.bundled()
                loaded = LoadedIndex.load(self.store, name, self.use_gpu, self.lancedb)
                if loaded.manifest["dimension"] != self.embedder.dimension:
                    raise InvalidArgument("index", f"index {name!r} holds {loaded.manifest['dimension']}-dim "
                                                   f"embeddings; this service's CLIP makes "
                                                   f"{self.embedder.dimension}-dim ones")
                self._loaded[name] = loaded
            return self._loaded[name]

    def top_k(self, top_k: int, field: str = "top_k") -> int:
        if top_k < 0:
            raise InvalidArgument(field, "must not be negative")
        if top_k > self.max_top_k:
            raise InvalidArgument(field, f"{top_k} is over the limit of {self.max_top_k}")
        return top_k or self.default_top_k

    def retrieve(self, index: str, phrase: str, top_k: int) -> tuple[LoadedIndex, list[Candidate]]:
        loaded = self.loaded(index)
        query = self.embedder.embed_queries([phrase])[0]
        return loaded, loaded.search(query, top_k)
