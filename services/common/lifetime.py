"""Child servers that do not outlive the process that started them.

A local S3 server or a vLLM server started by a test run or `mis demo` must
stop when its parent stops, even when the parent is killed and never runs its
clean-up. `tied_to_parent` wraps a command in a small shell watchdog that
waits on the parent and terminates the server when the parent is gone. (The
kernel's parent-death signal would be simpler, but it fires when the thread
that started the child exits, which kills servers started from worker threads.)
"""

from __future__ import annotations

import os

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

