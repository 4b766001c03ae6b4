"""JobSet and Kubeflow Trainer v2 TrainJob behind the same launcher, chosen by API discovery.

The manifests are checked against the official API models of the `kubeflow-trainer-api`
package (JobSet v1alpha2 and TrainJob v1alpha1, generated from the CRDs): a strict load
and a lossless round trip, so a wrong type or a misspelled field fails. The Job inside a
JobSet also passes kubernetes-validate as a batch/v1 Job. The calls run against kmock
with the CRDs' groups served, and every request is checked against the chart's Role.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubeflow_trainer_api.models import JobsetV1alpha2JobSet, TrainerV1alpha1TrainJob

from mis.v1 import coordinator_pb2
from services.coordinator.training import TrainingLauncher, training_name
from services.coordinator.training.engines import JOB, JOBSET, TRAINJOB, detect
from services.coordinator.training.jobset import build_jobset
from services.coordinator.training.trainjob import build_trainjob
from tests.training_jobs.cluster import JOBS, SERVICES, later
from tests.training_jobs.specs import make_spec

State = coordinator_pb2.TrainingState
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
JOBSETS = "jobset.x-k8s.io/v1alpha2/jobsets"
TRAINJOBS = "trainer.kubeflow.org/v1alpha1/trainjobs"


def strictly(model, obj: dict) -> None:
    """Loads `obj` into the official model; nothing may be dropped or changed on the way."""
    loaded = model.from_dict(obj)
    assert loaded.to_dict() == obj


async def call(fn, *args, **kwargs):
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), timeout=30)


# ------------------------------------------------------------------ manifests
def test_a_jobset_matches_its_official_model_and_holds_a_valid_job(placement, tmp_path):
    name = training_name("js")
    [jobset] = build_jobset(name, "mis", "js", make_spec(nodes=4), dataclasses.replace(placement, max_restarts=5))
    strictly(JobsetV1alpha2JobSet, jobset)
    assert jobset["spec"]["failurePolicy"] == {"maxRestarts": 5}
    assert jobset["spec"]["network"] == {"enableDNSHostnames": True, "subdomain": name,
                                         "publishNotReadyAddresses": True}
    [replicated] = jobset["spec"]["replicatedJobs"]
    job_spec = replicated["template"]["spec"]
    args = job_spec["template"]["spec"]["containers"][0]["args"]
    assert f"--master-addr={name}-node-0-0.{name}" in args  # JobSet's own headless Service
    assert job_spec["completions"] == 4 and job_spec["podFailurePolicy"]["rules"][0]["action"] == "Ignore"
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "batch/v1", "kind": "Job",
                                    "metadata": {"name": f"{name}-node-0"}, "spec": job_spec}))
    result = subprocess.run([str(VALIDATE), "--strict", "-k", "1.30", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_a_misspelled_jobset_field_is_caught():
    [jobset] = build_jobset(training_name("js"), "mis", "js", make_spec(), _placement())
    jobset["spec"]["failurePolicy"] = {"maxRestart": 3}
    with pytest.raises(AssertionError):
        strictly(JobsetV1alpha2JobSet, jobset)


def test_a_trainjob_matches_its_official_model(placement):
    name = training_name("tj")
    [trainjob] = build_trainjob(name, "mis", "tj", make_spec(nodes=2, overrides={"epochs": "1"}), placement)
    strictly(TrainerV1alpha1TrainJob, trainjob)
    spec = trainjob["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "torch-distributed"}
    trainer = spec["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 8)
    assert trainer["command"][:4] == ["torchrun", "-m", "trainer.train", "--config"] and "epochs=1" in trainer["command"]
    assert "--master-addr" not in " ".join(trainer["command"])  # the runtime's PET_* variables say it
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "8"
    secret = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in trainer["env"] if "valueFrom" in e}
    assert secret["MIS_S3_SECRET_KEY"] == "mis-s3"
    pod = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0][
        "template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == placement.node_selector
    assert "initContainers" not in pod  # a runtime patch cannot add containers (the model refuses)
    assert {v["name"] for v in pod["volumes"]} == {"dshm", "scratch"}


def _placement():
    from services.coordinator.training import Placement

    return Placement(image="registry.example/mis-trainer:1", output_root="s3://mis/runs")


# ------------------------------------------------------------------ discovery
async def test_discovery_prefers_trainjob_then_jobset_then_the_job(cluster):
    with cluster.api_client() as api:
        assert await call(detect, api) is JOB
        cluster.serve_engine("jobsets")
        assert await call(detect, api) is JOBSET
        cluster.serve_engine("trainjobs")
        assert await call(detect, api) is TRAINJOB
        assert await call(detect, api, "job") is JOB  # a setting overrides discovery


# ------------------------------------------------------------------ one launcher, three engines
async def test_a_jobset_run_launches_reports_and_cancels_under_kueue(cluster, placement):
    cluster.serve_engine("jobsets")
    with cluster.api_client() as api:
        launcher = TrainingLauncher(api, "mis", dataclasses.replace(placement, queue_name="mis-training"))
        spec = make_spec(nodes=2)
        training = await call(launcher.launch, "js-1", spec)
        assert launcher.engine is JOBSET
        assert (await call(launcher.launch, "js-1", spec)).name == training.name
        assert cluster.names(JOBSETS) == [training.name]
        assert cluster.names(JOBS) == [] and cluster.names(SERVICES) == []  # JobSet makes its own
        jobset = cluster.kmock.objects[JOBSETS, "mis", training.name]
        jobset.patch({"status": {"replicatedJobsStatus": [{"name": "node", "ready": 1, "active": 1}]}})
        assert (await call(launcher.get, training.name)).state == State.TRAINING_STATE_RUNNING
        workload = cluster.admit_workload_of(JOBSETS, training.name, "JobSet")
        assert (await call(launcher.cancel, training.name)).state == State.TRAINING_STATE_CANCELLED
        assert jobset["spec"]["suspend"] is True
        assert cluster.workload(workload)["spec"]["active"] is False

        other = await call(launcher.launch, "js-2", make_spec())
        cluster.kmock.objects[JOBSETS, "mis", other.name].patch({"status": {"restarts": 3, "conditions": [
            {"type": "Failed", "status": "True", "reason": "FailedJobs", "message": "jobset failed"}]}})
        failed = await call(launcher.get, other.name)
        assert failed.state == State.TRAINING_STATE_FAILED
        assert failed.reason == "FailedJobs: jobset failed (after 3 gang restarts)"
        assert (await call(launcher.reconcile)).restarted == ()  # JobSet restarts its own gangs


async def test_a_trainjob_run_launches_reports_logs_and_is_cleaned_up(cluster, placement):
    cluster.serve_engine("trainjobs")
    with cluster.api_client() as api:
        launcher = TrainingLauncher(api, "mis", placement)
        training = await call(launcher.launch, "tj-1", make_spec(nodes=2))
        assert launcher.engine is TRAINJOB and cluster.names(TRAINJOBS) == [training.name]
        trainjob = cluster.kmock.objects[TRAINJOBS, "mis", training.name]
        trainjob.patch({"status": {"jobsStatus": [{"name": "node", "ready": 2, "active": 2}]}})
        assert (await call(launcher.get, training.name)).state == State.TRAINING_STATE_RUNNING
        pod = cluster.add_pod(training.name, 0, log="loss 1.0\n")
        cluster.kmock.objects["v1/pods", "mis", pod].patch({"metadata": {"labels": {
            "jobset.sigs.k8s.io/jobset-name": training.name, "jobset.sigs.k8s.io/replicatedjob-name": "node"}}})
        assert await call(lambda: list(launcher.logs(training.name))) == ["loss 1.0"]
        await call(launcher.cancel, training.name)
        assert trainjob["spec"]["suspend"] is True
        assert (await call(launcher.reconcile, later(hours=25))).deleted == (training.name,)
        assert cluster.names(TRAINJOBS) == []

        done = await call(launcher.launch, "tj-2", make_spec())
        cluster.kmock.objects[TRAINJOBS, "mis", done.name].patch({"status": {"conditions": [
            {"type": "Complete", "status": "True", "reason": "JobsCompleted",
             "lastTransitionTime": later(hours=0).strftime("%Y-%m-%dT%H:%M:%SZ")}]}})
        assert (await call(launcher.get, done.name)).state == State.TRAINING_STATE_SUCCEEDED
        # A TrainJob has no TTL field: the coordinator removes it after the Jobs' TTL.
        assert (await call(launcher.reconcile, later(hours=24))).deleted == ()
        assert (await call(launcher.reconcile, later(hours=24 * 7 + 1))).deleted == (done.name,)
        assert cluster.names(TRAINJOBS) == []
