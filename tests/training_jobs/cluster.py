"""kmock's Kubernetes emulator as the training tests use it, plus what it lacks.

`KubernetesEmulator` stores objects and serves create/get/list/patch/delete over real
HTTP to the real `kubernetes` client. It has no controllers and ignores label selectors,
so this module declares the resources the coordinator uses, lets a test play the Job
controller (pods with their completion index, Job status) and Kueue (a Workload owned by
a Job), serves `pods/log`, and turns every recorded HTTP request into the (verb, group,
resource, namespace) that RBAC authorizes, for the Role cross-check.
"""

from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass
from typing import Any

from kmock import KubernetesEmulator, action, resource, subresource
from kubernetes import client

JOBS = "batch/v1/jobs"
SERVICES = "v1/services"
PODS = "v1/pods"
WORKLOADS = "kueue.x-k8s.io/v1beta1/workloads"  # the Kueue the emulator serves unless told
NAMESPACE = "mis"
_PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                   r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<resource>[^/]+)"
                   r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$")


@dataclass(frozen=True)
class ApiRequest:
    """One request as RBAC sees it."""

    verb: str
    group: str
    resource: str  # with its subresource: pods/log
    namespace: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.verb} {self.group or 'core'}/{self.resource} in {self.namespace} ({self.path})"


def as_api_request(method: str, path: str, params: dict[str, str]) -> ApiRequest | None:
    """The RBAC view of an HTTP request; None for a non-resource URL (discovery)."""
    match = _PATH.match(path)
    if match is None:
        return None
    named = match.group("name") is not None
    verb = {"GET": "get" if named else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection"}[method]
    if method == "GET" and params.get("watch") in ("true", "1"):
        verb = "watch"
    name = match.group("resource") + (f"/{match.group('sub')}" if match.group("sub") else "")
    return ApiRequest(verb, match.group("group") or "", name, match.group("namespace"), path)


class ApiServer(KubernetesEmulator):
    """The emulator, plus two things every real API server does that code relies on:
    a uid and a creation time on each new object, and equality label selectors on lists."""

    async def _handle(self, request):
        if request.action == action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp",
                            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return await super()._handle(request)

    async def _serve_list(self, request):
        listed = await super()._serve_list(request)
        selector = dict(request.params).get("labelSelector")
        if selector:
            wanted = dict(term.split("=", 1) for term in selector.split(","))
            listed["items"] = [item for item in listed["items"]
                               if wanted.items() <= (item.get("metadata", {}).get("labels") or {}).items()]
        return listed


class Cluster:
    """The emulator with our resources declared; a test plays the controllers through it."""

    def __init__(self, kmock, kueue_version: str | None = "v1beta1") -> None:
        self.kmock = kmock
        self.workloads_path = f"kueue.x-k8s.io/{kueue_version}/workloads" if kueue_version else None
        self.logs: dict[str, bytes] = {}
        kmock.resources[JOBS] = {"kind": "Job", "namespaced": True,
                                 "verbs": ["create", "get", "list", "patch", "delete"]}
        kmock.resources[SERVICES] = {"kind": "Service", "namespaced": True, "verbs": ["create", "get", "list"]}
        kmock.resources[PODS] = {"kind": "Pod", "namespaced": True, "verbs": ["get", "list"],
                                 "subresources": ["log"]}
        if self.workloads_path:
            kmock.resources[self.workloads_path] = {"kind": "Workload", "namespaced": True,
                                                    "verbs": ["get", "list", "patch"]}
        kmock["get", resource("", "v1", "pods"), subresource("log")] << self._serve_log
        # The client asks discovery for `/apis/` (a real server serves both spellings).
        kmock["get /apis/"] << kmock._serve_apis

    def serve_engine(self, plural: str) -> None:
        """Install an engine's CRD, e.g. JobSet: its group appears in discovery."""
        groups = {"jobsets": ("jobset.x-k8s.io/v1alpha2/jobsets", "JobSet"),
                  "trainjobs": ("trainer.kubeflow.org/v1alpha1/trainjobs", "TrainJob")}
        path, kind = groups[plural]
        self.kmock.resources[path] = {"kind": kind, "namespaced": True, "verbs": ["create", "list", "patch", "delete"]}

    def _serve_log(self, request) -> bytes:
        return self.logs.get(request.name, b"")

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = str(self.kmock.url).rstrip("/")
        return client.ApiClient(configuration)

    # ------------------------------------------------------------------ reading state
    def names(self, kind: str) -> list[str]:
        plural = kind.rsplit("/", 1)[-1]
        return sorted(name for (res, ns, name), obj in self.kmock.objects.items()
                      if str(res.plural) == plural and not obj.deleted)

    def job(self, name: str):
        return self.kmock.objects[JOBS, NAMESPACE, name]

    def api_requests(self) -> list[ApiRequest]:
        found = []
        for request in self.kmock:
            parsed = as_api_request(str(request.method.value), request.url.path, dict(request.params))
            if parsed is not None:
                found.append(parsed)
        return found

    # ------------------------------------------------------------------ playing controllers
    def set_status(self, job: str, **status: Any) -> None:
        """What the Job controller would write."""
        self.job(job).patch({"status": status})

    def fail(self, job: str, reason: str = "BackoffLimitExceeded",
             message: str = "Job has reached the specified backoff limit") -> None:
        self.set_status(job, active=0, ready=0, failed=1, conditions=[
            {"type": "Failed", "status": "True", "reason": reason, "message": message}])

    def add_pod(self, job: str, index: int, log: str = "", created: str = "2026-12-01T10:00:00Z") -> str:
        """A pod of `job` at completion `index`, as the Job controller creates it."""
        name = f"{job}-{index}-{len(self.names(PODS)):05d}"
        self.kmock.objects[PODS, NAMESPACE, name] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "creationTimestamp": created,
                         "labels": {"mis.dev/job": job, "batch.kubernetes.io/job-name": job},
                         "annotations": {"batch.kubernetes.io/job-completion-index": str(index)}},
            "spec": {"containers": [{"name": "trainer", "image": "trainer"}]}}
        self.logs[name] = log.encode()
        return name

    def admit_workload(self, job: str, active: bool = True) -> str:
        """The Workload Kueue creates for a queued Job: owned by it, named by Kueue."""
        return self.admit_workload_of(JOBS, job, "Job", active)

    def admit_workload_of(self, kind_path: str, job: str, kind: str, active: bool = True) -> str:
        """The Workload Kueue creates for a queued object of `kind` (Job, JobSet, TrainJob)."""
        uid = self.kmock.objects[kind_path, NAMESPACE, job]["metadata"]["uid"]
        name = f"{kind.lower()}-{job}-3f2a1"
        self.kmock.objects[self.workloads_path, NAMESPACE, name] = {
            "apiVersion": self.workloads_path.rsplit("/", 1)[0], "kind": "Workload",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kueue.x-k8s.io/job-uid": uid},
                         "ownerReferences": [{"apiVersion": "v1", "kind": kind, "name": job,
                                              "uid": uid, "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"active": active, "queueName": "mis-training"}}
        return name

    def workload(self, name: str):
        return self.kmock.objects[self.workloads_path, NAMESPACE, name]


def later(hours: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
