"""A small Dockerfile reader for tests where no Docker engine runs.

It understands what our Dockerfiles use: comments and parser directives, line
continuations, ARG defaults substituted into FROM, stages named with AS, and
the JSON (exec) form of ENTRYPOINT/CMD. It also evaluates .dockerignore the way
the builder does (patterns in order, `!` re-includes, a path is excluded when
it or a parent matches), so a test can tell whether a COPY source reaches the
build.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments dropped, continuation lines joined."""
    result: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical = pending + stripped
        pending = ""
        keyword, _, arguments = logical.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip(), start))
    if pending:
        raise ValueError("the file ends inside a continued line")
    return result


def substitute(value: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise ValueError(f"${name} has no default")
        return variables[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, value)


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for item in instructions(text):
        if item.keyword == "FROM":
            words = item.arguments.split()
            words = [word for word in words if not word.startswith("--platform")]
            image = substitute(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image, name))
        elif not stages:
            if item.keyword != "ARG":
                raise ValueError(f"line {item.line}: {item.keyword} before the first FROM")
            name, _, default = item.arguments.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(item)
    if not stages:
        raise ValueError("no FROM")
    return Dockerfile(global_args, stages)


def exec_form(instruction: Instruction) -> list[str]:
    """The argv of an ENTRYPOINT/CMD written in JSON form (the shell form is refused)."""
    value = json.loads(instruction.arguments)
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise ValueError(f"line {instruction.line}: {instruction.keyword} is not a JSON string list")
    return value


def copy_sources(instruction: Instruction) -> tuple[list[str], str | None]:
    """The sources of a COPY and the stage it copies from (None: the build context)."""
    words = instruction.arguments.split()
    source_stage = None
    plain = []
    for word in words:
        if word.startswith("--from="):
            source_stage = word.split("=", 1)[1]
        elif not word.startswith("--"):
            plain.append(word)
    return plain[:-1], source_stage


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            if pattern.startswith("/", index):
                parts[-1] = "(?:.*/)?"
                index += 1
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


@dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, re.Pattern], ...]  # (re-include?, pattern)

    @classmethod
    def load(cls, path: Path) -> "DockerIgnore":
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:] if include else line
            pattern = pattern.strip().strip("/")
            rules.append((include, _pattern_regex(pattern)))
        return cls(tuple(rules))

    def excluded(self, relative: str) -> bool:
        """Whether the builder leaves `relative` (a path under the context) out."""
        parts = relative.strip("/").split("/")
        prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        result = False
        for include, pattern in self.rules:
            if any(pattern.fullmatch(prefix) for prefix in prefixes):
                result = not include
        return result
