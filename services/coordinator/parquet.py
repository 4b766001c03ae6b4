"""The Parquet export: parquet/<split>.parquet for every split the dataset
has, every field of a record a column (split, harmful query, filter reason,
the CoT label, both T2I prompts, and the provenance as a nested column), the
two images as `datasets` Image features. The card's front matter names these
files per split, so `datasets.load_dataset(<folder>)` gives the splits with
decoded images.

The `datasets` feature metadata is derived from the Arrow schema below
(`features_of`), so the schema is written once and the two cannot disagree.
"""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from services.coordinator.card import parquet_path
from services.coordinator.writers import DatasetWriter, PlacedRecord, Tree

TEXT_COLUMNS = ("id", "split", "instruction", "harmful_query", "category", "sub_category",
                "filter_reason", "cot_label", "seed_id", "prompt1", "prompt2")
IMAGE_COLUMNS = ("image1", "image2")

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_MODEL = pa.struct([(name, pa.string()) for name in ("stage", "backend", "model", "prompt_version", "parameters")])
# One text-to-image round, as the render stage exports it (stages/render.py).
_ROUND = pa.struct([
    ("round", pa.int64()), ("prompt1", pa.string()), ("prompt2", pa.string()),
    ("seed1", pa.int64()), ("seed2", pa.int64()), ("steps", pa.int64()),
    ("guidance_scale", pa.float64()), ("width", pa.int64()), ("height", pa.int64()),
    ("negative_prompt", pa.string()), ("review", pa.string()), ("refined_prompt1", pa.string()),
    ("refined_prompt2", pa.string()), ("renderer", pa.string()), ("reviewer", pa.string())])
# One retrieved photo of a real sample, as the retrieve stage exports it (stages/retrieve.py).
_PHOTO = pa.struct([
    ("object", pa.int64()), ("index", pa.string()), ("corpus", pa.string()), ("item_id", pa.string()),
    ("url", pa.string()), ("caption", pa.string()), ("score", pa.float64()), ("rank", pa.int64()),
    ("shows_object", pa.bool_()), ("check_reason", pa.string()), ("checker", pa.string()),
    ("check_prompt", pa.string())])
_PROVENANCE = pa.struct([("seed_id", pa.string()), ("models", pa.list_(_MODEL)),
                         ("rounds", pa.list_(_ROUND)), ("photos", pa.list_(_PHOTO)),
                         ("review", pa.struct([("decision", pa.string()), ("note", pa.string())]))])

SCHEMA = pa.schema([(name, pa.string()) for name in TEXT_COLUMNS]
                   + [(name, _IMAGE) for name in IMAGE_COLUMNS] + [("provenance", _PROVENANCE)])


def features_of(kind: pa.DataType) -> dict:
    """The `datasets` feature (as its JSON form) of an Arrow type."""
    if pa.types.is_struct(kind):
        return {field.name: features_of(field.type) for field in kind}
    if pa.types.is_list(kind):
        return {"_type": "List", "feature": features_of(kind.value_type)}
    names = {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool"}
    return {"dtype": names[kind], "_type": "Value"}


def _schema_with_features() -> pa.Schema:
    features = {field.name: ({"_type": "Image"} if field.name in IMAGE_COLUMNS else features_of(field.type))
                for field in SCHEMA}
    return SCHEMA.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


class ParquetSplits(DatasetWriter):
    """One Parquet file per split, in the order records arrive."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def add(self, placed: PlacedRecord) -> None:
        record = placed.record
        row: dict = {name: getattr(record, name) for name in TEXT_COLUMNS}
        for number, name in enumerate(IMAGE_COLUMNS):
            row[name] = {"bytes": placed.images[number], "path": placed.paths[number]}
        row["provenance"] = record.provenance()
        self.rows.setdefault(record.split, []).append(row)

    def finish(self, tree: Tree, card: dict) -> None:
        schema = _schema_with_features()
        for split, rows in self.rows.items():
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
            tree.write(parquet_path(split), buffer.getvalue())
