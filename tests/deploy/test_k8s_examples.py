"""The example manifests in k8s/ (what the chart does not render): core kinds
pass the Kubernetes schemas; Kueue and kind files, whose schemas are CRDs or
a tool's own config, are parsed and their shape and cross-references checked;
the kind values render with the chart (test_helm_chart covers that variant)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from .chart import KUBE_VERSION, REPO

K8S = REPO / "k8s"
CORE_API_GROUPS = ("v1", "apps/", "batch/", "scheduling.k8s.io/", "rbac.authorization.k8s.io/",
                   "networking.k8s.io/", "policy/")


def documents(path: Path) -> list[dict]:
    return [item for item in yaml.safe_load_all(path.read_text()) if item]


def all_manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "values.yaml":
            continue  # chart values, not a manifest
        for item in documents(path):
            found.append((str(path.relative_to(REPO)), item))
    return found


def is_core(item: dict) -> bool:
    return item["apiVersion"] == "v1" or item["apiVersion"].startswith(CORE_API_GROUPS[1:])


def test_there_are_examples_of_each_kind():
    kinds = {item["kind"] for _, item in all_manifests()}
    assert {"Namespace", "ResourceQuota", "PriorityClass", "ClusterQueue", "LocalQueue",
            "ResourceFlavor", "Cluster"} <= kinds


@pytest.mark.parametrize("where, item", [pair for pair in all_manifests() if is_core(pair[1])],
                         ids=lambda value: value if isinstance(value, str) else value["kind"])
def test_core_kinds_pass_the_kubernetes_schema(where, item):
    kubernetes_validate.validate(item, KUBE_VERSION, strict=True)


def test_training_quota_applies_to_the_training_priority_class():
    items = documents(K8S / "namespace" / "namespace.yaml")
    namespace = next(item for item in items if item["kind"] == "Namespace")["metadata"]["name"]
    classes = {item["metadata"]["name"]: item for item in items if item["kind"] == "PriorityClass"}
    assert classes["mis-serving"]["value"] > classes["mis-training"]["value"]
    assert classes["mis-training"]["preemptionPolicy"] == "Never"
    assert not any(item.get("globalDefault") for item in classes.values())
    quotas = [item for item in items if item["kind"] == "ResourceQuota"]
    assert all(item["metadata"]["namespace"] == namespace for item in quotas)
    training = next(item for item in quotas if "scopeSelector" in item["spec"])
    [expression] = training["spec"]["scopeSelector"]["matchExpressions"]
    assert expression["scopeName"] == "PriorityClass" and expression["values"] == ["mis-training"]
    total = next(item for item in quotas if "scopeSelector" not in item["spec"])
    gpu = "requests.nvidia.com/gpu"
    assert int(training["spec"]["hard"][gpu]) < int(total["spec"]["hard"][gpu])


def test_kueue_queue_shape_and_references():
    items = {item["kind"]: item for item in documents(K8S / "kueue" / "queues.yaml")}
    assert set(items) == {"ResourceFlavor", "ClusterQueue", "LocalQueue"}
    for item in items.values():
        assert item["apiVersion"] == "kueue.x-k8s.io/v1beta1"
        assert item["metadata"]["name"]
    flavor = items["ResourceFlavor"]
    assert "namespace" not in flavor["metadata"] and "namespace" not in items["ClusterQueue"]["metadata"]
    assert flavor["spec"]["nodeLabels"]
    [group] = items["ClusterQueue"]["spec"]["resourceGroups"]
    assert "nvidia.com/gpu" in group["coveredResources"]
    for used in group["flavors"]:
        assert used["name"] == flavor["metadata"]["name"]
        # Kueue requires every covered resource to have a quota in every flavor, in order.
        assert [resource["name"] for resource in used["resources"]] == group["coveredResources"]
    local = items["LocalQueue"]
    assert local["spec"]["clusterQueue"] == items["ClusterQueue"]["metadata"]["name"]
    namespace = next(item for item in documents(K8S / "namespace" / "namespace.yaml")
                     if item["kind"] == "Namespace")["metadata"]["name"]
    assert local["metadata"]["namespace"] == namespace
    selector = items["ClusterQueue"]["spec"]["namespaceSelector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": namespace}


def test_kind_cluster_shape():
    [cluster] = documents(K8S / "kind" / "cluster.yaml")
    assert cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4" and cluster["kind"] == "Cluster"
    roles = [node["role"] for node in cluster["nodes"]]
    assert roles.count("control-plane") == 1 and "worker" in roles
    assert set(cluster) <= {"kind", "apiVersion", "name", "nodes", "networking", "featureGates",
                            "kubeadmConfigPatches", "containerdConfigPatches"}


def test_kind_values_need_no_gpu_and_no_model_server():
    values = yaml.safe_load((K8S / "kind" / "values.yaml").read_text())
    assert values["modelServers"] == []
    assert {endpoint["backend"] for endpoint in values["modelEndpoints"].values()} == {"offline"}
    assert values["services"]["t2i-refiner"]["gpus"] == 0
    assert values["services"]["t2i-refiner"]["settings"]["MIS_T2I_RENDERER"] == "offline"
    assert values["storage"]["minio"]["enabled"] is True
    makefile = (REPO / "Makefile").read_text()
    for service in values["services"].values():
        image = service["image"]
        assert f"-t {image['repository']}:{image['tag']} ." in makefile, image
