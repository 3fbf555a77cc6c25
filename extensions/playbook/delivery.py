"""How the service is built and run: image names and the build argument, the per-environment
Kubernetes settings, the compose environment and the platform components the manifests name.

Names of platform components outside the service (gateway, monitoring, collector, mesh) are the
conventional ones; the overlays are where a team changes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import backing, layout
from .contexts import Service
from .contract import EnvVar
from .data import load_data
from .features import fuzzes_contract, is_microservices

ENVIRONMENTS = ("dev", "staging", "prod")
BASE_ENVIRONMENT = "staging"  # the base carries these numbers; every overlay states its own

PLATFORM = {
    "gateway_name": "public-gateway",
    "gateway_namespace": "gateway-system",
    "monitoring_namespace": "monitoring",
    "otel_namespace": "observability",
    "otel_service": "otel-collector",
}
MESH_NAMESPACES = {"istio": "istio-system", "linkerd": "linkerd"}
# The labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by. These match
# kube-prometheus-stack installed as Helm release "kube-prometheus-stack": with its defaults
# (prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues and ruleSelectorNilUsesHelmValues
# true) its Prometheus selects only objects labelled release=<Helm release name>. Each overlay adds
# them in one patch, where a team whose Prometheus selects differently changes them.
PROMETHEUS_SELECTOR_LABELS = {"release": "kube-prometheus-stack"}
# Host ports of the local observability stack (app ports are 3000 and up, so Grafana moves).
LOCAL_OBSERVABILITY_PORTS = {"grafana": 3300, "prometheus": 9090, "jaeger": 16686, "otlp_http": 4318, "otlp_grpc": 4317}
OTLP_HTTP_PORT = 4318
# The namespace label compose's Prometheus gives its targets (the cluster's targets carry their
# Kubernetes namespace), so the dashboard's namespace variable works locally too.
LOCAL_NAMESPACE = "local"
# The first release: package.json's version and the image tag the overlays start from.
INITIAL_RELEASE = "0.1.0"
# The Docker build argument that picks the app of a Nest monorepo (microservices only).
BUILD_ARG = "APP"
# The lockfile `npm ci` (CI and the Dockerfile) installs from. A render has none (the team runs
# npm install): the first CI job checks for it and fails with this one line, which the README and
# copier's after-copy message repeat.
LOCKFILE = "package-lock.json"
LOCKFILE_MISSING = f"{LOCKFILE} is missing: run npm install and commit {LOCKFILE}"
# The overlay whose image the release workflow pins by digest (kustomize edit set image).
PINNED_OVERLAY = "prod"


def image(answers: Mapping[str, Any], service: Service) -> str:
    return f"{answers['container_registry']}/{service.name}"


# The path prefix each HTTP-borne API style is served under on a monolith's shared host.
STYLE_PATHS = {"rest": "/api", "graphql": "/graphql", "websocket": load_data("api")["websocket"]["path"]}


def graphql_path(answers: Mapping[str, Any], service: Service) -> str:
    """Where a service serves its GraphQL schema: /graphql, or /graphql/<context> for each microservice
    (several services share one host, and each serves its own schema)."""
    return f"{STYLE_PATHS['graphql']}/{service.app}" if is_microservices(answers) else STYLE_PATHS["graphql"]


def websocket_path(answers: Mapping[str, Any], service: Service) -> str:
    """Where a service serves Socket.IO: /socket.io, or /socket.io/<context> for each microservice."""
    return f"{STYLE_PATHS['websocket']}/{service.app}" if is_microservices(answers) else STYLE_PATHS["websocket"]


def public_routes(answers: Mapping[str, Any], service: Service) -> list[dict[str, str]]:
    """The path prefixes the HTTPRoute or Ingress sends to a service, each with its API style.
    /metrics and /health stay internal.

    A monolith exposes its API prefix and the GraphQL and Socket.IO endpoints; a microservice
    exposes the REST prefix and the GraphQL and Socket.IO endpoints of its bounded context, since several services
    share one host.
    """
    styles = answers["api_styles"]
    if is_microservices(answers):
        return ([{"path": f"/api/v1/{service.app}", "style": "rest"}] if "rest" in styles else []) + (
            [{"path": graphql_path(answers, service), "style": "graphql"}] if "graphql" in styles else []) + (
            [{"path": websocket_path(answers, service), "style": "websocket"}] if "websocket" in styles else [])
    return [{"path": path, "style": style} for style, path in STYLE_PATHS.items() if style in styles]


def public_paths(answers: Mapping[str, Any], service: Service) -> list[str]:
    return [route["path"] for route in public_routes(answers, service)]


def route_rules(answers: Mapping[str, Any], service: Service) -> list[dict[str, Any]]:
    """The HTTPRoute rules of a service: its request-response paths, then the Socket.IO path in a rule of
    its own whose request timeout is off (a connection lasts as long as its client stays)."""
    routes = public_routes(answers, service)
    short = [r["path"] for r in routes if r["style"] != "websocket"]
    long_lived = [r["path"] for r in routes if r["style"] == "websocket"]
    return ([{"paths": short, "timeout": None}] if short else []) + (
        [{"paths": long_lived, "timeout": load_data("api")["websocket"]["route_timeout"]}] if long_lived else [])


def _round_up(value: float, step: int) -> int:
    """The smallest multiple of step that is at least value (float noise rounded away first)."""
    return math.ceil(round(value / step, 6)) * step


def _mib(value: float) -> int | float:
    """MiB as the manifests and the document print them: 320, 312, 248.4."""
    value = round(value, 1)
    return int(value) if value == int(value) else value


def _millicores(quantity: str) -> int:
    """A Kubernetes CPU quantity ("250m", "1", "2") in millicores."""
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def sizing() -> dict[str, Any]:
    """Memory request, memory limit and V8 heap limit from the measured figures of extensions/data/sizing.yml
    (the rules are stated there): the same for every environment, which differ in replicas and CPU."""
    data = load_data("sizing")
    measured, rules, hpa = data["measured"], data["rules"], data["hpa"]
    margin, step = float(rules["margin"]), int(rules["step_mib"])
    memory_target = int(hpa["memory_target_percent"])
    loaded, idle = float(measured["loaded_rss_mib"]), float(measured["idle_rss_mib"])
    # The HPA scales out when the average memory use passes request x target.
    request = _round_up(loaded * (1 + margin) * 100 / memory_target, step)
    limit = request * int(rules["limit_to_request"])
    non_heap = _round_up(idle * (1 + margin), step)
    heap = limit - non_heap
    scale_out_at = request * memory_target / 100
    if not loaded * (1 + margin) <= scale_out_at or not idle < scale_out_at:
        raise ValueError(f"sizing.yml: the HPA would scale out at {scale_out_at} MiB, below the measured RSS")
    if heap < scale_out_at:
        raise ValueError(f"sizing.yml: the {heap} MiB heap limit is below the HPA scale-out point {scale_out_at} MiB")
    return {
        "measured": dict(measured),
        "margin_percent": round(margin * 100),
        "step_mib": step,
        "limit_to_request": int(rules["limit_to_request"]),
        "cpu_target_percent": int(hpa["cpu_target_percent"]),
        "memory_target_percent": memory_target,
        "loaded_with_margin_mib": _mib(loaded * (1 + margin)),
        "idle_with_margin_mib": _mib(idle * (1 + margin)),
        "memory_request_mi": request,
        "memory_limit_mi": limit,
        "non_heap_mib": non_heap,
        "heap_mb": heap,
        "hpa_memory_threshold_mi": _mib(scale_out_at),
    }


def environment_settings(answers: Mapping[str, Any], name: str) -> dict[str, Any]:
    slug = answers["project_slug"]
    memory = sizing()
    settings = load_data("sizing")["environments"][name]
    cpu_request, cpu_limit = _millicores(str(settings["cpu_request"])), _millicores(str(settings["cpu_limit"]))
    if cpu_request > cpu_limit:
        raise ValueError(f"sizing.yml: {name} requests more CPU than its limit")
    domain = "example.com" if name == "prod" else f"{name}.example.com"
    return {
        "name": name,
        "namespace": f"{slug}-{name}",
        "hostname": f"{slug}.{domain}",
        "cors_origins": f"https://app.{domain}",
        "min_replicas": int(settings["min_replicas"]),
        "max_replicas": int(settings["max_replicas"]),
        "cpu_request": str(settings["cpu_request"]),
        "cpu_limit": str(settings["cpu_limit"]),
        "log_level": settings["log_level"],
        "swagger": bool(settings["swagger"]),
        # replicas of each Kafka topic the services declare (a single-broker dev cluster: 1)
        "broker_replicas": int(settings["broker_replicas"]),
        "memory_request_mi": memory["memory_request_mi"],
        "memory_limit_mi": memory["memory_limit_mi"],
        "memory_request": f"{memory['memory_request_mi']}Mi",
        "memory_limit": f"{memory['memory_limit_mi']}Mi",
        "heap_mb": memory["heap_mb"],
        "node_options": f"--max-old-space-size={memory['heap_mb']}",
        "hpa_memory_threshold_mi": memory["hpa_memory_threshold_mi"],
        # CPU the HPA scales out at (average per pod, millicores)
        "hpa_cpu_threshold_m": cpu_request * memory["cpu_target_percent"] // 100,
    }


def selector_labels(service_name: str) -> dict[str, str]:
    """The labels that select a service's pods (Deployment, Service, NetworkPolicies, PDB, mesh)."""
    return {"app.kubernetes.io/name": service_name, "app.kubernetes.io/instance": service_name}


def grpc_local_port(service: Service) -> int:
    """The service's gRPC port on the host (docker compose), shifted like its HTTP port."""
    return int(load_data("api")["grpc"]["port"]) + service.local_port - service.port


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
        # the service's own client at the issuer, when it calls other services (auth oidc)
        "OIDC_CLIENT_ID": service.name,
        # a topic has a partition for each replica the consumer group can scale to
        "KAFKA_TOPIC_PARTITIONS": str(env["max_replicas"]),
        "KAFKA_REPLICATION_FACTOR": str(env["broker_replicas"]),
        "NATS_STREAM_REPLICAS": str(env["broker_replicas"]),
    }
    cluster_broker = backing.cluster_broker_url(answers["message_broker"])
    if cluster_broker is not None:
        overrides["BROKER_URL"] = cluster_broker
    # a service this one calls: its Service in the namespace (the variable's default)
    overrides |= {var.name: str(var.default) for var in env_vars if var.used_by}
    config = {var.name: overrides.get(var.name, var.example) for var in env_vars
              if not var.secret and (not var.used_by or service.app in var.used_by)}
    config["NODE_OPTIONS"] = env["node_options"]
    config["OTEL_RESOURCE_ATTRIBUTES"] = f"deployment.environment.name={env['name']}"
    return config


def compose_environment(answers: Mapping[str, Any], service: Service, env_vars: list[EnvVar]) -> dict[str, str]:
    """What docker-compose sets on top of .env.example: the compose servers' host names instead of
    localhost, this service's own database, and the services it calls by their container names
    (the same as their Kubernetes Services')."""
    urls = backing.compose_urls(answers, service.database)
    env = {
        "DATABASE_URL": urls["DATABASE_URL"],
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{PLATFORM['otel_service']}:{LOCAL_OBSERVABILITY_PORTS['otlp_http']}",
    }
    calls = {var.name: str(var.default) for var in env_vars if service.app in var.used_by}
    return env | {name: url for name, url in urls.items() if name != "DATABASE_URL"} | calls


def check_jobs(answers: Mapping[str, Any]) -> list[str]:
    """The CI jobs (GitHub and GitLab alike) that every image build and publication waits for."""
    app = ["lint", "unit", "e2e"] + (["contract"] if fuzzes_contract(answers) else []) if answers["include_app"] else []
    return [*app, "docs", "manifests"]


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
            "selector_labels": selector_labels(service.name),
            "image": image(answers, service),
            "entrypoint": service.entrypoint,
            "database": service.database,
            "local_port": service.local_port,
            # on the host (docker compose): the gRPC port, shifted like the HTTP port
            "grpc_local_port": grpc_local_port(service),
            "data_source": data_source,
            "migration_job": service.migration_job,
            "migrate_args": ["node_modules/typeorm/cli.js", "migration:run", "-d", data_source],
            "config_name": f"{service.name}-config",
            "secret_name": f"{service.name}-secrets",
            "secret_keys": [var.name for var in env_vars if var.secret],
            "config": kubernetes_config(answers, service, env_vars, base),
            "env_config": {env["name"]: kubernetes_config(answers, service, env_vars, env) for env in environments},
            "paths": public_paths(answers, service),
            "routes": public_routes(answers, service),
            "route_rules": route_rules(answers, service),
            "compose_environment": compose_environment(answers, service, env_vars),
        })
    return {
        "services": entries,
        "environments": environments,
        "base": base,
        "platform": dict(PLATFORM),
        "ingress_class": load_data("clouds")[answers["cloud"]]["ingress_class"],
        "mesh_namespace": MESH_NAMESPACES.get(answers["service_mesh"]),
        "exposed": any(entry["paths"] for entry in entries),
        "alerts": alerts,
        "sizing": sizing(),
        "prometheus_selector_labels": dict(PROMETHEUS_SELECTOR_LABELS),
        "local_ports": dict(LOCAL_OBSERVABILITY_PORTS),
        "local_namespace": LOCAL_NAMESPACE,
        "kafka_internal_port": backing.KAFKA_INTERNAL_PORT,
        "build_arg": BUILD_ARG if is_microservices(answers) else None,
        "release_tag": INITIAL_RELEASE,
        "lockfile": LOCKFILE,
        "lockfile_missing": LOCKFILE_MISSING,
        "pinned_overlay": PINNED_OVERLAY,
        "checks": check_jobs(answers),
    }
