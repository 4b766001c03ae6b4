"""Launch, status, list, cancel, gang restart, clean-up and logs through the real
`kubernetes` client against kmock's emulator (tests/training_jobs/cluster.py).

The emulator runs no controllers, so a test plays the Job controller (status, pods) and
Kueue (a Workload owned by the Job) itself. The trainer's progress.json is written to a
real S3 server, where the run's output points. Every API request each test makes is
checked against the chart's Role when the test ends (conftest.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from unittest.mock import patch

import pytest
from kmock import method
from minio import Minio

from mis.v1 import coordinator_pb2
from services.coordinator.training import (StoreProgressReader, TrainingConflictError,
                                           TrainingLauncher, TrainingNotFoundError)
from services.coordinator.training.logs import NoPodError
from tests.training_jobs.cluster import JOBS, PODS, SERVICES, later
from tests.training_jobs.specs import make_spec
from trainer.store import Store

State = coordinator_pb2.TrainingState


@pytest.fixture
def api(cluster):
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def launcher(api, placement, s3_server, store, bucket_name):
    # Progress comes from a real S3 server, where the trainer's rank 0 writes it.
    s3 = Minio(s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key, secure=False)
    runs = dataclasses.replace(placement, output_root=f"s3://{bucket_name}/runs", max_restarts=2)
    return TrainingLauncher(api, "mis", runs, progress_reader=StoreProgressReader(s3))


@pytest.fixture
def queued(api, placement):
    return TrainingLauncher(api, "mis", dataclasses.replace(placement, queue_name="mis-training"))


async def call(fn, *args, **kwargs):
    # The kubernetes client is blocking; kmock serves on this test's event loop.
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), timeout=30)


async def test_launch_creates_one_job_and_service_and_is_idempotent(cluster, launcher):
    spec = make_spec(nodes=2, overrides={"epochs": "1"})
    first = await call(launcher.launch, "req-1", spec)
    assert first.state == State.TRAINING_STATE_PENDING
    assert first.spec == spec
    again = await call(launcher.launch, "req-1", spec)
    assert again.name == first.name
    assert cluster.names(JOBS) == [first.name]
    assert cluster.names(SERVICES) == [first.name]
    creates = [r for r in cluster.kmock if r.method == method.POST and r.url.path.endswith("/jobs")]
    assert len(creates) == 1

    stored = cluster.job(first.name)
    pod = stored["spec"]["template"]["spec"]
    assert stored["spec"]["completionMode"] == "Indexed" and stored["spec"]["completions"] == 2
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "8", "memory": "512Gi"}
    assert pod["subdomain"] == first.name
    service = cluster.kmock.objects[SERVICES, "mis", first.name]
    assert service["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]


async def test_the_same_request_id_with_another_spec_is_a_conflict(cluster, launcher):
    training = await call(launcher.launch, "req-1", make_spec(nodes=2))
    with pytest.raises(TrainingConflictError, match="req-1"):
        await call(launcher.launch, "req-1", make_spec(nodes=4))
    assert cluster.names(JOBS) == [training.name]
    assert cluster.job(training.name)["spec"]["completions"] == 2


async def test_status_follows_the_job_and_the_trainers_progress(cluster, launcher, store_env, bucket_name):
    training = await call(launcher.launch, "req-2", make_spec())
    cluster.set_status(training.name, active=1, ready=0)  # scheduled, waiting for GPUs
    assert (await call(launcher.get, training.name)).state == State.TRAINING_STATE_PENDING

    cluster.set_status(training.name, active=1, ready=1)
    running = await call(launcher.get, training.name)
    assert running.state == State.TRAINING_STATE_RUNNING and running.step == 0  # no progress.json yet

    # What trainer/progress.py writes, at the output the Job was given.
    output = cluster.job(training.name)["metadata"]["annotations"]["mis.dev/output-uri"]
    assert output == f"s3://{bucket_name}/runs/{training.name}"
    with patch.dict(os.environ, store_env):
        Store().write_json(f"{output}/progress.json", {
            "step": 120, "total_steps": 700, "loss": 0.734, "epoch": 0.5, "state": "running",
            "tokens": 983040, "tokens_per_second": 8192.5,
            "updated_at": "2026-11-22T10:00:00+00:00"})
    running = await call(launcher.get, training.name)
    assert (running.state, running.step, running.loss) == (State.TRAINING_STATE_RUNNING, 120, pytest.approx(0.734))
    assert running.total_steps == 700
    assert (running.tokens, running.tokens_per_second) == (983040, pytest.approx(8192.5))

    cluster.set_status(training.name, active=0, ready=0, succeeded=1,
                       conditions=[{"type": "Complete", "status": "True"}])
    done = await call(launcher.get, training.name)
    assert done.state == State.TRAINING_STATE_SUCCEEDED and done.step == 120


async def test_a_failed_gang_restarts_from_the_same_output_up_to_the_limit(cluster, launcher):
    spec = make_spec(nodes=2)
    training = await call(launcher.launch, "req-3", spec)
    output = cluster.job(training.name)["metadata"]["annotations"]["mis.dev/output-uri"]
    cluster.fail(training.name)
    waiting = await call(launcher.get, training.name)
    assert waiting.state == State.TRAINING_STATE_PENDING
    assert waiting.reason.startswith("gang restart 1 of 2 due after: BackoffLimitExceeded")

    for attempt in (1, 2):
        done = await call(launcher.reconcile)
        assert done.restarted == (training.name,)
        job = f"{training.name}-r{attempt}"
        assert cluster.names(JOBS)[-1] == job and job in cluster.names(SERVICES)
        relaunched = cluster.job(job)
        assert relaunched["metadata"]["annotations"]["mis.dev/output-uri"] == output  # resumes there
        assert relaunched["metadata"]["labels"]["mis.dev/training"] == training.name
        args = relaunched["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--master-addr={job}-0.{job}" in args
        assert (await call(launcher.get, training.name)).spec == spec
        cluster.fail(job, reason="PodFailurePolicy", message="container trainer exited with 1")

    failed = await call(launcher.get, training.name)
    assert failed.state == State.TRAINING_STATE_FAILED
    assert failed.reason == "PodFailurePolicy: container trainer exited with 1 (after 2 gang restarts)"
    assert (await call(launcher.reconcile)).restarted == ()
    assert len(cluster.names(JOBS)) == 3
    assert [t.name for t in await call(launcher.list)] == [training.name]


async def test_without_gang_restarts_a_failed_job_reports_its_reason(cluster, api, placement):
    launcher = TrainingLauncher(api, "mis", dataclasses.replace(placement, max_restarts=0))
    training = await call(launcher.launch, "req-4", make_spec())
    cluster.fail(training.name)
    failed = await call(launcher.get, training.name)
    assert failed.state == State.TRAINING_STATE_FAILED
    assert failed.reason == "BackoffLimitExceeded: Job has reached the specified backoff limit"


async def test_cancel_suspends_and_the_run_is_deleted_after_its_retention(cluster, launcher):
    a = await call(launcher.launch, "req-a", make_spec())
    b = await call(launcher.launch, "req-b", make_spec(preset="llava_onevision_7b"))
    cluster.set_status(b.name, active=1, ready=1)
    listed = await call(launcher.list)
    assert sorted(t.name for t in listed) == sorted([a.name, b.name])
    assert {t.name: t.spec.preset for t in listed}[b.name] == "llava_onevision_7b"

    cancelled = await call(launcher.cancel, b.name)
    assert cancelled.state == State.TRAINING_STATE_CANCELLED
    assert cluster.job(b.name)["spec"]["suspend"] is True  # Kubernetes removes the pods of a suspended Job
    patches = [r for r in cluster.kmock if r.method == method.PATCH]
    # A merge patch: what the API server accepts for Jobs and custom resources alike.
    assert [r.headers["Content-Type"] for r in patches] == ["application/merge-patch+json"]
    assert (await call(launcher.get, a.name)).state == State.TRAINING_STATE_PENDING

    assert (await call(launcher.reconcile)).deleted == ()  # still within its retention
    assert (await call(launcher.get, b.name)).state == State.TRAINING_STATE_CANCELLED
    done = await call(launcher.reconcile, later(hours=25))
    assert done.deleted == (b.name,)
    assert cluster.names(JOBS) == [a.name]
    with pytest.raises(TrainingNotFoundError):
        await call(launcher.get, b.name)


async def test_cancel_during_a_due_gang_restart_stops_it(cluster, launcher):
    training = await call(launcher.launch, "req-5", make_spec())
    cluster.fail(training.name)
    assert (await call(launcher.cancel, training.name)).state == State.TRAINING_STATE_CANCELLED
    assert "suspend" not in cluster.job(training.name)["spec"]  # a failed Job has no pods to stop
    assert (await call(launcher.reconcile)).restarted == ()
    assert cluster.names(JOBS) == [training.name]


async def test_under_kueue_cancel_deactivates_the_jobs_workload(cluster, queued):
    mine = await call(queued.launch, "req-k", make_spec())
    other = await call(queued.launch, "req-other", make_spec())
    workload = cluster.admit_workload(mine.name)
    untouched = cluster.admit_workload(other.name)
    cluster.set_status(mine.name, active=1, ready=1)

    assert (await call(queued.cancel, mine.name)).state == State.TRAINING_STATE_CANCELLED
    assert cluster.workload(workload)["spec"]["active"] is False
    assert cluster.workload(untouched)["spec"]["active"] is True
    assert cluster.job(mine.name)["spec"]["suspend"] is True

    # Should the Workload turn active again (re-created by Kueue), housekeeping stops it again.
    cluster.workload(workload).patch({"spec": {"active": True}})
    assert (await call(queued.reconcile)).deactivated == 1
    assert cluster.workload(workload)["spec"]["active"] is False
    assert cluster.workload(untouched)["spec"]["active"] is True


@pytest.mark.parametrize("cluster", ["v1beta2"], indirect=True)
async def test_a_newer_kueue_is_spoken_in_the_version_the_cluster_serves(cluster, queued):
    training = await call(queued.launch, "req-k2", make_spec())
    workload = cluster.admit_workload(training.name)
    assert cluster.workloads_path == "kueue.x-k8s.io/v1beta2/workloads"
    assert (await call(queued.cancel, training.name)).state == State.TRAINING_STATE_CANCELLED
    assert cluster.workload(workload)["spec"]["active"] is False
    assert cluster.job(training.name)["spec"]["suspend"] is True


@pytest.mark.parametrize("cluster", [None], indirect=True)
async def test_a_queue_on_a_cluster_without_kueue_cancels_by_suspending(cluster, queued):
    training = await call(queued.launch, "req-k3", make_spec())
    cluster.set_status(training.name, active=1, ready=1)
    assert (await call(queued.cancel, training.name)).state == State.TRAINING_STATE_CANCELLED
    assert cluster.job(training.name)["spec"]["suspend"] is True
    assert (await call(queued.reconcile)).deactivated == 0


async def test_logs_of_rank_zero_or_a_chosen_rank(cluster, launcher):
    training = await call(launcher.launch, "req-logs", make_spec(nodes=2))
    with pytest.raises(NoPodError, match="rank 0"):
        await call(lambda: list(launcher.logs(training.name)))
    cluster.add_pod(training.name, 0, log="step 1 loss 2.5\nstep 2 loss 2.1\n")
    cluster.add_pod(training.name, 1, log="rank 1 waiting\n", created="2026-12-01T10:00:00Z")
    cluster.add_pod(training.name, 1, log="rank 1 replaced after a drain\n", created="2026-12-01T11:00:00Z")
    assert await call(lambda: list(launcher.logs(training.name))) == ["step 1 loss 2.5", "step 2 loss 2.1"]
    assert await call(lambda: list(launcher.logs(training.name, rank=1))) == ["rank 1 replaced after a drain"]
    assert len(cluster.names(PODS)) == 3


async def test_unknown_names_are_not_found(cluster, launcher):
    with pytest.raises(TrainingNotFoundError):
        await call(launcher.get, "mirage-nope")
    with pytest.raises(TrainingNotFoundError):
        await call(launcher.cancel, "mirage-nope")


async def test_a_launch_cut_short_before_its_service_is_completed(cluster, launcher):
    spec = make_spec(nodes=2)
    training = await call(launcher.launch, "req-half", spec)
    cluster.kmock.objects[SERVICES, "mis", training.name].delete()  # as if the first launch died half-way
    assert cluster.names(SERVICES) == []
    again = await call(launcher.launch, "req-half", spec)
    assert again.name == training.name
    assert cluster.names(SERVICES) == [training.name]
