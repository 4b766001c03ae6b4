"""The CLI finds a running local stack: `mis stack up` (a real process with
every service) prints the export line and writes stack.json under its lock;
`mis runs list` started in the same folder reaches its coordinator with no
flag; a second stack in the same workdir is refused; a stale stack.json of a
stack that is gone is ignored."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from services.cli.stackfile import StackBusy, StackLock, running_stack, write_info

ROOT = Path(__file__).resolve().parents[2]


def mis(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MIS_COORDINATOR_ADDRESS", "MIS_STACK_WORKDIR")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def lines_of(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return lines


def wait_for(lines: queue.Queue, text: str, timeout: float = 120) -> list[str]:
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line with {text!r}; saw {seen}") from None
        seen.append(line)
        if text in line:
            return seen


def test_the_cli_finds_the_running_stack_and_a_second_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MIS_COORDINATOR_ADDRESS"}
    env["PYTHONPATH"] = str(ROOT)
    stack = subprocess.Popen([sys.executable, "-m", "services.cli.main", "stack", "up"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        seen = wait_for(lines_of(stack), "find it by themselves")
        export = next(line for line in seen if line.strip().startswith("export "))
        info = json.loads((tmp_path / ".mis/stack/stack.json").read_text())
        assert f"MIS_COORDINATOR_ADDRESS={info['MIS_COORDINATOR_ADDRESS']}" in export
        assert f"MIS_S3_ENDPOINT={info['MIS_S3_ENDPOINT']}" in export
        assert info["MIS_COORDINATOR_ADDRESS"] != "127.0.0.1:50051"

        found = mis("runs", "list", cwd=tmp_path)
        assert found.returncode == 0, found.stderr

        second = mis("stack", "up", cwd=tmp_path)
        assert second.returncode == 2
        assert f"a stack is already running in {tmp_path / '.mis/stack'} (process {stack.pid})" in second.stderr
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=60)
    assert stack.returncode == 0
    assert not (tmp_path / ".mis/stack/stack.json").exists()


def test_a_stale_stack_file_is_ignored_and_the_lock_is_exclusive(tmp_path):
    workdir = tmp_path / "stack"
    with StackLock(workdir):
        write_info(workdir, {"MIS_COORDINATOR_ADDRESS": "127.0.0.1:1234"})
        assert running_stack(workdir) == {"MIS_COORDINATOR_ADDRESS": "127.0.0.1:1234"}
        with pytest.raises(StackBusy, match=f"process {os.getpid()}"):
            StackLock(workdir).acquire()
    # A killed stack leaves its file behind but not its lock.
    write_info(workdir, {"MIS_COORDINATOR_ADDRESS": "127.0.0.1:1234"})
    assert running_stack(workdir) is None


def test_no_coordinator_is_a_hint_not_a_bare_unavailable(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = mis("runs", "list", "--coordinator", f"127.0.0.1:{port}", cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert f"no coordinator answers at 127.0.0.1:{port}: start one with `mis stack up`" in done.stderr
