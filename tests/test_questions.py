"""The questions: defaults pass their validators, bad answers are refused by the real copier CLI with
a message naming the question and nothing written, and the README's reference matches copier.yml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, Renderer, copier_questions, run, tool

BAD_ANSWERS: list[tuple[str, dict[str, Any], str]] = [
    # (case id, answers, the question the error must name)
    ("empty-name", {"project_name": ""}, "project_name"),
    ("blank-name", {"project_name": "   "}, "project_name"),
    ("multiline-name", {"project_name": "Order\nService"}, "project_name"),
    ("name-with-tab", {"project_name": "Order\tService"}, "project_name"),
    ("slug-capitals", {"project_slug": "OrderService"}, "project_slug"),
    ("slug-underscore", {"project_slug": "order_service"}, "project_slug"),
    ("slug-leading-digit", {"project_slug": "1-orders"}, "project_slug"),
    ("slug-41-chars", {"project_slug": "a" * 41}, "project_slug"),
    ("slug-trailing-hyphen", {"project_slug": "orders-"}, "project_slug"),
    ("empty-description", {"description": ""}, "description"),
    ("multiline-description", {"description": "one\ntwo"}, "description"),
    ("owner-with-space", {"owner": "Platform Team"}, "owner"),
    ("email-without-at", {"contact_email": "platform.example.com"}, "contact_email"),
    ("email-with-space", {"contact_email": "plat form@example.com"}, "contact_email"),
    ("registry-with-scheme", {"container_registry": "https://ghcr.io/team"}, "container_registry"),
    ("registry-capitals", {"container_registry": "GHCR.io/Team"}, "container_registry"),
    ("contexts-duplicate", {"bounded_contexts": ["orders", "orders"]}, "bounded_contexts"),
    ("contexts-reserved", {"bounded_contexts": ["orders", "health"]}, "bounded_contexts"),
    ("contexts-capitals", {"bounded_contexts": ["Orders"]}, "bounded_contexts"),
    ("contexts-underscore", {"bounded_contexts": ["order_items"]}, "bounded_contexts"),
    ("contexts-nine", {"bounded_contexts": [f"ctx{i}" for i in range(9)]}, "bounded_contexts"),
    ("contexts-empty", {"bounded_contexts": []}, "bounded_contexts"),
    ("contexts-not-a-list", {"bounded_contexts": "orders"}, "bounded_contexts"),
    ("contexts-21-chars", {"bounded_contexts": ["a" * 21]}, "bounded_contexts"),
    ("availability-100.5", {"slo_availability": 100.5}, "slo_availability"),
    ("availability-100", {"slo_availability": 100}, "slo_availability"),
    ("availability-80", {"slo_availability": 80}, "slo_availability"),
    ("p95-zero", {"p95_latency_ms": 0}, "p95_latency_ms"),
    ("p95-negative", {"p95_latency_ms": -5}, "p95_latency_ms"),
    ("coverage-101", {"coverage_threshold": 101}, "coverage_threshold"),
    ("coverage-negative", {"coverage_threshold": -1}, "coverage_threshold"),
    ("microservices-without-broker", {"architecture": "microservices", "message_broker": "none"}, "message_broker"),
    ("unknown-database", {"database": "oracle"}, "database"),
    ("unknown-architecture", {"architecture": "serverless"}, "architecture"),
    ("no-api-style", {"api_styles": []}, "api_styles"),
    ("unknown-api-style", {"api_styles": ["soap"]}, "api_styles"),
    ("node-20", {"node_version": "20"}, "node_version"),
    ("unknown-compliance", {"compliance": ["iso27001"]}, "compliance"),
    ("unknown-cloud", {"cloud": "digitalocean"}, "cloud"),
]


@pytest.fixture(scope="module")
def template_source(renderer: Renderer) -> Path:
    return renderer.template_source()


@pytest.mark.parametrize(("answers", "question"), [c[1:] for c in BAD_ANSWERS], ids=[c[0] for c in BAD_ANSWERS])
def test_bad_answer_is_refused_and_nothing_written(
    template_source: Path, tmp_path: Path, answers: dict[str, Any], question: str
) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_text(yaml.safe_dump(answers, allow_unicode=True), encoding="utf-8")
    destination = tmp_path / "out"
    destination.mkdir()
    result = run([tool("copier"), "copy", "--trust", "--defaults", "--quiet", "--data-file", str(data_file),
                  str(template_source), str(destination)], timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"'{question}'" in output.splitlines()[-1], output[-2000:]
    assert list(destination.iterdir()) == [], "the destination must stay empty"


def test_there_are_at_least_25_bad_answers() -> None:
    assert len(BAD_ANSWERS) >= 25
    assert len({c[0] for c in BAD_ANSWERS}) == len(BAD_ANSWERS)


def test_every_question_is_documented_and_typed() -> None:
    for name, spec in copier_questions().items():
        assert spec.get("type") in {"str", "int", "float", "bool", "yaml", "json"}, name
        assert len(spec.get("help", "")) > 30, f"{name}: help must say what the answer changes"
        assert "default" in spec, f"{name}: --defaults needs a default"


def test_choices_are_label_to_slug() -> None:
    slug = re.compile(r"^[a-z0-9][a-z0-9-]*$")
    for name, spec in copier_questions().items():
        for label, choice in spec.get("choices", {}).items():
            value = choice["value"] if isinstance(choice, dict) else choice
            assert slug.match(str(value)), f"{name}: {value!r} is not a slug"
            assert label != value, f"{name}: the label should be human-readable"


def readme_reference() -> dict[str, dict[str, str]]:
    """Rows of the README's question reference table: | `name` | type | default | choices | ..."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Question reference", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([a-z0-9_]+)` \| ([^|]+) \| ([^|]*) \| ([^|]*) \|", line)
        if match:
            rows[match.group(1)] = {
                "type": match.group(2).strip(), "default": match.group(3).strip(), "choices": match.group(4).strip(),
            }
    return rows


def test_readme_question_reference_matches_copier_yml() -> None:
    questions = copier_questions()
    rows = readme_reference()
    assert list(rows) == list(questions), "README lists the questions in copier.yml's order"
    for name, spec in questions.items():
        row = rows[name]
        kind = spec["type"] + (" (multiselect)" if spec.get("multiselect") else "")
        assert row["type"] == kind, f"{name}: README says {row['type']!r}, copier.yml {kind!r}"
        choices = [c["value"] if isinstance(c, dict) else c for c in spec.get("choices", {}).values()]
        documented = re.findall(r"`([^`]+)`", row["choices"])
        assert documented == [str(c) for c in choices], f"{name}: choices {documented} != {choices}"
        default = spec["default"]
        if isinstance(default, str) and "{{" in default:
            assert row["default"].startswith("derived"), f"{name}: a templated default is documented as derived"
        else:
            shown = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
            assert row["default"].strip("`") == shown, f"{name}: README default {row['default']!r} != {shown!r}"
