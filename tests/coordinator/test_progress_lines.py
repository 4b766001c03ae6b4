"""The CLI's progress rows come from the declared stages, and each bar's
total is what will reach that stage as far as known now: seeds for the first
stage, samples less earlier rejections and failures, and after the filter only
the train samples it sent on."""

from __future__ import annotations

import io

from mis.v1 import common_pb2, coordinator_pb2 as pb
from services.cli.pace import Pace
from services.cli.runs import pace_line, watch_run
from services.coordinator.client import progress_lines, stage_totals
from services.coordinator.stages import PIPELINE


def running_run() -> pb.Run:
    counts = {common_pb2.STAGE_EXTRACT: (10, 0, 0), common_pb2.STAGE_DETOXIFY: (15, 3, 1),
              common_pb2.STAGE_REFINE: (12, 0, 2), common_pb2.STAGE_FILTER: (9, 1, 0),
              common_pb2.STAGE_RETRIEVE: (0, 0, 0), common_pb2.STAGE_ANNOTATE: (2, 0, 0)}
    return pb.Run(id="r", state=pb.RUN_STATE_RUNNING, progress=pb.RunProgress(
        seeds_total=10, samples_total=20, per_split={"easy": 2, "hard": 3},
        stages=[pb.StageProgress(stage=stage, done=done, rejected=rejected, failed=failed)
                for stage, (done, rejected, failed) in counts.items()]))


def test_totals_follow_the_samples_down_the_pipeline():
    totals = stage_totals(running_run())
    assert totals == {common_pb2.STAGE_EXTRACT: 10, common_pb2.STAGE_DETOXIFY: 20,
                      common_pb2.STAGE_REFINE: 16, common_pb2.STAGE_FILTER: 14,
                      common_pb2.STAGE_RETRIEVE: 0, common_pb2.STAGE_ANNOTATE: 4}


def test_forks_count_for_their_branch_and_not_for_the_main_line():
    run = running_run()
    forks = pb.StageProgress(stage=common_pb2.STAGE_RETRIEVE, done=3, rejected=1, in_flight=1)
    stages = [forks if s.stage == common_pb2.STAGE_RETRIEVE else s for s in run.progress.stages]
    del run.progress.stages[:]
    run.progress.stages.extend(stages)
    run.progress.samples_total = 25  # 20 samples and the 5 forks the retrieve branch took
    run.progress.per_split["real"] = 3
    totals = stage_totals(run)
    assert totals == {common_pb2.STAGE_EXTRACT: 10, common_pb2.STAGE_DETOXIFY: 20,
                      common_pb2.STAGE_REFINE: 16, common_pb2.STAGE_FILTER: 14,
                      common_pb2.STAGE_RETRIEVE: 5, common_pb2.STAGE_ANNOTATE: 4}


def test_one_row_per_declared_stage_in_pipeline_order():
    lines = progress_lines(running_run())
    rows = [line.split()[0] for line in lines[1:1 + len(PIPELINE)]]
    assert rows == [stage.key for stage in PIPELINE]
    assert "    2/4    " in lines[len(PIPELINE)]  # annotate: 2 of the 4 train samples


def test_the_header_says_the_state_once():
    run = running_run()
    run.message = "running"
    assert progress_lines(run)[0] == "run r  running"
    run.message = "retrying 2 failed items"
    assert progress_lines(run)[0] == "run r  running  retrying 2 failed items"


def test_pace_gives_the_rate_seen_and_the_time_left():
    run = running_run()
    pace = Pace()
    run.progress.samples_finished = 4
    assert pace_line(run, pace.observe(100.0, 4)) == "  pace: measuring"
    run.progress.samples_finished = 8
    # 4 samples in 8 s: 0.5/s, and 12 of 20 left: 24 s.
    assert pace_line(run, pace.observe(108.0, 8)) == "  pace: 0.50 samples/s, ETA 0:00:24"
    run.progress.samples_total = 400
    assert pace_line(run, 0.5) == "  pace: 0.50 samples/s, ETA 0:13:04"


def test_watch_draws_the_pace_until_the_run_ends():
    class Client:
        def watch(self, run_id):
            first = running_run()
            last = running_run()
            last.state = pb.RUN_STATE_SUCCEEDED
            yield from (first, last)
    out = io.StringIO()
    watch_run(Client(), "r", out=out)
    first, last = out.getvalue().split("run r  succeeded")
    assert first.startswith("run r  running") and "pace: measuring" in first
    assert "pace" not in last  # a finished run has no time left
