"""Redis, from Debian's redis-server; every request goes through redis-py."""

from __future__ import annotations

import shutil

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .base import Server
from .errors import ServerError


def redis_whoami(host: str, port: int, user: str, password: str, timeout: float = 3) -> str:
    """Log in as `user` (AUTH), PING, and return the user the server says we are (ACL WHOAMI).

    One attempt, no retries: raises redis.RedisError when the server does not answer or refuses the login.
    """
    client = redis.Redis(host=host, port=port, username=user, password=password, socket_timeout=timeout,
                         socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), decode_responses=True)
    try:
        if client.ping() is not True:
            raise ServerError("Redis PING did not answer PONG")
        return str(client.acl_whoami())
    finally:
        client.close()


class RedisServer(Server):
    """Redis from Debian's redis-server, no persistence. ACL users `default` and `app` share the password, so
    both `redis://app:<pw>@…` and a password-only client work. Readiness is a redis-py login as `app` and PING.

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
        user = redis_whoami(self.host, self.port, self.user, self.password)
        if user != self.user:
            raise ServerError(f"Redis logged us in as {user!r}, not {self.user!r}")
