"""What a pipeline stage declares, and what the coordinator derives from it.

A stage is one small object: its key (in store keys, YAML and the CLI), its
`Stage` enum, the service that serves it (which names its `mis serve`
command, its package and its MIS_*_ADDRESS setting), the batch RPC, how a
batch request is built from the items in hand, how a result moves a sample
on, the provenance a result carries, what it adds to the exported record
(its fields, and the provenance lists it declares, from which the export's
records and Parquet columns are derived), and its own run options
(stages/options.py). The executor (pipeline.py) and the export know nothing
else about any stage.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from google.protobuf import json_format

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator import layout
from services.coordinator.sample import Sample
from services.coordinator.stages.options import OptionValue, RunConfigError, StageOption, resolve_options


# The keys of a stored output that hold its result: the serialized message,
# or, in runs stored before that, json_format's JSON object.
RESULT_MESSAGE = "result_message"
RESULT_JSON = "result"


class TransientStageError(Exception):
    """The call may succeed if made again (elsewhere)."""


class StageCallError(Exception):
    """The stage refused the whole call; retrying would not help."""


def not_served(value: str, service: str, served) -> str:
    return f"{value!r} is not served by {service} (serves: {', '.join(served) or 'nothing'})"


@dataclass(frozen=True)
class StageApi:
    """One RPC of a stage service: its stub, method and the reply's repeated field."""

    stub: type
    method: str
    result_field: str = "results"
    # The request message, for a call the caller makes itself (GetInfo).
    request: type | None = None


@dataclass(frozen=True)
class RunContext:
    """What request building may read besides the items: the run's config and taxonomy."""

    config: coordinator_pb2.RunConfig
    taxonomy: common_pb2.Taxonomy


ImageReader = Callable[[common_pb2.ImageRef], Callable[[], bytes]]

# The types an entry of a provenance list may hold, each a Parquet column type (parquet.py).
ENTRY_TYPES: tuple[type, ...] = (str, int, float, bool)


@dataclass(frozen=True)
class ProvenanceList:
    """A list a stage adds to the exported record's provenance (the refine
    stage's drawing rounds, the retrieve stage's photos): its name there and
    the fields of one entry with their types, in column order. The records,
    the Parquet schema and the dataset browser's table are derived from these
    declarations, so a stage adds provenance without an edit of any export
    file. `title` heads the browser's table; `columns` are its columns, each a
    heading and the fields it shows (non-empty values joined by " / "); by
    default one column per field, headed by its name."""

    name: str
    fields: tuple[tuple[str, type], ...]
    title: str = ""
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        names = {name for name, _ in self.fields}
        shown = [field for _, fields in self.columns for field in fields if field not in names]
        if shown:
            raise TypeError(f"provenance list {self.name!r}: columns show undeclared fields {shown}")
        unknown = [name for name, kind in self.fields if kind not in ENTRY_TYPES]
        if unknown:
            raise TypeError(f"provenance list {self.name!r}: fields {unknown} are not one of "
                            f"{', '.join(t.__name__ for t in ENTRY_TYPES)}")

    def entry(self, values: dict[str, Any]) -> dict[str, Any]:
        """One entry, checked against the declaration (every field, of its
        type) and in its field order, which is the order the export writes."""
        names = [name for name, _ in self.fields]
        if set(values) != set(names):
            raise TypeError(f"provenance list {self.name!r}: entry has {sorted(values)}, "
                            f"declared {sorted(names)}")
        for name, kind in self.fields:
            value = values[name]
            if not (type(value) is kind or (kind is float and type(value) is int)):
                raise TypeError(f"provenance list {self.name!r}: {name} is {type(value).__name__} "
                                f"{value!r}, declared {kind.__name__}")
        return {name: values[name] for name in names}

    def table(self) -> dict[str, Any]:
        """How the dataset browser lays out this list: its title and columns."""
        columns = self.columns or tuple((name, (name,)) for name, _ in self.fields)
        return {"name": self.name, "title": self.title or self.name,
                "columns": [{"heading": heading, "fields": list(fields)} for heading, fields in columns]}


class PipelineStage:
    """Base of every declared stage; subclasses set the class attributes and
    override `request`, `advance`, and where they differ, the rest."""

    key: str
    stage: int                     # common_pb2.Stage
    service: str                   # `mis serve` name, e.g. "t2i-refiner"
    api: StageApi
    # The service's GetInfo: what it serves, checked against a run at CreateRun.
    info_api: StageApi
    result_type: type
    concurrency: int = 4           # default calls in flight
    batch_size: int = 4            # default items per call
    # Splits whose samples are finished at this stage (for the CLI's progress estimate).
    finishes: tuple[str, ...] = ()
    # Further RPCs of the same service, opened on the same replicas (name -> api).
    extra_apis: dict[str, StageApi] = {}
    # A branch stage is not on every sample's way: it takes a copy (a fork)
    # of the samples it `takes` as the stage named here has handled them, and
    # the sample itself goes on (or ends) as before. Empty: an ordinary stage.
    branches_from: str = ""
    # What this stage adds to the exported record's provenance (export_result fills them).
    provenance_lists: tuple[ProvenanceList, ...] = ()
    # The stage's own run options, beyond the settings every stage has: a run
    # sets them at `stages.<key>.options.<name>`; `run_options` reads them.
    options: tuple[StageOption, ...] = ()
    # Keys the stage had before a rename: a run config, manifest or
    # checkpoint written with one is read as this stage (stages.named).
    former_keys: tuple[str, ...] = ()
    # The name its outputs are stored under (layout.stage_output), when not
    # its key: a stage keeps the name its outputs were first stored under, so
    # a run stored before a rename resumes and exports as it is.
    stored_name: str = ""

    @property
    def module(self) -> str:
        """The package of the service: services/<module>/."""
        return self.service.replace("-", "_")

    @property
    def address_variable(self) -> str:
        return f"MIS_{self.module.upper()}_ADDRESS"

    @property
    def stored_as(self) -> str:
        """The name of its outputs in the store: `stored_name`, else its key."""
        return self.stored_name or self.key

    def request(self, items: Sequence[Any], run: RunContext, backend: str) -> Any:
        raise NotImplementedError

    def given(self, config: coordinator_pb2.RunConfig) -> coordinator_pb2.StageConfig:
        """The run's settings of this stage as written (empty when it has none)."""
        return next((s for s in config.stages if s.stage == self.stage),
                    coordinator_pb2.StageConfig(stage=self.stage))

    def run_options(self, config: coordinator_pb2.RunConfig) -> dict[str, OptionValue]:
        """The run's value of each of this stage's options, checked, by name:
        `stages.<key>.options`, else the deprecated RunConfig field the option
        names, else its default. What request building and the checks read."""
        given = self.given(config)
        return resolve_options(self.key, self.options, given.options if given.HasField("options") else None,
                               config)

    def option_values(self, config: coordinator_pb2.RunConfig) -> dict[str, Any]:
        """`run_options`, the values alone."""
        return {name: found.value for name, found in self.run_options(config).items()}

    def check_config(self, config: coordinator_pb2.RunConfig) -> None:
        """Checks of the run's options for this stage that need no service;
        raise RunConfigError naming the key."""

    def check_served(self, config: coordinator_pb2.RunConfig, info: common_pb2.StageInfo,
                     service: str) -> None:
        """The run's options against what the service says it serves (its
        GetInfo); raise RunConfigError naming the key. `service` names it in
        the message (with the replica's address where there are several)."""
        backend = self.given(config).backend
        if backend and backend not in info.backends:
            raise RunConfigError(f"stages.{self.key}.backend", not_served(backend, service, info.backends))
        self.check_batch(config, info, service)

    def check_batch(self, config: coordinator_pb2.RunConfig, info: common_pb2.StageInfo,
                    service: str) -> None:
        batch = self.given(config).batch_size or self.batch_size
        if info.max_batch_items and batch > info.max_batch_items:
            raise RunConfigError(f"stages.{self.key}.batch_size",
                                 f"{batch} items per call is over the limit of {info.max_batch_items} "
                                 f"of {service}")

    def used(self, config: coordinator_pb2.RunConfig) -> bool:
        """Whether a run uses this stage: its service is required then, and
        only then (a branch says when a run asks for it)."""
        return True

    def takes(self, sample: Sample) -> bool:
        """A branch: whether it takes a fork of `sample` (in a run that uses it)."""
        return False

    def fork(self, sample: Sample) -> Sample:
        """The copy of `sample` this branch takes: everything the sample has
        so far, under an id derived from the sample's and this stage's key."""
        copied = copy.deepcopy(sample)
        copied.id = layout.fork_id(sample.id, self.key)
        copied.origin, copied.branch, copied.outcome = sample.id, self.key, ""
        return copied

    def rejected(self, result: Any) -> bool:
        return result.HasField("rejection")

    def advance(self, item: Any, result: Any, run_id: str) -> list[Sample]:
        """Apply an accepted result: the samples that go on to the next stage
        (the item itself, or new ones), or [] when the item is finished here."""
        raise NotImplementedError

    def apply(self, item: Any, result: Any, run_id: str) -> list[Sample]:
        """`advance`, and the result's provenance recorded on every sample it
        touched: what the pipeline and the export both do with a result."""
        moved = self.advance(item, result, run_id)
        touched = {id(s): s for s in [item, *moved] if isinstance(s, Sample)}
        records = self.provenances(result)
        for sample in touched.values():
            sample.provenance.extend(records)
        return moved

    def provenances(self, result: Any) -> list[common_pb2.Provenance]:
        """Every Provenance a result carries (tokens, GPU time, the card's models)."""
        return list(result.provenance)

    def export(self, sample: Sample, images: ImageReader) -> dict[str, Any]:
        """The fields this stage gives the exported record."""
        return {}

    def export_result(self, result: Any) -> dict[str, list[dict[str, Any]]]:
        """The entries of this stage's `provenance_lists`, by list name, from
        its stored result itself (what the sample does not keep, such as how
        it was drawn); each entry made by its list's `entry`."""
        return {}

    def exported_provenance(self, result: Any) -> dict[str, list[dict[str, Any]]]:
        """`export_result`, holding only lists this stage declares."""
        lists = self.export_result(result)
        undeclared = sorted(set(lists) - {listed.name for listed in self.provenance_lists})
        if undeclared:
            raise TypeError(f"{self.key}: exports provenance lists {undeclared} it does not declare "
                            "in provenance_lists")
        return lists

    def results_of(self, response: Any, expected: int) -> Sequence[Any]:
        results = list(getattr(response, self.api.result_field))
        if len(results) != expected:
            raise TransientStageError(f"{self.key}: {len(results)} results for {expected} items")
        return results

    def stored_result(self, result: Any) -> dict[str, str]:
        """The result's fields in its stored output: the serialized message,
        base64-encoded. Serializing is protobuf's own C path, several times
        cheaper than building json_format's JSON object, which was the
        coordinator's largest CPU cost per sample (bench/results.py); the
        exported dataset, not the store, is what people read."""
        return {RESULT_MESSAGE: base64.b64encode(result.SerializeToString()).decode("ascii")}

    def result_of(self, stored: dict) -> Any:
        """The result a stored output holds, whichever way it was stored
        (runs stored before results were stored as messages hold JSON)."""
        message = stored.get(RESULT_MESSAGE)
        if message is not None:
            return self.result_type().FromString(base64.b64decode(message))
        return json_format.ParseDict(stored[RESULT_JSON], self.result_type(), ignore_unknown_fields=True)
