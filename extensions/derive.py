"""Pure logic of the template: answer validation and every value derived from the answers.

Nothing here touches the file system beyond the two data files next to it, starts a process or
uses the network. `jinja_ext.py` exposes these functions to copier; the tests import them directly.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

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


@lru_cache(maxsize=None)
def load_data(name: str) -> dict[str, Any]:
    with (DATA_DIR / f"{name}.yml").open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"extensions/data/{name}.yml must hold a mapping")
    return data


def stack_manifest() -> dict[str, Any]:
    return load_data("stack")


def industry_profile(industry: str) -> dict[str, Any]:
    profiles = load_data("industries")
    if industry not in profiles:
        raise ValueError(f"unknown industry {industry!r}; expected one of {', '.join(profiles)}")
    return profiles[industry]


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


def validate_project_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "the project name must not be empty"
    if "\n" in value or "\r" in value:
        return "the project name must be a single line"
    if len(value) > 80:
        return f"the project name has {len(value)} characters; at most 80 are allowed"
    return ""


def validate_project_slug(value: Any) -> str:
    return _dns_label_error(value, PROJECT_SLUG_MAX, "the slug")


def validate_description(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "the description must not be empty"
    if "\n" in value or "\r" in value:
        return "the description must be a single line"
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
    ("cqrs", "CQRS with @nestjs/cqrs", "proposed", lambda a: bool(a["cqrs"])),
    ("redis-cache", "Redis cache and shared rate-limit storage", "proposed", lambda a: bool(a["cache"])),
    ("pan-tokenisation", "Card data stays with the PSP: PAN tokenisation", "proposed",
     lambda a: "pci-dss" in a["compliance"]),
    ("audit-trail", "Append-only audit trail for ePHI access", "proposed", lambda a: "hipaa" in a["compliance"]),
    ("double-entry-ledger", "Double-entry ledger with idempotent postings", "proposed",
     lambda a: a["industry"] == "finance"),
    ("media-pipeline", "Direct upload and queued transcoding", "proposed", lambda a: a["industry"] == "media"),
    ("personal-data", "Personal data inventory and erasure", "proposed", lambda a: "gdpr" in a["compliance"]),
)

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
        services=[asdict(s) for s in services],
        adrs=[asdict(a) for a in derive_adrs(answers, stack)],
        artifacts=derive_artifacts(answers),
        image=f"{answers['container_registry']}/{answers['project_slug']}",
        playbook_version=stack["playbook"]["version"],
        compliance_labels=[COMPLIANCE_LABELS[c] for c in answers["compliance"]],
        env_vars=[asdict(e) for e in derive_env_vars(answers, services)],
        npm_scripts=derive_npm_scripts(answers),
    )


@lru_cache(maxsize=64)
def _derive_cached(frozen_answers: str) -> dict[str, Any]:
    return derive(json.loads(frozen_answers)).as_context()


def derive_context(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """Memoised `derive` for the context hook; None while answers are still incomplete."""
    if any(name not in answers for name in REQUIRED_ANSWERS):
        return None
    frozen = json.dumps({name: answers[name] for name in REQUIRED_ANSWERS}, sort_keys=True, default=str)
    return _derive_cached(frozen)


@dataclass(frozen=True)
class EnvVar:
    """One configuration variable of the app: the contract between the app's config schema,
    .env.example, docker-compose, the Kubernetes ConfigMap/Secret and CI."""

    name: str
    secret: bool
    example: str
    description: str


def derive_env_vars(answers: Mapping[str, Any], services: list[Service]) -> list[EnvVar]:
    database = answers["database"]
    scheme = "postgres" if database == "postgresql" else "mysql"
    port = stack_manifest()["images"][DATABASE_INFO[database]["image"]]["port"]
    db_name = services[0].database
    env = [
        EnvVar("NODE_ENV", False, "development", "development, test or production"),
        EnvVar("PORT", False, str(APP_PORT), "HTTP port the app listens on"),
        EnvVar("LOG_LEVEL", False, "info", "pino log level"),
        EnvVar("CORS_ORIGINS", False, "http://localhost:5173", "comma-separated allow-list of browser origins"),
        EnvVar("DATABASE_URL", True, f"{scheme}://app:change-me@localhost:{port}/{db_name}",
               "database connection URL (a Secret in Kubernetes)"),
    ]
    if answers["cache"] or answers["message_broker"] == "redis":
        env.append(EnvVar("REDIS_URL", True, "redis://localhost:6379", "Redis connection URL"))
    broker = answers["message_broker"]
    if broker not in ("none", "redis"):
        image = stack_manifest()["images"][BROKER_INFO[broker]["image"]]
        example = {
            "rabbitmq": f"amqp://app:change-me@localhost:{image['port']}",
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
            EnvVar("OIDC_ISSUER_URL", False, "https://login.example.com/realms/main", "issuer whose JWKS verifies tokens"),
            EnvVar("OIDC_AUDIENCE", False, answers["project_slug"], "expected aud claim"),
        ]
    env += [
        EnvVar("SWAGGER_ENABLED", False, "true", "serve Swagger UI and /docs-json (off in production unless true)"),
        EnvVar("OTEL_SERVICE_NAME", False, answers["project_slug"], "service name on traces"),
        EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", False, "", "OTLP/HTTP collector URL; tracing is off when empty"),
    ]
    return env


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
        "test:e2e": "node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/jest-e2e.json --runInBand",
        "migration:run": "typeorm migration:run -d dist/platform/database/data-source.js",
        "migration:revert": "typeorm migration:revert -d dist/platform/database/data-source.js",
        "migration:generate": "typeorm migration:generate -d dist/platform/database/data-source.js",
        "openapi:export": "node dist/openapi-export.js",
        "docs:check": "markdownlint-cli2 \"docs/**/*.md\" \"README.md\"",
        "manifests:check": "bash deploy/k8s/check.sh",
    }
    if answers["architecture"] == "modular-monolith":
        scripts["lint:arch"] = "depcruise src --config .dependency-cruiser.cjs"
    return scripts


# --------------------------------------------------------------------------- filters


def yaml_str(value: Any) -> str:
    """A YAML scalar that reads back as exactly `value` (a JSON string is valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~\"'$&:;=?@^,/%])")


def md_text(value: Any) -> str:
    """Free text for Markdown: every ASCII punctuation character backslash-escaped (CommonMark)."""
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", str(value))


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


FILTERS: dict[str, Callable[..., Any]] = {
    "pascal_case": pascal_case,
    "camel_case": camel_case,
    "snake_case": snake_case,
    "kebab_case": kebab_case,
    "title_case": title_case,
    "slugify": slugify,
    "yaml_str": yaml_str,
    "md_text": md_text,
    "yaml_flow_list": yaml_flow_list,
    "profile_contexts": profile_contexts,
    "profile_compliance": profile_compliance,
    "action_ref": action_ref,
    "image_ref": image_ref,
}
GLOBALS: dict[str, Callable[..., Any]] = {"check": check, "validate_message_broker": validate_message_broker}
