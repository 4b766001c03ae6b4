"""Every object the coordinator would create passes kubernetes-validate --strict (1.30),
and carries what a real cluster needs: rendezvous, failure policy, requests, NCCL."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mis.v1 import coordinator_pb2
from services.coordinator.training import InvalidTrainingSpecError, build_manifests, training_name
from tests.training_jobs.specs import make_spec

VALIDATE = Path(sys.executable).parent / "kubernetes-validate"

VARIANTS = {
    "defaults": make_spec(),
    "multi_node": make_spec(nodes=4, gpus_per_node=8, overrides={"epochs": "2", "fsdp": "true"},
                            output_uri="s3://mis/runs/custom"),
    "own_placement": make_spec(image="registry.example/custom:2", node_selector={"pool": "h100"},
                               tolerations=[coordinator_pb2.Toleration(key="dedicated", operator="Equal",
                                                                       value="training", effect="NoExecute")]),
}


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(VALIDATE), "--strict", "-k", "1.30", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_manifests_pass_strict_schema_validation(variant, placement, tmp_path):
    objects = build_manifests(training_name(f"req-{variant}"), "mis", f"req-{variant}", VARIANTS[variant],
                              placement, owner_uid="0b5c6f0e-8d1e-4c71-9a39-1d2b1c0f6a77")
    assert [o["kind"] for o in objects] == ["Service", "Job"]
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == 2


def test_the_validator_rejects_a_misspelled_field(placement, tmp_path):
    service, job = build_manifests(training_name("r"), "mis", "r", make_spec(), placement)
    job["spec"]["template"]["spec"]["containers"][0]["resource"] = job["spec"]["template"]["spec"]["containers"][0].pop("resources")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(job))
    assert _validate(path).returncode != 0


def test_multi_node_rendezvous_and_rank(placement):
    name = training_name("run-42")
    service, job = build_manifests(name, "mis", "run-42", VARIANTS["multi_node"], placement)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    assert pod["subdomain"] == service["metadata"]["name"] == name
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert f"--master-addr={name}-0.{name}" in container["args"]
    assert "--node-rank=$(NODE_RANK)" in container["args"] and "--nproc-per-node=8" in container["args"]
    rank = next(e for e in container["env"] if e["name"] == "NODE_RANK")
    assert "job-completion-index" in rank["valueFrom"]["fieldRef"]["fieldPath"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8", "memory": "512Gi"}
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["mis-s3", "mis-hub-token"]
    assert pod["nodeSelector"] == placement.node_selector
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    args = container["args"]
    trainer = args[args.index("-m"):]
    assert trainer[:4] == ["-m", "trainer.train", "--config", "qwen2_vl_7b"]
    assert "dataset=s3://mis/exports/train-v1" in trainer and "output=s3://mis/runs/custom" in trainer
    assert {"epochs=2", "fsdp=true"} <= set(trainer)


def test_single_node_uses_a_standalone_rendezvous(placement):
    _, job = build_manifests(training_name("one"), "mis", "one", make_spec(), placement)
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--standalone" in args and f"output=s3://mis/runs/{training_name('one')}" in args


def test_names_are_deterministic_dns_labels():
    name = training_name("A Very Long Request Id / With Spaces " * 4)
    assert name == training_name("A Very Long Request Id / With Spaces " * 4)
    assert len(name) <= 52 and name[0].isalpha() and all(c.isalnum() or c == "-" for c in name)
    assert name == name.lower()
    assert training_name("a") != training_name("A")


@pytest.mark.parametrize("spec, field", [
    (make_spec(preset=""), "spec.preset"),
    (make_spec(preset="no_such_preset"), "spec.preset"),
    (make_spec(dataset_uri="/local/path"), "spec.dataset_uri"),
    (make_spec(overrides={"output": "s3://x/y"}), "spec.overrides['output']"),
    (make_spec(overrides={"epochs": "many"}), "spec.overrides['epochs']"),
    (make_spec(overrides={"not_a_key": "1"}), "spec.overrides['not_a_key']"),
    (make_spec(nodes=-1), "spec.nodes"),
    (make_spec(tolerations=[coordinator_pb2.Toleration(key="k", operator="Maybe")]), "spec.tolerations[0].operator"),
])
def test_invalid_specs_name_the_field(spec, field, placement):
    with pytest.raises(InvalidTrainingSpecError) as error:
        build_manifests("mirage-x", "mis", "x", spec, placement)
    assert error.value.field == field


def test_request_id_is_required():
    with pytest.raises(InvalidTrainingSpecError, match="request_id"):
        training_name("")


def test_dry_run_prints_valid_manifests(tmp_path, capsys):
    from services.coordinator.training.__main__ import main

    code = main(["--request-id", "dry-1", "--image", "registry.example/mis-trainer:0.1.0",
                 "--output-root", "s3://mis/runs", "--secret", "mis-s3",
                 "--spec", '{"preset": "llava_onevision_7b", "datasetUri": "s3://mis/exports/v1", "nodes": 2}'])
    assert code == 0
    path = tmp_path / "dry.yaml"
    path.write_text(capsys.readouterr().out)
    assert [o["kind"] for o in yaml.safe_load_all(path.read_text())] == ["Service", "Job"]
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_reports_an_invalid_request(capsys):
    from services.coordinator.training.__main__ import main

    code = main(["--request-id", "dry-2", "--image", "i", "--output-root", "s3://mis/runs",
                 "--spec", '{"preset": "qwen2_vl_7b", "datasetUri": "/local"}'])
    assert code == 2
    assert "spec.dataset_uri" in capsys.readouterr().err


def test_priority_class_and_kueue_queue_reach_the_job(placement, tmp_path):
    import dataclasses
    from services.coordinator.training.manifests import KUEUE_QUEUE_LABEL
    queued = dataclasses.replace(placement, priority_class="mis-training", queue_name="mis-gpu")
    service, job = build_manifests(training_name("q"), "mis", "q", make_spec(), queued)
    assert job["metadata"]["labels"][KUEUE_QUEUE_LABEL] == "mis-gpu"
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "mis-training"
    assert KUEUE_QUEUE_LABEL not in service["metadata"]["labels"]
    path = tmp_path / "queued.yaml"
    path.write_text(yaml.safe_dump_all([service, job]))
    assert _validate(path).returncode == 0
    plain = build_manifests(training_name("q"), "mis", "q", make_spec(), placement)[1]
    assert KUEUE_QUEUE_LABEL not in plain["metadata"]["labels"]
    assert "priorityClassName" not in plain["spec"]["template"]["spec"]


def test_a_drained_node_is_not_a_failure_of_the_run(placement):
    _, job = build_manifests(training_name("pfp"), "mis", "pfp", make_spec(nodes=2), placement)
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["podFailurePolicy"] == {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # required by the policy


def test_requests_shm_and_nccl_settings_come_from_the_placement(placement, tmp_path):
    tuned = dataclasses.replace(placement, shm_size="128Gi", extra_resources={"rdma/rdma_shared_device_a": "1"},
                                nccl_env={"NCCL_SOCKET_IFNAME": "eth0", "NCCL_IB_HCA": "mlx5"})
    service, job = build_manifests(training_name("tuned"), "mis", "tuned", make_spec(nodes=2), tuned)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {
        "requests": {"nvidia.com/gpu": "8", "rdma/rdma_shared_device_a": "1", "cpu": "32", "memory": "512Gi"},
        "limits": {"nvidia.com/gpu": "8", "rdma/rdma_shared_device_a": "1", "memory": "512Gi"}}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NCCL_SOCKET_IFNAME"] == "eth0" and env["NCCL_IB_HCA"] == "mlx5"
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "128Gi"}
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump_all([service, job]))
    assert _validate(path).returncode == 0


def test_every_pod_waits_for_rank_zeros_name_before_torchrun(placement):
    name = training_name("dns")
    _, job = build_manifests(name, "mis", "dns", make_spec(nodes=2), placement)
    init = job["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["wait-for-rendezvous"]
    assert init[0]["image"] == job["spec"]["template"]["spec"]["containers"][0]["image"]
    assert init[0]["command"][-2:] == [f"{name}-0.{name}", "600"]


def _run_wait(command: list[str], host: str, seconds: str) -> subprocess.CompletedProcess:
    # The init step's own script, run by this Python: the pod runs it with the trainer's.
    return subprocess.run([sys.executable, *command[1:3], host, seconds], capture_output=True, text=True,
                          timeout=60)


def test_the_rendezvous_wait_passes_once_the_name_resolves_and_fails_after_its_deadline(placement):
    _, job = build_manifests(training_name("dns"), "mis", "dns", make_spec(nodes=2), placement)
    command = job["spec"]["template"]["spec"]["initContainers"][0]["command"]
    resolved = _run_wait(command, "localhost", "5")
    assert resolved.returncode == 0 and "localhost resolves" in resolved.stdout
    missing = _run_wait(command, "mirage-none-0.mirage-none.invalid", "0")
    assert missing.returncode == 1
    assert "mirage-none-0.mirage-none.invalid did not resolve within 0 s" in missing.stderr


def test_a_single_node_lets_torchrun_restart_its_workers(placement):
    _, job = build_manifests(training_name("one"), "mis", "one", make_spec(),
                             dataclasses.replace(placement, torchrun_restarts=2))
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["--standalone", "--max-restarts=2"]


def test_a_restart_attempt_has_its_own_job_and_service(placement, tmp_path):
    name = training_name("again")
    service, job = build_manifests(name, "mis", "again", make_spec(nodes=2), placement, attempt=3)
    assert job["metadata"]["name"] == service["metadata"]["name"] == f"{name}-r3"
    assert job["metadata"]["labels"]["mis.dev/training"] == name
    assert job["metadata"]["labels"]["mis.dev/attempt"] == "3"
    assert service["spec"]["selector"] == {"mis.dev/job": f"{name}-r3"}
    assert service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert len(f"{name}-r3-7") <= 63


@pytest.mark.parametrize("engine, kinds", [("job", ["Service", "Job"]), ("jobset", ["JobSet"]),
                                           ("trainjob", ["TrainJob"])])
def test_dry_run_prints_the_engines_objects(engine, kinds, capsys):
    from services.coordinator.training.__main__ import main

    code = main(["--request-id", "dry-3", "--image", "registry.example/mis-trainer:0.1.0",
                 "--output-root", "s3://mis/runs", "--engine", engine,
                 "--spec", '{"preset": "qwen2_vl_7b", "datasetUri": "s3://mis/exports/v1", "nodes": 2}'])
    assert code == 0
    assert [o["kind"] for o in yaml.safe_load_all(capsys.readouterr().out)] == kinds
