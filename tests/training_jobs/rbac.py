"""The coordinator's Role as the chart renders it (real Helm), and what it allows.

The Role is rendered with a Kueue queue configured, the setting under which the
coordinator uses the most of the API. A request is allowed when one rule names its API
group, its resource (with subresource, e.g. `pods/log`) and its verb, and the request
stays in the Role's namespace. Discovery (`/api`, `/apis`) is a non-resource URL every
authenticated user may read (the default `system:discovery` binding), so it is not a
Role's business.
"""

from __future__ import annotations

import functools

from tests.deploy.chart import HELM, NAMESPACE, render
from tests.training_jobs.cluster import NAMESPACE as JOB_NAMESPACE, ApiRequest

WITH_KUEUE = ("services.coordinator.settings.MIS_TRAINING_QUEUE=mis-training",)


@functools.lru_cache(maxsize=None)
def role_rules(sets: tuple[str, ...] = WITH_KUEUE) -> tuple[tuple[str, str, str], ...]:
    """(group, resource, verb) triples the coordinator's Role grants."""
    assert HELM.exists(), f"the RBAC cross-check renders the chart with Helm, not installed at {HELM}"
    roles = render(sets=sets).of_kind("Role")
    assert [role["metadata"]["name"] for role in roles] == ["mis-coordinator"]
    return tuple(sorted({(group, res, verb) for rule in roles[0]["rules"]
                         for group in rule["apiGroups"] for res in rule["resources"] for verb in rule["verbs"]}))


def denied(requests: list[ApiRequest], sets: tuple[str, ...] = WITH_KUEUE) -> list[ApiRequest]:
    """The requests the Role would refuse: the tests' namespace stands for the release's."""
    granted = set(role_rules(sets))
    return [r for r in requests
            if (r.group, r.resource, r.verb) not in granted or r.namespace != JOB_NAMESPACE]


def assert_granted(requests: list[ApiRequest]) -> None:
    refused = denied(requests)
    assert not refused, ("the coordinator's Role (charts/mis/templates/coordinator-rbac.yaml) does not grant:\n  "
                         + "\n  ".join(sorted({str(r) for r in refused})))


def used(requests: list[ApiRequest]) -> set[tuple[str, str, str]]:
    return {(r.group, r.resource, r.verb) for r in requests}


__all__ = ["NAMESPACE", "WITH_KUEUE", "assert_granted", "denied", "role_rules", "used"]
