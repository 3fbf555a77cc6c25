"""NATS, from Debian's nats-server; every request goes through nats-py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import shutil
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats

from .base import Server
from .errors import ServerError
from .ports import port_open

_T = TypeVar("_T")


def _run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """asyncio.run(coroutine), in a thread of its own when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def nats_ping(host: str, port: int, user: str, password: str, timeout: int = 3) -> str:
    """Connect with nats-py as `user`, PING and wait for the PONG (flush), close; return the server's version.

    Raises when nothing listens, when the server refuses the login, or when it does not answer in `timeout`.
    """
    if not port_open(port, host):  # nats-py retries a refused first connect until the timeout below
        raise ServerError(f"nothing listens on {host}:{port}")

    async def quiet(_error: Exception) -> None:  # the error is raised by connect() or flush()
        pass

    async def ping() -> str:
        client = await asyncio.wait_for(
            nats.connect(f"nats://{host}:{port}", user=user, password=password, name="servers-harness",
                         connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=0, error_cb=quiet),
            timeout)
        try:
            await client.flush(timeout=timeout)
            version = client.connected_server_version
            return f"{version.major}.{version.minor}.{version.patch}"
        finally:
            await client.close()

    return _run(ping())


class NatsServer(Server):
    """NATS from Debian's nats-server (2.9) with JetStream, user/password authorization, no monitoring port.
    Readiness is a nats-py login as `app` and a PING/PONG round trip.

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
            f"authorization {{\n  user: {json.dumps(self.user)}\n  password: {json.dumps(self.password)}\n}}\n"
            # JetStream (the app's streams and durable consumers), its files next to the configuration
            f"jetstream {{\n  store_dir: {json.dumps(str(self.directory / 'jetstream'))}\n}}\n",
            encoding="utf-8")

    def delete_streams(self) -> list[str]:
        """Delete every JetStream stream (and so its consumers and events); return their names."""
        async def delete() -> list[str]:
            client = await nats.connect(self.url, name="servers-harness", allow_reconnect=False)
            try:
                manager = client.jsm()
                names = [info.config.name for info in await manager.streams_info()]
                for name in names:
                    await manager.delete_stream(name)
                return [name for name in names if name]
            finally:
                await client.close()

        return _run(delete())

    def _command(self) -> list[str]:
        return [shutil.which("nats-server") or "/usr/sbin/nats-server", "-c", str(self.directory / "nats.conf")]

    def _ready(self) -> None:
        version = nats_ping(self.host, self.port, self.user, self.password)
        if version.startswith("0."):
            raise ServerError(f"the NATS server on {self.port} announced no version: {version!r}")
