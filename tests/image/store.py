"""A buildah store of the image tier: vfs driver, chroot isolation, one storage.conf for every buildah call.
(Also the home of `RUN --mount=type=cache` directories: see Store.env.)

buildah 1.28 ignores STORAGE_DRIVER, so the store is named by a storage.conf and CONTAINERS_STORAGE_CONF; a
buildah call without it would use another store ("image not known"). The store lives in the tier's cache
directory: the stand-in base images stay in it between test sessions, while the images and containers a session
makes carry the session's PID in their names and are removed by that session (or by the next one, if it died).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

CACHE_DIR = Path(os.environ.get("NEST_IMAGE_CACHE") or Path.home() / ".cache" / "nest-image-tier")
# Names of what a session creates: containers nit-<pid>-..., images localhost/nit/<name>:<pid>.
SESSION_PREFIX = "nit"
CONTAINER_NAME = re.compile(rf"^{SESSION_PREFIX}-(\d+)-")
IMAGE_NAME = re.compile(rf"^localhost/{SESSION_PREFIX}/[\w.-]+:(\d+)$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def human_bytes(text: str) -> int:
    """ "383 MB" (go-units' HumanSize, decimal) -> bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kKMGT]?B)\s*", text)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return round(float(match.group(1)) * UNITS[match.group(2)])


class BuildahError(AssertionError):
    """A buildah command failed (an AssertionError, so that pytest shows it as a test failure)."""


class Store:
    """One containers-storage store (vfs) under `root`; `run()` calls buildah with its configuration."""

    def __init__(self, root: Path, buildah: str = "buildah") -> None:
        self.root = root
        self.buildah = buildah
        self.root.mkdir(parents=True, exist_ok=True)
        self.conf = self.root / "storage.conf"
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(exist_ok=True)
        text = ("[storage]\n"
                'driver = "vfs"\n'
                f'runroot = "{self.root / "run"}"\n'
                f'graphroot = "{self.root / "storage"}"\n')
        if not self.conf.exists() or self.conf.read_text(encoding="utf-8") != text:
            self.conf.write_text(text, encoding="utf-8")

    @property
    def env(self) -> dict[str, str]:
        """What every buildah call needs in its environment. TMPDIR keeps buildah's temporary files and the
        directories of `RUN --mount=type=cache` (buildah-cache/) in this store rather than in /var/tmp."""
        return {"CONTAINERS_STORAGE_CONF": str(self.conf), "BUILDAH_ISOLATION": "chroot", "TMPDIR": str(self.tmp)}

    def full_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, **self.env, **(extra or {})}

    def run(self, *args: str, timeout: float = 600, check: bool = True, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.buildah, *args], cwd=cwd, env=self.full_env(), capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise BuildahError(f"buildah {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def image_exists(self, name: str) -> bool:
        return self.run("inspect", "--type", "image", name, check=False).returncode == 0

    def inspect_image(self, name: str) -> dict[str, Any]:
        return json.loads(self.run("inspect", "--type", "image", name).stdout)

    def image_size(self, name: str) -> int:
        """Bytes of the image as `buildah images --json` states it (decimal units, e.g. "383 MB")."""
        image_id = self.inspect_image(name)["FromImageID"]
        for entry in json.loads(self.run("images", "--json").stdout or "[]") or []:
            if image_id.startswith(entry.get("id", "-")):
                return human_bytes(str(entry["size"]))
        raise BuildahError(f"{name} ({image_id}) is not in `buildah images --json`")

    def remove_container(self, name: str) -> None:
        self.run("rm", name, check=False)

    def remove_image(self, name: str) -> None:
        self.run("rmi", "-f", name, check=False)

    def remove_dead_sessions(self, keep_images: bool) -> None:
        """Containers (and, unless kept, images) named by a test session that is no longer running."""
        listed = self.run("containers", "--json", check=False).stdout or "[]"
        for entry in json.loads(listed) or []:
            match = CONTAINER_NAME.match(entry.get("containername", ""))
            if match and not pid_alive(int(match.group(1))):
                self.remove_container(entry["containername"])
        if keep_images:
            return
        for entry in json.loads(self.run("images", "--json", check=False).stdout or "[]") or []:
            for name in entry.get("names") or []:
                match = IMAGE_NAME.match(name)
                if match and not pid_alive(int(match.group(1))):
                    self.remove_image(name)
