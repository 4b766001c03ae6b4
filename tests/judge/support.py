"""Helpers for the judge tests: images, token files, certificates, and an
HTTP endpoint that fails on purpose (it stands in for a model outage)."""

from __future__ import annotations

import io
import json
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

TOKEN_ALICE = "alice-token-0123456789abcdef"
TOKEN_BOB = "bob-token-0123456789abcdef00"


def png(color: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


def write_tokens(path: Path) -> Path:
    path.write_text(f"# callers\nalice:{TOKEN_ALICE}\nbob:{TOKEN_BOB}\n")
    return path


@dataclass
class FailingEndpoint:
    """A loopback HTTP server answering every chat call with `mode`: "500",
    "429" or "sleep" (longer than the client's timeout). Counts the calls."""

    mode: str
    sleep_seconds: float = 5.0
    calls: int = 0
    server: ThreadingHTTPServer | None = None
    _counted: threading.Condition = field(default_factory=threading.Condition)
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def start(self) -> "FailingEndpoint":
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self.rfile.read(length)
                with endpoint._counted:
                    endpoint.calls += 1
                    endpoint._counted.notify_all()
                if endpoint.mode == "sleep":
                    endpoint._release.wait(endpoint.sleep_seconds)
                    status = 500
                else:
                    status = int(endpoint.mode)
                body = json.dumps({"error": {"message": f"injected {status}"}}).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    if status == 429:
                        self.send_header("retry-after", "0.05")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as intended

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def wait_for_calls(self, count: int, timeout: float = 30.0) -> None:
        with self._counted:
            if not self._counted.wait_for(lambda: self.calls >= count, timeout):
                raise TimeoutError(f"endpoint saw {self.calls} calls, expected {count}")

    def stop(self) -> None:
        self._release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, made with the openssl command line."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        extra = ["-extfile", "server.ext"] if name == "server" else []
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra)
    return {name: folder / name for name in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
