"""The service runtime as real processes: health, reflection, drain on SIGTERM,
metrics, request ids, TLS and mutual TLS."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys

import grpc
import pytest
import urllib3
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import \
    ProtoReflectionDescriptorDatabase

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.channels import open_channel, target_for
from services.common.setting_groups import ServerSettings
from services.common.grpc_server import binding, start_server
from services.registry import SERVICES
from tests.support.certs import make_pki
from tests.support.processes import ROOT
from tests.support.waiting import OutputLines, until_sync

def grpc_service_name(name: str) -> str:
    """The gRPC service a registered service serves: the one service of its
    contract module (services/<package>/ serves mis.v1.<package>_pb2's)."""
    package = SERVICES[name].split(".")[1]
    [service] = importlib.import_module(f"mis.v1.{package}_pb2").DESCRIPTOR.services_by_name.values()
    return service.full_name


# Derived from the registry, so a new stage is covered by being registered.
SERVICE_NAMES = {name: grpc_service_name(name) for name in SERVICES}


def test_every_registered_service_names_its_grpc_service():
    assert SERVICE_NAMES["t2i-refiner"] == "mis.v1.T2IRefinerService"
    assert all(full.startswith("mis.v1.") and full.endswith("Service") for full in SERVICE_NAMES.values())


@pytest.mark.parametrize("name", list(SERVICE_NAMES))
def test_service_process_answers_health_and_reflection(start_service, name):
    service = start_service(name)
    with grpc.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service_name in ("", SERVICE_NAMES[name]):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service_name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        listed = set(ProtoReflectionDescriptorDatabase(channel).get_services())
        assert SERVICE_NAMES[name] in listed
        assert "grpc.health.v1.Health" in listed
    assert service.terminate() == 0


def _start_slow_service(tmp_path, mode: str, grace: float) -> tuple[subprocess.Popen, int, OutputLines]:
    port_file = tmp_path / "slow.port"
    env = {**os.environ, "MIS_PORT": "0", "MIS_PORT_FILE": str(port_file),
           "MIS_GRACE_SECONDS": str(grace), "MIS_PARENT_PID": str(os.getpid())}
    process = subprocess.Popen([sys.executable, "-m", "tests.support.slow_service", mode],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = OutputLines(process.stdout)
    until_sync(lambda: port_file.exists() or process.poll() is not None, "the slow service's port")
    assert process.poll() is None, output.text()
    return process, int(port_file.read_text()), output


def test_sigterm_drains_an_in_flight_call(tmp_path):
    process, port, output = _start_slow_service(tmp_path, "drain", grace=30)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = judge_pb2_grpc.JudgeServiceStub(channel)
        statuses = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(),
                                                            timeout=60)
        assert next(statuses).status == health_pb2.HealthCheckResponse.SERVING
        pending = stub.Judge.future(judge_pb2.JudgeRequest(), timeout=60)
        output.wait_for('"call entered"')
        process.send_signal(signal.SIGTERM)
        # Load balancers watching health are told first.
        assert next(statuses).status == health_pb2.HealthCheckResponse.NOT_SERVING
        statuses.cancel()
        # The reply is sent only after the drain began: the call was in flight.
        reply = pending.result()
    assert reply.verdict.rationale == "finished after drain"
    assert process.wait(30) == 0
    assert '"draining"' in output.text()


def test_a_call_longer_than_the_grace_period_is_cut(tmp_path):
    process, port, output = _start_slow_service(tmp_path, "hang", grace=0.5)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        pending = judge_pb2_grpc.JudgeServiceStub(channel).Judge.future(judge_pb2.JudgeRequest(),
                                                                        timeout=60)
        output.wait_for('"call entered"')
        process.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as caught:
            pending.result()
        # Cut by the server going away: UNAVAILABLE, so a client retries elsewhere.
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
    assert process.wait(30) == 0
    assert '"draining"' in output.text()


class EchoJudge(judge_pb2_grpc.JudgeServiceServicer):
    async def Judge(self, request, context):
        return judge_pb2.JudgeResponse(verdict=judge_pb2.Verdict(rationale=request.item.question))

    async def GetJudgeInfo(self, request, context):
        await asyncio.Event().wait()  # a model that never answers
        return judge_pb2.GetJudgeInfoResponse()


async def _serve(settings: ServerSettings):
    return await start_server([binding(judge_pb2, "JudgeService",
                                       judge_pb2_grpc.add_JudgeServiceServicer_to_server,
                                       EchoJudge())], settings)


async def test_request_id_metrics_and_default_deadline():
    running = await _serve(ServerSettings(port=0, metrics_port=0))
    try:
        async with open_channel(f"127.0.0.1:{running.port}", deadline_seconds=0.5) as channel:
            stub = judge_pb2_grpc.JudgeServiceStub(channel)
            call = stub.Judge(judge_pb2.JudgeRequest(item=judge_pb2.JudgeItem(question="q")),
                              metadata=(("x-request-id", "req-123"),), timeout=30)
            reply = await call
            assert reply.verdict.rationale == "q"
            trailing = dict(await call.trailing_metadata())
            assert trailing["x-request-id"] == "req-123"
            with pytest.raises(grpc.aio.AioRpcError) as caught:  # under the channel's default
                await stub.GetJudgeInfo(judge_pb2.GetJudgeInfoRequest())
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        page = urllib3.PoolManager().request(
            "GET", f"http://127.0.0.1:{running.metrics_port}/metrics").data.decode()
        assert 'mis_rpc_total{code="OK",method="/mis.v1.JudgeService/Judge"} 1.0' in page
    finally:
        await running.drain(0)


async def test_message_size_limit_is_enforced():
    running = await _serve(ServerSettings(port=0, max_message_bytes=1024))
    try:
        async with open_channel(f"127.0.0.1:{running.port}") as channel:
            stub = judge_pb2_grpc.JudgeServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Judge(judge_pb2.JudgeRequest(item=judge_pb2.JudgeItem(question="x" * 4096)))
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await running.drain(0)


async def test_tls_and_mutual_tls(tmp_path):
    pki = make_pki(tmp_path / "pki")
    tls = await _serve(ServerSettings(port=0, tls_cert=pki.server_cert, tls_key=pki.server_key))
    mtls = await _serve(ServerSettings(port=0, tls_cert=pki.server_cert, tls_key=pki.server_key,
                                       tls_client_ca=pki.ca_cert))
    request = judge_pb2.JudgeRequest(item=judge_pb2.JudgeItem(question="over tls"))
    try:
        async with open_channel(f"localhost:{tls.port}", tls_ca=pki.ca_cert) as channel:
            reply = await judge_pb2_grpc.JudgeServiceStub(channel).Judge(request)
            assert reply.verdict.rationale == "over tls"
        async with open_channel(f"localhost:{tls.port}", deadline_seconds=2) as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await judge_pb2_grpc.JudgeServiceStub(plain).Judge(request)
        async with open_channel(f"localhost:{mtls.port}", tls_ca=pki.ca_cert,
                                deadline_seconds=2) as no_client_cert:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await judge_pb2_grpc.JudgeServiceStub(no_client_cert).Judge(request)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        async with open_channel(f"localhost:{mtls.port}", tls_ca=pki.ca_cert,
                                tls_cert=pki.client_cert, tls_key=pki.client_key) as channel:
            reply = await judge_pb2_grpc.JudgeServiceStub(channel).Judge(request)
            assert reply.verdict.rationale == "over tls"
    finally:
        await tls.drain(0)
        await mtls.drain(0)


async def test_round_robin_spreads_calls_over_an_explicit_list():
    servers = [await _serve(ServerSettings(port=0)) for _ in range(3)]
    try:
        target = [f"127.0.0.1:{s.port}" for s in servers]
        assert target_for(target).startswith("ipv4:")
        async with open_channel(target) as channel:
            stub = judge_pb2_grpc.JudgeServiceStub(channel)
            for _ in range(30):
                await stub.Judge(judge_pb2.JudgeRequest())
        served = [s.metrics.rpc_total.labels("/mis.v1.JudgeService/Judge", "OK")._value.get()
                  for s in servers]
        assert all(count >= 5 for count in served), served
    finally:
        for server in servers:
            await server.drain(0)


async def test_a_new_channel_reaches_a_server_back_on_an_address_another_channel_saw_down():
    """A stage that comes back is reached at once by a fresh channel (the one
    CreateRun opens to ask what each stage serves), though another channel of
    the process still backs off from the same address: grpc shares
    connections between channels unless each keeps its own."""
    first = await _serve(ServerSettings(port=0))
    address = f"127.0.0.1:{first.port}"
    request = judge_pb2.JudgeRequest(item=judge_pb2.JudgeItem(question="back"))
    async with open_channel(address, deadline_seconds=5) as old:
        await judge_pb2_grpc.JudgeServiceStub(old).Judge(request)
        await first.drain(0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await judge_pb2_grpc.JudgeServiceStub(old).Judge(request)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # old now backs off from address
        again = await _serve(ServerSettings(port=first.port))
        try:
            # One attempt, so that no retry outlasts the shared connection's backoff.
            async with open_channel(address, deadline_seconds=5, max_attempts=1) as fresh:
                reply = await judge_pb2_grpc.JudgeServiceStub(fresh).Judge(request)
            assert reply.verdict.rationale == "back"
        finally:
            await again.drain(0)


def test_a_service_drains_and_exits_when_its_parent_is_killed(tmp_path, store_env):
    """A killed test run (or local stack) leaves no service behind."""
    parent = subprocess.Popen(["sleep", "600"])
    port_file = tmp_path / "judge.port"
    env = {**os.environ, **store_env, "MIS_PORT": "0", "MIS_PORT_FILE": str(port_file),
           "MIS_PARENT_PID": str(parent.pid)}
    service = subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", "judge"],
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = OutputLines(service.stdout)
    try:
        until_sync(lambda: port_file.exists() or service.poll() is not None, "the judge's port")
        assert service.poll() is None, output.text()
        parent.kill()
        parent.wait()
        assert service.wait(30) == 0
        assert "parent process gone" in output.text()
        assert '"draining"' in output.text()
    finally:
        parent.kill()
        service.kill()
