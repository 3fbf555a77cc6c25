"""Free TCP ports on 127.0.0.1, reserved across the test processes of this machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
import time
from pathlib import Path

from .errors import ServerError

HOST = "127.0.0.1"

_PORT_LOCK_DIR = Path(tempfile.gettempdir()) / "servers-ports"
_random = random.Random(os.getpid() ^ time.monotonic_ns())


def _port_range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range: a client's outgoing port can never take a stopped server's port."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 15000, max(low - 1, 15100)


class PortReservation:
    """A free TCP port on 127.0.0.1, held through an flock'ed file so that other test processes skip it.

    The lock lives as long as this object (the kernel drops it if the process dies), so a server keeps its port
    across stop() and start().
    """

    def __init__(self) -> None:
        self._handle = -1
        if not _PORT_LOCK_DIR.is_dir():
            _PORT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                _PORT_LOCK_DIR.chmod(0o1777)  # shared by every user's test runs
        low, high = _port_range()
        for _ in range(500):
            port = _random.randint(low, high)
            handle = os.open(_PORT_LOCK_DIR / str(port), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(handle)
                continue
            if _bindable(port):
                self.port, self._handle = port, handle
                return
            os.close(handle)
        raise ServerError(f"no free port found in {low}-{high}")

    def release(self) -> None:
        if self._handle >= 0:
            os.close(self._handle)
            self._handle = -1

    def __del__(self) -> None:
        self.release()


def _bindable(port: int) -> bool:
    """Nothing holds `port` on 127.0.0.1 (a bind, no connection)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port (a connect, nothing sent)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
