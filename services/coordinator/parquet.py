"""The Parquet export: parquet/<split>.parquet for every split the dataset
has, every field of a record a column (split, harmful query, filter reason,
the CoT label, both T2I prompts, and the provenance as a nested column,
with a list column for each provenance list a stage declares), the two
images as `datasets` Image features. The card's front matter names these
files per split, so `datasets.load_dataset(<folder>)` gives the splits with
decoded images.

The `datasets` feature metadata is derived from the Arrow schema below
(`features_of`), and the schema's per-stage columns from the stages'
declarations, so each is written once and none can disagree.
"""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from services.coordinator import stages
from services.coordinator.card import parquet_path
from services.coordinator.stages import ProvenanceList
from services.coordinator.writers import DatasetWriter, PlacedRecord, Tree

TEXT_COLUMNS = ("id", "split", "instruction", "harmful_query", "category", "sub_category",
                "filter_reason", "cot_label", "seed_id", "prompt1", "prompt2")
IMAGE_COLUMNS = ("image1", "image2")

_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_MODEL = pa.struct([(name, pa.string()) for name in ("stage", "backend", "model", "prompt_version", "parameters")])
_REVIEW = pa.struct([("decision", pa.string()), ("note", pa.string())])
# The column type of each type a provenance list's entry may hold (stages/base.py ENTRY_TYPES).
_ENTRY_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _entries(listed: ProvenanceList) -> pa.DataType:
    """A stage's provenance list as a column type: a list of its entries."""
    return pa.list_(pa.struct([(name, _ENTRY_TYPES[kind]) for name, kind in listed.fields]))


def schema() -> pa.Schema:
    """The columns: the record's text fields, both images, and its provenance,
    whose lists (the drawing rounds, the photos, ...) are the ones the
    pipeline's stages declare, in pipeline order, as `DatasetRecord.provenance`
    gives them."""
    provenance = pa.struct([("seed_id", pa.string()), ("models", pa.list_(_MODEL)),
                            *[(listed.name, _entries(listed)) for listed in stages.provenance_lists()],
                            ("review", _REVIEW)])
    return pa.schema([(name, pa.string()) for name in TEXT_COLUMNS]
                     + [(name, _IMAGE) for name in IMAGE_COLUMNS] + [("provenance", provenance)])


def features_of(kind: pa.DataType) -> dict:
    """The `datasets` feature (as its JSON form) of an Arrow type."""
    if pa.types.is_struct(kind):
        return {field.name: features_of(field.type) for field in kind}
    if pa.types.is_list(kind):
        return {"_type": "List", "feature": features_of(kind.value_type)}
    names = {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool"}
    return {"dtype": names[kind], "_type": "Value"}


def _schema_with_features() -> pa.Schema:
    columns = schema()
    features = {field.name: ({"_type": "Image"} if field.name in IMAGE_COLUMNS else features_of(field.type))
                for field in columns}
    return columns.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


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
