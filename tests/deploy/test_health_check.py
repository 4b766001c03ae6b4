"""The `helm test` health check, run for real: against gRPC health servers on
loopback, and against the platform's own services started with `mis serve`
and the environment the chart renders for them (the kind variant: offline
backends), so the image's command, the chart's env and the services agree."""

from __future__ import annotations

import http.server
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.support.waiting import until_sync

from .chart import CHART, REPO, SERVICES, env_of, render_variant, requires_helm

SCRIPT = CHART / "files" / "check_health.py"


def load_check_health():
    spec = importlib.util.spec_from_file_location("check_health", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_health = load_check_health()


@pytest.fixture
def health_server():
    """A gRPC server with only the standard health service, on a free loopback port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(None)


def test_serving_server_passes(health_server, capsys):
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert check_health.main([f"judge=127.0.0.1:{port}"], attempts=1, pause=0) == 0
    assert "judge (127.0.0.1:" in capsys.readouterr().out


def test_not_serving_server_fails_with_its_status(health_server, capsys):
    servicer, port = health_server
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert check_health.main([f"filter=127.0.0.1:{port}"], attempts=2, pause=0) == 1
    assert "filter (127.0.0.1:" in capsys.readouterr().err


def test_unreachable_server_fails_and_names_it(capsys):
    with check_health.socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert check_health.main([f"extractor=127.0.0.1:{port}"], attempts=1, pause=0) == 1
    assert "extractor" in capsys.readouterr().err


def test_tcp_and_http_targets(health_server):
    _, port = health_server

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        web_port = web.server_address[1]
        assert check_health.main([f"judge=tcp://127.0.0.1:{port}",
                                  f"vllm=http://127.0.0.1:{web_port}/health"], attempts=1, pause=0) == 0
        assert check_health.main([f"vllm=http://127.0.0.1:{web_port}/nothing"], attempts=1, pause=0) == 1
    finally:
        web.shutdown()


def test_bad_target_is_refused():
    with pytest.raises(SystemExit, match="expected NAME=HOST:PORT"):
        check_health.main(["judge"], attempts=1, pause=0)


# --- the real services, started as the chart starts them ------------------------------

def local_environment(container: dict, port_file: Path, home: Path, s3) -> dict[str, str]:
    """The container's rendered env, resolved the way the kubelet would, with
    the listening addresses moved to loopback and free ports."""
    env = {"PATH": os.environ["PATH"]}
    for name, entry in env_of(container).items():
        if "value" in entry:
            env[name] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            key = entry["valueFrom"]["secretKeyRef"]["key"]
            env[name] = {"access-key": s3.access_key, "secret-key": s3.secret_key}[key]
        elif "fieldRef" in entry.get("valueFrom", {}):
            env[name] = "mis-test"
    env.update(MIS_HOST="127.0.0.1", MIS_PORT="0", MIS_METRICS_PORT="0", MIS_PORT_FILE=str(port_file),
               MIS_S3_ENDPOINT=s3.endpoint, HOME=str(home), HF_HOME=str(home / "huggingface"),
               MIS_PARENT_PID=str(os.getpid()))
    return env


def mis_command() -> list[str]:
    """The `mis` console script beside this interpreter, as the image runs it."""
    script = Path(sys.executable).parent / "mis"
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli.main"]


def served_services(address: str) -> set[str]:
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        [reply] = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    return {service.name for service in reply.list_services_response.service}


@requires_helm
def test_chart_env_starts_every_service_and_the_health_check_passes(tmp_path):
    from services.common.s3server import LocalS3Server

    rendered = render_variant("kind")
    pod = rendered.get("Pod", "mis-health-test")
    command = pod["spec"]["containers"][0]["command"]
    assert command == ["python", "/checks/check_health.py"]
    processes: dict[str, tuple[subprocess.Popen, Path]] = {}
    with LocalS3Server(tmp_path / "s3") as s3:
        try:
            for name in SERVICES:
                container = rendered.workload_for(name)["spec"]["template"]["spec"]["containers"][0]
                assert container["args"] == ["serve", name]
                port_file = tmp_path / f"{name}.port"
                home = tmp_path / f"home-{name}"
                home.mkdir()
                log = open(tmp_path / f"{name}.log", "wb")
                # The image's ENTRYPOINT is `mis`; run the same console script.
                processes[name] = (subprocess.Popen(
                    [*mis_command(), *container["args"]],
                    env=local_environment(container, port_file, home, s3), cwd=REPO,
                    stdout=log, stderr=subprocess.STDOUT), port_file)
            ports = {}
            for name, (process, port_file) in processes.items():
                until_sync(lambda: port_file.exists() or process.poll() is not None,
                           f"{name} to announce its port")
                log_text = (tmp_path / f"{name}.log").read_text(errors="replace")
                assert port_file.exists(), f"{name} did not start (exit {process.poll()}):\n{log_text}"
                ports[name] = int(port_file.read_text())
            targets = [f"{name}=127.0.0.1:{port}" for name, port in ports.items()]
            # The script exactly as the test pod runs it.
            result = subprocess.run([sys.executable, str(SCRIPT), *targets], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout + result.stderr
            for name in SERVICES:
                assert f"{name} (127.0.0.1:{ports[name]}): SERVING" in result.stdout
            for name, port in ports.items():
                own = {service for service in served_services(f"127.0.0.1:{port}")
                       if service.startswith("mis.v1.")}
                assert len(own) >= 1, f"{name} serves no mis.v1 service"
                # Each command starts its own service, not another's.
                stem = name.replace("-", "").lower()
                assert any(stem in service.lower().replace("_", "") for service in own), (name, own)
        finally:
            for process, _ in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for name, (process, _) in processes.items():
                try:
                    code = process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    code = process.wait()
                assert code == 0, f"{name} did not drain cleanly on SIGTERM (exit {code})"
