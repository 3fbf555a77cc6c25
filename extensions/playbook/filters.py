"""The Jinja filters and globals the templates and copier.yml use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import naming, text, typescript
from .data import industry_profile, stack_manifest
from .graphql_sdl import graphql_sdl
from .validators import check, validate_message_broker


def profile_contexts(industry: str) -> str:
    """The industry's default bounded contexts (copier.yml's default of `bounded_contexts`)."""
    return text.yaml_flow_list(industry_profile(industry)["bounded_contexts"])


def profile_compliance(industry: str) -> str:
    return text.yaml_flow_list(industry_profile(industry)["compliance"])


def action_ref(key: str) -> str:
    """`owner/repo@sha # vX.Y.Z` for a pinned GitHub Action from the stack manifest."""
    action = stack_manifest()["actions"][key]
    return f"{action['uses']}@{action['sha']} # {action['tag']}"


def image_ref(key: str) -> str:
    image = stack_manifest()["images"][key]
    return f"{image['name']}:{image['tag']}"


FILTERS: dict[str, Callable[..., Any]] = {
    "pascal_case": naming.pascal_case,
    "camel_case": naming.camel_case,
    "snake_case": naming.snake_case,
    "kebab_case": naming.kebab_case,
    "title_case": naming.title_case,
    "slugify": naming.slugify,
    "yaml_str": text.yaml_str,
    "md_text": text.md_text,
    "mermaid_text": text.mermaid_text,
    "yaml_flow_list": text.yaml_flow_list,
    "profile_contexts": profile_contexts,
    "profile_compliance": profile_compliance,
    "action_ref": action_ref,
    "image_ref": image_ref,
    "ts_str": typescript.ts_str,
}
GLOBALS: dict[str, Callable[..., Any]] = {
    "check": check, "validate_message_broker": validate_message_broker,
    "ts_list": typescript.ts_list, "ts_import": typescript.ts_import, "ts_assign": typescript.ts_assign,
    "ts_fits": typescript.ts_fits, "graphql_sdl": graphql_sdl,
}
