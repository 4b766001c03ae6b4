"""`helm test` check: every MIS service answers grpc.health.v1 with SERVING.

Run by the chart's test pod with one argument per target: `NAME=HOST:PORT`
(gRPC health check), `NAME=tcp://HOST:PORT` (a TCP connect, for a judge that
speaks TLS only) or `NAME=http://HOST:PORT/PATH` (an HTTP GET answering 200,
for the model servers). Retries for a while so a rollout in progress can settle, then
exits non-zero naming every target that never became healthy.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ATTEMPTS = 12
PAUSE_SECONDS = 5.0
DEADLINE_SECONDS = 5.0


def grpc_status(address: str) -> str:
    """The health status name of the server's overall ("") service."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE_SECONDS)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def tcp_status(address: str) -> str:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=DEADLINE_SECONDS):
        return "SERVING"


def http_status(url: str) -> str:
    with urllib.request.urlopen(url, timeout=DEADLINE_SECONDS) as reply:
        return "SERVING" if reply.status == 200 else f"HTTP {reply.status}"


def check(address: str) -> str:
    if address.startswith("tcp://"):
        return tcp_status(address[len("tcp://"):])
    if address.startswith("http://"):
        return http_status(address)
    return grpc_status(address)


def parse_target(argument: str) -> tuple[str, str]:
    name, separator, address = argument.partition("=")
    if not separator or not name or ":" not in address:
        raise SystemExit(f"bad target {argument!r}: expected NAME=HOST:PORT or NAME=tcp://HOST:PORT")
    return name, address


def main(arguments: list[str], attempts: int = ATTEMPTS, pause: float = PAUSE_SECONDS) -> int:
    targets = dict(parse_target(argument) for argument in arguments)
    if not targets:
        print("no targets given", file=sys.stderr)
        return 2
    last_error: dict[str, str] = {}
    pending = dict(targets)
    for attempt in range(attempts):
        for name, address in list(pending.items()):
            try:
                status = check(address)
            except grpc.RpcError as error:
                last_error[name] = f"{error.code().name}: {error.details()}"
                continue
            except OSError as error:  # refused, unreachable, DNS, HTTP errors
                last_error[name] = str(error)
                continue
            if status == "SERVING":
                print(f"{name} ({address}): SERVING", flush=True)
                del pending[name]
            else:
                last_error[name] = status
        if not pending:
            return 0
        if attempt + 1 < attempts:
            time.sleep(pause)
    for name, address in pending.items():
        print(f"{name} ({address}): not healthy: {last_error.get(name, 'no answer')}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
