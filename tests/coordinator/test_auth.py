"""The coordinator authenticates its callers with the judge's bearer-token
file and can serve TLS; its client and the CLI take the token file and the
CA. Real coordinator processes on loopback, a throwaway PKI."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.coordinator.client import CoordinatorClient
from tests.support.certs import make_pki

TOKEN = "cli-token-0123456789abcdef"


@pytest.fixture
def token_files(tmp_path):
    accepted = tmp_path / "tokens.txt"
    accepted.write_text(f"# callers of the coordinator\ncli:{TOKEN}\n")
    right = tmp_path / "right.token"
    right.write_text(TOKEN + "\n")
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token-0123456789\n")
    return accepted, right, wrong


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_calls_need_a_known_bearer_token(start_service, token_files):
    accepted, right, wrong = token_files
    coordinator = start_service("coordinator", {"MIS_AUTH_TOKENS_FILE": str(accepted)})
    with CoordinatorClient(coordinator.address, 30) as client:
        assert code_of(client.list) == grpc.StatusCode.UNAUTHENTICATED
    with CoordinatorClient(coordinator.address, 30, token_file=wrong) as client:
        assert code_of(client.list) == grpc.StatusCode.UNAUTHENTICATED
        assert code_of(lambda: client.import_folder("/etc")) == grpc.StatusCode.UNAUTHENTICATED
    with CoordinatorClient(coordinator.address, 30, token_file=right) as client:
        assert client.list() == []
        # Health stays open, so probes work without credentials.
        health = health_pb2_grpc.HealthStub(client.channel)
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=30)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert "MIS_AUTH_TOKENS_FILE is unset" not in coordinator.log_text()


def test_tls_with_a_token_and_the_cli_options(start_service, token_files, tmp_path):
    accepted, right, _ = token_files
    pki = make_pki(tmp_path / "pki")
    coordinator = start_service("coordinator", {"MIS_AUTH_TOKENS_FILE": str(accepted),
                                                "MIS_TLS_CERT": str(pki.server_cert),
                                                "MIS_TLS_KEY": str(pki.server_key)})
    address = f"localhost:{coordinator.port}"
    with CoordinatorClient(address, 30, ca_file=pki.ca_cert) as client:
        assert code_of(client.list) == grpc.StatusCode.UNAUTHENTICATED
    with CoordinatorClient(address, 30, token_file=right, ca_file=pki.ca_cert) as client:
        assert client.list() == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIS_COORDINATOR_")}
    cli = [sys.executable, "-m", "services.cli.main", "runs", "list", "--coordinator", address,
           "--coordinator-ca", str(pki.ca_cert)]
    refused = subprocess.run(cli, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode != 0
    assert "UNAUTHENTICATED" in refused.stdout + refused.stderr
    listed = subprocess.run([*cli, "--coordinator-token-file", str(right)], capture_output=True,
                            text=True, timeout=60, env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # The same through the environment variables the options default to.
    by_env = subprocess.run(cli[:-2], capture_output=True, text=True, timeout=60,
                            env={**env, "MIS_COORDINATOR_TOKEN_FILE": str(right),
                                 "MIS_COORDINATOR_CA_FILE": str(pki.ca_cert)})
    assert by_env.returncode == 0, by_env.stdout + by_env.stderr


def test_mutual_tls_needs_the_client_certificate(start_service, token_files, tmp_path):
    accepted, right, _ = token_files
    pki = make_pki(tmp_path / "pki")
    coordinator = start_service("coordinator", {"MIS_AUTH_TOKENS_FILE": str(accepted),
                                                "MIS_TLS_CERT": str(pki.server_cert),
                                                "MIS_TLS_KEY": str(pki.server_key),
                                                "MIS_TLS_CLIENT_CA": str(pki.ca_cert)})
    address = f"localhost:{coordinator.port}"
    with CoordinatorClient(address, 30, token_file=right, ca_file=pki.ca_cert) as client:
        # The handshake fails: no status from the coordinator, the channel is unusable.
        assert code_of(client.list) == grpc.StatusCode.UNAVAILABLE
    with CoordinatorClient(address, 30, token_file=right, ca_file=pki.ca_cert,
                           cert_file=pki.client_cert, key_file=pki.client_key) as client:
        assert client.list() == []


def test_without_a_token_file_it_warns_and_accepts_anyone(start_service):
    coordinator = start_service("coordinator", {})
    with CoordinatorClient(coordinator.address, 30) as client:
        assert client.list() == []
    assert ("MIS_AUTH_TOKENS_FILE is unset: the coordinator accepts unauthenticated calls"
            in coordinator.log_text())
