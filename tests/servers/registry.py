"""Server kinds by name, starting several at once, the `Servers` group and the pytest fixture factory."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest
from helpers import IN_CI

from .base import Server
from .errors import ServerError, ServerUnavailable
from .kafka_server import KafkaServer
from .mariadb import MariaDbServer
from .nats_server import NatsServer
from .postgres import PostgresServer
from .rabbitmq import RabbitMqServer
from .redis_server import RedisServer

SERVER_CLASSES: dict[str, type[Server]] = {
    "postgresql": PostgresServer,
    "mysql": MariaDbServer,
    "redis": RedisServer,
    "rabbitmq": RabbitMqServer,
    "nats": NatsServer,
    "kafka": KafkaServer,
}
ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql"}


def start_servers(*servers: Server, timeout: float | None = None) -> None:
    """Start several servers at once: first-start preparation (initdb…) and readiness waits run in parallel
    threads, while the processes are spawned from the calling thread (from the main thread they get a
    parent-death signal, so they end with the test process even if it is killed). On any failure every server
    given is stopped and the first error raised (a missing program first)."""
    pending = [server for server in servers if not server.is_running()]
    if not pending:
        return

    def stop_all() -> None:
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()

    def in_parallel(step: Callable[[Server], object]) -> None:
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            futures = [pool.submit(step, server) for server in pending]
        errors = [error for future in futures if (error := future.exception()) is not None]
        if errors:
            stop_all()
            missing = [error for error in errors if isinstance(error, ServerUnavailable)]
            raise (missing or errors)[0]

    in_parallel(Server._make_ready_to_spawn)
    try:
        for server in pending:
            server._spawn()
    except BaseException:
        stop_all()
        raise
    in_parallel(lambda server: server._finish_start(timeout))


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


def unavailable(error: ServerUnavailable) -> NoReturn:
    """A missing server program: skip the test here, fail it under CI=true."""
    if IN_CI:
        pytest.fail(str(error))
    pytest.skip(str(error))


def start_or_skip(servers: Servers) -> Servers:
    """Start `servers`; a missing server program skips the test here and fails it under CI=true."""
    try:
        return servers.start()
    except ServerUnavailable as error:
        servers.cleanup()
        unavailable(error)


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
