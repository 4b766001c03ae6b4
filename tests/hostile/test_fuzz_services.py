"""Every service, as a real process on loopback, under random bytes, random
messages and mutations of a valid request: only clean status codes, no hang
(each call has a deadline), no ERROR or stack trace in its log, and SERVING
afterwards. Seeded, so a failure replays; bounded, so the file runs in well
under a minute."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import (coordinator_pb2, cot_annotator_pb2, detoxifier_pb2, extractor_pb2, filter_pb2,
                    judge_pb2, retriever_pb2, t2i_refiner_pb2)
from tests.hostile.fuzz import CLEAN_CODES, Generator, call_raw, rpcs_of, serving
from tests.hostile.valid import serialized

SERVICES = {
    "extractor": (extractor_pb2, "ExtractorService"),
    "detoxifier": (detoxifier_pb2, "DetoxifierService"),
    "t2i-refiner": (t2i_refiner_pb2, "T2IRefinerService"),
    "filter": (filter_pb2, "FilterService"),
    "retriever": (retriever_pb2, "RetrieverService"),
    "cot-annotator": (cot_annotator_pb2, "CotAnnotatorService"),
    "judge": (judge_pb2, "JudgeService"),
    "coordinator": (coordinator_pb2, "CoordinatorService"),
}
# The coordinator's other RPCs read and write local paths and launch jobs:
# they get garbage bodies (the decode path), not random well-formed requests.
COORDINATOR_READ_ONLY = {"GetRun", "ListRuns", "GetTraining", "ListTrainings"}
GARBAGE, MESSAGES, MUTATIONS = 3, 4, 4


def inputs(rpc, generator: Generator, valid: bytes | None, well_formed: bool) -> list[bytes]:
    payloads = [generator.garbage() for _ in range(GARBAGE)]
    if well_formed:
        payloads += [generator.message(rpc.request_class) for _ in range(MESSAGES)]
        if valid is not None:
            payloads += [generator.mutation(valid) for _ in range(MUTATIONS)]
    return payloads


def assert_clean_log(log: str) -> None:
    assert '"level": "ERROR"' not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_service_survives_fuzzing(name, start_service, store):
    module, service_name = SERVICES[name]
    service = start_service(name, {"MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64", "MIS_T2I_STEPS": "2"})
    valid = serialized(name, store)
    generator = Generator(seed=sum(map(ord, name)))
    unclean: list[tuple[str, grpc.StatusCode]] = []
    async with grpc.aio.insecure_channel(service.address) as channel:
        for rpc in rpcs_of(module, service_name):
            method = rpc.path.rsplit("/", 1)[1]
            well_formed = name != "coordinator" or method in COORDINATOR_READ_ONLY
            if rpc.path in valid:
                # The mutations start from a request the service accepts:
                # mutating requests that fail anyway would prove little.
                assert await call_raw(channel, rpc, valid[rpc.path]) == grpc.StatusCode.OK, method
            for payload in inputs(rpc, generator, valid.get(rpc.path), well_formed):
                code = await call_raw(channel, rpc, payload)
                if code not in CLEAN_CODES:
                    unclean.append((method, code))
        assert await serving(channel)
    assert unclean == []
    assert_clean_log(service.log_text())
