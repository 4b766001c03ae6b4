"""Building an index in the store, shard by shard, resumable.

Each shard's embeddings and item records go to the store as soon as the shard
is embedded; the item records are written last, so their presence is the
durable mark that the shard is done. A build killed at any moment (SIGKILL
included) loses at most the shard in flight: the next run lists the marks,
skips those shards and embeds the rest. The FAISS index is assembled from all
shards at the end and written with its manifest, which is written last of all.
An index of kind `lance` is instead streamed, shard by shard, into a LanceDB
table (lance.py); its manifest names the database.

Store layout under `indexes/NAME/`: `build.json` (what is being built),
`shards/ID.npy` and `shards/ID.json`, `index.faiss` (not for `lance`),
`manifest.json`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from services.common.images import ImageRejected
from services.common.store import Store, check_key
from services.retriever import index as faiss_index
from services.retriever import lance
from services.retriever.sources import Shard, Source, SourceError, image_of

log = logging.getLogger("mis.retriever.build")
EMBED_BATCH = 64


class ImageEmbedder(Protocol):
    name: str

    def embed_images(self, images: list) -> np.ndarray: ...


def index_prefix(name: str) -> str:
    check_key(f"indexes/{name}")
    if "/" in name:
        raise SourceError(f"index name {name!r} must not contain '/'")
    return f"indexes/{name}/"


@dataclass(frozen=True)
class ShardDone:
    """Progress of one shard, for the progress bar and the log."""

    shard_id: str
    position: int
    total: int
    items: int
    resumed: bool


def _vectors_bytes(vectors: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32))
    return buffer.getvalue()


class IndexBuilder:
    def __init__(self, store: Store, name: str, source: Source,
                 embedder: ImageEmbedder | None, kind: str = "auto", lancedb: str = "") -> None:
        self.store = store
        self.name = name
        self.prefix = index_prefix(name)
        self.source = source
        self.embedder = embedder
        self.kind = kind
        self.lancedb = lancedb
        if source.layout != "laion" and embedder is None:
            raise SourceError(f"a {source.layout} corpus needs a CLIP model to embed its images")
        if (kind == lance.KIND) != bool(lancedb):
            raise SourceError(f"a LanceDB database is needed for kind {lance.KIND} and only for it, "
                              f"got kind {kind} and database {lancedb!r}")

    def corpus(self) -> str:
        """Where the items came from, as provenance records it: layout and place."""
        root = str(self.source.root)
        return root if root.startswith("s3://") else f"{self.source.layout}:{root}"

    def shard_key(self, shard_id: str, extension: str) -> str:
        return f"{self.prefix}shards/{shard_id}.{extension}"

    def done_shards(self) -> set[str]:
        return {key.rsplit("/", 1)[1].removesuffix(".json")
                for key in self.store.list_keys(f"{self.prefix}shards/") if key.endswith(".json")}

    def _record_plan(self) -> None:
        plan = {"layout": self.source.layout, "root": str(self.source.root),
                "shards": self.source.shard_ids, "kind": self.kind,
                "model": self.embedder.name if self.embedder else ""}
        key = f"{self.prefix}build.json"
        if self.store.exists(key):
            earlier = self.store.get_json(key)
            if earlier["shards"] != plan["shards"] or earlier["layout"] != plan["layout"]:
                raise SourceError(f"index {self.name!r} was started from another corpus "
                                  f"({earlier['layout']} at {earlier['root']}); choose another name")
        self.store.put_json(key, plan)

    def _embed_shard(self, shard: Shard) -> tuple[np.ndarray, list[dict]]:
        if shard.embeddings is not None:
            records = [{"item_id": i.item_id, "url": i.url, "caption": i.caption} for i in shard.items]
            return faiss_index_rows(shard.embeddings), records
        kept, records = [], []
        for item in shard.items:
            try:
                ref = self.store.put_image(item.image)
                image = image_of(item.image)
                image.load()
            except (ImageRejected, OSError) as exc:
                log.warning("skipped an unreadable image", extra={"item": item.item_id, "error": str(exc)})
                continue
            kept.append(image)
            records.append({"item_id": item.item_id, "url": item.url, "caption": item.caption,
                            "image": {"key": ref.key, "sha256": ref.sha256,
                                      "media_type": ref.media_type, "width": ref.width,
                                      "height": ref.height}})
        batches = [self.embedder.embed_images(kept[n:n + EMBED_BATCH])
                   for n in range(0, len(kept), EMBED_BATCH)]
        dimension = batches[0].shape[1] if batches else 0
        return (np.concatenate(batches) if batches else np.zeros((0, dimension), np.float32)), records

    def embed_all(self, on_shard: Callable[[ShardDone], None] = lambda done: None) -> None:
        """Embed and record every shard not recorded yet."""
        self._record_plan()
        done = self.done_shards()
        total = len(self.source.shard_ids)
        for position, shard_id in enumerate(self.source.shard_ids, 1):
            if shard_id in done:
                on_shard(ShardDone(shard_id, position, total, 0, resumed=True))
                continue
            vectors, records = self._embed_shard(self.source.read(shard_id))
            self.store.put_bytes(self.shard_key(shard_id, "npy"), _vectors_bytes(vectors))
            # Written last: its presence marks the shard done.
            self.store.put_json(self.shard_key(shard_id, "json"), {"items": records})
            on_shard(ShardDone(shard_id, position, total, len(records), resumed=False))

    def shard_vectors(self, shard_id: str) -> np.ndarray:
        data = self.store.get_bytes(self.shard_key(shard_id, "npy"), max_bytes=1 << 40)
        return np.load(io.BytesIO(data))

    def assemble(self, ann_min_rows: int = lance.ANN_MIN_ROWS) -> dict:
        """The index over every recorded shard, stored with its manifest
        (`ann_min_rows`: from how many rows a LanceDB table gets an ANN index)."""
        shards: list[dict] = []
        if self.kind == lance.KIND:
            def stream():
                for shard_id in self.source.shard_ids:
                    rows = self.shard_vectors(shard_id)
                    shards.append({"id": shard_id, "count": int(len(rows))})
                    yield rows, self.store.get_json(self.shard_key(shard_id, "json"))["items"]
            count, dimension = lance.write_table(self.lancedb, self.name, stream(), ann_min_rows)
            if not count:
                raise SourceError(f"{self.source.root}: no readable items in any shard")
            return self._finish(lance.KIND, count, dimension, shards, self.lancedb)
        vectors = []
        for shard_id in self.source.shard_ids:
            rows = self.shard_vectors(shard_id)
            if len(rows):
                vectors.append(rows)
            shards.append({"id": shard_id, "count": int(len(rows))})
        if not vectors:
            raise SourceError(f"{self.source.root}: no readable items in any shard")
        matrix = np.concatenate(vectors)
        built = faiss_index.build_index(matrix, self.kind)
        self.store.put_bytes(f"{self.prefix}index.faiss", faiss_index.to_bytes(built))
        return self._finish(faiss_index.kind_of(built), int(matrix.shape[0]), int(matrix.shape[1]), shards)

    def _finish(self, kind: str, count: int, dimension: int, shards: list[dict], lancedb: str = "") -> dict:
        manifest = {"name": self.name, "kind": kind, "count": count, "dimension": dimension,
                    "corpus": self.corpus(), "model": self.embedder.name if self.embedder else "",
                    "shards": shards}
        if lancedb:
            manifest["lancedb"] = lancedb  # where the table is; the service may name another place
        self.store.put_json(f"{self.prefix}manifest.json", manifest)
        return manifest


def faiss_index_rows(embeddings: np.ndarray) -> np.ndarray:
    """LAION ships float16 rows already normalised; FAISS wants float32 unit rows."""
    from services.retriever.embeddings import normalized
    return normalized(embeddings.astype(np.float32))
