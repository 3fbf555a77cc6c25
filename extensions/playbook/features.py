"""What the answers switch on: one property per rule, read by file names, templates and the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def needs_redis(answers: Mapping[str, Any]) -> bool:
    """Redis runs when it caches (and stores rate limits) or carries the integration events."""
    return bool(answers["cache"]) or answers["message_broker"] == "redis"


def has_broker(answers: Mapping[str, Any]) -> bool:
    return bool(answers["message_broker"] != "none")


def is_microservices(answers: Mapping[str, Any]) -> bool:
    return bool(answers["architecture"] == "microservices")


def api_styles_generated(answers: Mapping[str, Any]) -> list[str]:
    """The API styles whose adapters (controllers, resolvers, gateways) the generated app contains:
    every answered one, or none when the application is not generated."""
    return list(answers["api_styles"]) if answers["include_app"] else []


# The styles whose generated adapters read and change the records (get, list, create, update, delete).
CRUD_API_STYLES = ("rest", "graphql", "grpc")


def crud_api_styles(answers: Mapping[str, Any]) -> list[str]:
    return [s for s in api_styles_generated(answers) if s in CRUD_API_STYLES]


def adapter_styles(answers: Mapping[str, Any]) -> list[str]:
    """The styles whose interface adapter every context has: the generated ones, or for an existing
    application (include_app false) the answered ones, which the document requires of it."""
    return api_styles_generated(answers) if answers["include_app"] else list(answers["api_styles"])


def startup_options(answers: Mapping[str, Any]) -> list[str]:
    """The fields of the options each app's main.ts (and the e2e tests) pass to configureApplication:
    the OpenAPI title with REST, the broker subscription with a broker, the gRPC contracts with gRPC,
    the Socket.IO path with WebSocket. None: configureApplication takes the application only."""
    built = api_styles_generated(answers)
    wanted = {"title": "rest" in built, "brokerEndpoint": bool(answers["include_app"]) and has_broker(answers),
              "grpc": "grpc" in built, "websocketPath": "websocket" in built}
    return [name for name, on in wanted.items() if on]


def fuzzes_contract(answers: Mapping[str, Any]) -> bool:
    """The generated app's API is fuzzed from its own contract (`npm run test:contract`, the CI contract job):
    the fuzzer reads the OpenAPI document (REST) or the GraphQL schema, so one of them must be generated."""
    return bool(answers["include_app"]) and bool({"rest", "graphql"} & set(answers["api_styles"]))


def features(answers: Mapping[str, Any]) -> dict[str, bool]:
    """The `artifacts` flags of the templates' context."""
    styles = set(answers["api_styles"])
    return {
        "app": bool(answers["include_app"]),
        "fastify": answers["http_adapter"] == "fastify",
        "github": answers["ci"] == "github",
        "gitlab": answers["ci"] == "gitlab",
        "gateway_api": answers["ingress"] == "gateway-api",
        "ingress": answers["ingress"] == "ingress",
        "istio": answers["service_mesh"] == "istio",
        "linkerd": answers["service_mesh"] == "linkerd",
        "mesh": answers["service_mesh"] != "none",
        "broker": has_broker(answers),
        "redis": needs_redis(answers),
        "rest": "rest" in styles,
        "graphql": "graphql" in styles,
        "grpc": "grpc" in styles,
        "websocket": "websocket" in styles,
        # a transport besides HTTP routes whose callers the guards identify (platform/http/execution-context.ts)
        "non_http": bool(styles & {"graphql", "grpc", "websocket"}),
        "microservices": is_microservices(answers),
        "modular": answers["architecture"] == "modular-monolith",
        "contract": fuzzes_contract(answers),
    }
