"""Fixtures shared by the stage-service tests: drawn test images, a service
process shared by a test module (starting one per test would dominate the
run time), and gRPC channels to it."""

from __future__ import annotations

import hashlib
import io
import random

import grpc
import pytest
from PIL import Image

from services.common.setting_groups import StoreSettings
from services.common.store import Store
from tests.support.processes import ServiceUnderTest


def draw_png(seed: int, size: int = 64) -> bytes:
    """A distinct, deterministic picture per seed: random blocks, so perceptual
    hashes of different seeds are far apart."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    block = size // 8
    for x in range(0, size, block):
        for y in range(0, size, block):
            colour = tuple(rng.randrange(256) for _ in range(3))
            image.paste(colour, (x, y, x + block, y + block))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png():
    return draw_png


@pytest.fixture
async def channel_to():
    """Open aio channels to started services; all closed at teardown."""
    opened: list[grpc.aio.Channel] = []

    def open_(address: str) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(address)
        opened.append(channel)
        return channel

    yield open_
    for channel in opened:
        await channel.close()


@pytest.fixture(scope="module")
def module_service(request, tmp_path_factory, s3_server):
    """Start `mis serve NAME` once for a test module, with its own bucket.

    Returns (service, store): the store writes to the bucket the service reads.
    """
    started: list[ServiceUnderTest] = []

    def start(name: str, env: dict[str, str] | None = None) -> tuple[ServiceUnderTest, Store]:
        key = f"{request.module.__name__}/{name}/{len(started)}"
        bucket = "stage-" + hashlib.sha1(key.encode()).hexdigest()[:16]
        settings = StoreSettings(endpoint=s3_server.endpoint, access_key=s3_server.access_key,
                                 secret_key=s3_server.secret_key, bucket=bucket, timeout_seconds=10.0)
        store = Store.from_settings(settings)
        store.ensure_bucket()
        service = ServiceUnderTest(name, tmp_path_factory.mktemp(f"svc-{name}"), {
            "MIS_S3_ENDPOINT": settings.endpoint, "MIS_S3_ACCESS_KEY": settings.access_key,
            "MIS_S3_SECRET_KEY": settings.secret_key, "MIS_S3_BUCKET": bucket, **(env or {})})
        started.append(service)
        service.start()
        return service, store

    yield start
    for service in started:
        service.kill()
