"""FAISS indexes of unit embeddings, searched by inner product (= cosine).

Small corpora get an exact flat index: nothing to train and every answer
exact. The `exact` kind is the same search in numpy, for an install without
FAISS (the offline retriever's bundled corpus). Large ones get IVF-PQ: vectors are bucketed by a coarse quantizer and
compressed by product quantization, so a query visits `nprobe` buckets of
short codes instead of every full vector; a flat re-ranking of the best
`refine_factor * k` candidates restores the order that compression blurs
(bench/retrieval.py measures what that buys against exact search).

Where the installed FAISS sees GPUs (a faiss-gpu build on a GPU node:
`faiss.get_num_gpus() > 0`), a loaded index is searched on all of them and an
IVF-PQ build trains its coarse quantizer's k-means there; faiss-cpu, or a GPU
build without a visible GPU, keeps everything on the CPU. An index FAISS cannot
put on a GPU stays on the CPU, with a warning. Indexes are always stored in
their CPU form, so one built on a GPU node loads anywhere.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("mis.retriever.index")

# Below this many vectors exact search is fast enough and needs no training.
FLAT_LIMIT = 200_000
KINDS = ("auto", "flat", "ivfpq", "exact")


@dataclass(frozen=True)
class IvfPqParameters:
    """The IVF-PQ shape for a corpus of `count` vectors of `dimension`."""

    lists: int
    subquantizers: int
    bits: int = 8
    nprobe: int = 32
    refine_factor: int = 8

    @classmethod
    def for_corpus(cls, count: int, dimension: int) -> "IvfPqParameters":
        # About 4 sqrt(n) lists, each trained on at least 39 points (FAISS's floor).
        lists = max(1, min(int(4 * math.sqrt(count)), count // 39))
        # About 4 dims per code, at most 64 codes: PQ training time grows with
        # the code count, and the flat re-ranking recovers what coarser codes lose.
        limit = max(1, min(64, dimension // 4))
        subquantizers = max(m for m in range(1, limit + 1) if dimension % m == 0)
        return cls(lists=lists, subquantizers=subquantizers)


class ExactIndex:
    """Exact inner-product search over unit rows in numpy; ties go to the lower id."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    @property
    def ntotal(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = queries @ self.vectors.T
        ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, ids, axis=1), ids


def faiss_gpus(faiss_module) -> int:
    """How many GPUs the installed FAISS can use (0 for faiss-cpu, whose
    get_num_gpus answers 0, and for a GPU build on a node without one)."""
    count = getattr(faiss_module, "get_num_gpus", None)
    return int(count()) if count is not None else 0


def for_search(index, use_gpu: bool = True, faiss_module=None):
    """The index where it searches fastest: on every GPU FAISS sees, else
    itself (the CPU). The numpy `exact` index never moves."""
    if isinstance(index, ExactIndex) or not use_gpu:
        return index
    if faiss_module is None:
        import faiss as faiss_module
    if faiss_gpus(faiss_module) == 0:
        return index
    try:
        return faiss_module.index_cpu_to_all_gpus(index)
    except RuntimeError as exc:  # an index type or code size the GPU kernels lack
        log.warning("index stays on the CPU: FAISS cannot put it on a GPU", extra={"error": str(exc)})
        return index


def resolved_kind(kind: str, count: int) -> str:
    if kind not in KINDS:
        raise ValueError(f"index kind {kind!r}: choose from {', '.join(KINDS)}")
    if kind == "auto":
        return "flat" if count < FLAT_LIMIT else "ivfpq"
    return kind


def build_index(vectors: np.ndarray, kind: str = "auto", seed: int = 0,
                parameters: IvfPqParameters | None = None, use_gpu: bool = True):
    """A FAISS index holding `vectors` (unit rows) in their order: row i is id
    i, in its CPU form (IVF-PQ's k-means runs on the GPUs FAISS sees, if any)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dimension = vectors.shape
    kind = resolved_kind(kind, count)
    if kind == "exact":
        return ExactIndex(vectors)
    import faiss

    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index
    shape = parameters or IvfPqParameters.for_corpus(count, dimension)
    # PQ's codebooks need 256 training points per centroid at 8 bits.
    if count < max(39 * shape.lists, 2 ** shape.bits):
        raise ValueError(f"IVF-PQ needs at least {max(39 * shape.lists, 2 ** shape.bits)} vectors "
                         f"to train, the corpus has {count}; use the flat index")
    quantizer = faiss.IndexFlatIP(dimension)
    ivfpq = faiss.IndexIVFPQ(quantizer, dimension, shape.lists, shape.subquantizers, shape.bits,
                             faiss.METRIC_INNER_PRODUCT)
    ivfpq.cp.seed = seed
    # k-means assignment is most of the training: the GPUs do it when FAISS sees some
    # (held here, since FAISS does not own it).
    clustering = (faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(dimension))
                  if use_gpu and faiss_gpus(faiss) else None)
    if clustering is not None:
        ivfpq.clustering_index = clustering
    # A few dozen points per list train the coarse quantizer well enough;
    # the whole corpus would only cost time.
    ivfpq.pq.cp.min_points_per_centroid = 1
    wanted = max(64 * shape.lists, 10_000)
    sample = vectors
    if count > wanted:
        sample = vectors[np.random.default_rng(seed).choice(count, wanted, replace=False)]
    ivfpq.train(sample)
    ivfpq.clustering_index = None
    ivfpq.nprobe = min(shape.nprobe, shape.lists)
    index = faiss.IndexRefineFlat(ivfpq)
    index.k_factor = shape.refine_factor
    index.add(vectors)
    # IndexRefineFlat does not own its base index unless told; keep it alive with it.
    index.own_fields = True
    ivfpq.this.disown()
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the k best rows per query; id -1 where fewer exist."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return index.search(queries, min(k, max(index.ntotal, 1)))


def to_bytes(index) -> bytes:
    if isinstance(index, ExactIndex):
        buffer = io.BytesIO()
        np.save(buffer, index.vectors)
        return buffer.getvalue()
    import faiss
    return faiss.serialize_index(index).tobytes()


def from_bytes(data: bytes, kind: str = ""):
    """An index back from `to_bytes`; `kind` is the manifest's."""
    if kind == "exact":
        return ExactIndex(np.load(io.BytesIO(data)))
    import faiss
    return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))


def kind_of(index) -> str:
    if isinstance(index, ExactIndex):
        return "exact"
    import faiss
    return "flat" if isinstance(index, faiss.IndexFlat) else "ivfpq"
