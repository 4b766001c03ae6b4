"""A stage's own run options come from its declaration: a run sets them at
`stages.<key>.options`, each is checked against the declared type, bounds
and choices with the key named, and request building reads them there. The
RunConfig fields they once were still work, as deprecated aliases that give
the same requests; an option set both ways to different values is refused
naming both keys. A stage declared here, in the test, gets an option of its
own validated and into its request with no edit of coordinator.proto."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from mis.v1 import common_pb2, coordinator_pb2, coordinator_pb2_grpc, t2i_refiner_pb2
from services.coordinator import options_doc, runconfig, stages
from services.coordinator.browser import render_browser
from services.coordinator.client import option_lines
from services.coordinator.finish import thresholds_of
from services.coordinator.runconfig import RunConfigError, parse_run_config, validate_run_config
from services.coordinator.runs import RunManager
from services.coordinator.stages import (BY_KEY, PIPELINE, PipelineStage, RunContext, StageOption,
                                         deprecated_aliases)
from tests.coordinator.conftest import small_config
from tests.coordinator.recording import Recording
from tests.coordinator.test_create_checks import assert_nothing_happened, serve

SEEDS = ["seeds.jsonl"]

# Every option that has a deprecated alias set away from its default, both ways.
LEGACY = {"queries_per_seed": 3, "refinement_rounds": 2, "max_cot_regenerations": 1, "use_judge": True,
          "dedup_max_image_distance": 5, "dedup_min_text_similarity": 0.8, "dedup_min_image_similarity": 0.5,
          "render": {"width": 64, "height": 48, "steps": 3, "guidance_scale": 2.5, "seed": 7,
                     "negative_prompt": "blurry", "renderer": "offline", "reviewer": "offline",
                     "skip_review": True}}
OPTIONS = {"extract": {"queries_per_seed": 3},
           "render": {**LEGACY["render"], "refinement_rounds": 2},
           "filter": {"dedup_max_image_distance": 5, "dedup_min_text_similarity": 0.8,
                      "dedup_min_image_similarity": 0.5},
           "annotate": {"max_cot_regenerations": 1, "use_judge": True}}


def with_options(key: str, options) -> dict:
    return {"seeds": SEEDS, "stages": {key: {"options": options}}}


@pytest.mark.parametrize("raw, key, reason", [
    (with_options("refine", {"refinment_rounds": 1}), "stages.refine.options.refinment_rounds",
     "unknown option (expected one of renderer, reviewer, width, height, steps, guidance_scale, "
     "negative_prompt, seed, refinement_rounds, skip_review)"),
    (with_options("detoxify", {"tone": "calm"}), "stages.detoxify.options.tone",
     "unknown option (detoxify takes none)"),
    (with_options("refine", {"refinement_rounds": 1.5}), "stages.refine.options.refinement_rounds",
     "expected an integer, got 1.5"),
    (with_options("refine", {"refinement_rounds": "two"}), "stages.refine.options.refinement_rounds",
     "expected an integer, got 'two'"),
    (with_options("refine", {"refinement_rounds": -1}), "stages.refine.options.refinement_rounds",
     "must be 0 or more"),
    (with_options("annotate", {"use_judge": "yes"}), "stages.annotate.options.use_judge",
     "expected true or false, got 'yes'"),
    (with_options("refine", {"renderer": 3}), "stages.refine.options.renderer", "expected a string, got 3"),
    (with_options("extract", {"queries_per_seed": 6}), "stages.extract.options.queries_per_seed",
     "must be between 1 and 5"),
    (with_options("extract", {"queries_per_seed": 0}), "stages.extract.options.queries_per_seed",
     "must be between 1 and 5"),
    (with_options("filter", {"dedup_min_text_similarity": 1.2}),
     "stages.filter.options.dedup_min_text_similarity", "must be between 0 and 1"),
    (with_options("refine", [1, 2]), "stages.refine.options", "expected a mapping"),
    # The deprecated aliases are checked the same way, named by the key the run wrote.
    ({"seeds": SEEDS, "queries_per_seed": 9}, "queries_per_seed", "must be between 1 and 5"),
    ({"seeds": SEEDS, "render": {"width": "wide"}}, "render.width", "expected an integer, got 'wide'"),
    ({"seeds": SEEDS, "render": {"rendrer": "offline"}}, "render.rendrer",
     "unknown key (expected one of renderer, reviewer, width, height, steps, guidance_scale, "
     "negative_prompt, seed, refinement_rounds, skip_review)"),
])
def test_an_option_is_checked_against_its_declaration_naming_the_key(raw, key, reason):
    with pytest.raises(RunConfigError) as caught:
        parse_run_config(raw)
    assert (caught.value.key, caught.value.reason) == (key, reason)


def test_declared_options_reach_the_requests_and_the_deprecated_fields_give_the_same():
    legacy = parse_run_config({"seeds": SEEDS, **LEGACY})
    declared = parse_run_config({"seeds": SEEDS, "stages": {k: {"options": v} for k, v in OPTIONS.items()}})
    plain = parse_run_config({"seeds": SEEDS})
    taxonomy = common_pb2.Taxonomy()
    for stage in PIPELINE:
        def request(config, stage=stage):
            return stage.request([], RunContext(config, taxonomy), "offline")
        assert request(legacy) == request(declared), stage.key
        if stage.options:
            assert request(declared) != request(plain), f"{stage.key}: its options changed nothing"
    assert thresholds_of(legacy) == thresholds_of(declared) != thresholds_of(plain)
    render = BY_KEY["refine"].request([], RunContext(declared, taxonomy), "").options
    assert (render.refinement_rounds, render.width, render.steps, render.skip_review) == (2, 64, 3, True)
    assert BY_KEY["extract"].request([], RunContext(declared, taxonomy), "").options.queries_per_seed == 3


def test_an_option_set_both_ways_must_agree_and_the_message_names_both_keys():
    same = parse_run_config({**with_options("refine", {"refinement_rounds": 2}), "refinement_rounds": 2})
    assert BY_KEY["refine"].option_values(same)["refinement_rounds"] == 2
    with pytest.raises(RunConfigError) as caught:
        parse_run_config({**with_options("refine", {"width": 64}), "render": {"width": 128}})
    assert caught.value.key == "stages.refine.options.width"
    assert caught.value.reason == ("64 here but 128 at render.width, which names the same option: "
                                   "set it once, at stages.refine.options.width")


def test_every_deprecated_run_config_field_is_an_alias_of_one_declared_option():
    own = {"name", "seeds", "taxonomy", "stages", "targets"}
    fields = {f.name for f in coordinator_pb2.RunConfig.DESCRIPTOR.fields} - own
    aliases = deprecated_aliases()
    assert {path.partition(".")[0] for path in aliases} == fields
    assert {path for path in aliases if path.startswith("render.")} == {
        f"render.{field.name}" for field in t2i_refiner_pb2.RenderOptions.DESCRIPTOR.fields}
    for path, (stage, option) in aliases.items():
        assert option in stage.options and path in option.legacy


def test_the_coordinator_guide_lists_every_declared_option():
    assert options_doc.main(["--check"]) == 0, "run: python -m services.coordinator.options_doc"
    page = options_doc.TARGET.read_text()
    for stage in PIPELINE:
        for option in stage.options:
            assert f"| `{stage.key}` | `{option.name}` |" in page


def test_the_cli_and_the_browser_show_a_runs_options_as_its_stages_read_them():
    config = parse_run_config({"seeds": SEEDS, "refinement_rounds": 1,
                               "stages": {"refine": {"options": {"width": 64}},
                                          "annotate": {"options": {"use_judge": True}}}})
    lines = option_lines(coordinator_pb2.Run(id="r", config=config))
    assert lines == ["  options extract  all at their defaults",
                     "  options refine   width=64 refinement_rounds=1; 8 at their defaults",
                     "  options filter   all at their defaults",
                     "  options annotate use_judge=True; 1 at their defaults"]
    card = {"run_config": json_format.MessageToDict(config, preserving_proto_field_name=True)}
    page = render_browser([], card)
    assert "<tr><td>refine</td><td>refinement_rounds</td><td>1</td><td></td></tr>" in page
    assert "<tr><td>refine</td><td>width</td><td>64</td><td></td></tr>" in page
    assert "<tr><td>extract</td><td>queries_per_seed</td><td>2</td><td>default</td></tr>" in page
    assert 'id="run-options"' not in render_browser([], {})  # an imported dataset has no run config


async def test_create_run_refuses_a_bad_option_as_invalid_argument_naming_its_key(stages, store):
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    server, address = await serve(manager, store)
    config = small_config(stages={"refine": {"options": {"refinement_rounds": 1}}})
    config.stages[0].options["refinement_rounds"] = 1.5  # as a client may send it, past the parser
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateRun(coordinator_pb2.CreateRunRequest(config=config), timeout=30)
    finally:
        await server.stop(None)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "config.stages.refine.options.refinement_rounds: expected an integer, got 1.5"
    assert_nothing_happened(callers, manager, store)


async def test_what_the_service_does_not_serve_is_named_at_the_option_key(stages, store):
    from services.common.errors import InvalidArgument
    manager = RunManager(store, Recording(stages.stage_addresses()))
    with pytest.raises(InvalidArgument) as caught:
        await manager.create(small_config(stages={"refine": {"options": {"renderer": "dall-e"}}}))
    assert caught.value.field == "config.stages.refine.options.renderer"
    assert caught.value.reason == "'dall-e' is not served by t2i-refiner (serves: offline)"


@dataclass
class AuditRequest:
    """What the audit service would take: the samples and the run's strictness."""

    ids: list[str]
    strictness: float
    checks: str


class Audit(PipelineStage):
    """A seventh stage with options of its own, declared as a stage module would."""

    key = "audit"
    stage = max(common_pb2.Stage.values()) + 1   # the value its Stage enum entry would get
    service = "auditor"
    options = (
        StageOption("strictness", float, 0.5, "how sure a check must be to fail a sample", minimum=0, maximum=1),
        StageOption("checks", str, "all", "which checks to run", choices=("all", "faces")),
    )

    def request(self, items, run: RunContext, backend: str) -> AuditRequest:
        options = self.option_values(run.config)
        return AuditRequest([item.id for item in items], options["strictness"], options["checks"])


AUDIT = Audit()


def audited(options: dict | None) -> coordinator_pb2.RunConfig:
    """A run config with the audit stage's settings as CreateRun would receive them."""
    config = parse_run_config({"seeds": SEEDS})
    entry = config.stages.add(stage=AUDIT.stage)
    if options is not None:
        entry.options.CopyFrom(struct_pb2.Struct())
        entry.options.update(options)
    return config


def test_a_new_stage_declares_an_option_that_is_checked_and_reaches_its_request(monkeypatch):
    pipeline = (*PIPELINE, AUDIT)
    monkeypatch.setattr(stages, "PIPELINE", pipeline)
    monkeypatch.setattr(runconfig, "PIPELINE", pipeline)
    monkeypatch.setattr(runconfig, "BY_STAGE", {stage.stage: stage for stage in pipeline})
    for options, key, reason in [({"strictness": 1.5}, "stages.audit.options.strictness", "must be between 0 and 1"),
                                 ({"checks": "text"}, "stages.audit.options.checks",
                                  "'text' is not one of all, faces"),
                                 ({"strict": 1}, "stages.audit.options.strict",
                                  "unknown option (expected one of strictness, checks)")]:
        with pytest.raises(RunConfigError) as caught:
            validate_run_config(audited(options))
        assert (caught.value.key, caught.value.reason) == (key, reason)
    config = audited({"strictness": 0.8, "checks": "faces"})
    validate_run_config(config)
    item = type("Item", (), {"id": "s-1"})()
    assert AUDIT.request([item], RunContext(config, common_pb2.Taxonomy()), "") == AuditRequest(["s-1"], 0.8, "faces")
    assert AUDIT.request([], RunContext(audited(None), common_pb2.Taxonomy()), "") == AuditRequest([], 0.5, "all")
    # Shown with the others, from its declaration.
    assert "  options audit    strictness=0.8 checks='faces'" in option_lines(coordinator_pb2.Run(config=config))
