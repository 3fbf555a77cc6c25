"""The generated NestJS app, end to end, against real servers (issue 4).

For each render below: npm install (not `npm ci`: see DESIGN.md §6), lint, typecheck, build, unit tests with the
coverage threshold, lint:arch where it applies (and a forbidden cross-module import must make it fail), the e2e
tests, the migrations through the TypeORM CLI; then the built app(s) start with the production start command and
are checked over HTTP: liveness, readiness (200, then 503 naming a stopped server), /metrics, 401/400/201, a
create/get/list round trip checked with SQL, on the GraphQL renders a mutation and query round trip checked
with SQL, UNAUTHENTICATED without a token and introspection refused in production, on the WebSocket renders a
Socket.IO handshake refused without a token and a pushed domain event, an integration event
published by one module or service and consumed by another, and a clean exit on SIGTERM. Two renders of different
adapters and databases (Render.fuzz) have their API fuzzed by schemathesis (issue 18, check_contract).

Renders (the issue's list): (1) monolith, PostgreSQL, Express, REST, GraphQL and WebSocket, Node 22; (2) modular
monolith, MySQL (MariaDB), Fastify, Redis cache, RabbitMQ, CQRS, REST, gRPC and WebSocket, Node 24; (3) microservices
x3, PostgreSQL, Fastify, NATS, REST and GraphQL, Node 24; (4) microservices x2, PostgreSQL, Fastify, Kafka, Node 24,
against Tansu, a Kafka-compatible broker (see tests/servers/); KafkaJS creates the topics on first use; (5) monolith,
PostgreSQL, Fastify, GraphQL only, Node 24.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import Renderer, answers_of, run
from node_runtime import install_with_fresh_metadata, npm_env
from servers import Servers, kafka_admin, kinds_for_answers, start_or_skip

from extensions.playbook import model
from extensions.playbook.data import load_data
from extensions.playbook.naming import camel_case, pascal_case, singular

pytestmark = pytest.mark.slow

JWT_SECRET = "e2e-harness-secret-0123456789-abcdefghijkl"
BASE_ANSWERS: dict[str, Any] = {"ci": "none", "include_app": True}


@dataclass
class Render:
    id: str
    answers: dict[str, Any]
    broker_round_trip: bool = True
    # Which server to stop for the 503 check, and the readiness key that must then be down.
    stop: tuple[str, str] = ("postgresql", "database")
    extra: dict[str, Any] = field(default_factory=dict)
    # The API fuzzed by schemathesis against the built app (check_contract).
    fuzz: bool = False


RENDERS = [
    # Socket.IO without Redis: one replica's events reach its own clients.
    Render("app-monolith-pg-express-ws", {
        "architecture": "monolith", "database": "postgresql", "http_adapter": "express", "cache": False,
        "message_broker": "none", "cqrs": False, "node_version": "22", "bounded_contexts": ["orders", "payments"],
        "api_styles": ["rest", "graphql", "websocket"],
    }, broker_round_trip=False, fuzz=True),
    # Socket.IO with Redis (the e2e suite runs two replicas) and the CQRS event bus.
    Render("app-modular-mysql-fastify-rabbitmq-grpc-ws", {
        "architecture": "modular-monolith", "database": "mysql", "http_adapter": "fastify", "cache": True,
        "message_broker": "rabbitmq", "cqrs": True, "node_version": "24",
        "bounded_contexts": ["orders", "payments", "shipping"], "api_styles": ["rest", "grpc", "websocket"],
    }, stop=("mysql", "database"), fuzz=True),
    # gRPC between services: each consumer reads the record its event names from the owner (calls.py).
    Render("app-microservices-pg-fastify-nats-grpc", {
        "architecture": "microservices", "database": "postgresql", "http_adapter": "fastify", "cache": False,
        "message_broker": "nats", "cqrs": False, "node_version": "24",
        "bounded_contexts": ["catalog", "orders", "payments"], "api_styles": ["rest", "graphql", "grpc"],
    }),
    # GraphQL without REST: no controller, no OpenAPI, GraphQL carries the e2e suite's requests.
    Render("app-monolith-pg-fastify-graphql-only", {
        "architecture": "monolith", "database": "postgresql", "http_adapter": "fastify", "cache": False,
        "message_broker": "none", "cqrs": False, "node_version": "24", "bounded_contexts": ["orders", "payments"],
        "api_styles": ["graphql"],
    }, broker_round_trip=False),
    Render("app-microservices-kafka", {
        "architecture": "microservices", "database": "postgresql", "http_adapter": "fastify", "cache": False,
        "message_broker": "kafka", "cqrs": False, "node_version": "24",
        "bounded_contexts": ["orders", "billing"],
    }),
]


# ------------------------------------------------------------------------------------------------ helpers


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(issuer: str, audience: str, roles: list[str] | None = None) -> str:
    """An HS256 token as the generated app's `auth: jwt` expects it."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = {"sub": "e2e", "iss": issuer, "aud": audience, "iat": now, "exp": now + 600, "roles": roles or []}
    body = b64url(json.dumps(claims).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10,
         headers: dict[str, str] | None = None) -> Response:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def eventually(probe, timeout: float = 20.0, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except (OSError, urllib.error.URLError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


def step(name: str, result: subprocess.CompletedProcess[str], timings: dict[str, float], began: float) -> None:
    timings[name] = round(time.monotonic() - began, 1)
    assert result.returncode == 0, (
        f"`npm run {name}` failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}")


def npm(project: Path, env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return run(["npm", *args], cwd=project, env=env, timeout=timeout)


def table_ref(render: Render, module: str) -> str:
    """The SQL name of a module's table (schema-qualified for the modular monolith on PostgreSQL)."""
    table = module.replace("-", "_")
    if render.answers["database"] == "postgresql":
        if render.answers["architecture"] == "modular-monolith":
            return f'"{table}"."{table}"'
        return f'"{table}"'
    return f"`{table}`"


class App:
    """One built service started with its production start command (`npm run start:prod`'s command)."""

    def __init__(self, project: Path, env: dict[str, str], service: str | None, grpc_port: int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project / f"app-{service or 'main'}.log"
        scripts = json.loads((project / "package.json").read_text(encoding="utf-8"))["scripts"]
        command = scripts["start:prod"]
        # GRPC_PORT too: several services run side by side (the apps without gRPC ignore it)
        self.grpc_port = grpc_port or free_port()
        full_env = {**os.environ, **env, "PORT": str(self.port), "GRPC_PORT": str(self.grpc_port)}
        if service:
            full_env["SERVICE"] = service
        self.handle = self.log.open("wb")
        # `exec` so that SIGTERM reaches node itself, as in the container (CMD ["dist/main.js"]).
        self.start = lambda: subprocess.Popen(["sh", "-c", f"exec {command}"], cwd=project, env=full_env,
                                              stdout=self.handle, stderr=subprocess.STDOUT)
        self.process = self.start()

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a node failure ends a pod: no shutdown hook runs."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        self.process = self.start()
        self.wait_live()

    def wait_live(self, timeout: float = 60) -> None:
        def live() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the app exited with {self.process.returncode}:\n{self.tail()}")
            return http("GET", f"{self.url}/health/live", timeout=2).status == 200
        eventually(live, timeout)

    def tail(self, size: int = 4000) -> str:
        if not self.handle.closed:
            self.handle.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-size:]

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        self.handle.close()
        return self.process.returncode


# ------------------------------------------------------------------------------------------------ the test


@pytest.mark.parametrize("render", RENDERS, ids=[r.id for r in RENDERS])
def test_generated_app(render: Render, renderer: Renderer, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    answers = {**BASE_ANSWERS, **render.answers}
    project = renderer.render(render.id, answers)
    env = npm_env(str(answers["node_version"]))
    microservices = answers["architecture"] == "microservices"
    contexts: list[str] = answers["bounded_contexts"]

    began = time.monotonic()
    installed = install_with_fresh_metadata(
        lambda extra: npm(project, {**env, **extra}, "install", "--no-audit", "--no-fund"))
    step("install", installed, timings, began)
    grpc = "grpc" in answers.get("api_styles", [])
    for name in ("lint", "typecheck", "build", "test:cov") + (("proto:lint",) if grpc else ()):
        began = time.monotonic()
        step(name, npm(project, env, "run", name), timings, began)
    if grpc:
        # buf lint refuses a contract that breaks its rules (here a message name not in PascalCase).
        package_dir = next((project / "proto").glob("*/*/v1"))
        bad = package_dir / "bad.proto"
        package = ".".join(package_dir.relative_to(project / "proto").parts)
        bad.write_text(f'syntax = "proto3";\n\npackage {package};\n\nmessage bad_name {{}}\n', encoding="utf-8")
        try:
            refused = npm(project, env, "run", "proto:lint")
        finally:
            bad.unlink()
        assert refused.returncode != 0 and "bad_name" in refused.stdout + refused.stderr, refused.stdout
    assert f'"lines": {answers.get("coverage_threshold", 80)}' in (project / "jest.config.json").read_text()
    # The exports of the README's scripts table, without any server or configuration (env: Node only): each
    # service's OpenAPI document with its REST paths, and the GraphQL schema equal to the committed one.
    scripts = json.loads((project / "package.json").read_text(encoding="utf-8"))["scripts"]
    if "openapi:export" in scripts:
        step("openapi:export", npm(project, env, "run", "openapi:export"), timings, time.monotonic())
        files = sorted((project / "openapi").glob("*.json")) if microservices else [project / "openapi.json"]
        assert len(files) == (len(contexts) if microservices else 1), files
        for file in files:
            paths = json.loads(file.read_text(encoding="utf-8"))["paths"]
            assert any(path.startswith("/api/v1/") for path in paths), (file, list(paths)[:5])
    if "graphql:schema" in scripts:
        schemas = {path: path.read_bytes() for path in project.glob("**/schema.gql")
                   if "node_modules" not in path.parts}
        step("graphql:schema", npm(project, env, "run", "graphql:schema"), timings, time.monotonic())
        assert schemas and all(path.read_bytes() == text for path, text in schemas.items()), "schema changed"

    if answers["architecture"] == "modular-monolith":
        began = time.monotonic()
        step("lint:arch", npm(project, env, "run", "lint:arch"), timings, began)
        adapter = f"TypeOrm{contexts[0].title()}Repository"
        adapter_file = f"infrastructure/typeorm-{contexts[0][:-1]}.repository"
        modules = project / "src" / "modules"
        # One module reaching into another module's internals; a use case reaching past its port.
        for intruder, source, rule in [
            (modules / contexts[1] / "intruder.ts", f"../{contexts[0]}/{adapter_file}", "module-internals"),
            (modules / contexts[0] / "application" / "adapter.ts", f"../{adapter_file}", "layers-inward"),
        ]:
            intruder.write_text(f"import {{ {adapter} }} from '{source}';\nexport const leak = {adapter};\n",
                                encoding="utf-8")
            try:
                forbidden = npm(project, env, "run", "lint:arch")
            finally:
                intruder.unlink()
            assert forbidden.returncode != 0, f"lint:arch accepted {intruder.relative_to(project)} ({rule})"
            assert rule in forbidden.stdout + forbidden.stderr

    servers = start_or_skip(Servers(*kinds_for_answers(answers)))
    try:
        db_kind = "postgresql" if answers["database"] == "postgresql" else "mysql"
        database = servers[db_kind]
        app_env = {
            "NODE_ENV": "production", "LOG_LEVEL": "info", "RATE_LIMIT_PER_MINUTE": "100000",
            "CORS_ORIGINS": "http://localhost:5173", "JWT_SECRET": JWT_SECRET,
            "JWT_ISSUER": "https://issuer.e2e", "JWT_AUDIENCE": "e2e",
            "OTEL_SERVICE_NAME": "e2e",
        }
        if "rest" in answers.get("api_styles", ["rest"]):
            app_env["SWAGGER_ENABLED"] = "true"  # the OpenAPI document, which check_http reads
        if "redis" in servers:
            app_env["REDIS_URL"] = servers["redis"].url
        broker = answers["message_broker"]
        if broker in ("rabbitmq", "nats", "kafka"):
            app_env["BROKER_URL"] = servers[broker].url
        services = contexts if microservices else [None]
        databases = {svc: database.create_database(f"e2e_{(svc or 'app').replace('-', '_')}") for svc in services}

        # The e2e tests of the generated project, against the same servers.
        began = time.monotonic()
        e2e_env = {**env, **app_env, "NODE_ENV": "test", "LOG_LEVEL": "warn"}
        if microservices:
            for svc in services:
                result = npm(project, {**e2e_env, "DATABASE_URL": databases[svc]}, "run", "test:e2e", "--",
                             f"test/{svc}.e2e-spec.ts")
                step("test:e2e", result, timings, began)
        else:
            step("test:e2e", npm(project, {**e2e_env, "DATABASE_URL": databases[None]}, "run", "test:e2e"),
                 timings, began)

        # Migrations through the TypeORM CLI (on fresh databases), then the production start.
        # JetStream keeps what the generated e2e tests published, naming records the fresh databases do not
        # hold: the production start begins without those streams, as with the databases.
        if broker == "nats":
            servers["nats"].delete_streams()
        apps: dict[str | None, App] = {}
        for svc in services:
            fresh = database.create_database(f"prod_{(svc or 'app').replace('-', '_')}")
            databases[svc] = fresh
            svc_env = {**env, **app_env, "DATABASE_URL": fresh, **({"SERVICE": svc} if svc else {})}
            step("migration:run", npm(project, svc_env, "run", "migration:run"), timings, time.monotonic())
        # Each service finds the services it calls over gRPC on this machine (the model's grpc_calls).
        grpc_ports = {svc: free_port() for svc in services}
        calls = model.build(answers_of(project)).grpc_calls
        for svc in services:
            urls = {c["env_var"]: f"127.0.0.1:{grpc_ports[c['callee']]}" for c in calls if c["caller"] == svc}
            apps[svc] = App(project, {**env, **app_env, "DATABASE_URL": databases[svc], **urls}, svc, grpc_ports[svc])
        try:
            began = time.monotonic()
            for app in apps.values():
                app.wait_live()
            timings["start"] = round(time.monotonic() - began, 1)
            if "rest" in answers.get("api_styles", ["rest"]):
                check_http(render, apps, databases, database, contexts, microservices)
            if "graphql" in answers.get("api_styles", []):
                check_graphql(apps, databases, database, render, contexts, microservices)
            if "websocket" in answers.get("api_styles", []):
                check_websocket(project, env, apps, contexts, microservices)
            if render.fuzz:
                began = time.monotonic()
                check_contract(project, answers, next(iter(apps.values())))
                timings["fuzz"] = round(time.monotonic() - began, 1)
            if render.broker_round_trip:
                check_round_trip(apps, database, databases, contexts, microservices, bool(calls))
            if answers.get("cache") and "rest" in answers.get("api_styles", ["rest"]):
                check_cache(render, apps, databases, database, contexts, microservices)
            broker = answers["message_broker"]
            if broker in ("rabbitmq", "nats", "kafka"):
                began = time.monotonic()
                if broker != "kafka":
                    check_events_survive_broker_outage(render, apps, servers, database, databases, contexts,
                                                       microservices)
                if broker == "rabbitmq":
                    check_poison_event(project, env, render, servers, database, databases, contexts, microservices)
                elif broker == "nats":
                    check_poison_event_nats(project, servers, database, databases, contexts, microservices)
                else:
                    check_poison_event_kafka(servers, database, databases, contexts, microservices)
                check_failed_handler_retried(project, env, render, servers, database, databases, contexts,
                                             microservices)
                check_consumer_killed_mid_handler(project, env, render, apps, servers, database, databases, contexts,
                                                  microservices)
                timings["delivery faults"] = round(time.monotonic() - began, 1)
            if broker not in ("none", "rabbitmq", "nats"):
                # (RabbitMQ and NATS: the outage check above shows readiness staying up without the broker.)
                check_ready_without_broker(render, apps, servers)
            if answers.get("cache") and answers.get("message_broker") != "redis":
                check_ready_without_redis(render, apps, servers)
            check_readiness_names_stopped_server(render, apps, servers)
        finally:
            codes = {svc: app.terminate() for svc, app in apps.items()}
        # Nest's shutdown hooks close the server and connections, then re-raise the signal: -SIGTERM.
        assert all(code in (0, -signal.SIGTERM) for code in codes.values()), (
            f"SIGTERM did not end the app cleanly: {codes}\n"
            + "\n".join(app.tail(1500) for app in apps.values()))
    finally:
        servers.cleanup()
    timings["total"] = round(time.monotonic() - started, 1)
    print(f"\n{render.id} timings (s): {json.dumps(timings)}")
    report = Path(tempfile.gettempdir()) / "app-e2e-timings"
    report.mkdir(exist_ok=True)
    (report / f"{render.id}.json").write_text(json.dumps(timings), encoding="utf-8")


# A Socket.IO client run by the project's Node, as a browser connects (WebSocket only, token in the
# handshake's auth payload): refused without a token; with one, it joins the context's room, creates a
# record over REST and prints the event the server pushed.
SOCKET_CLIENT = """
import { io } from 'socket.io-client';
const [url, path, token, subscribe, event, api] = process.argv.slice(2);
const open = (auth) => new Promise((resolve, reject) => {
  const socket = io(url, { path, transports: ['websocket'], auth, reconnection: false });
  socket.once('connect', () => resolve(socket));
  socket.once('connect_error', reject);
});
const refused = await open({}).then((socket) => { socket.close(); return null; }, (error) => error.message);
const socket = await open({ token });
const ack = await socket.timeout(5000).emitWithAck(subscribe);
const pushed = new Promise((resolve, reject) => {
  socket.once(event, resolve);
  setTimeout(() => reject(new Error(`no ${event} within 5 s`)), 5000);
});
const response = await fetch(api, {
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'socket' }),
});
const created = await response.json();
console.log(JSON.stringify({ refused, ack, created, pushed: await pushed }));
socket.close();
"""


def check_websocket(project: Path, env: dict[str, str], apps: dict[str | None, App], contexts: list[str],
                    microservices: bool) -> None:
    """The built app's Socket.IO endpoint at the path the route sends it (data/api.yml, /<context> per
    microservice), with the handshake authenticated and each context's room fed by its domain events."""
    script = project / "socket-client.mjs"
    script.write_text(SOCKET_CLIENT, encoding="utf-8")
    base_path = load_data("api")["websocket"]["path"]
    token = jwt("https://issuer.e2e", "e2e")
    try:
        for context in contexts:
            app = apps[context if microservices else None]
            path = f"{base_path}/{context}" if microservices else base_path
            result = run(["node", script.name, app.url, path, token, f"{context}.subscribe", f"{context}.created",
                          f"{app.url}/api/v1/{context}"], cwd=project, env={**os.environ, **env}, timeout=60)
            assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{app.tail()}"
            seen = json.loads(result.stdout.strip().splitlines()[-1])
            assert seen["refused"] == "A bearer token is required.", seen
            assert seen["ack"] == {"room": context}, seen
            assert seen["pushed"] == {"id": seen["created"]["id"], "name": "socket",
                                      "createdAt": seen["created"]["createdAt"]}, seen
    finally:
        script.unlink()


def check_http(render: Render, apps: dict[str | None, App], databases: dict[str | None, str], database: Any,
               contexts: list[str], microservices: bool) -> None:
    token = jwt("https://issuer.e2e", "e2e")
    for index, context in enumerate(contexts):
        app = apps[context if microservices else None]
        api = f"{app.url}/api/v1/{context}"
        ready = http("GET", f"{app.url}/health/ready")
        assert ready.status == 200, ready.body
        assert http("GET", api).status == 401
        unauthorised = http("POST", api, {"name": "x"})
        assert unauthorised.status == 401
        assert unauthorised.headers["content-type"].startswith("application/problem+json")
        invalid = http("POST", api, {"name": 12, "extra": True}, token)
        assert invalid.status == 400, invalid.body
        assert invalid.headers["content-type"].startswith("application/problem+json")
        problem = invalid.json()
        assert problem["status"] == 400 and problem["title"] == "Bad Request" and "stack" not in invalid.body.decode()
        created = http("POST", api, {"name": f"{context} e2e"}, token)
        assert created.status == 201, created.body
        item = created.json()
        fetched = http("GET", f"{api}/{item['id']}", token=token)
        assert fetched.status == 200 and fetched.json()["name"] == f"{context} e2e"
        listed = http("GET", f"{api}?page=1&limit=50", token=token)
        assert listed.status == 200 and item["id"] in [row["id"] for row in listed.json()["items"]]
        db_name = databases[context if microservices else None].rsplit("/", 1)[1]
        rows = database.query(f"SELECT name FROM {table_ref(render, context)} WHERE id = '{item['id']}'", db_name)
        assert rows == [[f"{context} e2e"]], rows
        metrics = http("GET", f"{app.url}/metrics")
        assert metrics.status == 200
        text = metrics.body.decode()
        assert "http_request_duration_seconds_bucket" in text
        assert f'route="/api/v1/{context}"' in text and 'status_code="201"' in text
        unobserved = [path for path in ("/health/live", "/health/ready", "/metrics") if f'route="{path}"' in text]
        assert unobserved == [], f"probes and scrapes are in the HTTP histogram: {unobserved}"
        if index == 0:
            document = http("GET", f"{app.url}/docs-json")
            assert document.status == 200 and f"/api/v1/{context}" in document.json()["paths"], document.body[:300]
            check_request_logs(app, f"{api}/{item['id']}", token, f"e2e-{context}-{index}")
            check_security_headers(app, api)


# schemathesis (requirements-dev.txt) against the built app: the seed, budgets and checks of the generated
# repository's contract test (api.yml `contract`).
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
FUZZ = load_data("api")["contract"]


def fuzz(target: str, url: str, budget: int, *options: str, cwd: Path) -> None:
    command = [str(SCHEMATHESIS), "run", target, "--url", url, "--seed", str(FUZZ["seed"]), "--max-time", str(budget),
               "--max-examples", str(FUZZ["max_examples"]), "--generation-database", "none", "--request-timeout", "10",
               "--no-color", *options]
    # in the render, where schemathesis keeps its state (.schemathesis/), not in this repository
    result = subprocess.run(command, capture_output=True, text=True, timeout=budget + 120, cwd=cwd)
    assert result.returncode == 0, f"schemathesis found failures ({' '.join(command[2:])}):\n{result.stdout[-6000:]}"
    assert "Test cases:" in result.stdout, result.stdout[-2000:]


def check_contract(project: Path, answers: dict[str, Any], app: App) -> None:
    """The REST API fuzzed from its own OpenAPI document, with a token (every phase, stateful included) and without;
    the GraphQL schema as committed, with a token: no server error, every status and media type documented, every
    body matching its schema, no invalid input accepted, no operation open without a token."""
    token = jwt("https://issuer.e2e", "e2e", ["admin"])
    budget = FUZZ["budget_s"]
    document = f"{app.url}/{load_data('api')['http']['openapi_document']}"
    fuzz(document, app.url, budget["token"], "-H", f"Authorization: Bearer {token}", "--checks", "all",
         "--exclude-checks", ",".join(FUZZ["excluded_checks"]), cwd=project)
    fuzz(document, app.url, budget["anonymous"], "--checks", ",".join(FUZZ["anonymous_checks"]),
         "--phases", "examples,coverage,fuzzing", cwd=project)
    if "graphql" in answers["api_styles"]:
        service = model.build(answers_of(project)).services[0]
        fuzz(str(project / service["graphql_schema"]), app.url + service["graphql_path"], budget["graphql"],
             "-H", f"Authorization: Bearer {token}", "--checks", "not_a_server_error", cwd=project)


def check_graphql(apps: dict[str | None, App], databases: dict[str | None, str], database: Any, render: Render,
                  contexts: list[str], microservices: bool) -> None:
    """The production-started app's GraphQL endpoint with a plain HTTP client: a mutation and a query round
    trip checked with SQL, UNAUTHENTICATED without a token, introspection refused in production."""
    token = jwt("https://issuer.e2e", "e2e")
    for context in contexts:
        app = apps[context if microservices else None]
        url = f"{app.url}/graphql/{context}" if microservices else f"{app.url}/graphql"
        entity, field = pascal_case(singular(context)), camel_case(singular(context))
        create = f"mutation {{ create{entity}(input: {{name: \"{context} graphql\"}}) {{ id name }} }}"
        created = http("POST", url, {"query": create}, token)
        assert created.status == 200, created.body
        record = created.json()["data"][f"create{entity}"]
        read = f"{{ {field}(id: \"{record['id']}\") {{ name }} }}"
        fetched = http("POST", url, {"query": read}, token)
        assert fetched.json()["data"] == {field: {"name": f"{context} graphql"}}, fetched.body
        db_name = databases[context if microservices else None].rsplit("/", 1)[1]
        rows = database.query(f"SELECT name FROM {table_ref(render, context)} WHERE id = '{record['id']}'", db_name)
        assert rows == [[f"{context} graphql"]], rows
        anonymous = http("POST", url, {"query": read}).json()
        assert anonymous["data"] is None and anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        introspection = http("POST", url, {"query": "{ __schema { types { name } } }"}, token)
        assert introspection.status == 400 and "introspection" in introspection.body.decode().lower(), (
            introspection.body)
        if "rest" not in render.answers["api_styles"]:
            # REST not chosen: no controller answers, and no OpenAPI document is served.
            assert http("GET", f"{app.url}/api/v1/{context}", token=token).status == 404
            assert http("GET", f"{app.url}/docs-json").status == 404


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def check_security_headers(app: App, api: str) -> None:
    """What the document says of helmet: its headers on every response, not-found and errors included."""
    responses = {"200": http("GET", f"{app.url}/health/live"), "401": http("GET", api),
                 "404": http("GET", f"{app.url}/api/v1/no-such-route")}
    for expected, response in responses.items():
        headers = {name.lower(): value for name, value in response.headers.items()}
        assert str(response.status) == expected, (expected, response.status)
        assert headers.get("x-content-type-options") == "nosniff", (expected, headers)
        assert headers.get("x-frame-options") == "SAMEORIGIN", (expected, headers)
        assert "default-src 'self'" in headers.get("content-security-policy", ""), (expected, headers)
        assert headers.get("strict-transport-security", "").startswith("max-age="), (expected, headers)
        assert "x-powered-by" not in headers, (expected, headers)


def check_request_logs(app: App, url: str, token: str, request_id: str) -> None:
    """What the document says of the logs: one JSON line per request, under the caller's well-formed
    x-request-id (echoed) or a new UUID, credentials redacted, health and metrics requests not logged."""
    traced = http("GET", url, token=token, headers={"X-Request-Id": request_id})
    assert traced.status == 200 and traced.headers.get("x-request-id") == request_id, traced.headers
    fresh = http("GET", url, token=token, headers={"X-Request-Id": "not a valid id"})
    assert UUID.match(fresh.headers.get("x-request-id", "")), fresh.headers

    def request_lines() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in app.tail(10_000_000).splitlines() if line.startswith("{")]
        # pino-http's request logs; other lines written during a request carry `req` only
        return [line for line in lines if isinstance(line.get("req"), dict) and isinstance(line.get("res"), dict)]
    fresh_id = fresh.headers["x-request-id"]
    lines = eventually(lambda: [line for line in request_lines() if line["req"].get("id") == fresh_id])
    assert len(lines) == 1, f"one log line per request, got {len(lines)}"
    mine = [line for line in request_lines() if line["req"].get("id") == request_id]
    assert len(mine) == 1 and mine[0]["res"]["statusCode"] == 200, mine
    assert mine[0]["req"]["headers"]["authorization"] == "[redacted]", mine[0]["req"]["headers"]
    assert token not in app.tail(10_000_000)
    quiet = [line["req"].get("url") for line in request_lines()
             if str(line["req"].get("url", "")).split("?")[0] in ("/health/live", "/health/ready", "/metrics")]
    assert quiet == [], f"health and metrics requests were logged: {quiet[:3]}"


def check_round_trip(apps: dict[str | None, App], database: Any, databases: dict[str | None, str],
                     contexts: list[str], microservices: bool, grpc_calls: bool = False) -> None:
    """The create above published `<context>.created`; the next context consumed it into its inbox.
    With gRPC calls between services, the consumer read the record from its owner first: the inbox
    keeps the owner's `updatedAt`, which the event does not carry, and the owner's log shows the call
    authenticated with the consumer's service token."""
    for index, producer in enumerate(contexts):
        consumer = contexts[(index + 1) % len(contexts)]
        db_name = databases[consumer if microservices else None].rsplit("/", 1)[1]

        def consumed(producer: str = producer, db_name: str = db_name) -> list[list[str]]:
            return database.query(
                f"SELECT consumer, payload FROM integration_inbox WHERE type = '{producer}.created'", db_name)
        rows = eventually(consumed, 30)
        assert consumer in [row[0] for row in rows], rows
        payloads = [json.loads(row[1]) for row in rows if row[0] == consumer]
        if grpc_calls:
            assert all("updatedAt" in p for p in payloads), (
                f"{consumer} did not read {producer}'s record over gRPC: {payloads}\n{apps[consumer].tail(2000)}")
            assert "could not read" not in apps[consumer].tail(20000)
        else:
            assert not any("updatedAt" in p for p in payloads), payloads


def pending_events(app: App) -> int:
    """The producer's outbox backlog as /metrics reports it (outbox_pending_events)."""
    text = http("GET", f"{app.url}/metrics").body.decode()
    found = re.search(r"^outbox_pending_events (\d+)$", text, re.M)
    assert found, "no outbox_pending_events on /metrics"
    return int(found.group(1))


def assert_reported_not_failing(app: App, name: str) -> Response:
    """A stopped dependency `name` is reported in readiness (`connected` false, the `<name>_connected` gauge
    at 0) while readiness still answers 200: the service serves without it (issue 19)."""
    def reported() -> Response | None:
        response = http("GET", f"{app.url}/health/ready", timeout=15)
        details = response.json().get("details", {}) if response.body else {}
        return response if details.get(name, {}).get("connected") is False else None
    response = eventually(reported, 30)
    assert response.status == 200, response.body
    metrics = http("GET", f"{app.url}/metrics").body.decode()
    assert re.search(rf"^{name}_connected 0$", metrics, re.M), metrics[-2000:]
    return response


def assert_ready_without_broker(app: App) -> None:
    """The broker (a probe's fresh connection) is reported but never fails readiness: writes wait in the outbox."""
    assert_reported_not_failing(app, "broker")


def check_ready_without_broker(render: Render, apps: dict[str | None, App], servers: Servers) -> None:
    broker = render.answers["message_broker"]
    app = next(iter(apps.values()))
    servers[broker].stop()
    try:
        assert_ready_without_broker(app)
    finally:
        servers[broker].start()
    eventually(lambda: http("GET", f"{app.url}/health/ready", timeout=15).json()["details"]["broker"]["connected"]
               or None, 60)


def check_events_survive_broker_outage(render: Render, apps: dict[str | None, App], servers: Servers,
                                       database: Any, databases: dict[str | None, str], contexts: list[str],
                                       microservices: bool) -> None:
    """Issue 19, the transactional outbox: with the broker stopped, creates still answer 201 and their
    events wait in the outbox; once the broker is back the relay publishes them and the consumer records
    each one, once, in its inbox. None is lost."""
    producer, consumer = contexts[0], contexts[1 % len(contexts)]
    app = apps[producer if microservices else None]
    token = jwt("https://issuer.e2e", "e2e")
    broker = render.answers["message_broker"]
    servers[broker].stop()
    try:
        ids = []
        for n in range(3):
            created = http("POST", f"{app.url}/api/v1/{producer}", {"name": f"during the outage {n}"}, token)
            assert created.status == 201, f"a create failed while the broker was down: {created.body!r}"
            ids.append(created.json()["id"])
        waiting = pending_events(app)
        assert waiting >= 3, f"{waiting} events pending in the outbox during the outage, expected at least 3"
        assert_ready_without_broker(app)
    finally:
        servers[broker].start()
    db_name = databases[consumer if microservices else None].rsplit("/", 1)[1]

    def delivered() -> list[str] | None:
        rows = database.query(f"SELECT payload FROM integration_inbox WHERE consumer = '{consumer}' "
                              f"AND type = '{producer}.created'", db_name)
        found = [json.loads(row[0])["id"] for row in rows]
        return found if all(i in found for i in ids) else None
    try:
        found = eventually(delivered, 60, 0.5)
    except AssertionError:
        raise AssertionError(f"events created during the outage never reached {consumer}\n{app.tail(3000)}") from None
    assert all(found.count(i) == 1 for i in ids), found
    eventually(lambda: pending_events(app) == 0 or None, 20)


# Publishes a message that breaks the event's schema straight to the consumer's queue, as Nest's RMQ
# client frames an event, then waits for it in the dead-letter queue and prints its reason header.
POISON_CLIENT = """
const amqp = require('amqplib');
const [url, queue, pattern] = process.argv.slice(2);
const pause = () => new Promise((resolve) => setTimeout(resolve, 200));
(async () => {
  const connection = await amqp.connect(url);
  connection.on('error', () => undefined);
  const channel = await connection.createConfirmChannel();
  const poison = { id: 'poison-1', type: pattern, source: 'e2e', occurredAt: 'yesterday', data: {} };
  channel.sendToQueue(queue, Buffer.from(JSON.stringify({ pattern, data: poison })), { persistent: true });
  await channel.waitForConfirms();
  // The app declares the dead-letter queue; a check of a queue that does not exist closes its channel.
  for (let attempt = 0; attempt < 100; attempt++, await pause()) {
    const probe = await connection.createChannel();
    probe.on('error', () => undefined);
    const dead = await probe.checkQueue(`${queue}.dead-letter`).then(
      () => probe.get(`${queue}.dead-letter`, { noAck: true }),
      () => false,
    );
    if (dead) {
      console.log(JSON.stringify({ body: JSON.parse(dead.content.toString()), headers: dead.properties.headers }));
      break;
    }
    await probe.close().catch(() => undefined);
  }
  await connection.close();
})();
"""


def check_poison_event(project: Path, env: dict[str, str], render: Render, servers: Servers, database: Any,
                       databases: dict[str | None, str], contexts: list[str], microservices: bool) -> None:
    """Issue 19: an event that breaks its schema goes to the consumer queue's dead letter with the reason,
    and leaves no inbox row."""
    producer, consumer = contexts[0], contexts[1 % len(contexts)]
    project_slug = answers_of(project)["project_slug"]
    queue = f"{project_slug}.{consumer if microservices else 'events'}"
    script = project / "poison-client.cjs"
    script.write_text(POISON_CLIENT, encoding="utf-8")
    try:
        result = run(["node", script.name, servers["rabbitmq"].url, queue, f"{producer}.created"], cwd=project,
                     env={**os.environ, **env}, timeout=60)
    finally:
        script.unlink()
    assert result.returncode == 0 and result.stdout.strip(), f"{result.stdout}\n{result.stderr}"
    dead = json.loads(result.stdout.strip().splitlines()[-1])
    assert dead["body"]["data"]["id"] == "poison-1", dead
    reason = dead["headers"]["x-dead-letter-reason"]
    assert "occurredAt" in reason and "data.id" in reason, reason
    db_name = databases[consumer if microservices else None].rsplit("/", 1)[1]
    rows = database.query("SELECT id FROM integration_inbox WHERE id = 'poison-1'", db_name)
    assert rows == [], rows


# Sends one event to a RabbitMQ queue as Nest's RMQ client frames it, and waits for the broker's confirm.
SEND_CLIENT = """
const amqp = require('amqplib');
const [url, queue, event] = process.argv.slice(2);
(async () => {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const data = JSON.parse(event);
  channel.sendToQueue(queue, Buffer.from(JSON.stringify({ pattern: data.type, data })), { persistent: true });
  await channel.waitForConfirms();
  await connection.close();
})();
"""


def check_failed_handler_retried(project: Path, env: dict[str, str], render: Render, servers: Servers,
                                 database: Any, databases: dict[str | None, str], contexts: list[str],
                                 microservices: bool) -> None:
    """Issue 19, at-least-once consumption: a valid event whose handler fails (the consumer's database is
    stopped) is not acknowledged or committed; it is handled again after a back-off and, once the database
    is back, recorded in the inbox exactly once."""
    producer, consumer = contexts[0], contexts[1 % len(contexts)]
    broker = render.answers["message_broker"]
    event = valid_event(producer, "retried")
    event_id = event["id"]
    db_kind = "postgresql" if render.answers["database"] == "postgresql" else "mysql"
    servers[db_kind].stop()
    try:
        send_event(project, env, render, servers, consumer, event, microservices)
        time.sleep(2.5)  # at least one failed attempt while the database is down
    finally:
        servers[db_kind].start()
    assert_handled_once(database, databases[consumer if microservices else None], event_id, consumer,
                        f"the event whose handler failed was never handled again ({broker})")


def valid_event(producer: str, prefix: str) -> dict[str, Any]:
    """An envelope of `<producer>.created` that the consumer's schema accepts, with a fresh id."""
    event_id = f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {"id": event_id, "type": f"{producer}.created", "source": producer, "occurredAt": stamp,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "data": {"id": event_id, "name": prefix, "createdAt": stamp}}


def send_event(project: Path, env: dict[str, str], render: Render, servers: Servers, consumer: str,
               event: dict[str, Any], microservices: bool) -> None:
    """Sends `event` as its publisher would: to the consumer's queue (RabbitMQ), the event type's JetStream
    subject (NATS) or its topic (Kafka)."""
    if render.answers["message_broker"] == "rabbitmq":
        queue = f"{answers_of(project)['project_slug']}.{consumer if microservices else 'events'}"
        script = project / "send-client.cjs"
        script.write_text(SEND_CLIENT, encoding="utf-8")
        try:
            sent = run(["node", script.name, servers["rabbitmq"].url, queue, json.dumps(event)], cwd=project,
                       env={**os.environ, **env}, timeout=60)
        finally:
            script.unlink()
        assert sent.returncode == 0, sent.stderr
    elif render.answers["message_broker"] == "nats":
        nats_publish(servers["nats"].url, event["type"], json.dumps(event).encode())
    else:
        from kafka import KafkaProducer
        sender = KafkaProducer(bootstrap_servers=servers["kafka"].url, allow_auto_create_topics=False)
        try:
            sender.send(event["type"], json.dumps(event).encode()).get(timeout=30)
        finally:
            sender.close()


def assert_handled_once(database: Any, url: str, event_id: str, consumer: str, message: str) -> None:
    """The consumer's inbox holds the event, once per consumer."""
    db_name = url.rsplit("/", 1)[1]

    def recorded() -> list[list[str]] | None:
        return database.query(f"SELECT consumer FROM integration_inbox WHERE id = '{event_id}'", db_name) or None
    try:
        rows = eventually(recorded, 60, 0.5)
    except AssertionError:
        raise AssertionError(message) from None
    time.sleep(2)  # a second effect would come from a redelivery right after the first
    consumers = [row[0] for row in database.query(
        f"SELECT consumer FROM integration_inbox WHERE id = '{event_id}'", db_name)]
    assert consumer in consumers and len(consumers) == len(set(consumers)), (rows, consumers)


def check_consumer_killed_mid_handler(project: Path, env: dict[str, str], render: Render, apps: dict[str | None, App],
                                      servers: Servers, database: Any, databases: dict[str | None, str],
                                      contexts: list[str], microservices: bool) -> None:
    """Issue 19: the consumer process is killed (SIGKILL) while its handler waits inside its transaction
    (the test holds a lock on the inbox table), before the commit and the acknowledgement. After the
    restart the event is delivered again and has one effect."""
    producer, consumer = contexts[0], contexts[1 % len(contexts)]
    event = valid_event(producer, "killed")
    url = databases[consumer if microservices else None]
    app = apps[consumer if microservices else None]
    postgres = render.answers["database"] == "postgresql"
    if postgres:
        import psycopg
        locker: Any = psycopg.connect(url)
        locker.execute("LOCK TABLE integration_inbox IN ACCESS EXCLUSIVE MODE")
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND query ILIKE '%integration_inbox%'")
    else:
        import pymysql
        parts = urllib.parse.urlsplit(url)
        locker = pymysql.connect(host=parts.hostname, port=parts.port, user=parts.username,
                                 password=urllib.parse.unquote(parts.password or ""), database=parts.path[1:])
        locker.cursor().execute("LOCK TABLES integration_inbox WRITE")
        waiting = ("SELECT count(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE '%lock%' "
                   "AND INFO LIKE '%integration_inbox%'")
    try:
        send_event(project, env, render, servers, consumer, event, microservices)
        db_name = url.rsplit("/", 1)[1]
        try:
            eventually(lambda: int(database.query(waiting, db_name)[0][0]) > 0 or None, 30, 0.2)
        except AssertionError:
            raise AssertionError(f"the handler never reached the inbox\n{app.tail(3000)}") from None
        app.kill()
    finally:
        if postgres:
            locker.rollback()
        else:
            locker.cursor().execute("UNLOCK TABLES")
        locker.close()
    app.restart()
    assert_handled_once(database, url, event["id"], consumer,
                        f"the event whose consumer was killed mid-handler never arrived again\n{app.tail(3000)}")


def nats_publish(url: str, subject: str, payload: bytes) -> None:
    """Publish to a JetStream subject with nats-py and wait for the stream's acknowledgement."""
    import asyncio

    import nats

    async def publish() -> None:
        client = await nats.connect(url, allow_reconnect=False)
        try:
            await client.jetstream().publish(subject, payload, timeout=10)
        finally:
            await client.close()
    asyncio.run(publish())


def nats_last_message(url: str, stream: str, subject: str) -> Any:
    """The last message of a JetStream subject (nats-py's RawStreamMsg), or None while there is none."""
    import asyncio

    import nats
    from nats.js.errors import NotFoundError

    async def last() -> Any:
        client = await nats.connect(url, allow_reconnect=False)
        try:
            return await client.jsm().get_last_msg(stream, subject)
        except NotFoundError:
            return None
        finally:
            await client.close()
    return asyncio.run(last())


def check_poison_event_nats(project: Path, servers: Servers, database: Any, databases: dict[str | None, str],
                            contexts: list[str], microservices: bool) -> None:
    """Issue 19: an event that breaks its schema, published to its type's JetStream subject, is stored in
    the consumer's dead-letter stream (`<durable>.dead-letter`, which the consumer declared) with the reason
    and where it came from, and leaves no inbox row."""
    producer, consumer = contexts[0], contexts[1 % len(contexts)]
    durable = f"{answers_of(project)['project_slug']}.{consumer if microservices else 'events'}".replace(".", "_")
    subject = f"{durable}.dead-letter"
    poison = {"id": "poison-1", "type": f"{producer}.created", "source": "e2e", "occurredAt": "yesterday",
              "data": {}}
    nats_publish(servers["nats"].url, poison["type"], json.dumps(poison).encode())
    dead = eventually(lambda: nats_last_message(servers["nats"].url, subject.replace(".", "_"), subject), 30, 0.5)
    assert json.loads(dead.data)["id"] == "poison-1", dead.data
    # nats-py parses headers with the email parser: a long value comes as an email Header
    headers = {key: str(value) for key, value in dead.headers.items()}
    reason = headers["x-dead-letter-reason"]
    assert "occurredAt" in reason and "data.id" in reason, reason
    assert headers["x-original-subject"] == poison["type"], headers
    db_name = databases[consumer if microservices else None].rsplit("/", 1)[1]
    assert database.query("SELECT id FROM integration_inbox WHERE id = 'poison-1'", db_name) == []


def check_poison_event_kafka(servers: Servers, database: Any, databases: dict[str | None, str],
                             contexts: list[str], microservices: bool) -> None:
    """Issue 19: the consumers declared their topics and the dead-letter topics (auto-creation is off, and
    nothing but the app names a dead-letter topic); an event that breaks its schema is produced to the
    dead-letter topic with the reason and the offset it had, and leaves no inbox row."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer_context, consumer = contexts[0], contexts[1 % len(contexts)]
    topic = f"{producer_context}.created"
    host, port = servers["kafka"].url.rsplit(":", 1)
    with kafka_admin(host, int(port)) as admin:
        topics = set(admin.list_topics())
    assert {topic, f"{topic}.dead-letter"} <= topics, sorted(topics)
    bootstrap = servers["kafka"].url
    poison = {"id": "poison-1", "type": topic, "source": "e2e", "occurredAt": "yesterday", "data": {}}
    producer = KafkaProducer(bootstrap_servers=bootstrap, allow_auto_create_topics=False)
    try:
        producer.send(topic, json.dumps(poison).encode()).get(timeout=30)
    finally:
        producer.close()
    dead_letter = f"{topic}.dead-letter"

    def dead_letters() -> list[Any]:
        # read by partition: kafka-python's group coordination does not work with Tansu
        reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=3000)
        try:
            partitions = [TopicPartition(dead_letter, p) for p in reader.partitions_for_topic(dead_letter) or ()]
            reader.assign(partitions)
            reader.seek_to_beginning(*partitions)
            return [m for m in reader if json.loads(m.value).get("id") == "poison-1"]
        finally:
            reader.close()
    try:
        found = eventually(lambda: dead_letters() or None, 60)
    except AssertionError:
        raise AssertionError(f"the invalid event never reached {dead_letter}") from None
    time.sleep(3)
    found = dead_letters()
    assert len(found) == 1, f"the invalid event is in {dead_letter} {len(found)} times, expected once"
    dead = found[0]
    headers = {key: value.decode() for key, value in dead.headers}
    reason = headers["x-dead-letter-reason"]
    assert "occurredAt" in reason and "data.id" in reason, reason
    assert headers["x-original-offset"].isdigit(), headers
    db_name = databases[consumer if microservices else None].rsplit("/", 1)[1]
    assert database.query("SELECT id FROM integration_inbox WHERE id = 'poison-1'", db_name) == []


def check_cache(render: Render, apps: dict[str | None, App], databases: dict[str | None, str], database: Any,
                contexts: list[str], microservices: bool) -> None:
    """cache: true (issue 19): the second read by id is answered from Redis, with no row of the context's table
    read by the database (MariaDB's per-table statistics, `userstat`: the relay's and consumer's queries touch
    other tables, so nothing else moves the count), and an update evicts the entry, so the next read shows it."""
    assert render.answers["database"] == "mysql", "the row count reads MariaDB's TABLE_STATISTICS"
    context = contexts[0]
    app = apps[context if microservices else None]
    db_name = databases[context if microservices else None].rsplit("/", 1)[1]
    token = jwt("https://issuer.e2e", "e2e")
    api = f"{app.url}/api/v1/{context}"
    created = http("POST", api, {"name": "cached read"}, token)
    assert created.status == 201, created.body
    item = f"{api}/{created.json()['id']}"
    time.sleep(1)  # past the create's own work (its integration event, the consumer's inbox row)
    database.query("SET GLOBAL userstat = ON")

    def rows_read() -> int:
        found = database.query("SELECT ROWS_READ FROM information_schema.TABLE_STATISTICS "
                               f"WHERE TABLE_SCHEMA = '{db_name}' AND TABLE_NAME = '{context.replace('-', '_')}'")
        return int(found[0][0]) if found else 0

    def read() -> tuple[Response, int]:
        before = rows_read()
        response = http("GET", item, token=token)
        return response, rows_read() - before

    first, missed = read()
    assert first.status == 200, first.body
    assert missed >= 1, f"the first read read {missed} rows of the table: the count sees nothing"
    hits = [read() for _ in range(3)]
    assert all(response.status == 200 and response.json() == first.json() for response, _ in hits), hits
    assert all(count == 0 for _, count in hits), (
        f"a cached read reached the database: {[count for _, count in hits]} rows read")
    renamed = http("PATCH", item, {"name": "renamed after caching"}, token)
    assert renamed.status == 200, renamed.body
    after = http("GET", item, token=token)
    assert after.status == 200 and after.json()["name"] == "renamed after caching", (
        f"the update did not evict the cached read: {after.body!r}")


def check_readiness_names_stopped_server(render: Render, apps: dict[str | None, App], servers: Servers) -> None:
    kind, key = render.stop
    app = next(iter(apps.values()))
    servers[kind].stop()
    try:
        def down() -> Response | None:
            response = http("GET", f"{app.url}/health/ready", timeout=15)
            return response if response.status == 503 else None
        response = eventually(down, 30)
        assert key in response.json()["error"], response.body
        assert http("GET", f"{app.url}/health/live").status == 200
    finally:
        servers[kind].start()


def check_ready_without_redis(render: Render, apps: dict[str | None, App], servers: Servers) -> None:
    """The shared Redis (cache, rate limits) is reported in readiness but never fails it (issue 19)."""
    app = next(iter(apps.values()))
    servers["redis"].stop()
    try:
        response = assert_reported_not_failing(app, "redis")
        assert response.json()["details"]["database"]["status"] == "up", response.body
        context = render.answers["bounded_contexts"][0]
        token = jwt("https://issuer.e2e", "e2e")
        listed = http("GET", f"{app.url}/api/v1/{context}", token=token)
        assert listed.status == 200, f"a read failed while Redis was down: {listed.body}"
        one = http("GET", f"{app.url}/api/v1/{context}/{listed.json()['items'][0]['id']}", token=token)
        assert one.status == 200, f"a read by id (cached) failed while Redis was down: {one.body}"
        if "websocket" in render.answers.get("api_styles", []):
            # A domain event while Redis is down: the Socket.IO Redis adapter publishes it, and a failed
            # publish would end the process (the adapter does not handle it); the app must stay up.
            context = render.answers["bounded_contexts"][0]
            created = http("POST", f"{app.url}/api/v1/{context}", {"name": "during the outage"},
                           jwt("https://issuer.e2e", "e2e"))
            assert created.status == 201, created.body
            time.sleep(4)  # past ioredis' reconnection attempts, where a queued command would be failed
            assert app.process.poll() is None, f"the app ended while Redis was down:\n{app.tail()}"
            assert http("GET", f"{app.url}/health/live").status == 200
    finally:
        servers["redis"].start()
    def connected() -> Response | None:
        response = http("GET", f"{app.url}/health/ready", timeout=15)
        return response if response.json().get("details", {}).get("redis", {}).get("connected") else None
    eventually(connected, 30)
