"""Where things live in the generated repository: every source, build output and entry-point path.

A monolith or modular monolith is one Nest app under src/ (domain modules in src/modules/<context>);
microservices are a Nest monorepo: one app per bounded context under apps/<context>, the shared
platform layer in libs/platform.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from .features import has_broker, is_microservices, needs_redis


def platform_dir(answers: Mapping[str, Any]) -> str:
    return "libs/platform" if is_microservices(answers) else "src/platform"


def module_dir(answers: Mapping[str, Any], context: str) -> str:
    """A bounded context's Nest module."""
    return f"apps/{context}/src" if is_microservices(answers) else f"src/modules/{context}"


def platform_import(answers: Mapping[str, Any], context: str) -> str:
    """The platform layer as a file in one of a module's layers (interface/, application/, ...) imports it."""
    return posixpath.relpath(platform_dir(answers), f"{module_dir(answers, context)}/layer")


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


# Paths the generated application owns: left out entirely with `include_app: false` (copier.yml's
# `_exclude`), where the team's existing NestJS repository has its own.
APP_ONLY_PATHS = (
    "/src", "/libs", "/apps", "/test", "/package.json", "/tsconfig.json", "/tsconfig.build.json",
    "/tsconfig.spec.json", "/nest-cli.json", "/jest.config.json", "/eslint.config.mjs", "/.prettierrc.json",
    "/.prettierignore", "/.dependency-cruiser.cjs",
)
# Team-owned paths (copier.yml's `_skip_if_exists`, and left out of the old release's render during
# `copier update`, so an update never deletes them): numbered ADRs, the overlays and the domain
# modules of either architecture; a microservice's app wiring (app.module.ts) stays template code.
TEAM_OWNED_PATHS = (
    "docs/adr/[0-9][0-9][0-9][0-9]-*.md",
    "deploy/k8s/overlays/**",
    "src/modules/**",
    "apps/*/src/*/**",
    "apps/*/src/index.ts",
    "apps/*/src/*.module.ts",
    "!apps/*/src/app.module.ts",
)


def directories(answers: Mapping[str, Any]) -> dict[str, str]:
    """The directories that file names under template/ print: a path with `/` makes nested
    directories, and an empty one leaves its files out of the render."""
    platform = platform_dir(answers)
    return {
        "platform_dir": platform,
        "messaging_dir": f"{platform}/messaging" if has_broker(answers) else "",
        "redis_dir": f"{platform}/redis" if needs_redis(answers) else "",
        # the cached reads by id (cache: true); the in-process domain events (without @nestjs/cqrs)
        "cache_dir": f"{platform}/cache" if answers["cache"] else "",
        "events_dir": "" if answers["cqrs"] else f"{platform}/events",
        # the one app of a monolith or modular monolith; microservices have one app per context
        "single_app_dir": "" if is_microservices(answers) else "src",
    }


def service_dir(answers: Mapping[str, Any], context: str) -> str:
    """The app of a bounded context's own service; empty when the contexts share one app."""
    return f"apps/{context}" if is_microservices(answers) else ""
