"""What a rendered Dockerfile states, read from its text: stages (FROM lines), ARGs and the HEALTHCHECK command.

Only the instructions this tier needs are read; continuation lines are joined and comments (including the
`# syntax=` line) dropped, as a builder does.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", re.IGNORECASE)
HEALTHCHECK_CMD = re.compile(r"^HEALTHCHECK\s+(?:--\S+\s+)*CMD\s+(.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None


def instructions(path: Path) -> list[str]:
    """The Dockerfile's instructions, one string each (continuations joined, comments dropped)."""
    result: list[str] = []
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        result.append(current.strip())
        current = ""
    if current.strip():
        result.append(current.strip())
    return result


def stages(path: Path) -> list[Stage]:
    found = []
    for instruction in instructions(path):
        match = FROM.match(instruction)
        if match:
            found.append(Stage(match.group(1), match.group(2)))
    if not found:
        raise AssertionError(f"{path} has no FROM line")
    return found


def build_args(path: Path) -> dict[str, str | None]:
    """ARG name -> default (None without one)."""
    declared: dict[str, str | None] = {}
    for instruction in instructions(path):
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() == "ARG":
            for item in shlex.split(rest):
                name, sep, default = item.partition("=")
                declared[name] = default if sep else None
    return declared


def healthcheck_command(path: Path) -> list[str]:
    """The HEALTHCHECK's command as an argument vector (exec form as given; shell form under /bin/sh -c)."""
    for instruction in instructions(path):
        match = HEALTHCHECK_CMD.match(instruction)
        if match:
            command = match.group(1).strip()
            if command.startswith("["):
                vector = json.loads(command)
                assert isinstance(vector, list) and all(isinstance(a, str) for a in vector), command
                return vector
            return ["/bin/sh", "-c", command]
    raise AssertionError(f"{path} has no HEALTHCHECK CMD")


def exposed_ports(path: Path) -> list[str]:
    """The EXPOSE ports (without /tcp), in order."""
    ports = []
    for instruction in instructions(path):
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() == "EXPOSE":
            ports.extend(item.split("/", 1)[0] for item in rest.split())
    assert ports, f"{path} exposes no port"
    return ports
