"""The local stack: the S3 server and every service as separate processes on
loopback, the way they run in a cluster, but on one machine.

Each service binds port 0 and reports the port through MIS_PORT_FILE, so
starting the stack never races for ports. The coordinator starts last, with
the stage services' addresses. Stopping sends SIGTERM, so each service drains
as it would in a pod.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.s3server import LocalS3Server
from services.registry import ADDRESS_VARIABLES, SERVICES


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen
    port_file: Path
    log_path: Path
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class LocalStack:
    workdir: Path
    services: list[str] = field(default_factory=lambda: list(SERVICES))
    # Extra environment for every service, e.g. model endpoints.
    env: dict[str, str] = field(default_factory=dict)
    # Extra environment per service name.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    s3: LocalS3Server | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def base_env(self) -> dict[str, str]:
        assert self.s3 is not None
        env = dict(os.environ)
        env.update({
            "MIS_HOST": "127.0.0.1",
            "MIS_PORT": "0",
            "MIS_S3_ENDPOINT": self.s3.endpoint,
            "MIS_S3_ACCESS_KEY": self.s3.access_key,
            "MIS_S3_SECRET_KEY": self.s3.secret_key,
            "MIS_S3_BUCKET": "mis",
            "MIS_GRACE_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        })
        # Services run in the workdir; the paths a user names (seeds, exports)
        # are relative to where the stack was started, so that folder is the
        # coordinator's local root here (with the temp folder), unless set.
        env.setdefault("MIS_COORDINATOR_LOCAL_ROOTS",
                       os.pathsep.join([os.getcwd(), tempfile.gettempdir()]))
        env.update(self.env)
        return env

    def start(self, timeout: float = 300.0) -> "LocalStack":
        # A hang guard: a service that exits is reported at once with its log,
        # and a loaded laptop can take minutes to import every service.
        for sub in ("logs", "ports"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.s3 = LocalS3Server(self.workdir / "s3", log_path=self.workdir / "logs" / "s3.log")
        self.s3.start()
        stages = [n for n in self.services if n != "coordinator"]
        for name in stages:
            self.spawn(name)
        self.wait_for_ports(stages, timeout)
        if "coordinator" in self.services:
            self.spawn("coordinator")
            self.wait_for_ports(["coordinator"], timeout)
        return self

    def spawn(self, name: str) -> ServiceProcess:
        env = self.base_env()
        for stage, variable in ADDRESS_VARIABLES.items():
            if stage in self.processes and self.processes[stage].port:
                env.setdefault(variable, self.processes[stage].address)
        env.update(self.service_env.get(name, {}))
        port_file = self.workdir / "ports" / name
        port_file.unlink(missing_ok=True)
        env["MIS_PORT_FILE"] = str(port_file)
        # A killed `mis stack up` or `mis demo` leaves no service behind.
        env["MIS_PARENT_PID"] = str(os.getpid())
        log_path = self.workdir / "logs" / f"{name}.log"
        log = open(log_path, "ab")
        process = subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", name],
                                   env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=self.workdir)
        self.processes[name] = ServiceProcess(name, process, port_file, log_path)
        return self.processes[name]

    def wait_for_ports(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in list(pending):
                service = self.processes[name]
                if service.process.poll() is not None:
                    tail = service.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {service.process.returncode}:\n{tail}")
                if service.port_file.exists():
                    service.port = int(service.port_file.read_text())
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"services not up after {timeout}s: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.05)

    def health(self, deadline_seconds: float = 5.0) -> dict[str, str]:
        """The grpc.health.v1 status of every service, by name."""

        async def check(address: str) -> str:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""),
                                             timeout=deadline_seconds)
                except grpc.aio.AioRpcError as exc:
                    return exc.code().name
                return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        async def check_all() -> dict[str, str]:
            names = list(self.processes)
            results = await asyncio.gather(*(check(self.processes[n].address) for n in names))
            return dict(zip(names, results))

        return asyncio.run(check_all())

    def stop(self, timeout: float = 15.0) -> dict[str, int]:
        """SIGTERM every service (coordinator first), wait, then stop S3.

        Returns each service's exit code: 0 means it drained and exited cleanly.
        """
        codes: dict[str, int] = {}
        order = sorted(self.processes, key=lambda n: n != "coordinator")
        for name in order:
            process = self.processes[name].process
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name in order:
            process = self.processes[name].process
            try:
                codes[name] = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        if self.s3 is not None:
            self.s3.stop()
        return codes

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
