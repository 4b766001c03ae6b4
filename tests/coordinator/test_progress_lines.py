"""The CLI's progress rows come from the declared stages, and each bar's
total is what will reach that stage as far as known now: seeds for the first
stage, samples less earlier rejections and failures, and after the filter only
the train samples it sent on."""

from __future__ import annotations

from mis.v1 import common_pb2, coordinator_pb2 as pb
from services.coordinator.client import progress_lines, stage_totals
from services.coordinator.stages import PIPELINE


def running_run() -> pb.Run:
    counts = {common_pb2.STAGE_EXTRACT: (10, 0, 0), common_pb2.STAGE_DETOXIFY: (15, 3, 1),
              common_pb2.STAGE_RENDER: (12, 0, 2), common_pb2.STAGE_FILTER: (9, 1, 0),
              common_pb2.STAGE_ANNOTATE: (2, 0, 0)}
    return pb.Run(id="r", state=pb.RUN_STATE_RUNNING, progress=pb.RunProgress(
        seeds_total=10, samples_total=20, per_split={"easy": 2, "hard": 3},
        stages=[pb.StageProgress(stage=stage, done=done, rejected=rejected, failed=failed)
                for stage, (done, rejected, failed) in counts.items()]))


def test_totals_follow_the_samples_down_the_pipeline():
    totals = stage_totals(running_run())
    assert totals == {common_pb2.STAGE_EXTRACT: 10, common_pb2.STAGE_DETOXIFY: 20,
                      common_pb2.STAGE_RENDER: 16, common_pb2.STAGE_FILTER: 14,
                      common_pb2.STAGE_ANNOTATE: 4}


def test_one_row_per_declared_stage_in_pipeline_order():
    lines = progress_lines(running_run())
    rows = [line.split()[0] for line in lines[1:1 + len(PIPELINE)]]
    assert rows == [stage.key for stage in PIPELINE]
    assert "    2/4    " in lines[len(PIPELINE)]  # annotate: 2 of the 4 train samples
