"""MariaDB (the `mysql` answer), from Debian's mariadb-server; every request goes through PyMySQL."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pymysql  # type: ignore[import-untyped]
from pymysql.constants import CLIENT  # type: ignore[import-untyped]
from pymysql.converters import conversions  # type: ignore[import-untyped]

from .base import SqlServer
from .errors import ServerError
from .process import IS_ROOT, chown

# PyMySQL's encoders (parameters are escaped as usual) and no decoders: result values arrive as the server's
# text, as the `mariadb` client prints them
_TEXT_RESULTS = {key: encoder for key, encoder in conversions.items() if not isinstance(key, int)}


class MariaDbServer(SqlServer):
    """MariaDB (Debian's mariadb-server) for the `mysql` answer; the app's mysql2 driver takes the mysql:// URL.
    Runs as the `mysql` account when we are root. root@localhost has no password and is reachable only through
    the unix socket in the data directory; `app`@`%` has a password and all privileges (it may create databases).
    Readiness is `SELECT 1` through PyMySQL: as root over the socket until `app` exists, then as `app` over TCP.

    url: mysql://app:<password>@127.0.0.1:<port>/app
    """

    kind = "mysql"
    scheme = "mysql"
    service_user = "mysql"
    startup_timeout = 90.0

    def __init__(self, directory: Path | None = None, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.data_dir = self.directory / "data"
        self.run_dir = self.directory / "run"  # written by the server: socket, pid file, error log, tmp
        self.socket_path = self.run_dir / "mysqld.sock"
        self.error_log = self.run_dir / "error.log"

    def _binaries(self) -> list[str]:
        return ["mariadbd", "mariadb-install-db"]

    def _log_files(self) -> list[Path]:
        return [self.log_path, self.error_log]

    def _prepare(self) -> None:
        for path in (self.data_dir, self.run_dir, self.run_dir / "tmp"):
            path.mkdir(mode=0o750, exist_ok=True)
            chown(path, self.service_user)
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
            chown(self.data_dir, self.service_user)
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

    def _execute(self, sql: str, args: tuple[str, ...] | None = None, *, database: str | None = None,
                 as_app: bool = False, timeout: int = 5) -> list[list[str]]:
        """Run `sql` (one or more statements; `args` fill its %s) in autocommit mode, as the app user over TCP
        or as root over the unix socket. The rows of every result, values as text (NULL is 'NULL'), like
        `mariadb --batch`."""
        if as_app:
            target: dict[str, Any] = {"host": self.host, "port": self.port, "user": self.user,
                                      "password": self.password}
        else:
            target = {"unix_socket": str(self.socket_path), "user": "root", "password": ""}
        rows: list[list[str]] = []
        try:
            connection = pymysql.connect(database=database, connect_timeout=timeout, read_timeout=60,
                                         autocommit=True, conv=_TEXT_RESULTS, charset="utf8mb4",
                                         client_flag=CLIENT.MULTI_STATEMENTS,
                                         ssl_disabled=True,  # the server has no TLS (PyMySQL would try it first)
                                         **target)
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, args)
                while True:
                    rows += [[_text(value) for value in row] for row in cursor.fetchall() or ()]
                    if not cursor.nextset():
                        break
        except pymysql.MySQLError as error:
            raise ServerError(f"{self.kind}: {error}") from error
        return rows

    def _setup(self) -> None:
        self._execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (self.user, self.password))
        self._execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%'", (self.user,))
        self.create_database(self.database)

    def create_database(self, name: str) -> str:
        """Create database `name` (utf8mb4); return its URL."""
        quoted = "`" + name.replace("`", "``") + "`"
        self._execute(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url_for(name)

    def query(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Run SQL as the app user over TCP; rows as lists of strings (NULL is 'NULL')."""
        return self._execute(sql, database=database or self.database, as_app=True, timeout=30)


def _text(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)
