"""Unit tests of the appendix registers (extensions/playbook/registers.py, extensions/data/registers.yml)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import EXAMPLES, REPO, copier_questions, load_yaml

from extensions.playbook import model, registers


def default_answers(**overrides: Any) -> dict[str, Any]:
    answers = load_yaml(EXAMPLES / "healthcare-modular-aws.yml")
    answers.update(overrides)
    return answers


def questions(answers: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {item["key"]: item for item in model.build(answers).as_context()["registers"]["questions"]}


def risks(answers: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {item["key"]: item for item in model.build(answers).as_context()["registers"]["risks"]}


def answer_sets() -> list[dict[str, Any]]:
    """Every example, and the healthcare example with each value of each choice question."""
    sets = [load_yaml(path) for path in sorted(EXAMPLES.glob("*.yml"))]
    for name, spec in copier_questions().items():
        choices = spec.get("choices", {}).values()
        values = [choice["value"] if isinstance(choice, dict) else choice for choice in choices]
        for value in values:
            sets.append(default_answers(**{name: [value] if spec.get("multiselect") else value}))
        if spec.get("multiselect"):
            sets.append(default_answers(**{name: []}))
        if spec.get("type") == "bool":
            sets += [default_answers(**{name: True}), default_answers(**{name: False})]
    return sets


@pytest.mark.parametrize("register", ["questions", "risks"])
def test_keys_are_unique(register: str) -> None:
    keys = [entry["key"] for entry in registers.catalogue()[register]]
    assert len(keys) == len(set(keys)), [key for key in keys if keys.count(key) > 1]


def test_every_cross_reference_names_a_question() -> None:
    keys = {entry["key"] for entry in registers.catalogue()["questions"]}
    sources = [*(REPO / "includes").rglob("*.jinja"), *(REPO / "template").rglob("*.jinja")]
    cited = {key for path in sources for key in re.findall(r"""oq\.ref\(['"]([^'"]+)['"]\)""", path.read_text())}
    assert cited, "no oq.ref(...) found: the pattern of this test is out of date"
    assert sorted(cited - keys) == []


def test_conditions_select_entries() -> None:
    """Every entry with a `when` or `cases` is selected by some answers and dropped or changed by others,
    so an ignored condition fails here; every selected entry fills all its braces."""
    seen: dict[tuple[str, str], set[str]] = {}
    for answers in answer_sets():
        built = model.build(answers).as_context()["registers"]
        for register in ("questions", "risks"):
            present = {item["key"]: "|".join(item.values()) for item in built[register]}
            for entry in registers.catalogue()[register]:
                seen.setdefault((register, entry["key"]), set()).add(present.get(entry["key"], "(dropped)"))
            assert [item["id"][2:] for item in built[register]] == [f"{n:02d}" for n in range(1, len(present) + 1)]
            assert not any(re.search(r"\{[a-z_]+\}", text) for text in present.values())
    for register in ("questions", "risks"):
        for entry in registers.catalogue()[register]:
            variants = seen[(register, entry["key"])]
            if "when" in entry or "cases" in entry:
                assert len(variants) > 1, f"{register} {entry['key']}: the same for every answer set"
            if "when" in entry:
                assert "(dropped)" in variants and len(variants - {"(dropped)"}) >= 1, entry["key"]


def test_compliance_and_industry_conditions() -> None:
    assert "hipaa" in questions(default_answers()) and "hipaa-missing" not in questions(default_answers())
    no_hipaa = questions(default_answers(compliance=[]))
    assert "hipaa-missing" in no_hipaa and "hipaa" not in no_hipaa
    assert "hipaa-missing" not in questions(default_answers(industry="media", compliance=[]))
    # finance-regimes: `any` of SOX among the compliance answers or the finance industry
    assert "finance-regimes" in questions(default_answers(industry="general", compliance=["sox"]))
    assert "finance-regimes" in questions(default_answers(industry="finance", compliance=[]))
    assert "finance-regimes" not in questions(default_answers(industry="general", compliance=["gdpr"]))


def test_cases_pick_the_first_that_holds() -> None:
    aws = questions(default_answers())
    assert aws["region"]["topic"] == "Regions and accounts" and aws["region"]["text"].startswith("The AWS region(s)")
    assert aws["hipaa"]["text"].count("the BAA with AWS and every subprocessor") == 1
    assert " from AWS Secrets Manager (External" in aws["secret-delivery"]["text"]
    assert aws["identity"]["topic"] == "Identity provider"
    on_prem = questions(default_answers(cloud="on-prem", auth="jwt"))
    assert on_prem["region"]["topic"] == "Sites and platform services"
    assert "the BAA with each hosting provider and" in on_prem["hipaa"]["text"]
    assert "get their values (External" in on_prem["secret-delivery"]["text"]
    assert on_prem["identity"]["topic"] == "Token issuer"
    topics = {broker: questions(default_answers(message_broker=broker)).get("broker-sizing", {}).get("topic")
              for broker in ("none", "redis", "rabbitmq", "nats", "kafka")}
    assert topics == {"none": None, "redis": "Event loss tolerance", "rabbitmq": "RabbitMQ topology",
                      "nats": "NATS JetStream", "kafka": "Kafka topics"}
    # an existing application (include_app: false) decides JetStream itself; the generated app has it
    existing = questions(default_answers(message_broker="nats", include_app=False))
    assert existing["broker-sizing"]["topic"] == "NATS durability"


def test_facts_of_the_model() -> None:
    # GCP offers no managed RabbitMQ, AWS does (extensions/data/clouds.yml); on-premises has no managed services.
    gcp = default_answers(cloud="gcp", message_broker="rabbitmq")
    assert questions(gcp)["broker-hosting"]["text"].startswith("Google Cloud offers no managed RabbitMQ.")
    assert "self-managed-broker" in risks(gcp)
    for answers in (default_answers(), default_answers(cloud="on-prem")):
        assert "broker-hosting" not in questions(answers) and "self-managed-broker" not in risks(answers)
    proposed = risks(default_answers())["proposed-decisions"]["consequence"]
    assert "Append-only audit trail for ePHI access" in proposed
    plain = default_answers(architecture="monolith", message_broker="none", compliance=[], industry="general")
    assert "proposed-decisions" not in risks(plain)
    assert "per-pod-rate-limits" in risks(default_answers(cache=False))
    assert "per-pod-rate-limits" not in risks(default_answers(cache=True))


def test_text_prints_free_text_as_it_is() -> None:
    text = questions(default_answers(owner="team {core}"))["decision-makers"]["text"]
    assert text.startswith("The ADRs name the owning team (team {core}) as decision-maker.")
