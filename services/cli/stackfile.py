"""Finding a running local stack, and keeping a second one out of its workdir.

`mis stack up` holds an exclusive lock on `<workdir>/stack.lock` for as long
as it runs and writes `<workdir>/stack.json` (the coordinator's and judge's
addresses, the S3 endpoint). The lock is the truth: the kernel drops it when
the process dies, so a stale `stack.json` left by a killed stack is ignored,
and a second stack in the same workdir is refused instead of sharing its S3
folder and overwriting its port files.

The CLI reads `stack.json` of the stack in `MIS_STACK_WORKDIR`, or in
`.mis/stack` under the current folder, when no coordinator address is given.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
from pathlib import Path

DEFAULT_WORKDIR = Path(".mis/stack")
LOCK = "stack.lock"
INFO = "stack.json"


class StackBusy(RuntimeError):
    """Another stack runs in this workdir; the message names its process."""


class StackLock:
    """The workdir's exclusive lock, held from `acquire` until `release`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.path = workdir / LOCK
        self._fd: int | None = None

    def acquire(self) -> "StackLock":
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StackBusy(f"a stack is already running in {self.workdir} (process {holder}); "
                            f"stop it, or give another --workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            (self.workdir / INFO).unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self) -> "StackLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_locked(workdir: Path) -> bool:
    """Whether a live process holds the workdir's lock."""
    try:
        fd = os.open(workdir / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def write_info(workdir: Path, info: dict[str, str]) -> None:
    """stack.json, written whole (renamed into place) so a reader never sees half."""
    partial = workdir / (INFO + ".partial")
    partial.write_text(json.dumps(info, indent=2, sort_keys=True))
    partial.replace(workdir / INFO)


def running_stack(workdir: Path | None = None) -> dict[str, str] | None:
    """The running stack's stack.json, or None when no live stack holds the workdir."""
    workdir = workdir or Path(os.environ.get("MIS_STACK_WORKDIR", DEFAULT_WORKDIR))
    if not is_locked(workdir):
        return None
    try:
        return json.loads((workdir / INFO).read_text())
    except (OSError, ValueError):
        return None


def export_line(env: dict[str, str]) -> str:
    """The `export` line that points another shell at this stack."""
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in sorted(env.items()))


def point_at_running_stack(args) -> None:
    """Aim a command at the running local stack's coordinator when none was named
    (no --coordinator, no MIS_COORDINATOR_ADDRESS)."""
    from services.coordinator.client import DEFAULT_ADDRESS

    if getattr(args, "coordinator", None) != DEFAULT_ADDRESS or "MIS_COORDINATOR_ADDRESS" in os.environ:
        return
    info = running_stack()
    if info and info.get("MIS_COORDINATOR_ADDRESS"):
        args.coordinator = info["MIS_COORDINATOR_ADDRESS"]
