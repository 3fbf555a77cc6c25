"""The Server base class: one server process on 127.0.0.1:port with its own data directory."""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from .errors import ServerError, ServerUnavailable
from .ports import HOST, PortReservation, port_open
from .process import account, die_with_parent, exited, tail, wait_exited

_live: set[Server] = set()
_live_lock = threading.Lock()


def _stop_leftovers() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop(timeout=10)


atexit.register(_stop_leftovers)


class Server:
    """One server process on 127.0.0.1:port with its own data directory.

    Subclasses define `_command()` and `_ready()` (a request through the server's own client library), and may
    define `_prepare()` (first start only: initdb and the like), `_setup()` (first start only, once ready: users
    and databases) and `_binaries()`.
    """

    kind: ClassVar[str] = ""
    service_user: ClassVar[str | None] = None  # system account the server runs as when we are root
    stop_signal: ClassVar[int] = signal.SIGTERM
    startup_timeout: ClassVar[float] = 60.0
    authenticated: ClassVar[bool] = True  # `url` carries user `app` and its password
    host: str = HOST

    def __init__(self, directory: Path | None = None, *, user: str = "app", password: str | None = None,
                 database: str = "app") -> None:
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix=f"{self.kind}-"))
            self._own_directory = True
        else:
            directory.mkdir(parents=True, exist_ok=True)
            self._own_directory = False
        directory.chmod(0o755)  # the service account must be able to traverse it
        self.directory = directory
        self.user = user
        self.password = password or secrets.token_hex(12)
        self.database = database
        self._reservation = PortReservation()
        self.port = self._reservation.port
        self.log_path = directory / "server.log"
        self.startup_seconds: float | None = None  # duration of the last start(), to its readiness
        self._prepare_seconds = 0.0
        self._spawned_at = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._prepared = False
        self._set_up = False
        self._lock = threading.RLock()

    # -- public API

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def address(self) -> str:
        """host:port, for clients configured without a URL."""
        return f"{self.host}:{self.port}"

    def is_running(self) -> bool:
        """The server process is alive (it may not be ready yet)."""
        return self._process is not None and not exited(self._process.pid)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.is_running() and self._process else None

    def is_ready(self) -> bool:
        """The server answers a request of its client library now."""
        try:
            self._ready()
        except Exception:
            return False
        return True

    def start(self, timeout: float | None = None) -> Server:
        """Start (or restart) the server and return once it answers its client library; idempotent.

        To start several at once, use `start_servers()` (or `Servers`).
        """
        with self._lock:
            if self.is_running():
                return self
            self._make_ready_to_spawn()
            self._spawn()
            self._finish_start(timeout)
            return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the process started by start(), by its PID (then its process group), and wait for the port to close."""
        with self._lock:
            if self._halt(timeout):
                self._wait_port_closed()

    def cleanup(self) -> None:
        """Stop, release the port and delete the data directory (if this object created it)."""
        self.stop()
        self._reservation.release()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"--- {path}\n{tail(path, lines)}" for path in self._log_files())

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} {'running' if self.is_running() else 'stopped'}>"

    # -- the steps of start(), also run by start_servers()

    def _make_ready_to_spawn(self) -> None:
        began = time.monotonic()
        if self._process is not None:  # it died on its own: reap it (and its group) before starting anew
            self._halt(timeout=5)
        missing = [b for b in self._binaries() if not (Path(b).exists() or shutil.which(b))]
        if missing:
            raise ServerUnavailable(f"{self.kind}: {', '.join(missing)} not installed; run scripts/setup-test-env.sh")
        if not self._prepared:
            self._prepare()
            self._prepared = True
        self._prepare_seconds = time.monotonic() - began

    def _spawn(self) -> None:
        with self.log_path.open("ab") as out:
            out.write(f"==== start {time.strftime('%H:%M:%S')} port {self.port}\n".encode())
        self._spawned_at = time.monotonic()
        self._process = self._popen(self._command(), self.log_path, self.service_user, self._environment(),
                                    death_signal=self.stop_signal)
        with _live_lock:
            _live.add(self)

    def _finish_start(self, timeout: float | None) -> None:
        self._wait_ready(timeout or self.startup_timeout)
        if not self._set_up:
            self._setup()
            self._set_up = True
            self._wait_ready(timeout or self.startup_timeout)
        # its own time: preparation (initdb… on a first start) plus spawn-to-ready, not time spent waiting for others
        self.startup_seconds = self._prepare_seconds + time.monotonic() - self._spawned_at

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.is_running():
                process = self._process
                self._halt()  # reaps it (only now: until then its PID and group id cannot be reused)
                code = process.returncode if process else None
                raise ServerError(f"{self.kind} exited (code {code}) before it was ready\n{self.log_tail()}")
            try:
                self._ready()
                return
            except Exception as error:  # not ready yet
                last = error
            time.sleep(0.1)
        log = self.log_tail()
        self._halt()
        raise ServerError(f"{self.kind} on port {self.port} not ready after {timeout:.0f} s: {last!r}\n{log}")

    def _halt(self, timeout: float = 30.0) -> bool:
        """Signal and reap the process; True if there was one."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return False
            try:
                if not exited(process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, self.stop_signal)
                    if not wait_exited(process.pid, timeout):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, signal.SIGKILL)
                        wait_exited(process.pid, 10)
                # children left in the group (the leader is a zombie until reaped, so the group id is still ours)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            finally:
                process.wait()
                self._after_stop()
                with _live_lock:
                    _live.discard(self)
            return True

    def _wait_port_closed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while port_open(self.port, timeout=0.2):
            if time.monotonic() > deadline:
                raise ServerError(f"{self.kind}: port {self.port} still open after stop()")
            time.sleep(0.1)

    # -- for subclasses

    def _binaries(self) -> list[str]:
        return [self._command()[0]]

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _environment(self) -> dict[str, str]:
        return {}

    def _prepare(self) -> None:
        pass

    def _setup(self) -> None:
        pass

    def _ready(self) -> None:
        """Raise unless the server answers a request of its client library."""
        raise NotImplementedError

    def _after_stop(self) -> None:
        pass

    def _log_files(self) -> list[Path]:
        return [self.log_path]

    def _popen(self, command: list[str], log: Path, user: str | None = None,
               env: Mapping[str, str] | None = None, death_signal: int = signal.SIGTERM) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.directory,
                env={**os.environ, **(env or {})}, start_new_session=True,
                # PDEATHSIG follows the forking *thread*: only set it from the main thread
                preexec_fn=(die_with_parent(death_signal)
                            if threading.current_thread() is threading.main_thread() else None),
                **account(user),
            )
        return process

    def _run(self, command: list[str], *, user: str | None = None, env: Mapping[str, str] | None = None,
             timeout: float = 60) -> str:
        """Run a program of the server's package (initdb, mariadb-install-db…) to completion; its stdout."""
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.directory,
            env={**os.environ, **(env or {})}, check=False, **account(user),
        )
        if result.returncode != 0:
            raise ServerError(f"{self.kind}: {' '.join(command)} exited {result.returncode}\n"
                              f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return str(result.stdout)


class SqlServer(Server):
    """A database server (PostgreSQL, MariaDB): ready once `SELECT 1` answers, as the administrator
    before the app's user exists, then as that user over TCP. Subclasses run SQL with their client."""

    _execute: Callable[..., list[list[str]]]
    scheme: ClassVar[str]  # of the connection URL

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"{self.scheme}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def _ready(self) -> None:
        if self._set_up:
            answer = self._execute("SELECT 1", database=self.database, as_app=True)
        else:
            answer = self._execute("SELECT 1")
        if answer != [["1"]]:
            raise ServerError(f"SELECT 1 answered {answer}")
