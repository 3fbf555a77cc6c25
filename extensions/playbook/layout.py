"""Where things live in the generated repository: every source, build output and entry-point path.

A monolith or modular monolith is one Nest app under src/ (domain modules in src/modules/<context>);
microservices are a Nest monorepo: one app per bounded context under apps/<context>, the shared
platform layer in libs/platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .features import is_microservices


def platform_dir(answers: Mapping[str, Any]) -> str:
    return "libs/platform" if is_microservices(answers) else "src/platform"


def module_dir(answers: Mapping[str, Any], context: str) -> str:
    """A bounded context's Nest module."""
    return f"apps/{context}/src" if is_microservices(answers) else f"src/modules/{context}"


def app_dir(answers: Mapping[str, Any], app: str) -> str:
    """The directory of one Nest app (its main.ts)."""
    return f"apps/{app}" if is_microservices(answers) else "src"


def entrypoint(answers: Mapping[str, Any], app: str) -> str:
    """The compiled main.js of one app."""
    return f"dist/apps/{app}/main.js" if is_microservices(answers) else "dist/main.js"


def data_source(answers: Mapping[str, Any], app: str) -> str:
    """The compiled TypeORM DataSource that migrations run against (`app` may be a shell expansion)."""
    if is_microservices(answers):
        return f"dist/apps/{app}/src/data-source.js"
    return "dist/platform/database/data-source.js"
