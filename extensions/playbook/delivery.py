"""How the service is built and run: image names and the build argument, the per-environment
Kubernetes settings, the compose environment and the platform components the manifests name.

Names of platform components outside the service (gateway, monitoring, collector, mesh) are the
conventional ones; the overlays are where a team changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import backing, layout
from .contexts import Service
from .contract import EnvVar
from .data import load_data
from .features import is_microservices

ENVIRONMENTS = ("dev", "staging", "prod")
# Pod sizing per environment. The heap limit is 75 % of the memory limit so that V8 collects
# garbage before the kernel kills the container.
ENVIRONMENT_SIZING: dict[str, dict[str, Any]] = {
    "dev": {"min_replicas": 2, "max_replicas": 3, "cpu_request": "50m", "cpu_limit": "500m",
            "memory_request_mi": 192, "memory_limit_mi": 384, "log_level": "debug", "swagger": True},
    "staging": {"min_replicas": 2, "max_replicas": 4, "cpu_request": "100m", "cpu_limit": "1",
                "memory_request_mi": 256, "memory_limit_mi": 512, "log_level": "info", "swagger": True},
    "prod": {"min_replicas": 3, "max_replicas": 10, "cpu_request": "250m", "cpu_limit": "2",
             "memory_request_mi": 512, "memory_limit_mi": 1024, "log_level": "info", "swagger": False},
}
HEAP_SHARE = 0.75
BASE_ENVIRONMENT = "staging"  # the base carries these numbers; every overlay states its own

PLATFORM = {
    "gateway_name": "public-gateway",
    "gateway_namespace": "gateway-system",
    "monitoring_namespace": "monitoring",
    "otel_namespace": "observability",
    "otel_service": "otel-collector",
}
MESH_NAMESPACES = {"istio": "istio-system", "linkerd": "linkerd"}
# Host ports of the local observability stack (app ports are 3000 and up, so Grafana moves).
LOCAL_OBSERVABILITY_PORTS = {"grafana": 3300, "prometheus": 9090, "jaeger": 16686, "otlp_http": 4318, "otlp_grpc": 4317}
OTLP_HTTP_PORT = 4318
# The first release: package.json's version and the image tag the overlays start from.
INITIAL_RELEASE = "0.1.0"
# The Docker build argument that picks the app of a Nest monorepo (microservices only).
BUILD_ARG = "APP"


def image(answers: Mapping[str, Any], service: Service) -> str:
    return f"{answers['container_registry']}/{service.name}"


def public_paths(answers: Mapping[str, Any], service: Service) -> list[str]:
    """Path prefixes the HTTPRoute or Ingress sends to a service. /metrics and /health stay internal.

    A monolith exposes its API prefix and the GraphQL and Socket.IO endpoints; a microservice
    exposes the REST prefix of its bounded context, since several services share one host.
    """
    styles = set(answers["api_styles"])
    if is_microservices(answers):
        return [f"/api/v1/{service.app}"] if "rest" in styles else []
    paths = []
    if "rest" in styles:
        paths.append("/api")
    if "graphql" in styles:
        paths.append("/graphql")
    if "websocket" in styles:
        paths.append("/socket.io")
    return paths


def environment_settings(answers: Mapping[str, Any], name: str) -> dict[str, Any]:
    slug = answers["project_slug"]
    sizing = ENVIRONMENT_SIZING[name]
    domain = "example.com" if name == "prod" else f"{name}.example.com"
    heap_mb = int(sizing["memory_limit_mi"] * HEAP_SHARE)
    return {
        "name": name,
        "namespace": f"{slug}-{name}",
        "hostname": f"{slug}.{domain}",
        "cors_origins": f"https://app.{domain}",
        **sizing,
        "memory_request": f"{sizing['memory_request_mi']}Mi",
        "memory_limit": f"{sizing['memory_limit_mi']}Mi",
        "heap_mb": heap_mb,
        "node_options": f"--max-old-space-size={heap_mb}",
    }


def kubernetes_config(answers: Mapping[str, Any], service: Service, env_vars: list[EnvVar],
                      env: dict[str, Any]) -> dict[str, str]:
    """The non-secret variables of one service's ConfigMap in one environment (production-shaped:
    the .env.example values are for a laptop)."""
    otel = f"http://{PLATFORM['otel_service']}.{PLATFORM['otel_namespace']}.svc.cluster.local:{OTLP_HTTP_PORT}"
    overrides = {
        "NODE_ENV": "production",
        "LOG_LEVEL": env["log_level"],
        "CORS_ORIGINS": env["cors_origins"],
        "SWAGGER_ENABLED": "true" if env["swagger"] else "false",
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otel,
    }
    cluster_broker = backing.cluster_broker_url(answers["message_broker"])
    if cluster_broker is not None:
        overrides["BROKER_URL"] = cluster_broker
    config = {var.name: overrides.get(var.name, var.example) for var in env_vars if not var.secret}
    config["NODE_OPTIONS"] = env["node_options"]
    config["OTEL_RESOURCE_ATTRIBUTES"] = f"deployment.environment.name={env['name']}"
    return config


def compose_environment(answers: Mapping[str, Any], service: Service) -> dict[str, str]:
    """What docker-compose sets on top of .env.example: the compose servers' host names instead of
    localhost, and this service's own database."""
    urls = backing.compose_urls(answers, service.database)
    env = {
        "DATABASE_URL": urls["DATABASE_URL"],
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{PLATFORM['otel_service']}:{LOCAL_OBSERVABILITY_PORTS['otlp_http']}",
    }
    return env | {name: url for name, url in urls.items() if name != "DATABASE_URL"}


def delivery(answers: Mapping[str, Any], services: list[Service], env_vars: list[EnvVar],
             alerts: dict[str, str]) -> dict[str, Any]:
    environments = [environment_settings(answers, name) for name in ENVIRONMENTS]
    base = next(env for env in environments if env["name"] == BASE_ENVIRONMENT)
    entries = []
    for service in services:
        data_source = layout.data_source(answers, service.app)
        entries.append({
            "name": service.name,
            "app": service.app,
            "image": image(answers, service),
            "entrypoint": service.entrypoint,
            "database": service.database,
            "local_port": service.local_port,
            "data_source": data_source,
            "migrate_args": ["node_modules/typeorm/cli.js", "migration:run", "-d", data_source],
            "config_name": f"{service.name}-config",
            "secret_name": f"{service.name}-secrets",
            "secret_keys": [var.name for var in env_vars if var.secret],
            "config": kubernetes_config(answers, service, env_vars, base),
            "env_config": {env["name"]: kubernetes_config(answers, service, env_vars, env) for env in environments},
            "paths": public_paths(answers, service),
            "compose_environment": compose_environment(answers, service),
        })
    return {
        "services": entries,
        "environments": environments,
        "base": base,
        "platform": dict(PLATFORM),
        "ingress_class": load_data("clouds")[answers["cloud"]]["ingress_class"],
        "mesh_namespace": MESH_NAMESPACES.get(answers["service_mesh"]),
        "egress": backing.egress(answers),
        "exposed": any(entry["paths"] for entry in entries),
        "alerts": alerts,
        "local_ports": dict(LOCAL_OBSERVABILITY_PORTS),
        "kafka_internal_port": backing.KAFKA_INTERNAL_PORT,
        "build_arg": BUILD_ARG if is_microservices(answers) else None,
        "release_tag": INITIAL_RELEASE,
    }
