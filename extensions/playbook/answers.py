"""The answers the model is built from, and the labels copier.yml shows for each choice."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from .data import questions

REQUIRED_ANSWERS = (
    "project_name", "project_slug", "description", "owner", "contact_email", "container_registry",
    "industry", "architecture", "bounded_contexts", "http_adapter", "api_styles", "auth", "cqrs",
    "database", "cache", "message_broker", "compliance", "cloud", "ci", "ingress", "service_mesh",
    "node_version", "include_app", "slo_availability", "p95_latency_ms", "coverage_threshold",
)


@cache
def choice_labels() -> dict[str, dict[str, str]]:
    """{question: {value: label}} for every choice question, read from copier.yml (`label: value`,
    or `label: {value: ..., validator: ...}`)."""
    labels: dict[str, dict[str, str]] = {}
    for name, spec in questions().items():
        choices = spec.get("choices")
        if isinstance(choices, dict):
            labels[name] = {
                str(choice["value"] if isinstance(choice, dict) else choice): str(label)
                for label, choice in choices.items()
            }
    return labels


def label(question: str, value: Any) -> str:
    """The label copier.yml shows for one answer value."""
    return choice_labels()[question][str(value)]


def missing_answers(answers: Mapping[str, Any]) -> list[str]:
    return [name for name in REQUIRED_ANSWERS if name not in answers]
