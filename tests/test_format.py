"""The generated sources are Prettier-clean: `prettier --check .` passes in every render of the matrix.

The generated CI's lint job gates on `npm run format:check` (`prettier --check .` with the generated
.prettierrc.json and .prettierignore), so a template change that prints one line differently from
Prettier would fail every new repository's first push. This runs the Prettier version the stack
manifest pins (installed exactly in tests/node) on each render, and on a few renders whose names are
as long and as short as the validators allow, so that the layout helpers of extensions/playbook/typescript.py
(ts_list, ts_import, ts_assign) are exercised where a line crosses the print width.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, TESTS, Renderer, load_yaml, require_node_package, run, tool

from extensions.playbook import contract, validators

STACK_PRETTIER = load_yaml(REPO / "extensions" / "data" / "stack.yml")["npm"]["dev"]["prettier"]
LONG_CONTEXTS = [
    "internationalization", "institutionalization", "counterrevolutionary", "uncharacteristically",
    "inventory-allocation", "customer-onboardings", "electroencephalogram", "compartmentalization",
]
LONG_TEXT = {
    "project_name": "The Very Long Project Name of the \"Spring Sale\" Storefront: Orders & Payments",
    "project_slug": "spring-sale-storefront-orders-payments-x",
    "description": "Catalogue, orders and payments for the retailer's \"Spring Sale\" storefront, tokenised "
                   "cards only \u2014 with a description that is far longer than one line of code.",
}
# Renders at the edges of the print width, besides the matrix (names as long and as short as allowed).
EDGE_RENDERS: dict[str, dict[str, Any]] = {
    "format-long-modular": {
        **LONG_TEXT, "architecture": "modular-monolith", "bounded_contexts": LONG_CONTEXTS, "cqrs": True,
        "cache": True, "message_broker": "rabbitmq", "auth": "oidc", "node_version": "22",
    },
    "format-long-microservices": {
        **LONG_TEXT, "architecture": "microservices", "bounded_contexts": LONG_CONTEXTS[:3], "cqrs": True,
        "cache": True, "message_broker": "nats", "database": "mysql", "http_adapter": "express",
    },
    "format-long-monolith": {
        **LONG_TEXT, "architecture": "monolith", "bounded_contexts": LONG_CONTEXTS[4:6], "cqrs": False,
        "message_broker": "redis",
    },
    "format-short-names": {
        "project_name": "S", "description": "S.", "architecture": "monolith", "bounded_contexts": ["ab", "cd"],
        "cqrs": True, "message_broker": "nats", "cache": True,
    },
}


def prettier() -> str:
    """The tests' Prettier, after checking it is the version the stack manifest pins."""
    require_node_package("prettier")
    installed = json.loads((TESTS / "node" / "node_modules" / "prettier" / "package.json").read_text(encoding="utf-8"))
    assert installed["version"] == STACK_PRETTIER, (
        f"tests/node has prettier {installed['version']}, the stack manifest pins {STACK_PRETTIER}: "
        "run scripts/setup-test-env.sh")
    return tool("prettier")


def unformatted(render: Path) -> list[str]:
    """The files `prettier --check .` reports in a render (as the generated `npm run format:check` runs it)."""
    result = run([prettier(), "--check", "."], cwd=render, timeout=300)
    files = [line.removeprefix("[warn] ") for line in result.stdout.splitlines() + result.stderr.splitlines()
             if line.startswith("[warn] ") and not line.startswith("[warn] Code style issues")]
    errors = [line for line in result.stderr.splitlines() if line.startswith("[error]")]
    assert not errors, "\n".join(errors)
    assert (result.returncode == 0) == (not files), result.stdout + result.stderr
    return files


def check_render(render: Path) -> None:
    package = render / "package.json"
    if not package.exists():
        # An existing repository keeps its own tooling: the template adds no Prettier setup and no
        # format:check, and its CI has no lint job.
        assert not (render / ".prettierrc.json").exists() and not (render / ".prettierignore").exists()
        return
    scripts = json.loads(package.read_text(encoding="utf-8"))["scripts"]
    assert scripts["format:check"] == "prettier --check ."
    files = unformatted(render)
    assert not files, (
        f"{len(files)} generated file(s) are not Prettier-formatted (print each one's fix with "
        f"`npx prettier@{STACK_PRETTIER} <file> | diff <file> -` in {render}):\n" + "\n".join(files))


def test_prettier_pins_agree() -> None:
    """tests/node/package.json installs exactly the Prettier the stack manifest pins for generated projects."""
    tools = json.loads((TESTS / "node" / "package.json").read_text(encoding="utf-8"))["dependencies"]
    assert STACK_PRETTIER.count(".") == 2 and STACK_PRETTIER.replace(".", "").isdigit(), (
        f"the stack manifest pins prettier {STACK_PRETTIER!r}: an exact version, since the CI gates on its output")
    assert tools.get("prettier") == STACK_PRETTIER, (tools.get("prettier"), STACK_PRETTIER)
    assert contract.npm_dependencies({
        "api_styles": ["rest"], "message_broker": "none", "http_adapter": "fastify", "database": "postgresql",
        "cqrs": False, "cache": False, "architecture": "monolith", "node_version": "24", "auth": "jwt",
    })["dev"]["prettier"] == STACK_PRETTIER


def test_generated_sources_are_prettier_clean(rendered: Path) -> None:
    check_render(rendered)


@pytest.mark.parametrize("name", list(EDGE_RENDERS))
def test_prettier_clean_at_the_print_width(renderer: Renderer, name: str) -> None:
    answers = EDGE_RENDERS[name]
    for context in answers["bounded_contexts"]:
        assert validators.check("bounded_contexts", [context]) == "", context
    check_render(renderer.render(name, answers))
