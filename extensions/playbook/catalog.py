"""The Backstage API entities of catalog-info.yaml: one per API style the render defines, each with
the definition Backstage shows (the committed schema where the app generates one, else prose)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .answers import label
from .data import load_data
from .features import api_styles_generated

# The Backstage `spec.type` of the service's API entity: the first of these styles it carries.
SPEC_TYPES = {"rest": "openapi", "graphql": "graphql", "grpc": "grpc", "websocket": "asyncapi"}


def catalog_apis(answers: Mapping[str, Any], services: list[dict[str, Any]],
                 modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    slug, name = answers["project_slug"], answers["project_name"]
    built = api_styles_generated(answers)
    # defined by a committed file: a GraphQL API per app (its schema), a gRPC API per context (its .proto)
    own_entities = {"graphql", "grpc"} & set(built)
    styles = [s for s in answers["api_styles"] if s not in own_entities]
    apis: list[dict[str, Any]] = []
    if styles:
        labels = [label("api_styles", s) for s in styles]
        if not answers["include_app"]:
            text = (f"The {', '.join(labels)} API of {slug}, served by the existing application,\n"
                    "which provides the machine-readable definition.")
        else:
            named = " and ".join([", ".join(labels[:-1]), labels[-1]]) if len(labels) > 1 else labels[0]
            lines = [f"The {named} API of {slug}."]
            if "websocket" in built:
                lines.append("Socket.IO events per context: section 9 of the architecture document.")
            if "rest" in built:
                lines.append("`npm run openapi:export` writes the OpenAPI document.")
            text = "\n".join(lines)
        apis.append({"name": f"{slug}-api", "title": f"{name} API", "description": f"API of {name}",
                     "type": next(kind for style, kind in SPEC_TYPES.items() if style in styles),
                     "text": text, "file": None})
    if "grpc" in own_entities:
        proto_root = load_data("api")["grpc"]["proto_root"]
        for module in modules:
            apis.append({
                "name": f"{slug}-{module['slug']}-grpc",
                "title": f"{name}: {module['title']} gRPC API",
                "description": f"The gRPC service {module['grpc_package']}.{module['grpc_service']}",
                "type": "grpc", "text": None, "file": f"{proto_root}/{module['proto_file']}",
            })
    if "graphql" in own_entities:
        for service in services:
            apis.append({
                "name": f"{service['name']}-graphql",
                "title": f"{name if service['name'] == slug else service['name']} GraphQL API",
                "description": f"The GraphQL schema served at {service['graphql_path']}",
                "type": "graphql", "text": None, "file": service["graphql_schema"],
            })
    return apis
