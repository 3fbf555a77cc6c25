"""The backing servers of the app (database, Redis, broker): one record each for what every
consumer needs: the driver, the image and port (stack manifest), the connection URL as the laptop,
docker compose and the cluster see it, the container environment and readiness command of the
compose and CI service containers (extensions/playbook/flows.py adds the network flows to them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .data import image_port, stack_manifest
from .features import needs_redis

# Local and CI credentials of the backing servers: harmless placeholders that .env.example,
# docker-compose and the CI service containers share (the app refuses them in production).
LOCAL_USER = "app"
LOCAL_PASSWORD = "change-me"

DATABASES: dict[str, dict[str, str]] = {
    # module_unit: what a module of a modular monolith owns in the one database (PostgreSQL has
    # schemas; in MySQL a schema is a database, so a module owns a set of tables)
    "postgresql": {"label": "PostgreSQL", "typeorm": "postgres", "driver": "pg", "image": "postgresql",
                   "scheme": "postgres", "module_unit": "schema"},
    "mysql": {"label": "MySQL", "typeorm": "mysql", "driver": "mysql2", "image": "mysql", "scheme": "mysql",
              "module_unit": "set of tables"},
}
# url_security: the connection URL carries TLS (rediss://, amqps://, tls://) and the credentials;
# the Kafka client takes a bare bootstrap list and the generated options set neither ssl nor sasl.
# url_secret: the URL holds credentials, so it lives in the Secret (else in the ConfigMap).
# otel_system: messaging.system of the consumer spans (OpenTelemetry's semantic conventions).
BROKERS: dict[str, dict[str, Any]] = {
    "redis": {"label": "Redis Pub/Sub", "transport": "REDIS", "image": "redis", "scheme": "redis", "otel_system": "redis",
              "url_security": True, "url_secret": True},
    "rabbitmq": {"label": "RabbitMQ", "transport": "RMQ", "image": "rabbitmq", "scheme": "amqp", "otel_system": "rabbitmq",
              "url_security": True, "url_secret": True},
    "nats": {"label": "NATS", "transport": "NATS", "image": "nats", "scheme": "nats", "otel_system": "nats",
              "url_security": True, "url_secret": False},
    "kafka": {"label": "Apache Kafka", "transport": "KAFKA", "image": "kafka", "scheme": "kafka", "otel_system": "kafka",
              "url_security": False, "url_secret": False},
}
# Brokers whose address is not a secret: the ConfigMap's placeholder, which an overlay points at
# the real cluster.
CLUSTER_BROKER_HOSTS = {"nats": "nats.messaging.svc.cluster.local", "kafka": "kafka.messaging.svc.cluster.local"}
# Kafka in compose listens twice: on 9092 advertised as localhost (the host's .env.example) and on
# this port advertised as kafka (the app containers).
KAFKA_INTERNAL_PORT = 19092


@dataclass(frozen=True)
class Server:
    """A backing server as docker-compose and CI start it: the image from the stack manifest, the
    container's environment (matching the .env.example URLs), a shell command, run inside the
    container, that exits 0 once it accepts clients, and the container's command when the image's
    default does not fit (empty: the image's own)."""

    key: str
    role: str
    host: str
    image: str
    port: int
    env: dict[str, str]
    health: str
    command: tuple[str, ...] = ()


def pinned_image(key: str) -> str:
    entry = stack_manifest()["images"][key]
    digest = f"@{entry['digest']}" if entry.get("digest") else ""
    return f"{entry['name']}:{entry['tag']}{digest}"


def database_info(answers: Mapping[str, Any]) -> dict[str, Any]:
    info = DATABASES[answers["database"]]
    return {key: info[key] for key in ("label", "typeorm", "driver", "image", "module_unit")} | {
        "server": stack_manifest()["images"][info["image"]]}


def broker_info(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    broker = answers["message_broker"]
    if broker == "none":
        return None
    return dict(BROKERS[broker]) | {"server": stack_manifest()["images"][BROKERS[broker]["image"]]}


def database_port(answers: Mapping[str, Any]) -> int:
    return image_port(DATABASES[answers["database"]]["image"])


def database_url(answers: Mapping[str, Any], host: str, port: int, database_name: str) -> str:
    """A connection URL with the local development credentials."""
    scheme = DATABASES[answers["database"]]["scheme"]
    return f"{scheme}://{LOCAL_USER}:{LOCAL_PASSWORD}@{host}:{port}/{database_name}"


def local_database_url(answers: Mapping[str, Any], database_name: str) -> str:
    """The URL of one service's database on the docker compose server, seen from the host."""
    return database_url(answers, "localhost", database_port(answers), database_name)


def redis_url(host: str, port: int) -> str:
    return f"redis://{host}:{port}"


def broker_url(broker: str, host: str, port: int) -> str:
    """BROKER_URL of a broker other than Redis (Redis uses REDIS_URL)."""
    if broker == "rabbitmq":
        return f"amqp://{LOCAL_USER}:{LOCAL_PASSWORD}@{host}:{port}"
    if broker == "nats":
        return f"nats://{host}:{port}"
    return f"{host}:{port}"  # kafka: a bootstrap server list


def cluster_broker_url(broker: str) -> str | None:
    host = CLUSTER_BROKER_HOSTS.get(broker)
    return None if host is None else broker_url(broker, host, image_port(broker))


def servers(answers: Mapping[str, Any], database_name: str) -> list[Server]:
    """The compose and CI service containers, in start order: database, Redis, broker."""
    result: list[Server] = []
    if answers["database"] == "postgresql":
        result.append(Server(
            "postgresql", "database", "postgres", pinned_image("postgresql"), image_port("postgresql"),
            {"POSTGRES_USER": LOCAL_USER, "POSTGRES_PASSWORD": LOCAL_PASSWORD, "POSTGRES_DB": database_name},
            f"pg_isready -h 127.0.0.1 -U {LOCAL_USER}",  # the server's state; any database name will do
        ))
    else:
        result.append(Server(
            "mysql", "database", "mysql", pinned_image("mysql"), image_port("mysql"),
            {"MYSQL_USER": LOCAL_USER, "MYSQL_PASSWORD": LOCAL_PASSWORD, "MYSQL_DATABASE": database_name,
             "MYSQL_RANDOM_ROOT_PASSWORD": "yes"},
            "mysqladmin ping -h 127.0.0.1 --silent",  # exits 0 once the server answers TCP
        ))
    broker = answers["message_broker"]
    if needs_redis(answers):
        result.append(Server("redis", "redis", "redis", pinned_image("redis"), image_port("redis"), {},
                             "redis-cli -h 127.0.0.1 ping"))
    if broker == "rabbitmq":
        result.append(Server(
            "rabbitmq", "broker", "rabbitmq", pinned_image("rabbitmq"), image_port("rabbitmq"),
            {"RABBITMQ_DEFAULT_USER": LOCAL_USER, "RABBITMQ_DEFAULT_PASS": LOCAL_PASSWORD},
            "rabbitmq-diagnostics -q ping",
        ))
    elif broker == "nats":
        # The image's default configuration serves monitoring (and /healthz) on port 8222; JetStream
        # (the app's streams and durable consumers) is on only when asked for.
        result.append(Server("nats", "broker", "nats", pinned_image("nats"), image_port("nats"), {},
                             "wget -q -O /dev/null http://127.0.0.1:8222/healthz",
                             ("nats-server", "--config", "/etc/nats/nats-server.conf", "--jetstream")))
    elif broker == "kafka":
        # apache/kafka starts a single KRaft node advertising localhost:9092 by default.
        result.append(Server(
            "kafka", "broker", "kafka", pinned_image("kafka"), image_port("kafka"), {},
            f"/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:{image_port('kafka')}",
        ))
    return result


def compose_urls(answers: Mapping[str, Any], database_name: str) -> dict[str, str]:
    """The connection URLs an app container in docker compose uses (compose host names)."""
    by_role = {server.role: server for server in servers(answers, database_name)}
    database = by_role["database"]
    urls = {"DATABASE_URL": database_url(answers, database.host, database.port, database_name)}
    if "redis" in by_role:
        urls["REDIS_URL"] = redis_url(by_role["redis"].host, by_role["redis"].port)
    broker = by_role.get("broker")
    if broker is not None:
        port = KAFKA_INTERNAL_PORT if broker.key == "kafka" else broker.port
        urls["BROKER_URL"] = broker_url(broker.key, broker.host, port)
    return urls
