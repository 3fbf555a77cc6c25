"""The GraphQL schema (SDL) the generated app serves, as graphql-js prints it sorted.

The app builds its schema from the resolver and type classes (code first); this module writes the
same schema for the committed schema file, so that a reader, Backstage and a CI diff see it without
running the app. The generated e2e tests compare the app's printed schema with that file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# @nestjs/graphql's description of its GraphQLISODateTime scalar.
DATE_TIME = "A date-time string at UTC, such as 2019-12-03T09:54:33Z, compliant with the date-time format."
# graphql-js prints a description on one line between triple quotes unless it is longer than this.
BLOCK_STRING_LIMIT = 70


def _natural_key(name: str) -> list[Any]:
    """graphql-js's naturalCompare: digit runs compare as numbers, the rest by character code."""
    return [int(part) if part.isdigit() else [ord(c) for c in part] for part in re.findall(r"\d+|\D+", name)]


def _description(text: str, indent: str = "") -> str:
    if len(text) > BLOCK_STRING_LIMIT:
        return f'{indent}"""\n{indent}{text}\n{indent}"""\n'
    return f'{indent}"""{text}"""\n'


def _block(kind: str, name: str, fields: list[str], description: str = "") -> str:
    body = "".join(f"  {field}\n" for field in sorted(fields, key=_natural_key))
    return f"{_description(description) if description else ''}{kind} {name} {{\n{body}}}"


def graphql_sdl(modules: list[Mapping[str, Any]], api: Mapping[str, Any], aggregate: Mapping[str, Any]) -> str:
    """The sorted SDL of the resolvers of `modules` (one app's bounded contexts)."""
    words = api["graphql"]["descriptions"]
    limit = aggregate["page"]["default_limit"]
    types: dict[str, str] = {}
    queries: list[str] = []
    mutations: list[str] = []
    for m in modules:
        entity = m["entity"]
        names = {"title": m["title"], "records": m["entity_snake"].replace("_", " ")}
        types[entity] = _block("type", entity, [
            "createdAt: DateTime!", "description: String", "id: ID!", "name: String!", "updatedAt: DateTime!",
        ], words["entity"].format(**names))
        types[f"{entity}Page"] = _block("type", f"{entity}Page", [
            f"items: [{entity}!]!", "limit: Int!", "page: Int!", "total: Int!",
        ], words["page"].format(**names))
        for verb, name_type in (("Create", "String!"), ("Update", "String")):
            types[f"{verb}{entity}Input"] = _block("input", f"{verb}{entity}Input",
                                                   ["description: String", f"name: {name_type}"])
        queries += [f"{m['entity_camel']}(id: ID!): {entity}!",
                    f"{m['list_field']}(limit: Int! = {limit}, page: Int! = 1): {entity}Page!"]
        mutations += [f"create{entity}(input: Create{entity}Input!): {entity}!", f"delete{entity}(id: ID!): Boolean!",
                      f"update{entity}(id: ID!, input: Update{entity}Input!): {entity}!"]
    types["DateTime"] = f"{_description(DATE_TIME)}scalar DateTime"
    types["Mutation"] = _block("type", "Mutation", mutations)
    types["Query"] = _block("type", "Query", queries)
    return "\n\n".join(types[name] for name in sorted(types, key=_natural_key)) + "\n"
