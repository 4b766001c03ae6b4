"""The stage declarations are the one source the rest derives from: each
declaration names an RPC its service really has, with the result type it
really answers, and the registry, the address settings, the run config and
the chart's values all follow the declared list."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import yaml

from services import registry
from services.coordinator.config import StageAddresses
from services.coordinator.runconfig import parse_run_config, stage_config
from services.coordinator.stages import BY_KEY, PIPELINE

ROOT = Path(__file__).resolve().parents[2]


def service_descriptor(stage):
    module = importlib.import_module(stage.api.stub.__module__.replace("_pb2_grpc", "_pb2"))
    (service,) = module.DESCRIPTOR.services_by_name.values()
    return service


def test_every_declared_rpc_exists_and_answers_the_declared_results():
    for stage in PIPELINE:
        for api in (stage.api, *stage.extra_apis.values()):
            method = service_descriptor(stage).methods_by_name[api.method]
            field = method.output_type.fields_by_name[api.result_field]
            assert field.is_repeated, f"{stage.key}: {api.method}.{api.result_field}"
        method = service_descriptor(stage).methods_by_name[stage.api.method]
        reply = method.output_type.fields_by_name[stage.api.result_field]
        assert reply.message_type is stage.result_type.DESCRIPTOR, stage.key


def test_every_stage_declares_its_services_get_info():
    from mis.v1 import common_pb2
    for stage in PIPELINE:
        api = stage.info_api
        assert api.stub is stage.api.stub, stage.key
        method = service_descriptor(stage).methods_by_name[api.method]
        assert method.input_type is api.request.DESCRIPTOR, stage.key
        assert method.output_type.fields_by_name[api.result_field].message_type is \
            common_pb2.StageInfo.DESCRIPTOR, stage.key


def test_keys_enums_and_services_are_unique():
    for attribute in ("key", "stage", "service"):
        values = [getattr(stage, attribute) for stage in PIPELINE]
        assert len(set(values)) == len(values), attribute


def test_the_registry_and_the_address_settings_follow_the_list():
    assert list(registry.SERVICES)[:len(PIPELINE)] == [stage.service for stage in PIPELINE]
    fields = dataclasses.fields(StageAddresses)
    assert [f.name for f in fields] == [stage.module for stage in PIPELINE]
    assert [f.metadata["env"] for f in fields] == [stage.address_variable for stage in PIPELINE]
    for stage in PIPELINE:
        assert registry.ADDRESS_VARIABLES[stage.service] == stage.address_variable
        package = ROOT / "services" / stage.module
        assert (package / "server.py").is_file() and (package / "config.py").is_file(), stage.service


def test_run_configs_take_every_declared_key_with_its_defaults():
    config = parse_run_config({"seeds": ["s"], "stages": {key: {} for key in BY_KEY}})
    for stage in PIPELINE:
        filled = stage_config(config, stage)
        assert (filled.concurrency, filled.batch_size) == (stage.concurrency, stage.batch_size)


def test_the_chart_deploys_every_declared_stage():
    values = yaml.safe_load((ROOT / "charts" / "mis" / "values.yaml").read_text())
    assert set(values["services"]) == set(registry.SERVICES)


# Every module of the executor, the callers, the CLI's progress and the export.
GENERIC_MODULES = ("pipeline", "callers", "client", "progress", "runconfig",
                   "export", "records", "parquet", "dataset", "writers", "card", "formats")


def test_the_executor_and_the_export_name_no_stage():
    """What a stage does lives in its declaration: the executor, the callers,
    the export and the CLI's progress never branch on a stage's name, and
    the export's records and columns never name a stage's provenance list
    (test_export_stage_provenance.py shows a new one flowing through)."""
    names = ({stage.key for stage in PIPELINE} | {stage.service for stage in PIPELINE}
             | {listed.name for stage in PIPELINE for listed in stage.provenance_lists})
    for module in GENERIC_MODULES:
        source = (ROOT / "services" / "coordinator" / f"{module}.py").read_text()
        quoted = [name for name in names if f'"{name}"' in source or f"'{name}'" in source]
        assert not quoted, f"{module}.py names {quoted}"


def test_provenance_lists_have_unique_names_and_parquet_types():
    from services.coordinator.parquet import _ENTRY_TYPES
    from services.coordinator.stages.base import ENTRY_TYPES
    names = [listed.name for stage in PIPELINE for listed in stage.provenance_lists]
    assert len(set(names)) == len(names) and names
    assert set(_ENTRY_TYPES) == set(ENTRY_TYPES)
