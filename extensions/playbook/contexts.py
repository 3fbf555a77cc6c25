"""The bounded contexts as Nest modules, and the deployables that carry them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import layout
from .data import load_data
from .features import is_microservices
from .naming import camel_case, kebab_case, pascal_case, singular, snake_case, title_case

APP_PORT = 3000


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
    entity_kebab: str
    # the GraphQL query fields: one record (`account`) and a page of them (`accounts`, or
    # `<entity>List` where the context's name is already singular)
    entity_camel: str
    list_field: str
    table: str
    schema: str | None
    event: str
    path: str
    service_dir: str
    # The platform layer as a file of one of the module's layers (interface/, application/, ...) imports it.
    platform_import: str
    # the gRPC contract: package `<project>.<context>.v1`, its service, and its .proto under proto/
    grpc_package: str
    grpc_service: str
    grpc_const: str
    proto_dir: str
    proto_file: str
    # the Socket.IO room of the context's clients, and the message that joins it (data/api.yml: websocket)
    socket_room: str
    socket_subscribe: str
    # the context whose `<context>.created` event this one's sample subscription consumes (with a
    # broker): the one before it in the answer's order, the first consuming the last's
    consumes: str
    # the type of the integration event that announces a new aggregate ('<context>.created')
    integration_type: str


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

    @property
    def migration_job(self) -> str:
        """The migration Job (and its compose container, NetworkPolicy and mesh identity)."""
        return f"{self.name}-migrate"


def modules(answers: Mapping[str, Any]) -> list[Module]:
    schema_per_module = answers["architecture"] == "modular-monolith" and answers["database"] == "postgresql"
    project = snake_case(answers["project_slug"])
    version = load_data("api")["grpc"]["version"]
    result = []
    slugs = list(answers["bounded_contexts"])
    for index, slug in enumerate(slugs):
        entity = pascal_case(singular(slug))
        proto_dir = f"{project}/{snake_case(slug)}/{version}"
        result.append(Module(
            slug=slug,
            pascal=pascal_case(slug),
            camel=camel_case(slug),
            snake=snake_case(slug),
            title=title_case(slug),
            entity=entity,
            entity_snake=snake_case(singular(slug)),
            entity_kebab=kebab_case(singular(slug)),
            entity_camel=camel_case(singular(slug)),
            list_field=camel_case(slug) if singular(slug) != slug else camel_case(slug) + "List",
            table=snake_case(slug),
            schema=snake_case(slug) if schema_per_module else None,
            event=f"{entity}Created",
            path=layout.module_dir(answers, slug),
            service_dir=layout.service_dir(answers, slug),
            platform_import=layout.platform_import(answers, slug),
            grpc_package=proto_dir.replace("/", "."),
            grpc_service=f"{pascal_case(slug)}Service",
            grpc_const=f"{snake_case(slug).upper()}_GRPC",
            proto_dir=proto_dir,
            proto_file=f"{proto_dir}/{snake_case(slug)}.proto",
            socket_room=slug,
            socket_subscribe=f"{slug}.{load_data('api')['websocket']['subscribe']}",
            consumes=slugs[index - 1],
            integration_type=f"{slug}.created",
        ))
    return result


def services(answers: Mapping[str, Any], contexts: list[Module]) -> list[Service]:
    slug = answers["project_slug"]
    if not is_microservices(answers):
        return [Service(
            name=slug, app=slug, port=APP_PORT, local_port=APP_PORT, source_dir=layout.app_dir(answers, slug),
            entrypoint=layout.entrypoint(answers, slug), database=snake_case(slug),
            modules=tuple(m.slug for m in contexts),
        )]
    return [
        Service(
            name=f"{slug}-{module.slug}", app=module.slug, port=APP_PORT, local_port=APP_PORT + 1 + index,
            source_dir=layout.app_dir(answers, module.slug), entrypoint=layout.entrypoint(answers, module.slug),
            database=module.snake, modules=(module.slug,),
        )
        for index, module in enumerate(contexts)
    ]
