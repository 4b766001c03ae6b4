"""A stage's additions to the exported record come from its declaration
alone: a stage declared here, in the test, and put in the pipeline as
stages/__init__.py would list it, gets its provenance list into every
record (samples.jsonl, rejected.jsonl) and its own Parquet column, with no
edit of the export's files; a stage that exports what it did not declare,
or an entry unlike its declaration, is refused by name."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pyarrow.parquet as pq
import pytest
from PIL import Image

from mis.v1 import common_pb2, detoxifier_pb2, extractor_pb2, filter_pb2, t2i_refiner_pb2
from services.coordinator import stages
from services.coordinator.dataset import write_tree
from services.coordinator.export import sample_record
from services.coordinator.records import SetAside
from services.coordinator.runwalk import WalkedSample
from services.coordinator.sample import Seed
from services.coordinator.stages import DETOXIFY, EXTRACT, FILTER, PIPELINE, REFINE, PipelineStage, ProvenanceList

RUN_ID = "stage-provenance"
AUDITS = ProvenanceList("audits", (("check", str), ("passed", bool), ("score", float), ("attempt", int)))


@dataclass
class AuditResult:
    """What the audit service answers for one sample: its checks."""

    checks: list[tuple[str, bool, float]]


class Audit(PipelineStage):
    """A seventh stage, declared as a stage module would declare it: after the
    filter, it runs safety checks on a sample and exports them."""

    key = "audit"
    stage = max(common_pb2.Stage.values()) + 1   # the value its Stage enum entry would get
    service = "auditor"
    provenance_lists = (AUDITS,)

    def export_result(self, result: AuditResult) -> dict:
        return {AUDITS.name: [AUDITS.entry({"check": check, "passed": passed, "score": score,
                                            "attempt": attempt})
                              for attempt, (check, passed, score) in enumerate(result.checks, 1)]}


AUDIT = Audit()
CHECKS = [("no faces", True, 0.92), ("no text in image", False, 0.31)]


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="PNG")
    return out.getvalue()


PICTURES = {"one": png("red"), "two": png("blue")}


def read_image(ref: common_pb2.ImageRef):
    return lambda: PICTURES[ref.key]


def walked_hard_sample(query_index: int, audited: bool) -> WalkedSample:
    """A sample the real declarations moved from a seed to the hard split,
    from their results, then audited or not."""
    seed = Seed(common_pb2.Seed(id="seed-1"), 0)
    queries = [common_pb2.HarmfulQuery(query=f"harmful query {n}") for n in range(query_index + 1)]
    extracted = extractor_pb2.ExtractResult(queries=queries)
    sample = EXTRACT.apply(seed, extracted, RUN_ID)[query_index]
    detoxified = detoxifier_pb2.DetoxifyResult(instruction=common_pb2.NeutralInstruction(
        instruction="How is the first object used on the second?",
        category=common_pb2.Category(name="Violence", sub_category="Weapons")))
    rendered = t2i_refiner_pb2.RenderPairResult(
        pair=common_pb2.ImagePair(image1=common_pb2.ImageRef(key="one"), image2=common_pb2.ImageRef(key="two"),
                                  prompt1="a knife", prompt2="a crowd"),
        rounds=[t2i_refiner_pb2.RenderRound(round=0, prompt1="a knife", prompt2="a crowd", seed1=1, seed2=2,
                                            steps=4, guidance_scale=3.5, width=8, height=8)])
    classified = filter_pb2.ClassifyResult(split=common_pb2.SPLIT_HARD, reason="safe text, harmful pair")
    results = {}
    for stage, result in ((DETOXIFY, detoxified), (REFINE, rendered), (FILTER, classified)):
        stage.apply(sample, result, RUN_ID)
        results[stage.key] = result
    results[EXTRACT.key] = extracted
    passed = [EXTRACT, DETOXIFY, REFINE, FILTER]
    if audited:
        passed.append(AUDIT)
        results[AUDIT.key] = AuditResult(CHECKS)
    return WalkedSample(sample, passed, results)


EXPECTED = [{"check": "no faces", "passed": True, "score": 0.92, "attempt": 1},
            {"check": "no text in image", "passed": False, "score": 0.31, "attempt": 2}]


def export(tmp_path, name: str):
    audited, unaudited = walked_hard_sample(0, True), walked_hard_sample(1, False)
    records = [sample_record(w, read_image, {}) for w in (audited, unaudited)]
    aside = [SetAside(sample_record(walked_hard_sample(2, True), read_image, {}), "over-target", "target")]
    folder = tmp_path / name
    write_tree(records, folder, {"name": "audited", "version": "1"}, aside)
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    aside_rows = [json.loads(line) for line in (folder / "rejected" / "rejected.jsonl").read_text().splitlines()]
    return folder, rows, aside_rows


def test_a_declared_stage_adds_its_provenance_list_and_parquet_column(tmp_path, monkeypatch):
    monkeypatch.setattr(stages, "PIPELINE", (*PIPELINE, AUDIT))
    folder, rows, aside_rows = export(tmp_path, "with-audit")
    provenance = [row["provenance"] for row in rows]
    assert [p["audits"] for p in provenance] == [EXPECTED, []]
    assert aside_rows[0]["provenance"]["audits"] == EXPECTED
    # In pipeline order, after the lists of the stages before it; the refine stage's rounds kept.
    assert list(provenance[0]) == ["seed_id", "models", "rounds", "photos", "audits", "review"]
    assert [r["prompt1"] for r in provenance[0]["rounds"]] == ["a knife"]

    table = pq.read_table(folder / "parquet" / "hard.parquet")
    column = table.schema.field("provenance").type.field("audits").type.value_type
    assert [(f.name, str(f.type)) for f in column] == [
        ("check", "string"), ("passed", "bool"), ("score", "double"), ("attempt", "int64")]
    assert [p["audits"] for p in table.column("provenance").to_pylist()] == [EXPECTED, []]
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["provenance"]["audits"]["feature"]["passed"] == {"dtype": "bool", "_type": "Value"}


def test_without_the_stage_in_the_pipeline_the_export_has_no_such_column(tmp_path):
    folder, rows, _ = export(tmp_path, "without-audit")
    assert all("audits" not in row["provenance"] for row in rows)
    provenance = pq.read_table(folder / "parquet" / "hard.parquet").schema.field("provenance").type
    assert [f.name for f in provenance] == ["seed_id", "models", "rounds", "photos", "review"]


def test_a_stage_exporting_an_undeclared_list_is_named():
    class Undeclared(Audit):
        provenance_lists = ()

    with pytest.raises(TypeError, match=r"audit: exports provenance lists \['audits'\] it does not declare"):
        Undeclared().exported_provenance(AuditResult(CHECKS))


def test_an_entry_unlike_its_declaration_is_named():
    with pytest.raises(TypeError, match=r"'audits': entry has \['check', 'passed'\], declared"):
        AUDITS.entry({"check": "no faces", "passed": True})
    with pytest.raises(TypeError, match=r"'audits': passed is str 'yes', declared bool"):
        AUDITS.entry({"check": "no faces", "passed": "yes", "score": 1.0, "attempt": 1})
    with pytest.raises(TypeError, match=r"'audits': attempt is bool True, declared int"):
        AUDITS.entry({"check": "no faces", "passed": True, "score": 1, "attempt": True})
    with pytest.raises(TypeError, match=r"fields \['when'\] are not one of str, int, float, bool"):
        ProvenanceList("audits", (("check", str), ("when", bytes)))
    with pytest.raises(TypeError, match=r"'audits': columns show undeclared fields \['when'\]"):
        ProvenanceList("audits", (("check", str),), columns=(("check / when", ("check", "when")),))
