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


# The API styles whose adapters (controllers, resolvers, gateways) the generated app contains; the
# other answered styles install their packages only, and the document says so.
GENERATED_API_STYLES = ("rest", "graphql", "grpc")


def api_styles_generated(answers: Mapping[str, Any]) -> list[str]:
    return [s for s in answers["api_styles"] if s in GENERATED_API_STYLES] if answers["include_app"] else []


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
        "microservices": is_microservices(answers),
        "modular": answers["architecture"] == "modular-monolith",
    }
