"""The local folders the coordinator may read or write: seed files,
taxonomies, export and import folders.

The coordinator runs with its own file-system rights on behalf of any caller,
so a path in a request is only honoured inside a configured root
(MIS_COORDINATOR_LOCAL_ROOTS); symlinks are resolved first, so a link inside a
root that leads out of it is outside too.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import InvalidArgument
from services.common.store import shown

ROOTS_VARIABLE = "MIS_COORDINATOR_LOCAL_ROOTS"
# Files the platform ships (the demo seeds, the taxonomy) are readable wherever
# it is installed, whatever the roots; nothing is ever written there.
BUNDLED_DATA = tuple((Path(__file__).resolve().parents[1] / package / "data")
                     for package in ("coordinator", "common"))


def default_roots() -> tuple[Path, ...]:
    """The working directory and the system temp folder: what `make run`, the
    local stack and the tests use."""
    return (Path.cwd(), Path(tempfile.gettempdir()))


@dataclass(frozen=True)
class LocalRoots:
    roots: tuple[Path, ...]

    @classmethod
    def parse(cls, text: str) -> "LocalRoots":
        """Roots from a setting: folders separated by ':' (os.pathsep) or ',';
        empty means the defaults."""
        parts = [p for chunk in text.split(",") for p in chunk.split(os.pathsep) if p.strip()]
        return cls(tuple(Path(p.strip()).resolve() for p in parts) if parts
                   else tuple(r.resolve() for r in default_roots()))

    def confine_readable(self, value: str, field: str) -> Path:
        """`confine` for a file the coordinator only reads: the platform's own
        bundled data is readable too."""
        return LocalRoots(self.roots + BUNDLED_DATA).confine(value, field)

    def confine(self, value: str, field: str) -> Path:
        """`value` resolved, when it lies inside a root; InvalidArgument naming
        `field` otherwise (also for a NUL byte, which no path can hold)."""
        if not value:
            raise InvalidArgument(field, "required, a local path")
        if "\x00" in value:
            raise InvalidArgument(field, "contains a NUL byte")
        try:
            resolved = Path(value).resolve()
        except (OSError, RuntimeError):  # a symlink loop, a name too long
            raise InvalidArgument(field, f"{shown(value)} cannot be resolved") from None
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise InvalidArgument(field, f"{shown(value)} is outside the coordinator's local roots "
                                         f"({ROOTS_VARIABLE})")
        return resolved
