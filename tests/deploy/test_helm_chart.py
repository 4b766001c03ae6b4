"""The Helm chart: strict lint, renders of several value variants validated
against the Kubernetes schemas, and the properties the deployment promises
(balanced gRPC, T2I scaling, least-privilege RBAC, security defaults)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from .chart import (CHART, KUBE_VERSION, NAMESPACE, OPT_IN, REPO, SERVICES, STAGES, VARIANTS, env_of,
                    helm, parse_manifests, pod_specs, render, render_variant, requires_helm, template_args)

pytestmark = requires_helm

# Kinds that come from CRDs: the Kubernetes schemas do not know them, so their
# shape is checked by hand in test_service_monitors_select_metrics_ports.
CUSTOM_KINDS = {"ServiceMonitor"}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lint_strict(variant):
    args = ["lint", "--strict", str(CHART)]
    for path in VARIANTS[variant]:
        args += ["-f", str(path)]
    result = helm(*args)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_object_passes_the_kubernetes_schema(variant):
    rendered = render_variant(variant)
    assert rendered.objects, "nothing rendered"
    failures = []
    for item in rendered.objects:
        if item["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(item, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{item['kind']}/{item['metadata']['name']}: {error.message} at {list(error.path)}")
    assert not failures, "\n".join(failures)


def test_kubernetes_validate_cli_accepts_the_default_render(tmp_path):
    """The same check through the command line tool users run themselves."""
    manifest = tmp_path / "mis.yaml"
    manifest.write_text(helm(*template_args()).stdout)
    cli = shutil.which("kubernetes-validate", path=str(REPO / ".venv" / "bin")) or "kubernetes-validate"
    result = subprocess.run([cli, "--strict", "--quiet", "-k", KUBE_VERSION, str(manifest)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_rejects_a_misspelled_field():
    """Guard against the validation above passing everything."""
    deployment = render_variant("defaults").workload_for("judge")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


# --- every service from the same templates ---------------------------------------

def test_every_service_has_a_deployment_headless_service_and_pdb():
    rendered = render_variant("defaults")
    for name in SERVICES:
        deployment = rendered.workload_for(name)
        assert deployment["metadata"]["name"] == f"mis-{name}"
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["serve", name]
        headless = rendered.get("Service", f"mis-{name}" if name != "judge" else "mis-judge-headless")
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        pdb = rendered.get("PodDisruptionBudget", f"mis-{name}")
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
                    "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"):
            assert key in labels, f"{name}: label {key} missing"


def test_opt_in_services_render_from_the_shared_templates_when_switched_on():
    """An opt-in service (enabled: false in values) is left out by default and,
    switched on, gets what every service gets, its coordinator address included."""
    assert OPT_IN, "no opt-in service in values"
    defaults, switched_on = render_variant("defaults"), render_variant("all-optional")
    coordinator = env_of(switched_on.workload_for("coordinator")["spec"]["template"]["spec"]["containers"][0])
    for name in OPT_IN:
        assert f"mis-{name}" not in defaults.names("Deployment")
        container = switched_on.workload_for(name)["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["serve", name]
        assert switched_on.get("Service", f"mis-{name}")["spec"]["clusterIP"] == "None"
        assert f"mis-{name}" in switched_on.names("PodDisruptionBudget")
        assert f"mis-{name}" in switched_on.names("NetworkPolicy")
        variable = f"MIS_{name.upper().replace('-', '_')}_ADDRESS"
        assert coordinator[variable]["value"].startswith(f"dns:///mis-{name}.")


def test_a_service_added_in_values_renders_from_the_shared_templates(tmp_path):
    """The chart's service list is its values: a new stage is one values entry."""
    services = yaml.safe_load((CHART / "values.yaml").read_text())["services"]
    (tmp_path / "retriever.yaml").write_text(yaml.safe_dump({"services": {"retriever": services["extractor"]}}))
    rendered = render((tmp_path / "retriever.yaml",))
    container = rendered.workload_for("retriever")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["serve", "retriever"]
    assert rendered.get("Service", "mis-retriever")["spec"]["clusterIP"] == "None"
    assert "mis-retriever" in rendered.names("NetworkPolicy")
    coordinator = env_of(rendered.workload_for("coordinator")["spec"]["template"]["spec"]["containers"][0])
    assert coordinator["MIS_RETRIEVER_ADDRESS"]["value"].startswith("dns:///mis-retriever.")
    check = rendered.workload_for("health-test", "Pod")["spec"]["containers"][0]
    assert any(arg.startswith("retriever=") for arg in check["args"])


def test_templates_hold_no_per_service_branches_or_lists():
    """Per-service behaviour lives in values; no template compares a service's
    name or lists the services by hand."""
    names = "|".join(re.escape(name) for name in SERVICES)
    branch = re.compile(rf'eq \S+ "({names})"')
    listed = re.compile(rf'list( "({names})"){{2,}}')
    for path in sorted((CHART / "templates").rglob("*")):
        if path.is_file():
            text = path.read_text()
            assert not branch.search(text), f"{path.name}: {branch.search(text).group(0)}"
            assert not listed.search(text), f"{path.name}: {listed.search(text).group(0)}"


def test_services_run_the_entrypoint_the_cli_knows():
    """`mis serve NAME` must accept every name the chart starts."""
    from services.registry import SERVICES as CLI_SERVICES

    assert set(SERVICES) | set(OPT_IN) == set(CLI_SERVICES)
    rendered = render_variant("defaults")
    images = {name: rendered.workload_for(name)["spec"]["template"]["spec"]["containers"][0]["image"]
              for name in SERVICES}
    assert images["t2i-refiner"].startswith("ghcr.io/mis-platform/mis-t2i-refiner:")
    for name in set(SERVICES) - {"t2i-refiner"}:
        assert images[name].startswith("ghcr.io/mis-platform/mis-services:"), name


def test_native_grpc_probes_and_drain_within_the_pod_grace_period():
    rendered = render_variant("defaults")
    for name in SERVICES:
        spec = rendered.workload_for(name)["spec"]["template"]["spec"]
        container = spec["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == 50051, f"{name} {probe}"
        env = env_of(container)
        assert env["MIS_PORT"]["value"] == "50051"
        assert env["MIS_METRICS_PORT"]["value"] == "9090"
        assert env["MIS_HOST"]["value"] == "0.0.0.0"
        assert spec["terminationGracePeriodSeconds"] > float(env["MIS_GRACE_SECONDS"]["value"]), name


def test_judge_with_tls_falls_back_to_tcp_probes_and_mounts_its_secrets():
    rendered = render_variant("all-optional")
    spec = rendered.workload_for("judge")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["readinessProbe"]["tcpSocket"]["port"] == "grpc"
    assert "grpc" not in container["livenessProbe"]
    env = env_of(container)
    assert env["MIS_AUTH_TOKENS_FILE"]["value"] == "/var/run/mis/auth/tokens"
    assert env["MIS_TLS_CERT"]["value"] == "/var/run/mis/tls/tls.crt"
    assert env["MIS_TLS_KEY"]["value"] == "/var/run/mis/tls/tls.key"
    assert env["MIS_TLS_CLIENT_CA"]["value"] == "/var/run/mis/tls/ca.crt"
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["auth-tokens"]["secret"]["secretName"] == "judge-tokens"
    assert volumes["tls"]["secret"]["secretName"] == "judge-tls"
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/var/run/mis/auth"]["readOnly"] and mounts["/var/run/mis/tls"]["readOnly"]
    service = rendered.get("Service", "mis-judge")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]


def test_coordinator_addresses_resolve_to_rendered_headless_services():
    rendered = render_variant("defaults")
    env = env_of(rendered.workload_for("coordinator")["spec"]["template"]["spec"]["containers"][0])
    headless = {item["metadata"]["name"] for item in rendered.of_kind("Service")
                if item["spec"].get("clusterIP") == "None"}
    for stage in (*STAGES, "judge"):
        variable = f"MIS_{stage.upper().replace('-', '_')}_ADDRESS"
        match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:50051",
                             env[variable]["value"])
        assert match, f"{variable}={env[variable]['value']}"
        assert match.group(1) in headless, f"{variable} names no headless Service"
        assert match.group(2) == NAMESPACE
    assert env["MIS_K8S_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["MIS_TRAINER_IMAGE"]["value"] == "ghcr.io/mis-platform/mis-trainer:0.1.0"
    assert env["MIS_TRAINING_GPU_RESOURCE"]["value"] == "nvidia.com/gpu"
    assert env["MIS_TRAINING_S3_SECRET"]["value"] == "mis-s3-credentials"
    assert json.loads(env["MIS_TRAINING_NODE_SELECTOR"]["value"]) == {}
    assert json.loads(env["MIS_TRAINING_TOLERATIONS"]["value"]) == []
    annotator = env_of(rendered.workload_for("cot-annotator")["spec"]["template"]["spec"]["containers"][0])
    assert annotator["MIS_JUDGE_ADDRESS"] == env["MIS_JUDGE_ADDRESS"]


def test_training_placement_reaches_the_coordinator_as_json():
    env = env_of(render_variant("all-optional").workload_for("coordinator")
                 ["spec"]["template"]["spec"]["containers"][0])
    assert json.loads(env["MIS_TRAINING_NODE_SELECTOR"]["value"]) == {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert json.loads(env["MIS_TRAINING_TOLERATIONS"]["value"]) == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert env["MIS_TRAINER_IMAGE"]["value"] == "registry.example.com/mis-trainer:0.1.0"


def test_disabling_a_stage_drops_its_objects_and_its_address():
    rendered = render(sets=("services.filter.enabled=false",))
    assert not [item for item in rendered.objects
                if item["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "filter"]
    env = env_of(rendered.workload_for("coordinator")["spec"]["template"]["spec"]["containers"][0])
    assert "MIS_FILTER_ADDRESS" not in env and "MIS_EXTRACTOR_ADDRESS" in env


# --- settings and env -----------------------------------------------------------

def test_settings_render_into_env_and_extra_env_wins():
    rendered = render_variant("all-optional")
    extractor = env_of(rendered.workload_for("extractor")["spec"]["template"]["spec"]["containers"][0])
    assert extractor["MIS_LOG_LEVEL"]["value"] == "DEBUG"  # commonSettings
    assert extractor["MIS_LLM_CONCURRENCY"]["value"] == "32"  # extraEnv over the endpoint's 16
    assert extractor["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    judge = env_of(rendered.workload_for("judge")["spec"]["template"]["spec"]["containers"][0])
    assert judge["MIS_RATE_LIMIT_PER_SECOND"]["value"] == "50"
    assert judge["MIS_QUEUE_LIMIT"]["value"] == "256"


def test_a_new_setting_needs_no_template_change():
    rendered = render(sets=("services.detoxifier.settings.MIS_SOMETHING_NEW=42",
                            "commonSettings.MIS_LOG_LEVEL=WARNING"))
    env = env_of(rendered.workload_for("detoxifier")["spec"]["template"]["spec"]["containers"][0])
    assert env["MIS_SOMETHING_NEW"]["value"] == "42"
    assert env["MIS_LOG_LEVEL"]["value"] == "WARNING"


def test_store_settings_and_credentials_from_the_secret():
    rendered = render_variant("defaults")
    for name in SERVICES:
        env = env_of(rendered.workload_for(name)["spec"]["template"]["spec"]["containers"][0])
        assert env["MIS_S3_ENDPOINT"]["value"] == "minio.minio.svc.cluster.local:9000"
        assert env["MIS_S3_BUCKET"]["value"] == "mis"
        assert env["MIS_S3_SECURE"]["value"] == "false"
        for variable, key in (("MIS_S3_ACCESS_KEY", "access-key"), ("MIS_S3_SECRET_KEY", "secret-key")):
            reference = env[variable]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "mis-s3-credentials", "key": key}
    assert not rendered.of_kind("StatefulSet")
    assert not rendered.of_kind("Secret"), "the chart must not hold credentials itself"


def test_single_node_minio_when_asked():
    rendered = render_variant("all-optional")
    minio = rendered.get("StatefulSet", "mis-minio")
    env = env_of(minio["spec"]["template"]["spec"]["containers"][0])
    assert env["MINIO_ROOT_USER"]["valueFrom"]["secretKeyRef"]["name"] == "mis-s3-credentials"
    assert minio["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast-ssd"
    service_env = env_of(rendered.workload_for("filter")["spec"]["template"]["spec"]["containers"][0])
    assert service_env["MIS_S3_ENDPOINT"]["value"] == f"mis-minio.{NAMESPACE}.svc.cluster.local:9000"
    assert "mis-minio" in rendered.names("Service")


# --- model servers and endpoints -----------------------------------------------------

def test_stage_endpoints_point_at_the_vllm_servers_by_default():
    rendered = render_variant("defaults")
    servers = {item["metadata"]["name"]: item for item in rendered.of_kind("Deployment")
               if item["metadata"]["labels"]["app.kubernetes.io/component"].startswith("vllm-")}
    assert set(servers) == {"mis-vllm-qwen-llm", "mis-vllm-internvl"}
    for name, deployment in servers.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "--tensor-parallel-size=4" in container["args"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
        assert name in rendered.names("Service")
    extractor = env_of(rendered.workload_for("extractor")["spec"]["template"]["spec"]["containers"][0])
    assert extractor["MIS_LLM_BACKEND"]["value"] == "openai"
    assert extractor["MIS_LLM_BASE_URL"]["value"] == f"http://mis-vllm-qwen-llm.{NAMESPACE}.svc.cluster.local:8000/v1"
    assert extractor["MIS_LLM_MODEL"]["value"] == "Qwen/Qwen2.5-72B-Instruct"
    assert extractor["MIS_VLM_BASE_URL"]["value"].startswith("http://mis-vllm-internvl.")
    judge = env_of(rendered.workload_for("judge")["spec"]["template"]["spec"]["containers"][0])
    assert judge["MIS_JUDGE_MODEL_MODEL"]["value"] == "OpenGVLab/InternVL2_5-78B"
    detoxifier = env_of(rendered.workload_for("detoxifier")["spec"]["template"]["spec"]["containers"][0])
    assert "MIS_VLM_BACKEND" not in detoxifier


def test_model_server_weights_from_a_pvc_or_a_host_path():
    rendered = render_variant("all-optional")
    llm = rendered.get("Deployment", "mis-vllm-qwen-llm")["spec"]["template"]["spec"]
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "llm-weights", "readOnly": True}} \
        in llm["volumes"]
    args = llm["containers"][0]["args"]
    assert "--served-model-name=qwen2.5-72b-instruct" in args and "--gpu-memory-utilization" in args
    internvl = rendered.get("Deployment", "mis-vllm-internvl")["spec"]["template"]["spec"]
    assert {"name": "weights", "hostPath": {"path": "/mnt/models", "type": "Directory"}} in internvl["volumes"]
    assert internvl["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    extractor = env_of(rendered.workload_for("extractor")["spec"]["template"]["spec"]["containers"][0])
    assert extractor["MIS_LLM_MODEL"]["value"] == "qwen2.5-72b-instruct"


def test_openai_instead_of_vllm():
    rendered = render_variant("openai")
    assert not [item for item in rendered.objects
                if item["metadata"]["name"].startswith("mis-vllm-")]
    for name in ("extractor", "filter", "judge"):
        spec = rendered.workload_for(name)["spec"]["template"]["spec"]
        env = env_of(spec["containers"][0])
        prefixes = [variable[:-len("BACKEND")] for variable in env if variable.endswith("_BACKEND")]
        assert prefixes, name
        for prefix in prefixes:
            assert env[f"{prefix}BACKEND"]["value"] == "openai"
            assert env[f"{prefix}BASE_URL"]["value"] == ""  # api.openai.com
            assert env[f"{prefix}MODEL"]["value"] == "gpt-4o"
            key_file = env[f"{prefix}API_KEY_FILE"]["value"]
            mounted = [mount for mount in spec["containers"][0]["volumeMounts"]
                       if key_file.startswith(mount["mountPath"] + "/")]
            assert len(mounted) == 1 and mounted[0]["readOnly"], f"{name}: {key_file} is not mounted"
            volume = next(v for v in spec["volumes"] if v["name"] == mounted[0]["name"])
            assert volume["secret"]["secretName"] == "openai-api-key"
            assert "API_KEY" not in {variable[len(prefix):] for variable in env}


def test_an_endpoint_naming_a_missing_server_fails_clearly():
    result = helm(*template_args(sets=("modelEndpoints.llm.server=no-such-server",)), check=False)
    assert result.returncode != 0
    assert 'server "no-such-server" is not in modelServers' in result.stderr


def test_a_service_naming_a_missing_endpoint_fails_clearly():
    result = helm(*template_args(sets=("services.detoxifier.modelEndpoints.MIS_LLM_=nowhere",)), check=False)
    assert result.returncode != 0
    assert '"nowhere" is not in modelEndpoints' in result.stderr


# --- scaling ---------------------------------------------------------------------

def test_hpa_targets_only_the_t2i_refiner():
    rendered = render_variant("t2i-three-replicas-hpa")
    autoscalers = rendered.of_kind("HorizontalPodAutoscaler")
    assert len(autoscalers) == 1
    hpa = autoscalers[0]["spec"]
    target = rendered.workload_for("t2i-refiner")
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": target["metadata"]["name"]}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "mis_rpc_in_flight"
    # The HPA owns the replica count; a rendered one would fight it on upgrades.
    assert "replicas" not in target["spec"]
    container = target["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for name in set(SERVICES) - {"t2i-refiner"}:
        assert "replicas" in rendered.workload_for(name)["spec"]


def test_no_autoscaler_unless_asked_and_cpu_by_default():
    assert not render_variant("defaults").of_kind("HorizontalPodAutoscaler")
    hpa = render_variant("all-optional").get("HorizontalPodAutoscaler", "mis-t2i-refiner")["spec"]
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600


def test_t2i_replicas_without_hpa():
    rendered = render(sets=("services.t2i-refiner.replicas=3",))
    assert rendered.workload_for("t2i-refiner")["spec"]["replicas"] == 3
    assert not rendered.of_kind("HorizontalPodAutoscaler")


# --- RBAC ------------------------------------------------------------------------

# Exactly what the training launcher calls (tests/training_jobs/test_rbac.py checks each
# call against the rendered Role); Kueue's Workloads only when a queue is configured.
EXPECTED_COORDINATOR_RULES = {
    ("batch", "jobs"): {"create", "list", "patch", "delete"},
    ("", "services"): {"create"},
    # engine: auto may find JobSet or Kubeflow Trainer v2 installed.
    ("jobset.x-k8s.io", "jobsets"): {"create", "list", "patch", "delete"},
    ("trainer.kubeflow.org", "trainjobs"): {"create", "list", "patch", "delete"},
    ("", "pods"): {"list"},
    ("", "pods/log"): {"get"},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_coordinator_role_grants_nothing_outside_its_namespace(variant):
    rendered = render_variant(variant)
    assert not rendered.of_kind("ClusterRole") and not rendered.of_kind("ClusterRoleBinding")
    roles = rendered.of_kind("Role")
    assert [role["metadata"]["name"] for role in roles] == ["mis-coordinator"]
    role = roles[0]
    assert role["metadata"]["namespace"] == NAMESPACE
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in (group, resource) and "*" not in rule["verbs"]
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == EXPECTED_COORDINATOR_RULES
    binding = rendered.get("RoleBinding", "mis-coordinator")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "mis-coordinator"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mis-coordinator", "namespace": NAMESPACE}]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_only_the_coordinator_gets_an_api_token(variant):
    rendered = render_variant(variant)
    for name, spec in pod_specs(rendered):
        if name == "Deployment/mis-coordinator":
            assert spec["serviceAccountName"] == "mis-coordinator"
            assert spec["automountServiceAccountToken"] is True
        else:
            assert spec.get("automountServiceAccountToken") is False, name
            assert "serviceAccountName" not in spec, name


# --- security defaults ---------------------------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_container_runs_non_root_with_a_read_only_root(variant):
    rendered = render_variant(variant)
    checked = 0
    for name, spec in pod_specs(rendered):
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, name
        assert pod.get("runAsUser", 0) != 0, name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container.get("securityContext", {})
            where = f"{name} container {container['name']}"
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", pod["runAsUser"]) != 0, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert not context.get("privileged"), where
            checked += 1
    assert checked >= len(SERVICES)


def test_writable_paths_are_volumes():
    """A read-only root needs /tmp (and caches) as volumes, or the processes fail to write."""
    for name, spec in pod_specs(render_variant("all-optional")):
        for container in spec["containers"]:
            mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{name}: no writable /tmp"


def test_stage_services_take_calls_only_from_the_coordinator():
    rendered = render_variant("defaults")
    for stage in STAGES:
        policy = rendered.get("NetworkPolicy", f"mis-{stage}")
        assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == stage
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        [rule] = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": "grpc", "protocol": "TCP"}]
        callers = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]}
        assert callers == {"coordinator", "health-test"}
        assert all(set(peer) == {"podSelector"} for peer in rule["from"])


def test_judge_is_reachable_from_the_listed_namespaces_only():
    defaults = render_variant("defaults").get("NetworkPolicy", "mis-judge")
    [rule] = defaults["spec"]["ingress"]
    assert all("namespaceSelector" not in peer and "ipBlock" not in peer for peer in rule["from"])
    policy = render_variant("all-optional").get("NetworkPolicy", "mis-judge")
    grpc_rule = next(rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "grpc")
    callers = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
               for peer in grpc_rule["from"] if "podSelector" in peer}
    assert callers == {"coordinator", "health-test", "cot-annotator"}
    namespaces = [peer["namespaceSelector"]["matchExpressions"][0] for peer in grpc_rule["from"]
                  if "namespaceSelector" in peer]
    assert namespaces == [{"key": "kubernetes.io/metadata.name", "operator": "In",
                           "values": ["model-eval", "red-team"]}]
    assert {"ipBlock": {"cidr": "10.0.0.0/8"}} in grpc_rule["from"]
    metrics_rule = next(rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "metrics")
    assert metrics_rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["monitoring"]


def test_every_pod_is_covered_by_a_network_policy():
    rendered = render_variant("all-optional")
    selectors = [policy["spec"]["podSelector"]["matchLabels"] for policy in rendered.of_kind("NetworkPolicy")]
    for name, spec in pod_specs(rendered):
        if name.startswith("Pod/"):
            continue  # the helm test pod only makes calls
        item = next(obj for obj in rendered.objects if f"{obj['kind']}/{obj['metadata']['name']}" == name)
        labels = item["spec"]["template"]["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in selector.items()) for selector in selectors), name


def test_network_policies_can_be_switched_off():
    assert not render(sets=("networkPolicy.enabled=false",)).of_kind("NetworkPolicy")


# --- schema ----------------------------------------------------------------------

@pytest.mark.parametrize("setting, message", [
    ("services.t2i-refiner.replica=3", "Additional property replica is not allowed"),
    ("services.judge.replicas=three", "Invalid type. Expected: integer"),
    ("storage.minio.enabld=true", "Additional property enabld is not allowed"),
    ("extractor.replicas=2", "Additional property extractor is not allowed"),
    ("modelEndpoints.llm.backend=vllm", "must be one of the following"),
    ("services.judge.service.type=Ingress", "must be one of the following"),
    ("commonSettings.bad-name=1", "does not match"),
    ("services.filter.gpus=-1", "Must be greater than or equal to 0"),
    ("services.extracter.replicas=2", "enabled is required"),
])
def test_a_typo_in_values_fails_the_schema(setting, message):
    result = helm(*template_args(sets=(setting,)), check=False)
    assert result.returncode != 0, f"{setting} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


def test_schema_is_strict_json_schema():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(yaml.safe_load((CHART / "values.yaml").read_text()))
    services = schema["properties"]["services"]
    own = [name for name in (*SERVICES, *OPT_IN) if name in services["properties"]]
    assert all(services["properties"][name]["additionalProperties"] is False for name in own)
    # A service without a block of its own (a new stage) is held to the common shape, complete.
    assert services["additionalProperties"]["allOf"] == [{"$ref": "#/definitions/serviceCommon"}]
    assert {"enabled", "image", "replicas", "resources"} <= set(services["additionalProperties"]["required"])


# --- names ----------------------------------------------------------------------------

def test_long_release_names_truncate_to_63_characters_without_collisions():
    rendered = render(sets=("fullnameOverride=" + "a" * 70,), release="r" * 53)
    by_kind: dict[str, list[str]] = {}
    for item in rendered.objects:
        name = item["metadata"]["name"]
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        by_kind.setdefault(item["kind"], []).append(name)
        for key, value in item["metadata"].get("labels", {}).items():
            assert len(value) <= 63, f"{name}: label {key}={value}"
    for kind, names in by_kind.items():
        assert len(names) == len(set(names)), f"{kind} names collide: {names}"
    env = env_of(rendered.workload_for("coordinator")["spec"]["template"]["spec"]["containers"][0])
    host = env["MIS_T2I_REFINER_ADDRESS"]["value"].split("///")[1].split(".")[0]
    assert host in rendered.names("Service") and host.endswith("-t2i-refiner")


# --- monitoring, NOTES, helm test --------------------------------------------------------

def test_service_monitors_select_metrics_ports():
    rendered = render_variant("all-optional")
    monitors = rendered.of_kind("ServiceMonitor")
    assert {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in monitors} == {
        *SERVICES, *OPT_IN, "vllm-qwen-llm", "vllm-internvl"}
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = monitor["spec"]["selector"]["matchLabels"]
        port = monitor["spec"]["endpoints"][0]["port"]
        matched = [service for service in rendered.of_kind("Service")
                   if all(service["metadata"]["labels"].get(k) == v for k, v in selector.items())
                   and port in {p["name"] for p in service["spec"]["ports"]}]
        assert len(matched) == 1, f"{monitor['metadata']['name']} scrapes {len(matched)} Services"
    assert not render_variant("defaults").of_kind("ServiceMonitor")


def render_notes(tmp_path, *sets: str) -> str:
    """NOTES.txt rendered: `helm template` skips it, so a copy of the chart
    renders it into a ConfigMap with `tpl`."""
    chart = tmp_path / "mis"
    shutil.copytree(CHART, chart)
    shutil.copy(CHART / "templates" / "NOTES.txt", chart / "notes.txt")
    (chart / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        "data:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | toJson }}\n")
    result = helm("template", "mis", str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
                  "--show-only", "templates/notes-probe.yaml", *[arg for item in sets for arg in ("--set", item)])
    return parse_manifests(result.stdout)[0]["data"]["notes"]


def test_notes_say_how_to_reach_the_judge_and_watch_a_run(tmp_path):
    notes = render_notes(tmp_path, "services.judge.allowedNamespaces={model-eval}",
                         "services.judge.auth.existingSecret=judge-tokens")
    assert f"mis-judge.{NAMESPACE}.svc.cluster.local:50051" in notes
    assert f"kubectl port-forward -n {NAMESPACE} svc/mis-judge 50051:50051" in notes
    assert "(now: model-eval)" in notes
    assert "Bearer" in notes and "judge-tokens" in notes
    assert f"kubectl logs -n {NAMESPACE} deploy/mis-coordinator -f" in notes
    assert "helm test mis" in notes


def test_helm_test_pod_checks_every_service_and_model_server():
    rendered = render_variant("defaults")
    pod = rendered.get("Pod", "mis-health-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    targets = dict(argument.split("=", 1) for argument in pod["spec"]["containers"][0]["args"])
    assert set(targets) == {*SERVICES, "vllm-qwen-llm", "vllm-internvl"}
    services = rendered.names("Service")
    for name, address in targets.items():
        host = re.sub(r"^\w+://", "", address).split(".")[0]
        assert host in services, f"{name}: {address} names no Service"
    config = rendered.get("ConfigMap", "mis-health-test")
    assert config["data"]["check_health.py"] == (CHART / "files" / "check_health.py").read_text()
    tls = render_variant("all-optional").get("Pod", "mis-health-test")
    judge = next(arg for arg in tls["spec"]["containers"][0]["args"] if arg.startswith("judge="))
    assert judge.startswith("judge=tcp://")
