"""The app's contract with everything around it: its configuration variables (the config schema,
.env.example, compose, the ConfigMap and Secret, CI) and its package.json (dependencies, scripts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import layout
from .backing import BROKERS, DATABASES, broker_url, local_database_url, redis_url
from .calls import GrpcCall, calls_between_services
from .contexts import APP_PORT
from .data import image_port, load_data, stack_manifest
from .features import fuzzes_contract, has_broker, is_microservices, needs_redis


@dataclass(frozen=True)
class EnvVar:
    """One configuration variable of the app."""

    name: str
    secret: bool
    example: str
    description: str
    # the services (their apps) that read it; empty: every service
    used_by: tuple[str, ...] = ()
    # the value the app takes when the variable is not set; None: required (or optional without one)
    default: str | None = None


def env_vars(answers: Mapping[str, Any], database_name: str, calls: Sequence[GrpcCall] = (),
             grpc_local_ports: Mapping[str, int] | None = None) -> list[EnvVar]:
    """Every variable, with the value .env.example gives it on a laptop (servers on localhost)."""
    slug = answers["project_slug"]
    env = [
        EnvVar("NODE_ENV", False, "development", "development, test or production"),
        EnvVar("PORT", False, str(APP_PORT), "HTTP port the app listens on"),
        EnvVar("LOG_LEVEL", False, "info", "pino log level"),
        EnvVar("CORS_ORIGINS", False, "http://localhost:5173", "comma-separated allow-list of browser origins"),
        EnvVar("DATABASE_URL", True, local_database_url(answers, database_name),
               "database connection URL (a Secret in Kubernetes)"),
    ]
    if needs_redis(answers):
        env.append(EnvVar("REDIS_URL", True, redis_url("localhost", image_port("redis")), "Redis connection URL"))
    if answers["cache"]:
        env.append(EnvVar("CACHE_TTL_SECONDS", False, "60", "seconds a record read by id stays cached", default="60"))
    broker = answers["message_broker"]
    if broker not in ("none", "redis"):
        example = broker_url(broker, "localhost", image_port(BROKERS[broker]["image"]))
        env.append(EnvVar("BROKER_URL", BROKERS[broker]["url_secret"], example, f"{BROKERS[broker]['label']} connection"))
    if broker == "kafka":
        # the topics the service declares (its events', the ones it consumes and their dead-letter topics)
        env += [
            EnvVar("KAFKA_TOPIC_PARTITIONS", False, "1", "partitions of a topic the service declares", default="1"),
            EnvVar("KAFKA_REPLICATION_FACTOR", False, "1", "replicas of a topic the service declares", default="1"),
        ]
    if broker == "nats":
        # the JetStream streams the service declares (its events', the ones it consumes, its dead letters)
        env.append(EnvVar("NATS_STREAM_REPLICAS", False, "1", "replicas of a JetStream stream the service declares",
                          default="1"))
    if answers["auth"] == "jwt":
        env += [
            EnvVar("JWT_SECRET", True, "change-me-to-a-long-random-secret", "HMAC key that signs and verifies JWTs"),
            EnvVar("JWT_ISSUER", False, f"https://auth.example.com/{slug}", "expected iss claim"),
            EnvVar("JWT_AUDIENCE", False, slug, "expected aud claim"),
        ]
    else:
        env += [
            EnvVar("OIDC_ISSUER_URL", False, "https://login.example.com/realms/main",
                   "issuer whose JWKS verifies tokens"),
            EnvVar("OIDC_AUDIENCE", False, slug, "expected aud claim"),
        ]
        if calls:
            # the service's own identity towards the services it calls (client credentials grant)
            env += [
                EnvVar("OIDC_CLIENT_ID", False, f"{slug}-service", "this service's client id at the issuer"),
                EnvVar("OIDC_CLIENT_SECRET", True, "change-me-client-secret", "this service's client secret"),
                EnvVar("OIDC_CLIENT_SCOPE", False, "", "scope asked with the client credentials (empty: none)",
                       default=""),
            ]
    env += [
        EnvVar("RATE_LIMIT_PER_MINUTE", False, "600", "requests per minute and client IP before 429"),
    ]
    if "grpc" in answers["api_styles"]:
        env.append(EnvVar("GRPC_PORT", False, str(load_data("api")["grpc"]["port"]), "gRPC port the app listens on"))
    for call in calls:
        local = f"localhost:{(grpc_local_ports or {}).get(call.callee, load_data('api')['grpc']['port'])}"
        env.append(EnvVar(call.env_var, False, local, f"host:port of the {call.callee} service's gRPC API",
                          used_by=(call.caller,), default=call.cluster_url))
    if "rest" in answers["api_styles"]:
        env.append(EnvVar("SWAGGER_ENABLED", False, "true",
                          "serve Swagger UI and /docs-json (off in production unless true)"))
    env += [
        EnvVar("OTEL_SERVICE_NAME", False, slug, "service name on traces"),
        EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", False, "", "OTLP/HTTP collector URL; tracing is off when empty"),
    ]
    return env


BROKER_PACKAGES = {"rabbitmq": ["amqplib", "amqp-connection-manager"], "nats": ["@nats-io/transport-node", "@nats-io/jetstream"],
                   "kafka": ["kafkajs"]}
API_STYLE_PACKAGES = {
    "graphql": ["@nestjs/graphql", "@nestjs/apollo", "@apollo/server", "graphql", "graphql-depth-limit",
                "graphql-query-complexity"],
    "grpc": ["@grpc/grpc-js", "@grpc/proto-loader"],
    "websocket": ["@nestjs/websockets", "@nestjs/platform-socket.io", "socket.io"],
}

# Apollo Server's HTTP integration for each adapter (an optional peer of @nestjs/apollo).
GRAPHQL_INTEGRATIONS = {"fastify": "@as-integrations/fastify", "express": "@as-integrations/express5"}


def npm_dependencies(answers: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The packages of the generated package.json with their ranges from the stack manifest:
    {"runtime": {...}, "dev": {...}}. The document's technology table lists these."""
    npm = stack_manifest()["npm"]
    styles = set(answers["api_styles"])
    runtime = [
        "@nestjs/common", "@nestjs/config", "@nestjs/core", f"@nestjs/platform-{answers['http_adapter']}",
        "@nestjs/terminus",
        "@nestjs/throttler", "@nestjs/typeorm", "@opentelemetry/api", "@opentelemetry/sdk-node",
        "@opentelemetry/auto-instrumentations-node", "@opentelemetry/exporter-trace-otlp-proto",
        "class-transformer", "class-validator", "jose", "nestjs-pino", "pino", "pino-http", "prom-client",
        "reflect-metadata", "rxjs", "typeorm", "zod", DATABASES[answers["database"]]["driver"],
    ]
    # helmet's security headers: its Fastify plugin, or the Express middleware itself.
    runtime.append("@fastify/helmet" if answers["http_adapter"] == "fastify" else "helmet")
    if answers["http_adapter"] == "fastify":
        # The JSON body parser Fastify uses itself (prototype poisoning refused), called by json-body.ts.
        runtime.append("secure-json-parse")
    if "rest" in styles:
        # The OpenAPI document and Swagger UI; on Fastify the UI's assets are served by @fastify/static.
        runtime.append("@nestjs/swagger")
        if answers["http_adapter"] == "fastify":
            runtime.append("@fastify/static")
    if answers["cqrs"]:
        runtime.append("@nestjs/cqrs")
    if has_broker(answers) or "grpc" in styles:
        runtime.append("@nestjs/microservices")
    if needs_redis(answers):
        runtime.append("ioredis")
    if answers["cache"]:
        runtime += ["@nestjs/cache-manager", "cache-manager", "@keyv/redis"]  # cached reads by id
    runtime += BROKER_PACKAGES.get(answers["message_broker"], [])
    for style in ("graphql", "grpc", "websocket"):
        if style in styles:
            runtime += API_STYLE_PACKAGES[style]
    if "graphql" in styles:
        runtime.append(GRAPHQL_INTEGRATIONS[answers["http_adapter"]])
    breakers = answers["auth"] == "oidc" or calls_between_services(answers)
    if breakers:
        runtime.append("opossum")  # the circuit breakers in front of the issuer and of gRPC calls
    if "websocket" in styles and needs_redis(answers):
        runtime.append("@socket.io/redis-adapter")
    dev = [
        "@nestjs/cli", "@nestjs/schematics", "@nestjs/testing", "@types/jest", "@types/supertest", "eslint",
        "jest", "markdownlint-cli2", "prettier", "supertest", "ts-jest", "typescript", "typescript-eslint",
    ]
    dev.append("@types/express" if answers["http_adapter"] == "express" else "fastify")
    if answers["architecture"] == "modular-monolith":
        dev.append("dependency-cruiser")
    if "graphql" in styles:
        dev.append("@types/graphql-depth-limit")
    if breakers:
        dev.append("@types/opossum")
    if "websocket" in styles and answers["include_app"]:
        dev.append("socket.io-client")  # the e2e tests' client
    if "grpc" in styles and answers["include_app"]:
        dev.append("@bufbuild/buf")  # buf lint of the .proto contracts
    if has_broker(answers) and answers["include_app"]:
        # the consumer's trace continuation, tested with an in-memory exporter
        dev += ["@opentelemetry/context-async-hooks", "@opentelemetry/core", "@opentelemetry/sdk-trace"]
    node = stack_manifest()["node"][str(answers["node_version"])]
    return {
        "runtime": {name: npm["runtime"][name] for name in sorted(runtime)},
        "dev": {"@types/node": node["types"], **{name: npm["dev"][name] for name in sorted(dev)}},
    }


JEST = "node --experimental-vm-modules node_modules/jest/bin/jest.js"


def npm_scripts(answers: Mapping[str, Any]) -> dict[str, str]:
    """The generated package.json scripts: CI jobs and the README call these names."""
    app = "${SERVICE:?set SERVICE to one of: " + " ".join(answers["bounded_contexts"]) + "}"
    data_source = layout.data_source(answers, app)
    scripts = {
        "build": "nest build",
        "start": "nest start",
        "start:dev": "nest start --watch",
        "start:prod": f"node {layout.entrypoint(answers, app)}",
        "lint": "eslint .",
        "format:check": "prettier --check .",
        "typecheck": "tsc --noEmit -p tsconfig.json",
        "test": JEST,
        "test:cov": f"{JEST} --coverage",
        "test:e2e": f"{JEST} --config test/jest-e2e.json --runInBand",
        "test:contract": f"{JEST} --config test/jest-contract.json --runInBand",
        "migration:run": f"typeorm migration:run -d {data_source}",
        "migration:revert": f"typeorm migration:revert -d {data_source}",
        "migration:generate": f"typeorm migration:generate -d {data_source}",
        "openapi:export": "node dist/openapi-export.js",
        "docs:check": "markdownlint-cli2 \"docs/**/*.md\" \"README.md\"",
        "manifests:check": "bash deploy/k8s/check.sh",
    }
    if "rest" not in answers["api_styles"]:
        del scripts["openapi:export"]  # the OpenAPI document describes the REST controllers
    if not fuzzes_contract(answers):
        del scripts["test:contract"]
    if "grpc" in answers["api_styles"] and answers["include_app"]:
        scripts["proto:lint"] = "buf lint"
    if "graphql" in answers["api_styles"] and answers["include_app"]:
        scripts["graphql:schema"] = "node dist/graphql-export.js"
    if answers["architecture"] == "modular-monolith":
        scripts["lint:arch"] = "depcruise src --config .dependency-cruiser.cjs"
    if is_microservices(answers):
        # One Nest app per bounded context: SERVICE names the app a command works on.
        scripts["start"] = f"nest start {app}"
        scripts["start:dev"] = f"nest start {app} --watch"
        if "openapi:export" in scripts:
            scripts["openapi:export"] = "mkdir -p openapi && " + " && ".join(
                f"node dist/apps/{context}/openapi-export.js" for context in answers["bounded_contexts"])
        if "graphql:schema" in scripts:
            scripts["graphql:schema"] = " && ".join(
                f"node dist/apps/{context}/graphql-export.js" for context in answers["bounded_contexts"])
    return scripts
