"""Pure logic of the template: answer validation and every value derived from the answers.

Nothing here touches the file system beyond the two data files next to it, starts a process or
uses the network. `jinja_ext.py` exposes these functions to copier; the tests import them directly.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from operator import is_, itemgetter
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"

DNS1123_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# host[:port][/path...] as used in image references, lower case only.
REGISTRY = re.compile(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([-._a-z0-9]*[a-z0-9])?)*$"
)

PROJECT_SLUG_MAX = 40
BOUNDED_CONTEXT_MAX = 20
BOUNDED_CONTEXTS_MAX_COUNT = 8
RESERVED_CONTEXTS = frozenset(
    {"health", "metrics", "docs", "common", "shared", "app", "config", "test", "platform"}
)
APP_PORT = 3000

ARCHITECTURES = ("monolith", "modular-monolith", "microservices")
DATABASES = ("postgresql", "mysql")
BROKERS = ("none", "redis", "rabbitmq", "nats", "kafka")
API_STYLES = ("rest", "graphql", "grpc", "websocket")
COMPLIANCE = ("gdpr", "hipaa", "pci-dss", "sox")
INDUSTRIES = ("general", "ecommerce", "healthcare", "finance", "media")
CLOUDS = ("aws", "gcp", "azure", "on-prem")
CI_SYSTEMS = ("github", "gitlab", "none")


# --------------------------------------------------------------------------- data files


# libyaml's parser when PyYAML has it: the same safe constructor and resolver as yaml.safe_load,
# about 15 times faster (tests/test_extensions_perf.py checks both read our data files alike).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_data(name: str) -> dict[str, Any]:
    with (DATA_DIR / f"{name}.yml").open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=YAML_LOADER)
    if not isinstance(data, dict):
        raise ValueError(f"extensions/data/{name}.yml must hold a mapping")
    return data


def stack_manifest() -> dict[str, Any]:
    return load_data("stack")


def industry_profile(industry: str) -> dict[str, Any]:
    profiles = load_data("industries")
    if industry not in profiles:
        raise ValueError(f"unknown industry {industry!r}; expected one of {', '.join(profiles)}")
    profile: dict[str, Any] = profiles[industry]
    return profile


# --------------------------------------------------------------------------- name casings


def words(value: str) -> list[str]:
    return [part for part in re.split(r"[^A-Za-z0-9]+", value) if part]


def pascal_case(value: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in words(value))


def camel_case(value: str) -> str:
    pascal = pascal_case(value)
    return pascal[:1].lower() + pascal[1:]


def snake_case(value: str) -> str:
    return "_".join(part.lower() for part in words(value))


def kebab_case(value: str) -> str:
    return "-".join(part.lower() for part in words(value))


def title_case(value: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in words(value))


def singular(value: str) -> str:
    """English singular of a plural noun, good enough for entity names (orders -> order)."""
    if value.endswith("ies") and len(value) > 4:
        return value[:-3] + "y"
    if value.endswith(("sses", "shes", "ches", "xes")):
        return value[:-2]
    if value.endswith("s") and not value.endswith("ss") and len(value) > 3:
        return value[:-1]
    return value


def slugify(value: str, max_length: int = PROJECT_SLUG_MAX) -> str:
    """A DNS-1123 label from free text: ASCII letters and digits, hyphen separated."""
    slug = "-".join(part.lower() for part in re.split(r"[^A-Za-z0-9]+", value) if part)
    slug = slug.lstrip("-0123456789")[:max_length].rstrip("-")
    return slug or "service"


# --------------------------------------------------------------------------- validators
# Each validator returns "" for a valid answer, or a message that copier prefixes with
# "Validation error for question '<name>': ".


def _dns_label_error(value: Any, max_length: int, what: str) -> str:
    if not isinstance(value, str) or not value:
        return f"{what} must not be empty"
    if len(value) > max_length:
        return f"{what} {value!r} has {len(value)} characters; at most {max_length} are allowed"
    if not DNS1123_LABEL.match(value):
        return (
            f"{what} {value!r} must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return ""


def _is_single_line(value: str) -> bool:
    """No control characters or line/paragraph separators (they would break YAML and Markdown lines)."""
    return not any(unicodedata.category(char) in {"Cc", "Zl", "Zp"} for char in value)


def validate_project_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "the project name must not be empty"
    if not _is_single_line(value):
        return "the project name must be a single line without control characters"
    if len(value) > 80:
        return f"the project name has {len(value)} characters; at most 80 are allowed"
    return ""


def validate_project_slug(value: Any) -> str:
    return _dns_label_error(value, PROJECT_SLUG_MAX, "the slug")


def validate_description(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "the description must not be empty"
    if not _is_single_line(value):
        return "the description must be a single line without control characters"
    if len(value) > 300:
        return f"the description has {len(value)} characters; at most 300 are allowed"
    return ""


def validate_owner(value: Any) -> str:
    return _dns_label_error(value, 63, "the owner (a team slug)")


def validate_contact_email(value: Any) -> str:
    if not isinstance(value, str) or not EMAIL.match(value):
        return f"{value!r} is not an e-mail address (expected name@domain.tld)"
    return ""


def validate_container_registry(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "the container registry must not be empty"
    if value.endswith("/") or "://" in value:
        return f"{value!r} must be a registry host and path without scheme or trailing '/', e.g. ghcr.io/my-team"
    if not REGISTRY.match(value):
        return f"{value!r} is not a valid registry reference (lower-case host[:port]/path)"
    return ""


def validate_bounded_contexts(value: Any) -> str:
    if not isinstance(value, list):
        return "bounded_contexts must be a list of names, e.g. [orders, payments]"
    if not 1 <= len(value) <= BOUNDED_CONTEXTS_MAX_COUNT:
        return f"give 1 to {BOUNDED_CONTEXTS_MAX_COUNT} bounded contexts; got {len(value)}"
    seen: set[str] = set()
    for name in value:
        error = _dns_label_error(name, BOUNDED_CONTEXT_MAX, "the bounded context")
        if error:
            return error
        if name in RESERVED_CONTEXTS:
            return (
                f"the bounded context {name!r} is reserved for the platform layer "
                f"({', '.join(sorted(RESERVED_CONTEXTS))})"
            )
        if name in seen:
            return f"the bounded context {name!r} is listed twice"
        seen.add(name)
    return ""


def validate_api_styles(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return "choose at least one API style"
    return ""


def validate_slo_availability(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    if not 90.0 <= float(value) < 100.0:
        return f"{value} is outside 90 <= availability < 100 (a percentage, e.g. 99.9)"
    return ""


def validate_p95_latency_ms(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a whole number of milliseconds"
    if not 1 <= value <= 60000:
        return f"{value} is outside 1..60000 milliseconds"
    return ""


def validate_coverage_threshold(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{value!r} is not a whole percentage"
    if not 0 <= value <= 100:
        return f"{value} is outside 0..100 percent"
    return ""


def validate_message_broker(value: Any, architecture: Any) -> str:
    if value == "none" and architecture == "microservices":
        return (
            "message_broker 'none' cannot be combined with architecture 'microservices': "
            "services exchange integration events through a broker; choose redis, rabbitmq, nats or kafka"
        )
    return ""


VALIDATORS: dict[str, Callable[[Any], str]] = {
    "project_name": validate_project_name,
    "project_slug": validate_project_slug,
    "description": validate_description,
    "owner": validate_owner,
    "contact_email": validate_contact_email,
    "container_registry": validate_container_registry,
    "bounded_contexts": validate_bounded_contexts,
    "api_styles": validate_api_styles,
    "slo_availability": validate_slo_availability,
    "p95_latency_ms": validate_p95_latency_ms,
    "coverage_threshold": validate_coverage_threshold,
}


def check(question: str, value: Any) -> str:
    """Run the validator of one question (used by copier.yml validators)."""
    return VALIDATORS[question](value)


# --------------------------------------------------------------------------- derived context


@dataclass(frozen=True)
class Module:
    """One bounded context: a Nest module (monoliths) or a service (microservices)."""

    slug: str
    pascal: str
    camel: str
    snake: str
    title: str
    entity: str
    entity_snake: str
    table: str
    schema: str | None
    event: str
    path: str


@dataclass(frozen=True)
class Service:
    """One deployable: the whole app for monoliths, one per bounded context for microservices."""

    name: str
    app: str
    port: int
    local_port: int
    source_dir: str
    entrypoint: str
    database: str
    modules: tuple[str, ...]


@dataclass(frozen=True)
class Adr:
    number: int
    id: str
    key: str
    title: str
    status: str
    file: str


@dataclass
class Derived:
    stack: dict[str, Any]
    node: dict[str, Any]
    profile: dict[str, Any]
    database_info: dict[str, Any]
    broker_info: dict[str, Any] | None
    modules: list[dict[str, Any]]
    services: list[dict[str, Any]]
    adrs: list[dict[str, Any]]
    artifacts: dict[str, bool]
    image: str
    app_port: int = APP_PORT
    playbook_version: str = ""
    compliance_labels: list[str] = field(default_factory=list)
    env_vars: list[dict[str, Any]] = field(default_factory=list)
    npm_scripts: dict[str, str] = field(default_factory=dict)
    servers: list[dict[str, Any]] = field(default_factory=list)
    choice_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    cloud_services: dict[str, Any] | None = None
    telemetry: dict[str, Any] = field(default_factory=dict)
    slo: dict[str, Any] = field(default_factory=dict)
    decision_date: str = ""
    npm_dependencies: dict[str, dict[str, str]] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)
    team_adr_first: int = 0  # the first ADR number of the team's own records (TEAM_ADR_FIRST)

    def as_context(self) -> dict[str, Any]:
        return asdict(self)


DATABASE_INFO: dict[str, dict[str, Any]] = {
    "postgresql": {"label": "PostgreSQL", "typeorm": "postgres", "driver": "pg", "image": "postgresql"},
    "mysql": {"label": "MySQL", "typeorm": "mysql", "driver": "mysql2", "image": "mysql"},
}
BROKER_INFO: dict[str, dict[str, Any]] = {
    "redis": {"label": "Redis Pub/Sub", "transport": "REDIS", "image": "redis", "scheme": "redis"},
    "rabbitmq": {"label": "RabbitMQ", "transport": "RMQ", "image": "rabbitmq", "scheme": "amqp"},
    "nats": {"label": "NATS", "transport": "NATS", "image": "nats", "scheme": "nats"},
    "kafka": {"label": "Apache Kafka", "transport": "KAFKA", "image": "kafka", "scheme": "kafka"},
}
COMPLIANCE_LABELS = {"gdpr": "GDPR", "hipaa": "HIPAA", "pci-dss": "PCI DSS v4.0.1", "sox": "SOX"}

# The ADR catalogue, in numbering order. Records that always exist come first so their numbers
# never move when an answer changes; conditional records follow. `when` reads the answers.
ADR_CATALOGUE: tuple[tuple[str, str, str, Callable[[Mapping[str, Any]], bool]], ...] = (
    ("record-architecture-decisions", "Record architecture decisions", "accepted", lambda a: True),
    ("architecture-style", "Architecture style: {architecture_label}", "accepted", lambda a: True),
    ("database", "Primary database: {database_label}", "accepted", lambda a: True),
    ("api-styles", "API styles: {api_label}", "accepted", lambda a: True),
    ("messaging", "Messaging: {broker_label}", "accepted", lambda a: True),
    ("cloud-runtime", "Cloud and runtime: {cloud_label} with Kubernetes", "accepted", lambda a: True),
    ("framework-runtime", "NestJS {nest} on Node.js {node}", "accepted", lambda a: True),
    ("http-adapter", "HTTP adapter: {adapter_label}", "accepted", lambda a: True),
    ("authentication", "Authentication: {auth_label}", "accepted", lambda a: True),
    ("compliance-baseline", "{industry_label} compliance baseline", "accepted", lambda a: True),
    ("module-boundaries", "Schema per module and enforced module boundaries", "proposed",
     lambda a: a["architecture"] == "modular-monolith"),
    ("database-per-service", "Database per service", "proposed", lambda a: a["architecture"] == "microservices"),
    ("transactional-outbox", "Transactional outbox for integration events", "proposed",
     lambda a: a["message_broker"] != "none"),
    ("cqrs", "CQRS with @nestjs/cqrs", "accepted", lambda a: bool(a["cqrs"])),
    ("redis-cache", "Redis cache and shared rate-limit storage", "accepted", lambda a: bool(a["cache"])),
    ("pan-tokenisation", "Card data stays with the PSP: PAN tokenisation", "proposed",
     lambda a: "pci-dss" in a["compliance"]),
    ("audit-trail", "Append-only audit trail for ePHI access", "proposed", lambda a: "hipaa" in a["compliance"]),
    ("double-entry-ledger", "Double-entry ledger with idempotent postings", "proposed",
     lambda a: a["industry"] == "finance"),
    ("media-pipeline", "Direct upload and queued transcoding", "proposed", lambda a: a["industry"] == "media"),
    ("personal-data", "Personal data inventory and erasure", "proposed", lambda a: "gdpr" in a["compliance"]),
)

# ADR numbers. The template's records take 0001 to TEAM_ADR_FIRST - 1 in catalogue order; the
# team's own records start at TEAM_ADR_FIRST, so a newer playbook that adds a record can never take
# a number (or a file name) the team already used. The catalogue is append-only across releases: a
# new record goes at the end, no record is removed or moved, so for unchanged answers every record
# keeps its number and file name, and `copier update` only adds files (it never rewrites a record:
# copier.yml lists numbered records under _skip_if_exists). migrations/check_adr_numbers.py fails
# an update that would leave two records with one number.
TEAM_ADR_FIRST = 100

ARCHITECTURE_LABELS = {"monolith": "Monolith", "modular-monolith": "Modular monolith", "microservices": "Microservices"}
CLOUD_LABELS = {"aws": "AWS", "gcp": "Google Cloud", "azure": "Microsoft Azure", "on-prem": "On-premises"}
ADAPTER_LABELS = {"fastify": "Fastify", "express": "Express"}
AUTH_LABELS = {"jwt": "JWT bearer tokens", "oidc": "OpenID Connect"}
API_LABELS = {"rest": "REST", "graphql": "GraphQL", "grpc": "gRPC", "websocket": "WebSocket"}

REQUIRED_ANSWERS = (
    "project_name", "project_slug", "description", "owner", "contact_email", "container_registry",
    "industry", "architecture", "bounded_contexts", "http_adapter", "api_styles", "auth", "cqrs",
    "database", "cache", "message_broker", "compliance", "cloud", "ci", "ingress", "service_mesh",
    "node_version", "include_app", "slo_availability", "p95_latency_ms", "coverage_threshold",
)


def adr_file_slug(title: str) -> str:
    return kebab_case(title.replace("@", "").replace("/", " "))


def derive_adrs(answers: Mapping[str, Any], stack: Mapping[str, Any]) -> list[Adr]:
    labels = {
        "architecture_label": ARCHITECTURE_LABELS[answers["architecture"]],
        "database_label": DATABASE_INFO[answers["database"]]["label"],
        "api_label": ", ".join(API_LABELS[s] for s in answers["api_styles"]),
        "broker_label": (
            "in-process events only, no broker yet"
            if answers["message_broker"] == "none"
            else BROKER_INFO[answers["message_broker"]]["label"]
        ),
        "cloud_label": CLOUD_LABELS[answers["cloud"]],
        "nest": stack["frameworks"]["nestjs"]["chosen"],
        "node": str(answers["node_version"]),
        "adapter_label": ADAPTER_LABELS[answers["http_adapter"]],
        "auth_label": AUTH_LABELS[answers["auth"]],
        "industry_label": industry_profile(answers["industry"])["label"],
    }
    adrs: list[Adr] = []
    for key, title_pattern, status, applies in ADR_CATALOGUE:
        if not applies(answers):
            continue
        number = len(adrs) + 1
        if number >= TEAM_ADR_FIRST:
            raise ValueError(f"the ADR catalogue outgrew the template's range 0001-{TEAM_ADR_FIRST - 1:04d}")
        title = title_pattern.format(**labels)
        adrs.append(
            Adr(number, f"{number:04d}", key, title, status, f"{number:04d}-{adr_file_slug(key)}.md")
        )
    return adrs


def derive_modules(answers: Mapping[str, Any]) -> list[Module]:
    modules = []
    per_service = answers["architecture"] == "microservices"
    for slug in answers["bounded_contexts"]:
        entity = pascal_case(singular(slug))
        schema = snake_case(slug) if (
            answers["architecture"] == "modular-monolith" and answers["database"] == "postgresql"
        ) else None
        modules.append(
            Module(
                slug=slug,
                pascal=pascal_case(slug),
                camel=camel_case(slug),
                snake=snake_case(slug),
                title=title_case(slug),
                entity=entity,
                entity_snake=snake_case(singular(slug)),
                table=snake_case(slug),
                schema=schema,
                event=f"{entity}Created",
                path=f"apps/{slug}/src" if per_service else f"src/modules/{slug}",
            )
        )
    return modules


def derive_services(answers: Mapping[str, Any], modules: list[Module]) -> list[Service]:
    slug = answers["project_slug"]
    if answers["architecture"] != "microservices":
        return [
            Service(
                name=slug, app=slug, port=APP_PORT, local_port=APP_PORT, source_dir="src",
                entrypoint="dist/main.js", database=snake_case(slug),
                modules=tuple(m.slug for m in modules),
            )
        ]
    return [
        Service(
            name=f"{slug}-{module.slug}", app=module.slug, port=APP_PORT, local_port=APP_PORT + 1 + index,
            source_dir=f"apps/{module.slug}", entrypoint=f"dist/apps/{module.slug}/main.js",
            database=module.snake, modules=(module.slug,),
        )
        for index, module in enumerate(modules)
    ]


def derive_artifacts(answers: Mapping[str, Any]) -> dict[str, bool]:
    styles = set(answers["api_styles"])
    return {
        "app": bool(answers["include_app"]),
        "github": answers["ci"] == "github",
        "gitlab": answers["ci"] == "gitlab",
        "gateway_api": answers["ingress"] == "gateway-api",
        "ingress": answers["ingress"] == "ingress",
        "istio": answers["service_mesh"] == "istio",
        "linkerd": answers["service_mesh"] == "linkerd",
        "broker": answers["message_broker"] != "none",
        "redis": bool(answers["cache"]) or answers["message_broker"] == "redis",
        "rest": "rest" in styles,
        "graphql": "graphql" in styles,
        "grpc": "grpc" in styles,
        "websocket": "websocket" in styles,
        "microservices": answers["architecture"] == "microservices",
        "modular": answers["architecture"] == "modular-monolith",
    }


# The labels of every choice question, exactly as copier.yml shows them (a test compares the two).
# The document and the ADRs use them for the chosen value and for the considered alternatives.
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "industry": {"general": "General", "ecommerce": "E-commerce", "healthcare": "Healthcare",
                 "finance": "Finance", "media": "Media"},
    "compliance": {"gdpr": "GDPR", "hipaa": "HIPAA", "pci-dss": "PCI DSS v4.0.1", "sox": "SOX"},
    "architecture": {"monolith": "Monolith", "modular-monolith": "Modular monolith",
                     "microservices": "Microservices"},
    "http_adapter": {"fastify": "Fastify", "express": "Express"},
    "api_styles": {"rest": "REST", "graphql": "GraphQL", "grpc": "gRPC", "websocket": "WebSocket"},
    "auth": {"jwt": "JWT bearer tokens", "oidc": "OpenID Connect"},
    "database": {"postgresql": "PostgreSQL", "mysql": "MySQL"},
    "message_broker": {"none": "None (in-process events only)", "redis": "Redis Pub/Sub", "rabbitmq": "RabbitMQ",
                       "nats": "NATS", "kafka": "Apache Kafka"},
    "cloud": {"aws": "AWS", "gcp": "Google Cloud", "azure": "Microsoft Azure", "on-prem": "On-premises Kubernetes"},
    "ci": {"github": "GitHub Actions", "gitlab": "GitLab CI", "none": "None"},
    "ingress": {"gateway-api": "Gateway API (HTTPRoute)", "ingress": "Ingress", "none": "None"},
    "service_mesh": {"none": "None", "istio": "Istio", "linkerd": "Linkerd"},
    "node_version": {"24": "Node.js 24 LTS", "22": "Node.js 22 LTS"},
}

# Managed services per cloud, named as the providers name them. On-premises has none: the document
# lists the platform team's equivalents as open questions instead.
CLOUD_SERVICES: dict[str, dict[str, Any]] = {
    "aws": {
        "kubernetes": "Amazon EKS",
        "database": {"postgresql": "Amazon RDS for PostgreSQL", "mysql": "Amazon RDS for MySQL"},
        "redis": "Amazon ElastiCache (Redis OSS)",
        "broker": {"redis": "Amazon ElastiCache (Redis OSS)", "rabbitmq": "Amazon MQ for RabbitMQ",
                   "kafka": "Amazon MSK", "nats": None},
        "registry": "Amazon ECR",
        "secrets": "AWS Secrets Manager",
        "kms": "AWS KMS",
        "object_storage": "Amazon S3",
        "cdn": "Amazon CloudFront",
        "waf": "AWS WAF",
        "logs": "Amazon CloudWatch Logs",
        "traces": "AWS X-Ray",
        "metrics": "Amazon Managed Service for Prometheus",
        "backup": "automated backups with point-in-time recovery",
        "baa_scope": "the AWS HIPAA Eligible Services list",
    },
    "gcp": {
        "kubernetes": "Google Kubernetes Engine (GKE)",
        "database": {"postgresql": "Cloud SQL for PostgreSQL", "mysql": "Cloud SQL for MySQL"},
        "redis": "Memorystore for Redis",
        "broker": {"redis": "Memorystore for Redis", "kafka": "Google Cloud Managed Service for Apache Kafka",
                   "rabbitmq": None, "nats": None},
        "registry": "Artifact Registry",
        "secrets": "Secret Manager",
        "kms": "Cloud KMS",
        "object_storage": "Cloud Storage",
        "cdn": "Cloud CDN",
        "waf": "Google Cloud Armor",
        "logs": "Cloud Logging",
        "traces": "Cloud Trace",
        "metrics": "Google Cloud Managed Service for Prometheus",
        "backup": "automated backups with point-in-time recovery",
        "baa_scope": "the Google Cloud services covered by its BAA",
    },
    "azure": {
        "kubernetes": "Azure Kubernetes Service (AKS)",
        "database": {"postgresql": "Azure Database for PostgreSQL flexible server",
                     "mysql": "Azure Database for MySQL flexible server"},
        "redis": "Azure Managed Redis",
        "broker": {"redis": "Azure Managed Redis", "kafka": "Azure Event Hubs (Kafka endpoint)",
                   "rabbitmq": None, "nats": None},
        "registry": "Azure Container Registry",
        "secrets": "Azure Key Vault",
        "kms": "Azure Key Vault keys",
        "object_storage": "Azure Blob Storage",
        "cdn": "Azure Front Door",
        "waf": "Azure Web Application Firewall",
        "logs": "Azure Monitor Logs",
        "traces": "Application Insights",
        "metrics": "Azure Monitor managed service for Prometheus",
        "backup": "automated backups with point-in-time restore",
        "baa_scope": "the Azure services in scope of the Microsoft BAA",
    },
}

# Seconds; the latency objective is added as a bucket boundary so its quantile is exact.
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLO_WINDOW_DAYS = 30


def derive_cloud_services(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The chosen cloud's managed services, with the database and broker already picked."""
    cloud = CLOUD_SERVICES.get(answers["cloud"])
    if cloud is None:
        return None
    services = {key: value for key, value in cloud.items() if key not in ("database", "broker")}
    services["database"] = cloud["database"][answers["database"]]
    broker = answers["message_broker"]
    services["broker"] = None if broker == "none" else cloud["broker"][broker]
    return services


def derive_telemetry(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The metric contract between the app's /metrics, the alert rules, the dashboard and the document."""
    objective = round(int(answers["p95_latency_ms"]) / 1000, 6)
    return {
        "http_duration_histogram": "http_request_duration_seconds",
        "http_labels": ["method", "route", "status_code"],
        "http_buckets": sorted({*HTTP_DURATION_BUCKETS, objective}),
    }


def _number(value: float) -> str:
    """A percentage or duration without float noise: 99.9 -> '99.9', 99.0 -> '99'."""
    return f"{round(value, 6):g}"


def derive_slo(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The service-level objectives as the document, the alert rules and the load tests state them."""
    availability = float(answers["slo_availability"])
    budget = round(100.0 - availability, 6)
    p95_ms = int(answers["p95_latency_ms"])
    return {
        "availability": _number(availability),
        "error_budget_percent": _number(budget),
        "error_budget_ratio": round(budget / 100.0, 8),
        "window_days": SLO_WINDOW_DAYS,
        "budget_minutes": _number(round(SLO_WINDOW_DAYS * 24 * 60 * budget / 100.0, 1)),
        "p95_ms": p95_ms,
        "p95_seconds": _number(p95_ms / 1000),
        "coverage": int(answers["coverage_threshold"]),
    }


def decision_date() -> str:
    """Today's date for the ADRs' front matter, or SOURCE_DATE_EPOCH's (reproducible renders)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC).date().isoformat()
    return date.today().isoformat()


def derive(answers: Mapping[str, Any]) -> Derived:
    """Every value the templates need beyond the answers themselves."""
    missing = [name for name in REQUIRED_ANSWERS if name not in answers]
    if missing:
        raise KeyError(f"answers missing: {', '.join(missing)}")
    stack = stack_manifest()
    node_version = str(answers["node_version"])
    modules = derive_modules(answers)
    services = derive_services(answers, modules)
    broker = answers["message_broker"]
    database = dict(DATABASE_INFO[answers["database"]])
    database["server"] = stack["images"][database["image"]]
    broker_info = None
    if broker != "none":
        broker_info = dict(BROKER_INFO[broker])
        broker_info["server"] = stack["images"][broker_info["image"]]
    return Derived(
        stack=stack,
        node=stack["node"][node_version],
        profile=industry_profile(answers["industry"]),
        database_info=database,
        broker_info=broker_info,
        modules=[asdict(m) for m in modules],
        services=[{**asdict(s), "local_database_url": local_database_url(answers, s.database)} for s in services],
        adrs=[asdict(a) for a in derive_adrs(answers, stack)],
        artifacts=derive_artifacts(answers),
        image=f"{answers['container_registry']}/{answers['project_slug']}",
        playbook_version=stack["playbook"]["version"],
        compliance_labels=[COMPLIANCE_LABELS[c] for c in answers["compliance"]],
        env_vars=[asdict(e) for e in derive_env_vars(answers, services)],
        npm_scripts=derive_npm_scripts(answers),
        servers=[asdict(s) for s in derive_servers(answers, services)],
        choice_labels={name: dict(labels) for name, labels in CHOICE_LABELS.items()},
        cloud_services=derive_cloud_services(answers),
        telemetry=derive_telemetry(answers),
        slo=derive_slo(answers),
        decision_date=decision_date(),
        npm_dependencies=derive_npm_dependencies(answers),
        delivery=derive_delivery(answers, services),
        team_adr_first=TEAM_ADR_FIRST,
    )


@lru_cache(maxsize=64)
def _derive_cached(frozen_answers: str) -> dict[str, Any]:
    return derive(json.loads(frozen_answers)).as_context()


REQUIRED_SET = frozenset(REQUIRED_ANSWERS)
_required_values = itemgetter(*REQUIRED_ANSWERS)
IMMUTABLE_ANSWER_TYPES = (str, int, float, bool, type(None))


class _LastContext:
    """The answer objects of the last `derive_context` call with a result, and that result."""

    __slots__ = ("lists", "result", "values")

    def __init__(self, values: tuple[Any, ...], lists: tuple[tuple[int, tuple[Any, ...]], ...],
                 result: dict[str, Any]) -> None:
        self.values = values
        self.lists = lists  # (position, items) of each list answer
        self.result = result

    def matches(self, values: tuple[Any, ...]) -> bool:
        """Whether `values` are the same objects, with the same items in each list: then their JSON
        key, and so the result, is the same too."""
        if not all(map(is_, values, self.values)):
            return False
        for position, items in self.lists:
            current = values[position]
            if len(current) != len(items) or not all(map(is_, current, items)):
                return False
        return True


_last_context: list[_LastContext | None] = [None]  # replaced whole, so readers never see half of it


def _remember(values: tuple[Any, ...], result: dict[str, Any]) -> None:
    """Keep `values` for the identity check when nothing in them can change behind our back."""
    lists = []
    for position, value in enumerate(values):
        if type(value) is list and all(type(item) in IMMUTABLE_ANSWER_TYPES for item in value):
            lists.append((position, tuple(value)))
        elif type(value) not in IMMUTABLE_ANSWER_TYPES:
            _last_context[0] = None
            return
    _last_context[0] = _LastContext(values, tuple(lists), result)


def derive_context(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """Memoised `derive` for the context hook; None while answers are still incomplete.

    The hook runs for every Jinja context copier creates (well over a thousand per render), nearly
    always with the very answer objects of the call before: those cost an identity check. Other
    answers (copier update renders the old and the new answers in one process) go through the key
    built from their JSON, as before.
    """
    if not answers.keys() >= REQUIRED_SET:
        return None
    values: tuple[Any, ...] = _required_values(answers)
    last = _last_context[0]
    if last is not None and last.matches(values):
        return last.result
    frozen = json.dumps({name: answers[name] for name in REQUIRED_ANSWERS}, sort_keys=True, default=str)
    result = _derive_cached(frozen)
    _remember(values, result)
    return result


# Local and CI credentials of the backing servers: harmless placeholders that .env.example,
# docker-compose and the CI service containers share (the app refuses them in production).
LOCAL_USER = "app"
LOCAL_PASSWORD = "change-me"


@dataclass(frozen=True)
class Server:
    """A backing server of the app (database, Redis, broker) as docker-compose and CI start it:
    the image from the stack manifest, the container's environment (matching the .env.example
    URLs) and a shell command, run inside the container, that exits 0 once it accepts clients."""

    key: str
    role: str
    host: str
    image: str
    port: int
    env: dict[str, str]
    health: str


def derive_servers(answers: Mapping[str, Any], services: list[Service]) -> list[Server]:
    images = stack_manifest()["images"]

    def image(key: str) -> str:
        entry = images[key]
        digest = f"@{entry['digest']}" if entry.get("digest") else ""
        return f"{entry['name']}:{entry['tag']}{digest}"

    db_name = services[0].database
    servers: list[Server] = []
    if answers["database"] == "postgresql":
        servers.append(Server(
            "postgresql", "database", "postgres", image("postgresql"), images["postgresql"]["port"],
            {"POSTGRES_USER": LOCAL_USER, "POSTGRES_PASSWORD": LOCAL_PASSWORD, "POSTGRES_DB": db_name},
            f"pg_isready -h 127.0.0.1 -U {LOCAL_USER}",  # the server's state; any database name will do
        ))
    else:
        servers.append(Server(
            "mysql", "database", "mysql", image("mysql"), images["mysql"]["port"],
            {"MYSQL_USER": LOCAL_USER, "MYSQL_PASSWORD": LOCAL_PASSWORD, "MYSQL_DATABASE": db_name,
             "MYSQL_RANDOM_ROOT_PASSWORD": "yes"},
            "mysqladmin ping -h 127.0.0.1 --silent",  # exits 0 once the server answers TCP
        ))
    broker = answers["message_broker"]
    if answers["cache"] or broker == "redis":
        servers.append(Server("redis", "redis", "redis", image("redis"), images["redis"]["port"], {},
                              "redis-cli -h 127.0.0.1 ping"))
    if broker == "rabbitmq":
        servers.append(Server(
            "rabbitmq", "broker", "rabbitmq", image("rabbitmq"), images["rabbitmq"]["port"],
            {"RABBITMQ_DEFAULT_USER": LOCAL_USER, "RABBITMQ_DEFAULT_PASS": LOCAL_PASSWORD},
            "rabbitmq-diagnostics -q ping",
        ))
    elif broker == "nats":
        # The image's default configuration serves monitoring (and /healthz) on port 8222.
        servers.append(Server("nats", "broker", "nats", image("nats"), images["nats"]["port"], {},
                              "wget -q -O /dev/null http://127.0.0.1:8222/healthz"))
    elif broker == "kafka":
        # apache/kafka starts a single KRaft node advertising localhost:9092 by default.
        servers.append(Server(
            "kafka", "broker", "kafka", image("kafka"), images["kafka"]["port"], {},
            f"/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:{images['kafka']['port']}",
        ))
    return servers


@dataclass(frozen=True)
class EnvVar:
    """One configuration variable of the app: the contract between the app's config schema,
    .env.example, docker-compose, the Kubernetes ConfigMap/Secret and CI."""

    name: str
    secret: bool
    example: str
    description: str


def database_url(answers: Mapping[str, Any], host: str, port: int, database_name: str) -> str:
    """A connection URL with the local development credentials."""
    scheme = "postgres" if answers["database"] == "postgresql" else "mysql"
    return f"{scheme}://{LOCAL_USER}:{LOCAL_PASSWORD}@{host}:{port}/{database_name}"


def local_database_url(answers: Mapping[str, Any], database_name: str) -> str:
    """The URL of one service's database on the docker compose server, seen from the host."""
    port = stack_manifest()["images"][DATABASE_INFO[answers["database"]]["image"]]["port"]
    return database_url(answers, "localhost", port, database_name)


def derive_env_vars(answers: Mapping[str, Any], services: list[Service]) -> list[EnvVar]:
    env = [
        EnvVar("NODE_ENV", False, "development", "development, test or production"),
        EnvVar("PORT", False, str(APP_PORT), "HTTP port the app listens on"),
        EnvVar("LOG_LEVEL", False, "info", "pino log level"),
        EnvVar("CORS_ORIGINS", False, "http://localhost:5173", "comma-separated allow-list of browser origins"),
        EnvVar("DATABASE_URL", True, local_database_url(answers, services[0].database),
               "database connection URL (a Secret in Kubernetes)"),
    ]
    if answers["cache"] or answers["message_broker"] == "redis":
        env.append(EnvVar("REDIS_URL", True, "redis://localhost:6379", "Redis connection URL"))
    broker = answers["message_broker"]
    if broker not in ("none", "redis"):
        image = stack_manifest()["images"][BROKER_INFO[broker]["image"]]
        example = {
            "rabbitmq": f"amqp://{LOCAL_USER}:{LOCAL_PASSWORD}@localhost:{image['port']}",
            "nats": f"nats://localhost:{image['port']}",
            "kafka": f"localhost:{image['port']}",
        }[broker]
        env.append(EnvVar("BROKER_URL", broker == "rabbitmq", example, f"{BROKER_INFO[broker]['label']} connection"))
    if answers["auth"] == "jwt":
        env += [
            EnvVar("JWT_SECRET", True, "change-me-to-a-long-random-secret", "HMAC key that signs and verifies JWTs"),
            EnvVar("JWT_ISSUER", False, f"https://auth.example.com/{answers['project_slug']}", "expected iss claim"),
            EnvVar("JWT_AUDIENCE", False, answers["project_slug"], "expected aud claim"),
        ]
    else:
        env += [
            EnvVar("OIDC_ISSUER_URL", False, "https://login.example.com/realms/main",
                   "issuer whose JWKS verifies tokens"),
            EnvVar("OIDC_AUDIENCE", False, answers["project_slug"], "expected aud claim"),
        ]
    env += [
        EnvVar("RATE_LIMIT_PER_MINUTE", False, "600", "requests per minute and client IP before 429"),
        EnvVar("SWAGGER_ENABLED", False, "true", "serve Swagger UI and /docs-json (off in production unless true)"),
        EnvVar("OTEL_SERVICE_NAME", False, answers["project_slug"], "service name on traces"),
        EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", False, "", "OTLP/HTTP collector URL; tracing is off when empty"),
    ]
    return env


def derive_npm_dependencies(answers: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The packages of the generated package.json with their ranges from the stack manifest:
    {"runtime": {...}, "dev": {...}}. The document's technology table lists these, so a test
    compares them with the rendered package.json."""
    npm = stack_manifest()["npm"]
    styles = set(answers["api_styles"])
    broker = answers["message_broker"]
    runtime = [
        "@nestjs/common", "@nestjs/core", f"@nestjs/platform-{answers['http_adapter']}", "@nestjs/swagger",
        "@nestjs/terminus", "@nestjs/throttler", "@nestjs/typeorm", "@opentelemetry/api", "@opentelemetry/sdk-node",
        "@opentelemetry/auto-instrumentations-node", "@opentelemetry/exporter-trace-otlp-proto",
        "class-transformer", "class-validator", "helmet", "jose", "nestjs-pino", "pino", "pino-http",
        "prom-client", "reflect-metadata", "rxjs", "typeorm", DATABASE_INFO[answers["database"]]["driver"],
    ]
    if answers["http_adapter"] == "fastify":
        runtime.append("@fastify/static")
    if answers["cqrs"]:
        runtime.append("@nestjs/cqrs")
    if broker != "none" or "grpc" in styles:
        runtime.append("@nestjs/microservices")
    if answers["cache"] or broker == "redis":
        runtime.append("ioredis")
    runtime += {"rabbitmq": ["amqplib", "amqp-connection-manager"], "nats": ["@nats-io/transport-node"],
                "kafka": ["kafkajs"]}.get(broker, [])
    if "graphql" in styles:
        runtime += ["@nestjs/graphql", "@nestjs/apollo", "@apollo/server", "graphql"]
    if "grpc" in styles:
        runtime += ["@grpc/grpc-js", "@grpc/proto-loader"]
    if "websocket" in styles:
        runtime += ["@nestjs/websockets", "@nestjs/platform-socket.io"]
    dev = [
        "@nestjs/cli", "@nestjs/schematics", "@nestjs/testing", "@types/jest", "@types/supertest", "eslint",
        "jest", "markdownlint-cli2", "prettier", "supertest", "ts-jest", "typescript", "typescript-eslint",
    ]
    dev.append("@types/express" if answers["http_adapter"] == "express" else "fastify")
    if answers["architecture"] == "modular-monolith":
        dev.append("dependency-cruiser")
    node = stack_manifest()["node"][str(answers["node_version"])]
    return {
        "runtime": {name: npm["runtime"][name] for name in sorted(runtime)},
        "dev": {"@types/node": node["types"], **{name: npm["dev"][name] for name in sorted(dev)}},
    }


def derive_npm_scripts(answers: Mapping[str, Any]) -> dict[str, str]:
    """The generated package.json scripts: CI jobs and the README call these names."""
    scripts = {
        "build": "nest build",
        "start": "nest start",
        "start:dev": "nest start --watch",
        "start:prod": "node dist/main.js",
        "lint": "eslint .",
        "format:check": "prettier --check .",
        "typecheck": "tsc --noEmit -p tsconfig.json",
        "test": "node --experimental-vm-modules node_modules/jest/bin/jest.js",
        "test:cov": "node --experimental-vm-modules node_modules/jest/bin/jest.js --coverage",
        "test:e2e": ("node --experimental-vm-modules node_modules/jest/bin/jest.js"
                     " --config test/jest-e2e.json --runInBand"),
        "migration:run": "typeorm migration:run -d dist/platform/database/data-source.js",
        "migration:revert": "typeorm migration:revert -d dist/platform/database/data-source.js",
        "migration:generate": "typeorm migration:generate -d dist/platform/database/data-source.js",
        "openapi:export": "node dist/openapi-export.js",
        "docs:check": "markdownlint-cli2 \"docs/**/*.md\" \"README.md\"",
        "manifests:check": "bash deploy/k8s/check.sh",
    }
    if answers["architecture"] == "modular-monolith":
        scripts["lint:arch"] = "depcruise src --config .dependency-cruiser.cjs"
    if answers["architecture"] == "microservices":
        # One Nest app per bounded context: SERVICE names the app a command works on.
        apps = list(answers["bounded_contexts"])
        service = "${SERVICE:?set SERVICE to one of: " + " ".join(apps) + "}"
        data_source = f"dist/apps/{service}/src/data-source.js"
        scripts.update({
            "build": "nest build",
            "start": f"nest start {service}",
            "start:dev": f"nest start {service} --watch",
            "start:prod": f"node dist/apps/{service}/main.js",
            "migration:run": f"typeorm migration:run -d {data_source}",
            "migration:revert": f"typeorm migration:revert -d {data_source}",
            "migration:generate": f"typeorm migration:generate -d {data_source}",
            "openapi:export": "mkdir -p openapi && "
            + " && ".join(f"node dist/apps/{app}/openapi-export.js" for app in apps),
        })
    return scripts


# --------------------------------------------------------------------------- filters


def yaml_str(value: Any) -> str:
    """A YAML scalar that reads back as exactly `value` (a JSON string is valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~&#$])")
MARKDOWN_BLOCK_START = re.compile(r"^(\s*\d*)([-+=>.)])")


def md_text(value: Any) -> str:
    """Free text for one line of Markdown that renders as exactly that text.

    Characters with inline meaning are backslash-escaped (CommonMark allows it for any ASCII
    punctuation), and so is a leading list, quote or setext marker; other punctuation stays readable.
    """
    escaped = MARKDOWN_INLINE.sub(r"\\\1", str(value))
    return MARKDOWN_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped, count=1)


MERMAID_SPECIAL = frozenset('"#;<>`{}[]()|\\')


def mermaid_text(value: Any) -> str:
    """Free text for a quoted Mermaid label: characters with Mermaid meaning become entity codes (#35;)."""
    return "".join(f"#{ord(char)};" if char in MERMAID_SPECIAL else char for char in str(value))


def yaml_flow_list(values: list[str] | tuple[str, ...]) -> str:
    """A list as a YAML flow sequence, for templated question defaults."""
    return json.dumps(list(values))


def profile_contexts(industry: str) -> str:
    return yaml_flow_list(industry_profile(industry)["bounded_contexts"])


def profile_compliance(industry: str) -> str:
    return yaml_flow_list(industry_profile(industry)["compliance"])


def action_ref(key: str) -> str:
    """`owner/repo@sha # vX.Y.Z` for a pinned GitHub Action from the stack manifest."""
    action = stack_manifest()["actions"][key]
    return f"{action['uses']}@{action['sha']} # {action['tag']}"


def image_ref(key: str) -> str:
    image = stack_manifest()["images"][key]
    return f"{image['name']}:{image['tag']}"


# TypeScript as Prettier prints it. The generated sources must pass `prettier --check .` with the
# generated .prettierrc.json (tests/test_format.py), and some of their lines hold answer-dependent
# text (names, lists of modules, the project name). These helpers print such a line as Prettier
# would: flat when it fits in the print width, otherwise broken one item per line.
PRETTIER_PRINT_WIDTH = 100  # "printWidth" of template/.prettierrc.json
TS_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def text_width(text: str) -> int:
    """Display width as Prettier measures it: East Asian wide characters count two, marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def ts_str(value: Any) -> str:
    """A TypeScript string literal of `value` as Prettier prints it with `singleQuote`: single quotes
    unless the text holds more single than double quotes; backslashes, the quote and control
    characters escaped, every other character as it is."""
    text = str(value)
    quote = '"' if text.count("'") > text.count('"') else "'"
    escaped = []
    for char in text:
        if char in TS_ESCAPES:
            escaped.append(TS_ESCAPES[char])
        elif char == quote:
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F or char in "\u2028\u2029":
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return quote + "".join(escaped) + quote


def _last_line(text: str) -> str:
    return text.rsplit("\n", 1)[-1]


def _indent_of(text: str) -> str:
    line = _last_line(text)
    return line[: len(line) - len(line.lstrip(" "))]


def ts_list(items: list[str] | tuple[str, ...], head: str, tail: str = "", brackets: str = "[]") -> str:
    """`head[a, b]tail` when that line fits in the print width, else one item a line with trailing
    commas (Prettier's layout of an array, call arguments or, with brackets "{}", import specifiers
    and an object). `head` starts with the line's indentation; items are printed TypeScript."""
    items = [str(item) for item in items]
    opening, closing = brackets[0], brackets[1]
    pad = " " if opening == "{" and items else ""
    flat = f"{head}{opening}{pad}{', '.join(items)}{pad}{closing}{tail}"
    if not items or text_width(_last_line(flat)) <= PRETTIER_PRINT_WIDTH:
        return flat
    indent = _indent_of(head)
    lines = "".join(f"{indent}  {item},\n" for item in items)
    return f"{head}{opening}\n{lines}{indent}{closing}{tail}"


def ts_import(names: list[str] | tuple[str, ...], source: str, kind: str = "import") -> str:
    """`import { a, b } from 'source';` as Prettier prints it (a single name is never broken)."""
    names = [str(name) for name in names]
    if len(names) == 1:
        return f"{kind} {{ {names[0]} }} from {ts_str(source)};"
    return ts_list(names, f"{kind} ", f" from {ts_str(source)};", "{}")


def ts_fits(line: str) -> bool:
    """Whether one printed line fits in Prettier's print width (for layouts the other helpers do not cover)."""
    return text_width(_last_line(line)) <= PRETTIER_PRINT_WIDTH


def ts_assign(head: str, value: str, tail: str = "") -> str:
    """`head value tail` for an assignment or object property whose value is a string literal:
    Prettier moves the value to the next line, indented, when the line is too long."""
    flat = f"{head} {value}{tail}"
    if text_width(_last_line(flat)) <= PRETTIER_PRINT_WIDTH:
        return flat
    return f"{head}\n{_indent_of(head)}  {value}{tail}"


FILTERS: dict[str, Callable[..., Any]] = {
    "pascal_case": pascal_case,
    "camel_case": camel_case,
    "snake_case": snake_case,
    "kebab_case": kebab_case,
    "title_case": title_case,
    "slugify": slugify,
    "yaml_str": yaml_str,
    "md_text": md_text,
    "mermaid_text": mermaid_text,
    "yaml_flow_list": yaml_flow_list,
    "profile_contexts": profile_contexts,
    "profile_compliance": profile_compliance,
    "action_ref": action_ref,
    "image_ref": image_ref,
    "ts_str": ts_str,
}
GLOBALS: dict[str, Callable[..., Any]] = {
    "check": check, "validate_message_broker": validate_message_broker,
    "ts_list": ts_list, "ts_import": ts_import, "ts_assign": ts_assign, "ts_fits": ts_fits,
}


# --------------------------------------------------------------------------- delivery
# Values the Dockerfile, docker-compose.yml, the kustomize base and overlays and the observability
# config share. Names of platform components outside the service (gateway, monitoring, collector,
# mesh) are the conventional ones; the overlays are where a team changes them.

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
INGRESS_CLASSES = {"aws": "alb", "gcp": "gce", "azure": "webapprouting.kubernetes.azure.com", "on-prem": "traefik"}
MESH_NAMESPACES = {"istio": "istio-system", "linkerd": "linkerd"}
# Host ports of the local observability stack (app ports are 3000 and up, so Grafana moves).
LOCAL_OBSERVABILITY_PORTS = {"grafana": 3300, "prometheus": 9090, "jaeger": 16686, "otlp_http": 4318, "otlp_grpc": 4317}
MONOLITH_DATA_SOURCE = "dist/platform/database/data-source.js"
# The first release: package.json's version and the image tag the overlays start from.
INITIAL_RELEASE = "0.1.0"


def _decimal_text(value: float) -> str:
    """A plain decimal (no exponent, no float noise) for PromQL and YAML: 0.0144, 0.2, 60."""
    text = f"{round(value, 10):.10f}".rstrip("0").rstrip(".")
    return text or "0"


def data_source_path(answers: Mapping[str, Any], service: Service) -> str:
    """The compiled TypeORM DataSource the migration Job and compose's migrate service run."""
    if answers["architecture"] == "microservices":
        return f"dist/apps/{service.app}/src/data-source.js"
    return MONOLITH_DATA_SOURCE


def public_paths(answers: Mapping[str, Any], service: Service) -> list[str]:
    """Path prefixes the HTTPRoute or Ingress sends to a service. /metrics and /health stay internal.

    A monolith exposes its API prefix and the GraphQL and Socket.IO endpoints; a microservice
    exposes the REST prefix of its bounded context, since several services share one host.
    """
    styles = set(answers["api_styles"])
    if answers["architecture"] == "microservices":
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
    return {
        "name": name,
        "namespace": f"{slug}-{name}",
        "hostname": f"{slug}.{domain}",
        "cors_origins": f"https://app.{domain}",
        **sizing,
        "memory_request": f"{sizing['memory_request_mi']}Mi",
        "memory_limit": f"{sizing['memory_limit_mi']}Mi",
        "heap_mb": int(sizing["memory_limit_mi"] * HEAP_SHARE),
        "node_options": f"--max-old-space-size={int(sizing['memory_limit_mi'] * HEAP_SHARE)}",
    }


def kubernetes_config(answers: Mapping[str, Any], service: Service, env: dict[str, Any]) -> dict[str, str]:
    """The non-secret variables of one service's ConfigMap in one environment (production-shaped:
    the .env.example values are for a laptop)."""
    otel = f"http://{PLATFORM['otel_service']}.{PLATFORM['otel_namespace']}.svc.cluster.local:4318"
    overrides = {
        "NODE_ENV": "production",
        "LOG_LEVEL": env["log_level"],
        "CORS_ORIGINS": env["cors_origins"],
        "SWAGGER_ENABLED": "true" if env["swagger"] else "false",
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otel,
    }
    broker = answers["message_broker"]
    if broker in CLUSTER_BROKER_URLS:
        overrides["BROKER_URL"] = CLUSTER_BROKER_URLS[broker].format(
            port=stack_manifest()["images"][BROKER_INFO[broker]["image"]]["port"])
    config = {
        var.name: overrides.get(var.name, var.example)
        for var in derive_env_vars(answers, derive_services(answers, derive_modules(answers)))
        if not var.secret
    }
    config["NODE_OPTIONS"] = env["node_options"]
    config["OTEL_RESOURCE_ATTRIBUTES"] = f"deployment.environment.name={env['name']}"
    return config


# Placeholders for brokers whose address is not a secret; an overlay points them at the real cluster.
CLUSTER_BROKER_URLS = {
    "nats": "nats://nats.messaging.svc.cluster.local:{port}",
    "kafka": "kafka.messaging.svc.cluster.local:{port}",
}


def compose_environment(answers: Mapping[str, Any], service: Service) -> dict[str, str]:
    """What docker-compose sets on top of .env.example: the compose servers' host names instead of
    localhost, and this service's own database."""
    servers = {server.role: server for server in derive_servers(answers, [service])}
    database = servers["database"]
    env = {
        "DATABASE_URL": database_url(answers, database.host, database.port, service.database),
        "OTEL_SERVICE_NAME": service.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{PLATFORM['otel_service']}:{LOCAL_OBSERVABILITY_PORTS['otlp_http']}",
    }
    if "redis" in servers:
        env["REDIS_URL"] = f"redis://{servers['redis'].host}:{servers['redis'].port}"
    broker = servers.get("broker")
    if broker is not None and broker.key == "rabbitmq":
        env["BROKER_URL"] = f"amqp://{LOCAL_USER}:{LOCAL_PASSWORD}@{broker.host}:{broker.port}"
    elif broker is not None and broker.key == "nats":
        env["BROKER_URL"] = f"nats://{broker.host}:{broker.port}"
    elif broker is not None and broker.key == "kafka":
        env["BROKER_URL"] = f"{broker.host}:{KAFKA_INTERNAL_PORT}"
    return env


# Kafka in compose listens twice: on 9092 advertised as localhost (the host's .env.example) and on
# this port advertised as kafka (the app containers).
KAFKA_INTERNAL_PORT = 19092


def egress_ports(answers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Backing servers the pods connect to, for the NetworkPolicy egress rules."""
    images = stack_manifest()["images"]
    ports = [{"name": DATABASE_INFO[answers["database"]]["label"],
              "port": images[DATABASE_INFO[answers["database"]]["image"]]["port"]}]
    if answers["cache"] or answers["message_broker"] == "redis":
        ports.append({"name": "Redis", "port": images["redis"]["port"]})
    broker = answers["message_broker"]
    if broker not in ("none", "redis"):
        ports.append({"name": BROKER_INFO[broker]["label"], "port": images[BROKER_INFO[broker]["image"]]["port"]})
    return ports


def alert_thresholds(answers: Mapping[str, Any]) -> dict[str, str]:
    """Multi-window burn-rate thresholds (Google SRE workbook, ch. 5) for the availability answer,
    and the latency objective as the histogram bucket the alert reads."""
    budget = (100.0 - float(answers["slo_availability"])) / 100.0
    return {
        "error_budget": _decimal_text(budget),
        "fast_burn": _decimal_text(14.4 * budget),
        "slow_burn": _decimal_text(6 * budget),
        "latency_bucket": _decimal_text(int(answers["p95_latency_ms"]) / 1000),
    }


def derive_delivery(answers: Mapping[str, Any], services: list[Service]) -> dict[str, Any]:
    registry = answers["container_registry"]
    environments = [environment_settings(answers, name) for name in ENVIRONMENTS]
    base = next(env for env in environments if env["name"] == BASE_ENVIRONMENT)
    mesh = answers["service_mesh"]
    entries = []
    for service in services:
        data_source = data_source_path(answers, service)
        entries.append({
            "name": service.name,
            "app": service.app,
            "image": f"{registry}/{service.name}",
            "entrypoint": service.entrypoint,
            "database": service.database,
            "local_port": service.local_port,
            "data_source": data_source,
            "migrate_args": ["node_modules/typeorm/cli.js", "migration:run", "-d", data_source],
            "config_name": f"{service.name}-config",
            "secret_name": f"{service.name}-secrets",
            "secret_keys": [var.name for var in derive_env_vars(answers, services) if var.secret],
            "config": kubernetes_config(answers, service, base),
            "env_config": {env["name"]: kubernetes_config(answers, service, env) for env in environments},
            "paths": public_paths(answers, service),
            "compose_environment": compose_environment(answers, service),
        })
    return {
        "services": entries,
        "environments": environments,
        "base": base,
        "platform": dict(PLATFORM),
        "ingress_class": INGRESS_CLASSES[answers["cloud"]],
        "mesh_namespace": MESH_NAMESPACES.get(mesh),
        "egress": egress_ports(answers),
        "exposed": any(entry["paths"] for entry in entries),
        "alerts": alert_thresholds(answers),
        "local_ports": dict(LOCAL_OBSERVABILITY_PORTS),
        "kafka_internal_port": KAFKA_INTERNAL_PORT,
        "build_arg": "APP" if answers["architecture"] == "microservices" else None,
        "release_tag": INITIAL_RELEASE,
    }
