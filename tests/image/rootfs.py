"""A Debian root filesystem made by `debootstrap --variant=minbase`, cached per release in the tier's cache.

The release comes from the base image names (`node:24.21.0-trixie-slim` names trixie; `...-debian13` names
Debian 13). debootstrap needs Debian's mirror (deb.debian.org, or NEST_IMAGE_DEBIAN_MIRROR).
`ca-certificates` is included so that the runtime stand-in can take Debian's CA bundle from it, as distroless does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

from .store import CACHE_DIR

CODENAMES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"}
MIRROR = os.environ.get("NEST_IMAGE_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def release_of(reference: str) -> str:
    """The Debian release an image reference names: a codename in its tag, or `debian<N>` in its name."""
    name, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    for part in tag.split("-"):
        if part in CODENAMES.values():
            return part
    for number, codename in CODENAMES.items():
        if f"debian{number}" in name.rsplit("/", 1)[-1]:
            return codename
    raise AssertionError(f"{reference} names no Debian release this tier knows ({', '.join(CODENAMES.values())})")


def rootfs(release: str, timeout: float = 900) -> Path:
    """The cached rootfs of `release`, made on first use (safe across processes)."""
    target = CACHE_DIR / f"rootfs-{release}"
    marker = CACHE_DIR / f"rootfs-{release}.done"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE_DIR / f"rootfs-{release}.lock")):
        if marker.exists() and (target / "etc" / "debian_version").exists():
            return target
        staging = target.with_name(target.name + ".tmp")
        for path in (staging, target):
            shutil.rmtree(path, ignore_errors=True)
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=ca-certificates", release, str(staging), MIRROR],
            capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            log = staging / "debootstrap" / "debootstrap.log"
            detail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            shutil.rmtree(staging, ignore_errors=True)
            raise AssertionError(f"debootstrap {release} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{detail}")
        staging.rename(target)
        marker.write_text(release + "\n", encoding="utf-8")
    return target
