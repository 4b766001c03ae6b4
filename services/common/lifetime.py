"""Child servers that do not outlive the process that started them.

A local S3 server or a vLLM server started by a test run or `mis demo` must
stop when its parent stops, even when the parent is killed and never runs its
clean-up. `tied_to_parent` wraps a command in a small shell watchdog that
waits on the parent and terminates the server when the parent is gone. (The
kernel's parent-death signal would be simpler, but it fires when the thread
that started the child exits, which kills servers started from worker threads.)

The platform's own services watch their parent themselves (`watch_parent`,
from MIS_PARENT_PID): a wrapper would stand between a test and the service,
and a SIGKILL sent to the service, as the crash tests send, would reach only
the wrapper.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Callable

log = logging.getLogger("mis.lifetime")

_WATCHDOG = (
    '"$@" & child=$!; '
    'trap \'kill -TERM $child 2>/dev/null; wait $child; exit\' TERM INT; '
    'while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done; '
    'kill -TERM $child 2>/dev/null; wait $child'
)


def tied_to_parent(command: list[str], parent: int | None = None) -> list[str]:
    """`command` run under a watchdog that stops it when `parent` (this process) exits."""
    script = _WATCHDOG.format(parent=parent or os.getpid())
    return ["/bin/sh", "-c", script, "mis-child", *command]



def watch_parent(pid: int, on_gone: Callable[[], object]) -> Callable[[], None]:
    """Call `on_gone` on the running loop once process `pid` has exited.

    Uses a pidfd where the kernel has them (the loop wakes when the process
    exits, no polling), and checks once a second otherwise. Returns a function
    that stops watching."""
    loop = asyncio.get_running_loop()

    def gone() -> None:
        log.warning("parent process gone; stopping", extra={"parent_pid": pid})
        on_gone()

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        loop.call_soon(gone)
        return lambda: None
    except (AttributeError, OSError):
        return _poll_parent(loop, pid, gone)

    def readable() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        gone()

    loop.add_reader(fd, readable)

    def stop() -> None:
        if loop.remove_reader(fd):
            os.close(fd)
    return stop


def _poll_parent(loop: asyncio.AbstractEventLoop, pid: int,
                 gone: Callable[[], None]) -> Callable[[], None]:
    async def poll() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                gone()
                return
            except PermissionError:
                pass  # alive, owned by someone else
            await asyncio.sleep(1.0)
    task = loop.create_task(poll())
    return task.cancel


def stop_with_parent(pid: int | None) -> None:
    """When `pid` is set, treat its exit as a SIGTERM to this process: the
    service drains exactly as it does when Kubernetes stops its pod."""
    if pid is not None:
        watch_parent(pid, lambda: os.kill(os.getpid(), signal.SIGTERM))
