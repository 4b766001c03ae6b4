"""Launch, status, list and cancel through the real `kubernetes` client against kmock.

kmock's KubernetesEmulator is an in-memory API server over HTTP; it runs no controllers,
so the test plays the Job controller and writes Job status itself. The trainer's
progress.json is written where the run's output points (a local folder here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from unittest.mock import patch

import pytest
from kmock import method
from kubernetes import client
from minio import Minio

from mis.v1 import coordinator_pb2
from services.coordinator.training import (StoreProgressReader, TrainingConflictError,
                                           TrainingLauncher, TrainingNotFoundError)
from tests.training_jobs.specs import make_spec
from trainer.store import Store

State = coordinator_pb2.TrainingState
JOBS = "batch/v1/jobs"
SERVICES = "v1/services"


@pytest.fixture
def api(kmock):
    kmock.resources[JOBS] = {"kind": "Job", "namespaced": True,
                             "verbs": ["create", "get", "list", "patch", "delete"]}
    kmock.resources[SERVICES] = {"kind": "Service", "namespaced": True, "verbs": ["create", "get", "list"]}
    configuration = client.Configuration()
    configuration.host = str(kmock.url).rstrip("/")
    with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def launcher(api, placement, s3_server, store, bucket_name):
    # Progress comes from a real S3 server, where the trainer's rank 0 writes it.
    s3 = Minio(s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key, secure=False)
    runs = dataclasses.replace(placement, output_root=f"s3://{bucket_name}/runs")
    return TrainingLauncher(api, "mis", runs, progress_reader=StoreProgressReader(s3))


async def call(fn, *args):
    # The kubernetes client is blocking; kmock serves on this test's event loop.
    return await asyncio.to_thread(fn, *args)


def _job_names(kmock, resource=JOBS):
    return sorted(name for (res, ns, name), obj in kmock.objects.items()
                  if str(res.plural) == resource.rsplit("/", 1)[-1] and not obj.deleted)


async def test_launch_creates_one_job_and_service_and_is_idempotent(kmock, launcher):
    spec = make_spec(nodes=2, overrides={"epochs": "1"})
    first = await call(launcher.launch, "req-1", spec)
    assert first.state == State.TRAINING_STATE_PENDING
    assert first.spec == spec
    again = await call(launcher.launch, "req-1", spec)
    assert again.name == first.name
    assert _job_names(kmock, JOBS) == [first.name]
    assert _job_names(kmock, SERVICES) == [first.name]
    creates = [r for r in kmock if r.method == method.POST and r.url.path.endswith("/jobs")]
    assert len(creates) == 1

    stored = kmock.objects[JOBS, "mis", first.name]
    pod = stored["spec"]["template"]["spec"]
    assert stored["spec"]["completionMode"] == "Indexed" and stored["spec"]["completions"] == 2
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    assert pod["subdomain"] == first.name

    with pytest.raises(TrainingConflictError, match="req-1"):
        await call(launcher.launch, "req-1", make_spec(nodes=4))


async def test_status_follows_the_job_and_the_trainers_progress(kmock, launcher, store_env, bucket_name):
    training = await call(launcher.launch, "req-2", make_spec())
    job = kmock.objects[JOBS, "mis", training.name]

    job.patch({"status": {"active": 1, "ready": 0}})  # scheduled, waiting for GPUs
    assert (await call(launcher.get, training.name)).state == State.TRAINING_STATE_PENDING

    job.patch({"status": {"active": 1, "ready": 1}})
    running = await call(launcher.get, training.name)
    assert running.state == State.TRAINING_STATE_RUNNING and running.step == 0  # no progress.json yet

    # What trainer/progress.py writes, at the output the Job was given.
    assert training.name in kmock.objects[JOBS, "mis", training.name]["metadata"]["annotations"]["mis.dev/output-uri"]
    with patch.dict(os.environ, store_env):
        Store().write_json(f"s3://{bucket_name}/runs/{training.name}/progress.json", {
            "step": 120, "total_steps": 700, "loss": 0.734, "epoch": 0.5, "state": "running",
            "updated_at": "2026-11-22T10:00:00+00:00"})
    running = await call(launcher.get, training.name)
    assert (running.state, running.step, running.loss) == (State.TRAINING_STATE_RUNNING, 120, pytest.approx(0.734))
    assert running.total_steps == 700

    job.patch({"status": {"active": 0, "ready": 0, "succeeded": 1,
                          "conditions": [{"type": "Complete", "status": "True"}]}})
    done = await call(launcher.get, training.name)
    assert done.state == State.TRAINING_STATE_SUCCEEDED and done.step == 120


async def test_a_failed_job_reports_its_reason(kmock, launcher):
    training = await call(launcher.launch, "req-3", make_spec())
    kmock.objects[JOBS, "mis", training.name].patch({"status": {"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit"}]}})
    failed = await call(launcher.get, training.name)
    assert failed.state == State.TRAINING_STATE_FAILED
    assert failed.reason == "BackoffLimitExceeded: Job has reached the specified backoff limit"


async def test_list_and_cancel(kmock, launcher):
    a = await call(launcher.launch, "req-a", make_spec())
    b = await call(launcher.launch, "req-b", make_spec(preset="llava_onevision_7b"))
    kmock.objects[JOBS, "mis", b.name].patch({"status": {"active": 1, "ready": 1}})
    listed = await call(launcher.list)
    assert sorted(t.name for t in listed) == sorted([a.name, b.name])
    assert {t.name: t.spec.preset for t in listed}[b.name] == "llava_onevision_7b"

    cancelled = await call(launcher.cancel, b.name)
    assert cancelled.state == State.TRAINING_STATE_CANCELLED
    stored = kmock.objects[JOBS, "mis", b.name]
    assert stored["spec"]["suspend"] is True  # Kubernetes removes the pods of a suspended Job
    assert (await call(launcher.get, b.name)).state == State.TRAINING_STATE_CANCELLED
    assert (await call(launcher.get, a.name)).state == State.TRAINING_STATE_PENDING


async def test_unknown_names_are_not_found(launcher):
    with pytest.raises(TrainingNotFoundError):
        await call(launcher.get, "mirage-nope")
    with pytest.raises(TrainingNotFoundError):
        await call(launcher.cancel, "mirage-nope")


async def test_a_launch_cut_short_before_its_service_is_completed(kmock, launcher):
    spec = make_spec(nodes=2)
    training = await call(launcher.launch, "req-half", spec)
    kmock.objects[SERVICES, "mis", training.name].delete()  # as if the first launch died half-way
    assert _job_names(kmock, SERVICES) == []
    again = await call(launcher.launch, "req-half", spec)
    assert again.name == training.name
    assert _job_names(kmock, SERVICES) == [training.name]
