"""The synchronous calls between services: which service calls which over gRPC, where it finds it,
and with which deadline and retry policy.

In microservices that serve gRPC and exchange integration events, the consumer of each context's
`<context>.created` event reads the record the event names from the service that owns it
(`Get<Entity>`), with a typed client from the owner's .proto. The NetworkPolicies, the mesh
authorisation, the configuration (ConfigMap, compose, .env.example) and the document read this list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .contexts import Module, Service
from .data import load_data
from .features import api_styles_generated, has_broker, is_microservices
from .naming import kebab_case, snake_case


@dataclass(frozen=True)
class GrpcCall:
    caller: str  # the calling context (its module directory holds the client)
    caller_service: str
    callee: str  # the context that owns the record and serves it
    callee_service: str
    path: str  # the caller's module directory
    file: str  # the client's file name without .ts, in the caller's infrastructure/
    client: str  # the client's class
    env_var: str  # where the caller finds the callee: host:port
    cluster_url: str  # the callee's Service in the same namespace
    method: str  # the unary method called: idempotent, so the channel retries it
    callee_module: dict[str, Any]


def calls_between_services(answers: Mapping[str, Any]) -> bool:
    """Whether services call each other over gRPC: microservices with a broker (consumers) and gRPC."""
    return is_microservices(answers) and has_broker(answers) and "grpc" in api_styles_generated(answers)


def grpc_calls(answers: Mapping[str, Any], modules: list[Module], services: list[Service]) -> list[GrpcCall]:
    """Each consumer's call to the owner of the event it consumes; none outside microservices, without
    a broker (no consumer) or without gRPC."""
    if not calls_between_services(answers):
        return []
    port = load_data("api")["grpc"]["port"]
    by_app = {service.app: service for service in services}
    by_slug = {module.slug: module for module in modules}
    calls = []
    for consumer in modules:
        owner = by_slug[consumer.consumes]
        calls.append(GrpcCall(
            caller=consumer.slug,
            caller_service=by_app[consumer.slug].name,
            callee=owner.slug,
            callee_service=by_app[owner.slug].name,
            path=f"{consumer.path}/infrastructure",
            file=f"{kebab_case(owner.slug)}.client",
            client=f"{owner.pascal}Client",
            env_var=f"{snake_case(owner.slug).upper()}_GRPC_URL",
            cluster_url=f"{by_app[owner.slug].name}:{port}",
            method=f"Get{owner.entity}",
            callee_module=asdict(owner),
        ))
    return calls
