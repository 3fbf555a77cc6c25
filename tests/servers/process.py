"""Child processes: run as a service account, end with the test process, reap without reusing PIDs."""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IS_ROOT = os.geteuid() == 0

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int) -> Callable[[], None]:
    """A preexec_fn: the child gets `sig` when the thread that forked it ends."""

    def set_parent_death_signal() -> None:  # runs in the child between fork and exec
        _libc.prctl(_PR_SET_PDEATHSIG, sig)

    return set_parent_death_signal


def account(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a program as `user` (only when we are root; else as ourselves)."""
    if not (IS_ROOT and user):
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def chown(path: Path, user: str | None) -> None:
    if IS_ROOT and user:
        shutil.chown(path, user, user)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def exited(pid: int) -> bool:
    """True when child `pid` has exited; it stays a zombie (not reaped) so its PID and group id are not reused."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def wait_exited(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
