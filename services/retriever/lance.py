"""LanceDB tables as retrieval indexes, for corpora that outgrow index files.

A FAISS index is one file that the retriever loads whole, with every item
record (retrieval.LoadedIndex). An index of kind `lance` is instead a table of
an embedded LanceDB database (a folder, e.g. on a volume; LanceDB also opens
object-store URIs with its own credentials): one row per item, its unit
embedding beside its record (item id, url, caption, stored photo). A search
reads only what it needs, so neither vectors nor records have to fit in
memory, and the build streams shard by shard into the table.

Search is by inner product (LanceDB's `dot` distance is 1 - cosine for unit
rows). A table under `ann_min_rows` rows is scanned exactly, the same answers
as FAISS's flat index; a larger one gets LanceDB's IVF-PQ index at build time
and queries re-rank their candidates exactly (`refine_factor`), as the FAISS
IVF-PQ index does. Its shape (`lance_shape`) is finer than FAISS's: about 2
dims per PQ code, where 4 lost a row's own nearest match in 1 query of 12
on 3 000 16-dim rows even re-ranking 8x (none at 2 dims), and sqrt(n) lists
of at least 256 rows, LanceDB's training sample per list.

Optional: the `vectordb` extra (`pip install 'mis-platform[vectordb]'`).
"""

from __future__ import annotations

import json
import math
from typing import Iterable

import numpy as np


KIND = "lance"
ANN_MIN_ROWS = 100_000
RECORD_COLUMNS = ("item_id", "url", "caption", "image")


class LanceUnavailable(ImportError):
    """LanceDB is not installed (the `vectordb` extra)."""


def connect(uri: str):
    try:
        import lancedb
    except ImportError as exc:
        raise LanceUnavailable(f"the {KIND} index kind needs LanceDB: pip install 'mis-platform[vectordb]' "
                               f"({exc})") from None
    return lancedb.connect(uri)


def _batch(vectors: np.ndarray, records: list[dict], first_id: int):
    import pyarrow as pa

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    return pa.table({
        "id": pa.array(np.arange(first_id, first_id + len(records)), pa.int64()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dimension),
        "item_id": [r["item_id"] for r in records],
        "url": [r.get("url", "") for r in records],
        "caption": [r.get("caption", "") for r in records],
        "image": [json.dumps(r["image"], sort_keys=True) if r.get("image") else "" for r in records],
    })


def lance_shape(count: int, dimension: int) -> tuple[int, int]:
    """(IVF lists, PQ sub-vectors) of a LanceDB IVF-PQ index over `count` rows."""
    lists = max(1, min(int(math.sqrt(count)), count // 256))
    limit = max(1, min(96, dimension // 2))
    return lists, max(m for m in range(1, limit + 1) if dimension % m == 0)


def write_table(uri: str, name: str, shards: Iterable[tuple[np.ndarray, list[dict]]],
                ann_min_rows: int = ANN_MIN_ROWS) -> tuple[int, int]:
    """Write (vectors, records) shards, in order, as table `name` (replacing
    one left by an earlier build); returns (rows, dimension), (0, 0) when
    there was nothing to write."""
    database = connect(uri)
    table, count, dimension = None, 0, 0
    for vectors, records in shards:
        if len(vectors) != len(records):
            raise ValueError(f"a shard has {len(vectors)} vectors for {len(records)} records")
        if not len(records):
            continue
        batch = _batch(vectors, records, count)
        if table is None:
            table = database.create_table(name, batch, mode="overwrite")
            dimension = int(vectors.shape[1])
        else:
            table.add(batch)
        count += len(records)
    if table is None:
        return 0, 0
    if count >= ann_min_rows:
        from lancedb.index import IvfPq

        lists, sub_vectors = lance_shape(count, dimension)
        table.create_index("vector", config=IvfPq(distance_type="dot", num_partitions=lists,
                                                   num_sub_vectors=sub_vectors, num_bits=8))
    return count, dimension


def _record(row: dict) -> dict:
    record = {"item_id": row["item_id"], "url": row["url"], "caption": row["caption"]}
    if row["image"]:
        record["image"] = json.loads(row["image"])
    return record


class LanceIndex:
    """One table, searched a query at a time; `nearest` gives scores and records."""

    def __init__(self, table, nprobes: int = 32, refine_factor: int = 8) -> None:
        self.table = table
        self.nprobes = nprobes
        self.refine_factor = refine_factor

    @classmethod
    def open(cls, uri: str, name: str) -> "LanceIndex":
        return cls(connect(uri).open_table(name))

    @property
    def ntotal(self) -> int:
        return int(self.table.count_rows())

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[float, dict]]:
        """The k rows of highest cosine with `query`, best first (ties: lower id)."""
        found = (self.table.search(np.asarray(query, dtype=np.float32), vector_column_name="vector")
                 .distance_type("dot").nprobes(self.nprobes).refine_factor(self.refine_factor)
                 .select(["id", *RECORD_COLUMNS]).limit(k).to_arrow().to_pylist())
        found.sort(key=lambda row: (row["_distance"], row["id"]))
        return [(1.0 - float(row["_distance"]), _record(row)) for row in found]
