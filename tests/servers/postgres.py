"""PostgreSQL, from Debian's postgresql package; every request goes through psycopg."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.pq import ExecStatus

from .base import SqlServer
from .errors import ServerError
from .process import chown


def _postgres_bin() -> Path:
    configured = os.environ.get("PG_BIN")
    if configured:
        return Path(configured)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else Path("/usr/lib/postgresql/15/bin")


class PostgresServer(SqlServer):
    """PostgreSQL from Debian's postgresql package; runs as the `postgres` account when we are root (initdb and
    postgres refuse root). Superuser `postgres` over the unix socket in the data directory (trust); user `app`
    over TCP with a SCRAM password, owner of database `app`, with CREATEDB. Readiness is `SELECT 1` through
    psycopg: as `postgres` over the socket until `app` exists, then as `app` over TCP.

    url: postgresql://app:<password>@127.0.0.1:<port>/app
    """

    kind = "postgresql"
    scheme = "postgresql"
    service_user = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, no waiting for clients

    def __init__(self, directory: Path | None = None, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.bin = _postgres_bin()
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "run"

    def _binaries(self) -> list[str]:
        return [str(self.bin / "postgres"), str(self.bin / "initdb")]

    def _prepare(self) -> None:
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
            chown(path, self.service_user)
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

    def _execute(self, statement: str | pgsql.Composed, *, database: str = "postgres", as_app: bool = False,
                 timeout: int = 5) -> list[list[str]]:
        """Run `statement` (one or more statements) in autocommit mode, as the app user over TCP or as the
        superuser over the unix socket. The rows of every result, each value as PostgreSQL's text output
        (NULL is ''), like `psql -At`."""
        if as_app:
            target: dict[str, Any] = {"host": self.host, "user": self.user, "password": self.password}
        else:
            target = {"host": str(self.socket_dir), "user": "postgres"}
        query = statement.encode() if isinstance(statement, str) else statement  # bytes: run as given, no %s
        rows: list[list[str]] = []
        try:
            with psycopg.connect(port=self.port, dbname=database, connect_timeout=timeout, autocommit=True,
                                 application_name="servers-harness", **target) as conn, conn.cursor() as cursor:
                cursor.execute(query)
                while True:
                    result = cursor.pgresult
                    if result is not None and result.status == ExecStatus.TUPLES_OK:
                        rows += [[(result.get_value(row, column) or b"").decode()
                                  for column in range(result.nfields)] for row in range(result.ntuples)]
                    if not cursor.nextset():
                        break
        except psycopg.Error as error:
            raise ServerError(f"{self.kind}: {error}") from error
        return rows

    def _setup(self) -> None:
        self._execute(pgsql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            pgsql.Identifier(self.user), pgsql.Literal(self.password)))
        self.create_database(self.database)

    def create_database(self, name: str) -> str:
        """Create database `name` owned by the app user; return its URL."""
        self._execute(pgsql.SQL("CREATE DATABASE {} OWNER {}").format(
            pgsql.Identifier(name), pgsql.Identifier(self.user)))
        return self.url_for(name)

    def query(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Run SQL as the app user over TCP; rows as lists of strings (NULL is '')."""
        return self._execute(sql, database=database or self.database, as_app=True, timeout=30)
