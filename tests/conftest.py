"""Fixtures every test tier shares: the real S3 server, the store, real service
processes, and (integration tier) the real vLLM server with a tiny model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.setting_groups import StoreSettings
from services.common.s3server import LocalS3Server
from services.common.store import AsyncStore, Store
from tests.support.processes import VLLM_PYTHON, ServiceUnderTest, VllmServer


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> LocalS3Server:
    root = tmp_path_factory.mktemp("s3")
    with LocalS3Server(root / "data", log_path=root / "rclone.log") as server:
        yield server


@pytest.fixture
def bucket_name(request) -> str:
    """A fresh bucket per test, so tests never see each other's objects."""
    import hashlib
    return "t-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


@pytest.fixture
def store_settings(s3_server, bucket_name) -> StoreSettings:
    return StoreSettings(endpoint=s3_server.endpoint, access_key=s3_server.access_key,
                         secret_key=s3_server.secret_key, bucket=bucket_name,
                         timeout_seconds=10.0)


@pytest.fixture
def store(store_settings) -> Store:
    store = Store.from_settings(store_settings)
    store.ensure_bucket()
    return store


@pytest.fixture
def async_store(store) -> AsyncStore:
    return AsyncStore(store)


@pytest.fixture
def store_env(store_settings) -> dict[str, str]:
    """The MIS_S3_* variables a service process needs to reach the test store."""
    return {"MIS_S3_ENDPOINT": store_settings.endpoint,
            "MIS_S3_ACCESS_KEY": store_settings.access_key,
            "MIS_S3_SECRET_KEY": store_settings.secret_key,
            "MIS_S3_BUCKET": store_settings.bucket}


@pytest.fixture
def start_service(tmp_path, store_env):
    """Start `mis serve NAME` as a real process; every one is stopped at teardown."""
    started: list[ServiceUnderTest] = []

    def start(name: str, env: dict[str, str] | None = None, timeout: float = 240.0) -> ServiceUnderTest:
        service = ServiceUnderTest(name, tmp_path / f"svc-{name}-{len(started)}",
                                   {**store_env, **(env or {})})
        started.append(service)
        return service.start(timeout)

    yield start
    for service in started:
        service.kill()


def _require_vllm() -> None:
    """Missing .venv-vllm fails under `make test` (MIS_REQUIRE_VLLM=1) and skips elsewhere."""
    if not VLLM_PYTHON.exists():
        if os.environ.get("MIS_REQUIRE_VLLM") == "1":
            pytest.fail("the integration tier needs .venv-vllm: run `make setup-vllm`")
        pytest.skip("vLLM venv missing (make setup-vllm)")


@pytest.fixture(scope="session")
def vllm_servers(tmp_path_factory):
    """Both real vLLM servers, the tiny text model and the tiny VLM, booting
    side by side (each takes minutes on two cores); stopped at the end."""
    _require_vllm()
    from tests.support.tiny_vlm import build_tiny_vlm
    from tests.support.tiny_llm import build_tiny_llm
    root = tmp_path_factory.mktemp("vllm")
    servers = {}
    try:
        servers["llm"] = VllmServer(build_tiny_llm(root / "tiny-llm"), root / "vllm-llm.log").launch()
        servers["vlm"] = VllmServer(build_tiny_vlm(root / "tiny-vlm"), root / "vllm-vlm.log",
                                    served_name="tiny-vlm", images_per_prompt=2).launch()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def vllm(vllm_servers) -> VllmServer:
    """The real vLLM server with the tiny text model (served as "tiny")."""
    server = vllm_servers["llm"]
    server.wait_ready(900.0)
    return server


@pytest.fixture(scope="session")
def vlm(vllm_servers) -> VllmServer:
    """The real vLLM server with the tiny VLM (served as "tiny-vlm"), two images a prompt."""
    server = vllm_servers["vlm"]
    server.wait_ready(900.0)
    return server


@pytest.fixture(scope="session")
def llama_guard_vllm(tmp_path_factory) -> VllmServer:
    """The real vLLM server with a tiny random Llama that carries Llama Guard 3's
    chat template (served as "tiny-llama-guard"); its own small server, since a
    vLLM process serves one model and the template belongs to the model."""
    _require_vllm()
    from tests.support.tiny_llama_guard import build_tiny_llama_guard
    root = tmp_path_factory.mktemp("vllm-llama-guard")
    server = VllmServer(build_tiny_llama_guard(root / "tiny-llama-guard"),
                        root / "vllm-llama-guard.log", served_name="tiny-llama-guard")
    try:
        yield server.start(900.0)
    finally:
        server.stop()
