"""Starting real service processes and the real vLLM server for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from services.common.lifetime import tied_to_parent
from tests.support.waiting import until_sync

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"


@dataclass
class ServiceUnderTest:
    """One `mis serve NAME` process on loopback."""

    name: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 240.0) -> "ServiceUnderTest":
        # A hang guard, not a speed check: a service that exits is seen at
        # once, and on a machine with every core busy importing torch alone
        # can take most of a minute.
        self.workdir.mkdir(parents=True, exist_ok=True)
        port_file = self.workdir / f"{self.name}.port"
        port_file.unlink(missing_ok=True)
        env = dict(os.environ)
        # MIS_PARENT_PID: the service drains and exits when the test run is gone,
        # even when pytest itself is killed.
        env.update({"MIS_HOST": "127.0.0.1", "MIS_PORT": "0", "MIS_PORT_FILE": str(port_file),
                    "PYTHONUNBUFFERED": "1", "MIS_PARENT_PID": str(os.getpid())})
        env.update(self.env)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "serve", self.name],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            until_sync(lambda: port_file.exists() or self.process.poll() is not None,
                       f"{self.name} to announce its port", timeout)
        except AssertionError:
            self.kill()
            raise TimeoutError(f"{self.name} did not start in {timeout}s:\n{self.log_text()[-3000:]}")
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                               f"{self.log_text()[-3000:]}")
        self.port = int(port_file.read_text())
        return self

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the exit code of a graceful drain."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class VllmServer:
    """The real vLLM OpenAI-compatible server (CPU build) serving a tiny model."""

    model_dir: Path
    log_path: Path
    served_name: str = "tiny"
    port: int = 0
    process: subprocess.Popen | None = None
    # Images per prompt the server takes (0: a text-only model).
    images_per_prompt: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 420.0) -> "VllmServer":
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> "VllmServer":
        """Start the process without waiting, so two servers boot side by side."""
        from services.common.s3server import free_port

        if not VLLM_PYTHON.exists():
            raise FileNotFoundError(f"{VLLM_PYTHON} missing: run `make setup-vllm`")
        if not self.port:
            self.port = free_port()
        env = dict(os.environ)
        # On the CPU backend the memory flag reserves host memory: keep it small.
        env.update({"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING",
                    "TOKENIZERS_PARALLELISM": "false"})
        env.pop("PYTHONPATH", None)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(tied_to_parent(
            [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server",
             "--model", str(self.model_dir), "--served-model-name", self.served_name,
             "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32",
             "--max-model-len", "4096", "--gpu-memory-utilization", "0.2",
             # xgrammar enforces every bound our schemas set (docs/stages.md);
             # without disable_any_whitespace a model may pad JSON forever.
             "--structured-outputs-config",
             '{"backend": "xgrammar", "disable_any_whitespace": true}',
             # Seeded requests (MIS_*_SEED) crash vLLM 0.32's CPU worker when a
             # prefill is chunked ("CPU Generator does not use offset", then the
             # server is gone): every prompt is prefilled whole (docs/stages.md).
             "--no-enable-chunked-prefill", "--max-num-batched-tokens", "8192",
             # On the CPU, vLLM compiles the model with torch.compile's inductor
             # (C++ kernels built with gcc) before it answers: over a minute of
             # each first boot on two cores. The tests exercise the server's API,
             # and the benchmarks (bench/judge.py, bench/pipeline.py) compare
             # both sides of each ratio on the same servers, so the model runs
             # eagerly.
             "--enforce-eager",
             *(["--limit-mm-per-prompt", f'{{"image": {self.images_per_prompt}}}']
               if self.images_per_prompt else [])]),
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float) -> None:
        http = urllib3.PoolManager(retries=False, timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"vLLM exited with {self.process.returncode}:\n{tail}")
            try:
                if http.request("GET", f"http://127.0.0.1:{self.port}/v1/models").status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(1.0)
        raise TimeoutError(f"vLLM not ready after {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same port (for retry tests)."""
        self.stop()
        self.start()


def vllm_env(server: VllmServer, prefix: str) -> dict[str, str]:
    """Variables pointing a model endpoint group (MIS_LLM_, MIS_VLM_, ...) at a
    test vLLM. Structured calls take their schema's own bound as max_tokens;
    MAX_TOKENS bounds the free-form ones."""
    return {f"{prefix}BACKEND": "openai", f"{prefix}BASE_URL": server.base_url,
            f"{prefix}MODEL": server.served_name, f"{prefix}API_KEY": "test",
            f"{prefix}MAX_TOKENS": "128", f"{prefix}TIMEOUT_SECONDS": "300"}
