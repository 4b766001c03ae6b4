"""Reading files and JSON a caller chose, with limits and clean errors.

A path from a request or a setting may name `/dev/zero`, a FIFO, a directory
or a 40 GB file; a JSON text may nest 100000 levels deep or carry a
5000-digit number. Each is a `ParseRejected` (a ValueError) saying what was
wrong, checked before the expensive step: the file's kind and size from
`stat` before any byte is read. Messages name the position, never the
content, so an error about a credentials file does not print a line of it.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

MAX_TEXT_FILE_BYTES = 256 * 1024 * 1024


class ParseRejected(ValueError):
    """A file or a JSON text is unusable; the message says why, not what it held."""


def read_file_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, checked before reading."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ParseRejected(f"cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ParseRejected("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        # Devices (/dev/zero), FIFOs and sockets have no size to check and may never end.
        raise ParseRejected("is not a regular file")
    if info.st_size > max_bytes:
        raise ParseRejected(f"is {info.st_size} bytes, over the limit of {max_bytes}")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ParseRejected(f"cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:  # it grew between stat and read
        raise ParseRejected(f"is over the limit of {max_bytes} bytes")
    return data


def read_text_file(path: Path, max_bytes: int = MAX_TEXT_FILE_BYTES) -> str:
    """`read_file_bytes` decoded as UTF-8 (a byte-order mark is dropped)."""
    data = read_file_bytes(path, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseRejected(f"byte {exc.start} is not valid UTF-8 text") from None


def parse_json(text: str | bytes) -> Any:
    """`json.loads` whose every failure is a ParseRejected naming the position."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseRejected(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ParseRejected("not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses integers of more than 4300 digits (int_max_str_digits).
        raise ParseRejected("not valid JSON: a number has too many digits") from None
