"""Client-side round robin over replicas: calls spread over every replica, a
dead replica costs retries, and a replica that appears at the next resolution
starts receiving calls. The replicas are real filter servers (Deduplicate is
stateless and cheap); resolution is the real DNS for names, or a resolver we
control to stand in for a headless Service whose pods change."""

from __future__ import annotations

import pytest

from mis.v1 import filter_pb2
from services.common.backoff import Backoff, retry
from services.coordinator.replicas import ReplicaPool, parse_endpoints, resolve_dns
from services.coordinator.callers import GrpcCaller
from services.coordinator.stages import TransientStageError
from services.coordinator.stages.filter import DEDUP
from tests.support.inprocess import InProcessStages

REQUEST = filter_pb2.DeduplicateRequest(fingerprints=[
    filter_pb2.Fingerprint(item_id="a", instruction_text="how to use the tool in the first image"),
    filter_pb2.Fingerprint(item_id="b", instruction_text="how to use the tool in the first image")])


def test_parse_endpoints_forms():
    parsed = parse_endpoints(["dns:///mis-t2i.mis.svc:50051", "10.0.0.1:5,10.0.0.2:5", "localhost:7"])
    assert [(e.host, e.port, e.literal) for e in parsed] == [
        ("mis-t2i.mis.svc", 50051, False), ("10.0.0.1", 5, True), ("10.0.0.2", 5, True),
        ("127.0.0.1", 7, True)]
    with pytest.raises(ValueError, match="expected host:port"):
        parse_endpoints(["no-port"])


async def test_a_dns_name_resolves_for_real():
    assert "127.0.0.1:9" in await resolve_dns("localhost", 9)


@pytest.fixture
async def replicas(store_env):
    servers = InProcessStages()
    yield servers
    await servers.stop()


async def call_many(caller: GrpcCaller, count: int) -> None:
    for _ in range(count):
        response, _ = await retry(lambda: caller(REQUEST), policy=Backoff(max_attempts=5, initial_seconds=0.05),
                                  transient=lambda e: isinstance(e, TransientStageError))
        assert [d.item_id for d in response.duplicates] == ["b"]


async def test_calls_spread_and_follow_replicas_in_and_out(replicas, store_env):
    addresses = [await replicas.start("filter", store_env) for _ in range(2)]
    answer = list(addresses)

    async def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("filter.stage.test", 50051)
        return list(answer)

    pool = await ReplicaPool("dns:///filter.stage.test:50051", deadline_seconds=5,
                             resolve_seconds=3600, resolver=resolver, cooldown_seconds=30).start()
    caller = GrpcCaller(pool, DEDUP, timeout_seconds=5)
    await call_many(caller, 6)
    assert [pool.calls[a] for a in addresses] == [3, 3]

    # A third replica appears in DNS: the next resolution brings it into the rotation.
    third = await replicas.start("filter", store_env)
    answer.append(third)
    await pool.refresh()
    await call_many(caller, 6)
    assert pool.calls[third] == 2

    # One replica dies: its calls fail over, every request still gets its answer.
    await replicas.running[0].server.stop(0)
    before = dict(pool.calls)
    await call_many(caller, 9)
    assert pool.calls[addresses[1]] > before[addresses[1]] and pool.calls[third] > before[third]
    # It was tried at most once before its cool-down kept the rotation away from it.
    assert pool.calls[addresses[0]] - before[addresses[0]] <= 1

    # It leaves DNS: dropped from the pool.
    answer.remove(addresses[0])
    await pool.refresh()
    assert pool.order == [addresses[1], third]
    await pool.close()


async def test_a_failed_resolution_keeps_the_known_replicas(replicas, store_env):
    address = await replicas.start("filter", store_env)
    port = int(address.rsplit(":", 1)[1])
    healthy = {"ok": True}

    async def resolver(host: str, port_: int) -> list[str]:
        if not healthy["ok"]:
            raise OSError("temporary failure in name resolution")
        return [address]

    pool = await ReplicaPool(f"stage.test:{port}", deadline_seconds=5, resolver=resolver).start()
    healthy["ok"] = False
    await pool.refresh()
    assert pool.order == [address]
    await call_many(GrpcCaller(pool, DEDUP, 5), 1)
    await pool.close()
