"""The render matrix: every example answer file, plus one-option-at-a-time variations of the
defaults that together cover every value of every choice question."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers import EXAMPLES, copier_questions, load_yaml


@dataclass(frozen=True)
class Combination:
    id: str
    answers: dict[str, Any] = field(hash=False)


def example_combinations() -> list[Combination]:
    return [
        Combination(f"example-{path.stem}", load_yaml(path))
        for path in sorted(EXAMPLES.glob("*.yml"))
    ]


def choice_values(spec: dict[str, Any]) -> list[Any]:
    values = []
    for choice in spec["choices"].values():
        values.append(choice["value"] if isinstance(choice, dict) else choice)
    return values


# Variations that need a partner answer to be valid.
PARTNERS: dict[tuple[str, Any], dict[str, Any]] = {
    ("architecture", "microservices"): {"message_broker": "redis"},
}
# Values the defaults already cover need no variation of their own.
DEFAULT_ANSWERS_ID = "defaults"


def variation_combinations() -> list[Combination]:
    combos = [Combination(DEFAULT_ANSWERS_ID, {})]
    for name, spec in copier_questions().items():
        if "choices" in spec:
            values = choice_values(spec)
            if spec.get("multiselect"):
                for value in values:
                    combos.append(Combination(f"{name}-{value}", {name: [value]}))
                if name == "api_styles":
                    combos.append(Combination("api_styles-all", {name: values}))
                    # GraphQL on the other adapter (the defaults are Fastify)
                    combos.append(Combination("api_styles-graphql-express",
                                              {name: ["graphql"], "http_adapter": "express"}))
                    # gRPC and GraphQL in a service per context (each serves its own package and schema)
                    combos.append(Combination("api_styles-graphql-grpc-microservices",
                                              {name: ["graphql", "grpc"], "architecture": "microservices",
                                               "message_broker": "nats"}))
                    # Socket.IO across replicas: the Redis adapter (api_styles-websocket has no Redis)
                    combos.append(Combination("api_styles-websocket-redis", {name: ["websocket"], "cache": True}))
                continue
            for value in values:
                if value == spec.get("default"):
                    continue
                answers = {name: value, **PARTNERS.get((name, value), {})}
                combos.append(Combination(f"{name}-{value}", answers))
        elif spec.get("type") == "bool":
            combos.append(Combination(f"{name}-{not spec['default']}".lower(), {name: not spec["default"]}))
    return combos


def org_combinations() -> list[Combination]:
    """The services of examples/org/, with the answers scripts/bootstrap_org.py gives them (org + service)."""
    import sys
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("_bootstrap_org", EXAMPLES.parent / "scripts" / "bootstrap_org.py")
    assert spec is not None and spec.loader is not None
    bootstrap = sys.modules.setdefault(spec.name, module_from_spec(spec))
    spec.loader.exec_module(bootstrap)
    return [Combination(f"org-{name}", answers) for name, answers in bootstrap.service_answers([EXAMPLES / "org"])]


def all_combinations() -> list[Combination]:
    return example_combinations() + org_combinations() + variation_combinations()


def covered_values() -> dict[str, set[Any]]:
    """Every value of every choice question that some combination renders (checked by a test)."""
    questions = copier_questions()
    covered: dict[str, set[Any]] = {name: set() for name, spec in questions.items() if "choices" in spec}
    for combo in all_combinations():
        for name in covered:
            value = combo.answers.get(name, questions[name].get("default"))
            if isinstance(value, list):
                covered[name].update(value)
            elif isinstance(value, str) and "{{" in value:
                continue
            else:
                covered[name].add(value)
    return covered
