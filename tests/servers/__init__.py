"""Real servers for the app e2e tier: PostgreSQL, MariaDB (the `mysql` answer), Redis, RabbitMQ, NATS and Kafka.

Each server runs from the Debian packages of scripts/apt-packages.txt (Kafka: Tansu, see kafka_server.py), on
127.0.0.1 only, on a free port outside the kernel's ephemeral range, with its own data directory under a temporary
directory, and (except Kafka) with a created user `app` whose random password is in `url`. `start()` returns only
once the server answers a request made with its own client library (psycopg, PyMySQL, redis-py, pika, nats-py,
kafka-python: SELECT 1 as `app`, a login and PING, an AMQP login and Connection.Open, a NATS PING/PONG, Kafka
ApiVersions and Metadata); `stop()` signals the process it started, by PID, and waits for the port to close.
A stopped server starts again on the same port, with its data (Redis, NATS and Kafka keep none).

    with Servers("postgresql", "redis") as servers:           # starts both, in parallel
        env = {"DATABASE_URL": servers["postgresql"].url, "REDIS_URL": servers["redis"].url}
        servers["redis"].stop()                                 # e.g. to see /health/ready answer 503
        servers["redis"].start()

In a test module: `servers = servers_fixture("postgresql", "rabbitmq")` defines a session fixture named `servers`.

Modules: errors, ports (port reservation), process (child processes), base (the Server class), one module per
server (postgres, mariadb, redis_server, rabbitmq, nats_server, kafka_server: named so as not to shadow the client
libraries) and registry (kinds, start_servers, Servers, the fixture factory).
"""

from .base import Server
from .errors import ServerError, ServerUnavailable
from .kafka_server import KafkaServer, kafka_admin, kafka_api_versions, kafka_metadata_brokers, tansu_bin
from .mariadb import MariaDbServer
from .nats_server import NatsServer, nats_ping
from .ports import HOST, PortReservation, port_open
from .postgres import PostgresServer
from .process import IS_ROOT
from .rabbitmq import RabbitMqServer, amqp_login
from .redis_server import RedisServer, redis_whoami
from .registry import (
    ALIASES,
    SERVER_CLASSES,
    Servers,
    canonical_kind,
    kinds_for_answers,
    servers_fixture,
    start_or_skip,
    start_servers,
    unavailable,
)

__all__ = [
    "ALIASES",
    "HOST",
    "IS_ROOT",
    "SERVER_CLASSES",
    "KafkaServer",
    "MariaDbServer",
    "NatsServer",
    "PortReservation",
    "PostgresServer",
    "RabbitMqServer",
    "RedisServer",
    "Server",
    "ServerError",
    "ServerUnavailable",
    "Servers",
    "amqp_login",
    "canonical_kind",
    "kafka_admin",
    "kafka_api_versions",
    "kafka_metadata_brokers",
    "kinds_for_answers",
    "nats_ping",
    "port_open",
    "redis_whoami",
    "servers_fixture",
    "start_or_skip",
    "start_servers",
    "tansu_bin",
    "unavailable",
]
