"""Shared helpers of the test suite: rendering the template once per combination, locating tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
EXAMPLES = REPO / "examples"
NODE_TOOLS = TESTS / "node" / "node_modules"
VENV_BIN = REPO / ".venv" / "bin"
TEMPLATE_PARTS = ("copier.yml", "extensions", "template", "includes")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def answers_of(rendered: Path) -> dict[str, Any]:
    """The answers a render was made with (its .copier-answers.yml without copier's own keys)."""
    data = load_yaml(rendered / ".copier-answers.yml")
    return {key: value for key, value in data.items() if not key.startswith("_")}


def copier_questions() -> dict[str, dict[str, Any]]:
    """The questions of copier.yml (settings start with '_')."""
    data = load_yaml(REPO / "copier.yml")
    return {name: spec for name, spec in data.items() if not name.startswith("_")}


def tool(name: str) -> str:
    """Path of a command-line tool: the venv first, then node tools, then PATH.

    A missing tool skips the test on a developer machine but fails it under CI=true.
    """
    for candidate in (VENV_BIN / name, NODE_TOOLS / ".bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; run scripts/setup-test-env.sh"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_node_package(name: str) -> Path:
    """The installed directory of an npm package in tests/node (skip locally, fail under CI=true)."""
    path = NODE_TOOLS / name
    if path.is_dir():
        return path
    message = f"npm package {name} is not installed; run scripts/setup-test-env.sh"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


def files(root: Path, *suffixes: str) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and (not suffixes or path.name.endswith(suffixes)):
            if "node_modules" not in path.parts and ".git" not in path.parts:
                yield path


class Renderer:
    """Renders each answer set at most once per test session, shared by all xdist workers."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)

    def template_source(self) -> Path:
        """A plain (non-git) copy of the template's working tree: fast to render, includes edits."""
        source = self.base / "template-src"
        with FileLock(str(self.base / "template-src.lock")):
            if not (source / "copier.yml").exists():
                staging = self.base / "template-src.tmp"
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir()
                for part in TEMPLATE_PARTS:
                    origin = REPO / part
                    if origin.is_dir():
                        shutil.copytree(origin, staging / part, ignore=shutil.ignore_patterns("__pycache__"))
                    elif origin.exists():
                        shutil.copy2(origin, staging / part)
                staging.rename(source)
        return source

    def render(self, name: str, answers: dict[str, Any]) -> Path:
        from copier import run_copy

        destination = self.base / "renders" / name
        done = destination.with_name(name + ".done")
        with FileLock(str(destination) + ".lock"):
            if not done.exists():
                shutil.rmtree(destination, ignore_errors=True)
                run_copy(
                    str(self.template_source()), str(destination), data=answers, defaults=True,
                    unsafe=True, quiet=True, overwrite=True,
                )
                done.write_text(json.dumps(answers, sort_keys=True), encoding="utf-8")
        return destination
