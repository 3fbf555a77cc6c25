"""The model: everything the templates need beyond the answers, built once from complete answers."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from . import (
    adrs,
    backing,
    calls,
    catalog,
    contexts,
    contract,
    delivery,
    features,
    flows,
    layout,
    objectives,
    quality,
    resilience,
    rollout,
)
from . import answers as answer_set
from .answers import REQUIRED_ANSWERS, choice_labels, label
from .compliance import Checklist, RecordCopies
from .compliance import build as build_compliance
from .data import industry_profile, load_data, stack_manifest
from .registers import Registers, build_registers


@dataclass(frozen=True)
class Model:
    stack: dict[str, Any]
    node: dict[str, Any]
    profile: dict[str, Any]
    database_info: dict[str, Any]
    broker_info: dict[str, Any] | None
    modules: list[dict[str, Any]]
    services: list[dict[str, Any]]
    catalog_apis: list[dict[str, Any]]
    adrs: list[dict[str, Any]]
    registers: Registers
    # section 7.9's compliance checklists and section 8.1's copies of record data (compliance.py)
    checklists: list[Checklist]
    record_copies: RecordCopies
    artifacts: dict[str, bool]
    app_port: int
    playbook_version: str
    compliance_labels: list[str]
    env_vars: list[dict[str, Any]]
    npm_scripts: dict[str, str]
    servers: list[dict[str, Any]]
    choice_labels: dict[str, dict[str, str]]
    cloud_services: dict[str, Any] | None
    # the region and network layout of the cloud answer (clouds.yml: topology)
    topology: dict[str, Any]
    telemetry: dict[str, Any]
    slo: dict[str, Any]
    decision_date: str
    npm_dependencies: dict[str, dict[str, str]]
    delivery: dict[str, Any]
    flows: dict[str, Any]
    # the answered API styles whose code the app contains (all of them, with include_app)
    api_styles_generated: list[str]
    # the generated styles that read and change records (rest, graphql, grpc; not websocket)
    crud_apis: list[str]
    # the interface adapter of each context per style (data/api.yml: adapters), generated or required
    module_adapters: list[dict[str, Any]]
    # the fields of configureApplication's options (platform/http/bootstrap.ts), in order
    startup_options: list[str]
    rollout: dict[str, Any]
    # the limits of the calls to dependencies, and what the service does when each fails
    resilience: dict[str, Any]
    # RPO and RTO derived from the availability answer
    recovery: dict[str, Any]
    # quality goals, scenarios and tactics (the solution strategy)
    quality: dict[str, Any]
    # the sample aggregate's fields and list bounds (data/aggregate.yml)
    aggregate: dict[str, Any]
    # the API styles' shared settings (data/api.yml)
    api: dict[str, Any]
    team_adr_first: int
    # the directories file names print (layout.directories) and the ownership patterns of copier.yml
    platform_dir: str
    messaging_dir: str
    redis_dir: str
    cache_dir: str
    events_dir: str
    single_app_dir: str
    e2e_suites: list[dict[str, Any]]
    broker_modules: list[dict[str, Any]]
    grpc_modules: list[dict[str, Any]]
    # the calls from one service to another over gRPC (calls.py): the consumer reads the owner's record
    grpc_calls: list[dict[str, Any]]
    socket_modules: list[dict[str, Any]]
    app_only_paths: list[str]
    team_owned_paths: list[str]

    def as_context(self) -> dict[str, Any]:
        return asdict(self)


def decision_date() -> str:
    """Today's date for the ADRs' front matter, or SOURCE_DATE_EPOCH's (reproducible renders)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC).date().isoformat()
    return date.today().isoformat()


def cloud_services(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The chosen cloud's managed services, with the database and broker already picked."""
    cloud = load_data("clouds")[answers["cloud"]].get("services")
    if cloud is None:
        return None
    picked = {key: value for key, value in cloud.items() if key not in ("database", "broker")}
    picked["database"] = cloud["database"][answers["database"]]
    broker = answers["message_broker"]
    picked["broker"] = None if broker == "none" else cloud["broker"][broker]
    return picked


def topology(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The cloud's region and network layout, with the database's high availability picked."""
    layout_of = dict(load_data("clouds")[answers["cloud"]]["topology"])
    ha = layout_of["database_ha"]
    layout_of["database_ha"] = ha[answers["database"]] if isinstance(ha, dict) else ha
    return layout_of


def build(answers: Mapping[str, Any]) -> Model:
    missing = answer_set.missing_answers(answers)
    if missing:
        raise KeyError(f"answers missing: {', '.join(missing)}")
    stack = stack_manifest()
    modules = contexts.modules(answers)
    services = contexts.services(answers, modules)
    service_rows = [{**asdict(s), "migration_job": s.migration_job,
                     "local_database_url": backing.local_database_url(answers, s.database),
                     "graphql_path": delivery.graphql_path(answers, s),
                     "websocket_path": delivery.websocket_path(answers, s),
                     "graphql_schema": f"{s.source_dir}/{load_data('api')['graphql']['schema_file']}"}
                    for s in services]
    database = backing.database_info(answers)
    grpc_calls = calls.grpc_calls(answers, modules, services)
    env_vars = contract.env_vars(answers, services[0].database, grpc_calls,
                                 {s.app: delivery.grpc_local_port(s) for s in services})
    records = adrs.adrs(answers)
    cloud = cloud_services(answers)
    slo = objectives.slo(answers)
    shipping = delivery.delivery(answers, services, env_vars, objectives.alert_thresholds(answers))
    network = flows.flows(answers, services, grpc_calls)
    register_lists = build_registers(answers, records, services, cloud, slo)
    checklists, copies = build_compliance(answers, records, register_lists, services, modules, cloud, slo)
    return Model(
        stack=stack,
        node=stack["node"][str(answers["node_version"])],
        profile=industry_profile(answers["industry"]),
        database_info=database,
        broker_info=backing.broker_info(answers),
        modules=[asdict(m) for m in modules],
        services=service_rows,
        catalog_apis=catalog.catalog_apis(answers, service_rows, [asdict(m) for m in modules]),
        adrs=[asdict(a) for a in records],
        registers=register_lists,
        checklists=checklists,
        record_copies=copies,
        artifacts=features.features(answers),
        app_port=contexts.APP_PORT,
        playbook_version=stack["playbook"]["version"],
        compliance_labels=[label("compliance", c) for c in answers["compliance"]],
        env_vars=[asdict(e) for e in env_vars],
        npm_scripts=contract.npm_scripts(answers),
        servers=[asdict(s) for s in backing.servers(answers, services[0].database)],
        choice_labels={name: dict(labels) for name, labels in choice_labels().items()},
        cloud_services=cloud,
        topology=topology(answers),
        telemetry=objectives.telemetry(answers),
        slo=slo,
        decision_date=decision_date(),
        npm_dependencies=contract.npm_dependencies(answers),
        delivery=shipping,
        flows=network,
        api_styles_generated=features.api_styles_generated(answers),
        crud_apis=features.crud_api_styles(answers),
        startup_options=features.startup_options(answers),
        module_adapters=[{"style": s, **load_data("api")["adapters"][s]} for s in features.adapter_styles(answers)],
        rollout=rollout.rollout(answers, shipping["exposed"], network["all"]),
        resilience=resilience.resilience(answers),
        recovery=objectives.recovery(answers),
        quality=quality.quality(answers),
        aggregate=load_data("aggregate"),
        api=load_data("api"),
        team_adr_first=adrs.TEAM_ADR_FIRST,
        **layout.directories(answers),
        # one e2e suite per service: the monolith's is test/app.e2e-spec.ts
        e2e_suites=[asdict(m) for m in modules] if features.is_microservices(answers) else [{"slug": "app"}],
        # the modules that publish and consume integration events (all of them, when there is a broker)
        broker_modules=[asdict(m) for m in modules] if features.has_broker(answers) else [],
        # the modules whose .proto contract proto/ holds (all of them, when the app serves gRPC)
        grpc_modules=[asdict(m) for m in modules] if "grpc" in features.api_styles_generated(answers) else [],
        grpc_calls=[asdict(c) for c in grpc_calls],
        # the modules with a Socket.IO gateway (all of them, when the app serves WebSocket)
        socket_modules=[asdict(m) for m in modules] if "websocket" in features.api_styles_generated(answers) else [],
        app_only_paths=list(layout.APP_ONLY_PATHS),
        team_owned_paths=list(layout.TEAM_OWNED_PATHS),
    )


@lru_cache(maxsize=64)
def _context_of(frozen_answers: str) -> dict[str, Any]:
    return build(json.loads(frozen_answers)).as_context()


def context(answers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The model as template context, built once per distinct set of answers (the context hook runs
    for every Jinja context copier creates); None while the answers are still incomplete."""
    if not all(name in answers for name in REQUIRED_ANSWERS):
        return None
    frozen = json.dumps({name: answers[name] for name in REQUIRED_ANSWERS}, sort_keys=True, default=str)
    return _context_of(frozen)
