"""Stopping a Kueue-managed Job the way Kueue expects: deactivate its Workload.

Kueue un-suspends a suspended Job whose Workload is admitted, so suspending the Job alone
lets a cancelled run start again. Setting `Workload.spec.active=false` makes Kueue evict
it, keep the Job suspended and stop admitting it. Kueue names Workloads itself
(`job-<name>-<hash>`), so a Job's Workload is found as Kueue finds it: by the controller
owner reference to the Job's uid (narrowed first by Kueue's `job-uid` label).

Which Workload API version to speak is read from the cluster's discovery, newest known
first, so a cluster on a newer Kueue (v1beta2) works as one on an older (v1beta1); both
keep `spec.active` and the `job-uid` label. A cluster that serves no Kueue API has no
Workloads: there is nothing to deactivate, and suspending the Job stops it.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

log = logging.getLogger(__name__)

GROUP = "kueue.x-k8s.io"
VERSIONS = ("v1beta2", "v1beta1")  # newest first
PLURAL = "workloads"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"


class Workloads:
    """The Workloads Kueue made for our Jobs, in one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self._version: str | None = None

    def version(self) -> str | None:
        """The newest Workload version the cluster serves (asked once), or None without Kueue."""
        if self._version is None:
            from services.coordinator.training.engines import served_groups

            served = served_groups(self.api).get(GROUP, set())
            found = next((v for v in VERSIONS if v in served), None)
            if found is None:
                log.warning("the cluster serves no %s API in %s: no Workloads to manage", GROUP,
                            "/".join(VERSIONS))
                return None
            self._version = found
        return self._version

    def _list(self, **options: str) -> list[dict[str, Any]]:
        version = self.version()
        if version is None:
            return []
        return self.custom.list_namespaced_custom_object(GROUP, version, self.namespace, PLURAL,
                                                         **options).get("items", [])

    def owned_by(self, job_uid: str) -> list[dict[str, Any]]:
        listed = self._list(label_selector=f"{JOB_UID_LABEL}={job_uid}")
        return [w for w in listed if _owner_uids(w) & {job_uid}]

    def active_by_owner(self) -> dict[str, list[dict[str, Any]]]:
        """Active Workloads by the uid of the Job that owns them (one list call)."""
        listed = self._list()
        owners: dict[str, list[dict[str, Any]]] = {}
        for workload in listed:
            if is_active(workload):
                for uid in _owner_uids(workload):
                    owners.setdefault(uid, []).append(workload)
        return owners

    def deactivate(self, workloads: list[dict[str, Any]]) -> int:
        """Sets spec.active=false on each still-active Workload; returns how many changed."""
        changed = 0
        for workload in workloads:
            if not is_active(workload):
                continue
            name = workload["metadata"]["name"]
            self.custom.patch_namespaced_custom_object(GROUP, self.version(), self.namespace, PLURAL, name,
                                                       {"spec": {"active": False}})
            log.info("kueue workload %s deactivated", name)
            changed += 1
        return changed


def is_active(workload: dict[str, Any]) -> bool:
    return (workload.get("spec") or {}).get("active", True) is not False


def _owner_uids(workload: dict[str, Any]) -> set[str]:
    return {ref.get("uid") for ref in workload.get("metadata", {}).get("ownerReferences") or []
            if ref.get("controller")}
