"""The logs of one rank of a run, read through the Kubernetes API (`pods/log`).

A rank is a completion index of the newest attempt's Job: pod 0 holds global rank 0,
the one that logs losses and writes progress. When a rank was replaced (a drained node),
its newest pod is the one read.
"""

from __future__ import annotations

from typing import Any, Iterator

from kubernetes import client

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
CONTAINER = "trainer"


class NoPodError(LookupError):
    """The rank has no pod (yet, or any more); the message says which and why."""


def rank_pod(core: client.CoreV1Api, api: client.ApiClient, namespace: str, labels: dict[str, str],
             rank: int) -> str:
    """The name of the newest pod of `rank` among the pods with these `labels`."""
    selector = ",".join(f"{key}={value}" for key, value in labels.items())
    pods = core.list_namespaced_pod(namespace, label_selector=selector)
    found: list[dict[str, Any]] = []
    for pod in (api.sanitize_for_serialization(p) for p in pods.items):
        meta = pod.get("metadata", {})
        if not labels.items() <= (meta.get("labels") or {}).items():
            continue  # a server that ignored the selector
        if (meta.get("annotations") or {}).get(INDEX_ANNOTATION) == str(rank):
            found.append(pod)
    if not found:
        name = next(iter(labels.values()))
        raise NoPodError(f"job {name} has no pod of rank {rank} (not scheduled yet, or already removed)")
    newest = max(found, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
    return newest["metadata"]["name"]


def read_lines(core: client.CoreV1Api, namespace: str, pod: str, follow: bool,
               tail_lines: int | None) -> Iterator[str]:
    """The trainer container's log, line by line; with `follow`, until the container ends."""
    response = core.read_namespaced_pod_log(pod, namespace, container=CONTAINER, follow=follow,
                                            tail_lines=tail_lines, _preload_content=False)
    try:
        pending = b""
        for chunk in response.stream(amt=64 * 1024, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")
    finally:
        response.release_conn()
