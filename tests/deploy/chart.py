"""Render the Helm chart with the real Helm binary and look at what comes out.

The deploy tests run `helm lint` and `helm template` as subprocesses (Helm 3.6,
the oldest version the chart supports) and validate every rendered object
against the Kubernetes OpenAPI schemas with kubernetes-validate. No API server
runs here, so this is as far as a test can take a manifest without a cluster.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from services import registry as _registry
from services.coordinator import stages as _stages

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / "node_modules" / ".bin" / "helm"
CHART = REPO / "charts" / "mis"
VARIANTS_DIR = Path(__file__).resolve().parent / "values"
# Native gRPC probes need 1.24; validate against a current release.
KUBE_VERSION = "1.30.0"
NAMESPACE = "mis-test"

requires_helm = pytest.mark.skipif(
    not HELM.exists(), reason=f"Helm is not installed at {HELM.relative_to(REPO)} (make setup-node installs it)")

# The value variants every rendering test covers: name -> values files.
VARIANTS: dict[str, tuple[Path, ...]] = {
    "defaults": (),
    "all-optional": (VARIANTS_DIR / "all-optional.yaml",),
    "t2i-three-replicas-hpa": (VARIANTS_DIR / "t2i-three-replicas-hpa.yaml",),
    "openai": (VARIANTS_DIR / "openai.yaml",),
    "kind": (REPO / "k8s" / "kind" / "values.yaml",),
}

# The services and pipeline stages, from their one declaration (the registry
# and the coordinator's stage declarations); the chart's own list is its values.
# A service whose values entry is `enabled: false` is opt-in: the default
# render leaves it out and the all-optional variant switches it on.
_ENTRIES = yaml.safe_load((CHART / "values.yaml").read_text())["services"]
OPT_IN = tuple(name for name in _registry.SERVICES if _ENTRIES.get(name, {}).get("enabled") is False)
SERVICES = tuple(name for name in _registry.SERVICES if name not in OPT_IN)
STAGES = tuple(stage.service for stage in _stages.PIPELINE if stage.service not in OPT_IN)
# --set options a variant adds to its values files.
VARIANT_SETS: dict[str, tuple[str, ...]] = {
    "all-optional": tuple(f"services.{name}.enabled=true" for name in OPT_IN)}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(HELM), *args], capture_output=True, text=True, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def template_args(values_files: tuple[Path, ...] = (), sets: tuple[str, ...] = (),
                  release: str = "mis", chart: Path = CHART) -> list[str]:
    args = ["template", release, str(chart), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for path in values_files:
        args += ["-f", str(path)]
    for item in sets:
        args += ["--set", item]
    return args


@dataclass(frozen=True)
class Rendered:
    """The objects `helm template` produced, with look-ups the tests need."""

    objects: tuple[dict, ...]

    def of_kind(self, kind: str) -> list[dict]:
        return [item for item in self.objects if item["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [item for item in self.of_kind(kind) if item["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {item["metadata"]["name"] for item in self.of_kind(kind)}

    def workload_for(self, component: str, kind: str = "Deployment") -> dict:
        found = [item for item in self.of_kind(kind)
                 if item["metadata"]["labels"].get("app.kubernetes.io/component") == component]
        assert len(found) == 1, f"expected one {kind} for {component}, found {len(found)}"
        return found[0]


def pod_specs(rendered: Rendered) -> Iterator[tuple[str, dict]]:
    """(kind/name, pod spec) of every object that runs containers."""
    for item in rendered.objects:
        name = f"{item['kind']}/{item['metadata']['name']}"
        if item["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield name, item["spec"]["template"]["spec"]
        elif item["kind"] == "Pod":
            yield name, item["spec"]


def env_of(container: dict) -> dict[str, dict]:
    """Container env by name (each entry as rendered: value or valueFrom)."""
    names = [entry["name"] for entry in container.get("env", [])]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"{container['name']}: env names set twice: {sorted(duplicates)}"
    return {entry["name"]: entry for entry in container.get("env", [])}


def parse_manifests(text: str) -> tuple[dict, ...]:
    return tuple(item for item in yaml.safe_load_all(text) if item)


@functools.lru_cache(maxsize=None)
def render(values_files: tuple[Path, ...] = (), sets: tuple[str, ...] = (), release: str = "mis") -> Rendered:
    """`helm template` output, parsed; cached because several tests read each variant."""
    result = helm(*template_args(values_files, sets, release))
    return Rendered(parse_manifests(result.stdout))


def render_variant(name: str) -> Rendered:
    return render(VARIANTS[name], VARIANT_SETS.get(name, ()))
