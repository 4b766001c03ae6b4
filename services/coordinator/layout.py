"""Where a run lives in the store. Every key is derived from the run id and
the sample or seed id, never from time or process, so writing an output twice
(a retry after a crash) lands on the same object: the store itself is the
run's durable state and no other database is needed.

    runs/<run>/run.json                      config, state, message, timestamps
    runs/<run>/seeds/<seed-key>/extract.json the first stage's result for one seed
    runs/<run>/samples/<sample>/<stage>.json every later stage, by its stored name (its key, or
                                             the name it was first stored under: render)
    runs/<run>/outputs/<n>.json              stage outputs stored together, under the keys above
                                             (outputs.py; a run may hold both shapes)
    runs/<run>/failures/<item>.json          an item that exhausted its retries
    runs/<run>/manifest/<n>.json             outcomes so far, to resume without replaying them
    runs/<run>/checkpoint.json               the manifest folded, with the near-duplicate index
    runs/<run>/feed.json                     no seed at or past this index has been started
    runs/<run>/result.json                   the finished samples, after dedup and targets
    runs/<run>/progress.json                 the last progress snapshot
    runs/<run>/review.json                   reviewers' decisions and the versions they exported
"""

from __future__ import annotations

import hashlib

RUNS = "runs/"
DATASETS = "datasets/"


def digest(*parts: str, length: int = 20) -> str:
    joined = "\x00".join(parts).encode()
    return hashlib.sha256(joined).hexdigest()[:length]


def sample_id(run_id: str, seed_id: str, query_index: int) -> str:
    """A sample's id: the same run, seed and query index always give the same id."""
    return "s" + digest(run_id, seed_id, str(query_index))


def fork_id(sample: str, branch: str) -> str:
    """The id of the copy a branch stage takes of a sample (stages/base.py)."""
    return f"{sample}-{branch}"


def seed_key(seed_id: str) -> str:
    return digest(seed_id, length=24)


def run_prefix(run_id: str) -> str:
    return f"{RUNS}{run_id}/"


def run_record(run_id: str) -> str:
    return f"{RUNS}{run_id}/run.json"


def extract_output(run_id: str, seed_id: str) -> str:
    return f"{RUNS}{run_id}/seeds/{seed_key(seed_id)}/extract.json"


def stage_output(run_id: str, sample: str, stage: str) -> str:
    return f"{RUNS}{run_id}/samples/{sample}/{stage}.json"


def outputs_prefix(run_id: str) -> str:
    return f"{RUNS}{run_id}/outputs/"


def output_group(run_id: str, number: int) -> str:
    """A group of stage outputs stored as one object (outputs.py)."""
    return f"{RUNS}{run_id}/outputs/{number:08d}.json"


def failure_record(run_id: str, item_id: str) -> str:
    return f"{RUNS}{run_id}/failures/{item_id}.json"


def failures_prefix(run_id: str) -> str:
    return f"{RUNS}{run_id}/failures/"


def manifest_prefix(run_id: str) -> str:
    return f"{RUNS}{run_id}/manifest/"


def manifest_segment(run_id: str, number: int) -> str:
    return f"{RUNS}{run_id}/manifest/{number:08d}.json"


def checkpoint_record(run_id: str) -> str:
    return f"{RUNS}{run_id}/checkpoint.json"


def feed_record(run_id: str) -> str:
    return f"{RUNS}{run_id}/feed.json"


def result_record(run_id: str) -> str:
    return f"{RUNS}{run_id}/result.json"


def progress_record(run_id: str) -> str:
    return f"{RUNS}{run_id}/progress.json"


def review_record(run_id: str) -> str:
    return f"{RUNS}{run_id}/review.json"


def dataset_prefix(name: str, version: str) -> str:
    return f"{DATASETS}{name}/{version}/"
