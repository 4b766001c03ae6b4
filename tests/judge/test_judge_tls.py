"""The judge over TLS and mutual TLS, with certificates made in the test."""

from __future__ import annotations

import grpc
import pytest

from services.judge.client import JudgeClient, judge_item
from tests.judge.support import make_certificates, png


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def item():
    return judge_item("t", "question", [png()], "I cannot help with that.")


async def test_tls(start_service, certificates):
    service = start_service("judge", {"MIS_TLS_CERT": str(certificates["server.pem"]),
                                      "MIS_TLS_KEY": str(certificates["server.key"])})
    async with JudgeClient(service.address, ca=certificates["ca.pem"]) as client:
        assert (await client.judge(item())).backend == "keyword"
    # A plaintext client cannot talk to a TLS server.
    async with JudgeClient(service.address, deadline_seconds=3) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await plain.judge(item())
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls(start_service, certificates):
    service = start_service("judge", {"MIS_TLS_CERT": str(certificates["server.pem"]),
                                      "MIS_TLS_KEY": str(certificates["server.key"]),
                                      "MIS_TLS_CLIENT_CA": str(certificates["ca.pem"])})
    async with JudgeClient(service.address, ca=certificates["ca.pem"],
                           cert=certificates["client.pem"], key=certificates["client.key"]) as client:
        assert (await client.judge(item())).backend == "keyword"
    async with JudgeClient(service.address, ca=certificates["ca.pem"], deadline_seconds=3) as anonymous:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await anonymous.judge(item())
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
