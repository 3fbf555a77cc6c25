"""RabbitMQ, from Debian's rabbitmq-server; every request goes through pika."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pika  # type: ignore[import-untyped, unused-ignore]
import pika.exceptions  # type: ignore[import-untyped, unused-ignore]

from .base import Server
from .errors import ServerError
from .ports import PortReservation, port_open
from .process import tail


def amqp_login(host: str, port: int, user: str, password: str, vhost: str = "/", timeout: float = 5) -> dict[str, Any]:
    """Open (and close) an AMQP 0-9-1 connection with pika: PLAIN login as `user`, then Connection.Open of `vhost`.

    Returns the server's protocol, product and version; raises ServerError "AMQP <step> refused: <code> <text>"
    when the broker closes the connection (403 bad login, 530 unknown vhost) and ServerError when it does not
    answer at all.
    """
    parameters = pika.ConnectionParameters(
        host=host, port=port, virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=timeout, stack_timeout=timeout, blocked_connection_timeout=timeout,
        client_properties={"product": "servers-harness"})
    try:
        connection = pika.BlockingConnection(parameters)
    except pika.exceptions.ProbableAuthenticationError as error:
        raise ServerError(f"AMQP login refused: {_broker_reply(error)}") from error
    except pika.exceptions.ProbableAccessDeniedError as error:
        raise ServerError(f"AMQP Connection.Open of vhost {vhost!r} refused: {_broker_reply(error)}") from error
    except pika.exceptions.ConnectionClosedByBroker as error:
        raise ServerError(f"AMQP connection refused: {error.reply_code} {error.reply_text}") from error
    except pika.exceptions.AMQPError as error:
        raise ServerError(f"AMQP connection to {host}:{port} failed: {error!r}") from error
    try:
        properties = dict(connection._impl.server_properties or {})  # the broker's Connection.Start
    finally:
        connection.close()
    major, minor, revision = pika.spec.PROTOCOL_VERSION
    return {"protocol": f"{major}-{minor}-{revision}", "product": _text(properties.get("product", "?")),
            "version": _text(properties.get("version", "?"))}


def _broker_reply(error: Exception) -> str:
    """'403 ACCESS_REFUSED - …' from pika's error for a connection the broker closed during the handshake (pika
    keeps only the repr of the broker's ConnectionClosedByBroker: "(403) 'ACCESS_REFUSED - …'")."""
    found = re.search(r"\((\d+)\) ['\"](.*?)['\"]", str(error))
    return f"{found[1]} {found[2]}" if found else str(error)


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class RabbitMqServer(Server):
    """RabbitMQ from Debian's rabbitmq-server (3.10), no plugins (so no management UI). The node has a unique name,
    its own epmd (private port, started and stopped with it), a distribution port on 127.0.0.1, its mnesia and
    logs in the data directory and its own Erlang cookie (HOME). User `app` (administrator, full permissions on
    vhost `/`) is created at first boot by rabbitmq.conf; readiness is a pika login as `app` and Connection.Open
    and the node's 'Server startup complete' log line (the listener opens before the last boot steps).

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
                raise ServerError(f"epmd did not listen on {self.epmd_port}\n{tail(self.directory / 'epmd.log')}")
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
        if not port_open(self.port, self.host):  # no pika attempt (and error log) while the node boots
            raise ServerError(f"nothing listens on {self.host}:{self.port} yet")
        amqp_login(self.host, self.port, self.user, self.password, "/")
        # the AMQP listener opens during boot, before the last boot steps: ready is the node saying it finished
        if "Server startup complete" not in self.log_path.read_text(encoding="utf-8", errors="replace"):
            raise ServerError("the node accepts logins but has not logged 'Server startup complete' yet")

    def cleanup(self) -> None:
        super().cleanup()
        self._dist.release()
        self._epmd.release()
