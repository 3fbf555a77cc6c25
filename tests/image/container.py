"""One container of a built image, run with buildah: `buildah from`, then `buildah run` for one-off commands
(the migration, the HEALTHCHECK command) and for the app, whose node process is found under buildah by PID.

Chroot isolation shares the host's network, so the app reaches servers on 127.0.0.1 and is reached there.
`buildah run` ignores the image's ENTRYPOINT: commands name /nodejs/bin/node themselves. The user is the
image's own (USER), not passed here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .store import Store


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        for child in children(pending.pop()):
            found.append(child)
            pending.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict (e.g. Uid, Gid, VmRSS, VmHWM)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    value = status(pid)[field]
    assert value.endswith(" kB"), value
    return int(value[:-3])


class Container:
    """A working container of `image`, named `name`; `remove()` ends whatever it started and removes it."""

    def __init__(self, store: Store, image: str, name: str) -> None:
        self.store, self.name = store, name
        store.remove_container(name)
        store.run("from", "--pull=never", "--name", name, image)
        self.app: subprocess.Popen[bytes] | None = None
        self.node_pid: int | None = None
        self._log: Path | None = None

    def _run_args(self, env: dict[str, str]) -> list[str]:
        return ["run", *[item for key, value in env.items() for item in ("--env", f"{key}={value}")],
                self.name, "--"]

    def run(self, command: list[str], env: dict[str, str] | None = None, timeout: float = 300,
            ) -> subprocess.CompletedProcess[str]:
        return self.store.run(*self._run_args(env or {}), *command, check=False, timeout=timeout)

    def start(self, command: list[str], env: dict[str, str], log: Path, timeout: float = 30) -> int:
        """Start `command` in the background; returns the PID of its process (found by its command line)."""
        self._log = log
        handle = log.open("wb")
        self.app = subprocess.Popen([self.store.buildah, *self._run_args(env), *command], env=self.store.full_env(),
                                    stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.app.poll() is not None:
                raise AssertionError(f"buildah run exited with {self.app.returncode}:\n{self.log_tail()}")
            matches = [pid for pid in descendants(self.app.pid) if cmdline(pid) == command]
            if matches:
                self.node_pid = matches[0]
                return self.node_pid
            time.sleep(0.05)
        raise AssertionError(f"no process {command} under buildah run {self.app.pid} within {timeout} s")

    def log_tail(self, size: int = 4000) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(encoding="utf-8", errors="replace")[-size:]

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM to the app's process (by PID), then wait for `buildah run`; SIGKILL if it does not end."""
        if self.app is None:
            return None
        if self.app.poll() is None and self.node_pid is not None:
            try:
                os.kill(self.node_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.app.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in [*reversed(descendants(self.app.pid)), self.app.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.app.wait(10)
        return self.app.returncode

    def ended_cleanly(self) -> bool:
        """Whether the app ended with status 0 or by the SIGTERM it was sent (Nest re-raises the signal after
        its shutdown hooks). buildah's chroot isolation reports a death by signal as status 1 and says so
        ("subprocess exited on terminated")."""
        if self.app is None or self.app.returncode is None:
            return False
        if self.app.returncode == 0:
            return True
        return self.app.returncode == 1 and "subprocess exited on terminated" in self.log_tail(2000)

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            self.store.remove_container(self.name)
