"""The coordinator's Role grants what its training launcher uses, and nothing more.

Every test on the emulated cluster already has each API request checked against the
Role the chart renders (fixtures.py). Here one scenario drives every operation (launch,
get, list, logs, a gang restart, cancel under Kueue, clean-up after the retention, and
the same for a JobSet and a TrainJob, which `engine: auto` may choose) and
the set of (group, resource, verb) it used must equal the set the Role grants: a rule
nobody calls is a privilege to remove. Without a queue the Kueue rule is not rendered.
"""

from __future__ import annotations

import asyncio
import dataclasses


from services.coordinator.training import TrainingLauncher
from services.coordinator.training.engines import JOBSET, TRAINJOB
from tests.training_jobs.cluster import ApiRequest, as_api_request, later
from tests.training_jobs.rbac import denied, role_rules, used
from tests.training_jobs.specs import make_spec


async def call(fn, *args, **kwargs):
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), timeout=30)


async def test_every_granted_rule_is_used_and_every_used_call_is_granted(cluster, placement):
    with cluster.api_client() as api:
        launcher = TrainingLauncher(api, "mis", dataclasses.replace(placement, queue_name="mis-training",
                                                                    max_restarts=1))
        training = await call(launcher.launch, "rbac-1", make_spec(nodes=2))
        await call(launcher.list)
        cluster.add_pod(training.name, 0, log="step 1\n")
        assert await call(lambda: list(launcher.logs(training.name))) == ["step 1"]
        cluster.fail(training.name)
        assert (await call(launcher.reconcile)).restarted == (training.name,)
        restarted = f"{training.name}-r1"
        workload = cluster.admit_workload(restarted)
        await call(launcher.cancel, training.name)
        assert cluster.workload(workload)["spec"]["active"] is False
        assert (await call(launcher.reconcile, later(hours=48))).deleted == (training.name,)
        for engine in (JOBSET, TRAINJOB):  # what `engine: auto` may pick instead of the Job
            cluster.serve_engine(engine.plural)
            other = TrainingLauncher(api, "mis", placement, engine=engine)
            run = await call(other.launch, f"rbac-{engine.name}", make_spec())
            await call(other.cancel, run.name)
            assert (await call(other.reconcile, later(hours=48))).deleted == (run.name,)

    requests = cluster.api_requests()
    assert denied(requests) == []
    assert used(requests) == set(role_rules())


def test_a_call_the_role_does_not_grant_is_caught():
    # A new call added to the launcher without its rule, e.g. reading one Job by name,
    # or reaching outside the namespace, is reported by the check every test runs.
    read = as_api_request("GET", "/apis/batch/v1/namespaces/mis/jobs/mirage-x", {})
    watch = as_api_request("GET", "/apis/batch/v1/namespaces/mis/jobs", {"watch": "true"})
    elsewhere = as_api_request("POST", "/apis/batch/v1/namespaces/kube-system/jobs", {})
    granted = as_api_request("PATCH", "/apis/batch/v1/namespaces/mis/jobs/mirage-x", {})
    assert read == ApiRequest("get", "batch", "jobs", "mis", "/apis/batch/v1/namespaces/mis/jobs/mirage-x")
    assert watch.verb == "watch" and elsewhere.namespace == "kube-system"
    assert denied([read, watch, elsewhere, granted]) == [read, watch, elsewhere]
    assert as_api_request("GET", "/apis", {}) is None  # discovery: a non-resource URL


def test_pod_logs_are_a_subresource_rule():
    log = as_api_request("GET", "/api/v1/namespaces/mis/pods/mirage-x-0-abcde/log", {})
    assert (log.group, log.resource, log.verb) == ("", "pods/log", "get")
    assert denied([log]) == []


def test_without_a_queue_the_role_has_no_kueue_rule():
    assert any(group == "kueue.x-k8s.io" for group, _, _ in role_rules())
    assert not any(group == "kueue.x-k8s.io" for group, _, _ in role_rules(()))
    assert {(g, r, v) for g, r, v in role_rules()} - {(g, r, v) for g, r, v in role_rules(())} == {
        ("kueue.x-k8s.io", "workloads", "list"), ("kueue.x-k8s.io", "workloads", "patch")}


def test_a_fixed_engine_grants_only_its_own_kind():
    groups = {engine: {group for group, _, _ in role_rules((f"services.coordinator.training.engine={engine}",))}
              for engine in ("job", "jobset", "trainjob")}
    assert groups["job"] == {"batch", ""}
    assert groups["jobset"] == {"jobset.x-k8s.io", ""}
    assert groups["trainjob"] == {"trainer.kubeflow.org", ""}
