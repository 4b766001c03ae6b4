"""Stopping a Kueue-managed Job the way Kueue expects: deactivate its Workload.

Kueue un-suspends a suspended Job whose Workload is admitted, so suspending the Job alone
lets a cancelled run start again. Setting `Workload.spec.active=false` makes Kueue evict
it, keep the Job suspended and stop admitting it. Kueue names Workloads itself
(`job-<name>-<hash>`), so a Job's Workload is found as Kueue finds it: by the controller
owner reference to the Job's uid (narrowed first by Kueue's `job-uid` label).
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

log = logging.getLogger(__name__)

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta1"
PLURAL = "workloads"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"


class Workloads:
    """The Workloads Kueue made for our Jobs, in one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace

    def owned_by(self, job_uid: str) -> list[dict[str, Any]]:
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                           label_selector=f"{JOB_UID_LABEL}={job_uid}")
        return [w for w in listed.get("items", []) if _owner_uids(w) & {job_uid}]

    def active_by_owner(self) -> dict[str, list[dict[str, Any]]]:
        """Active Workloads by the uid of the Job that owns them (one list call)."""
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        owners: dict[str, list[dict[str, Any]]] = {}
        for workload in listed.get("items", []):
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
            self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name,
                                                       {"spec": {"active": False}})
            log.info("kueue workload %s deactivated", name)
            changed += 1
        return changed


def is_active(workload: dict[str, Any]) -> bool:
    return (workload.get("spec") or {}).get("active", True) is not False


def _owner_uids(workload: dict[str, Any]) -> set[str]:
    return {ref.get("uid") for ref in workload.get("metadata", {}).get("ownerReferences") or []
            if ref.get("controller")}
