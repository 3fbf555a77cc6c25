"""Failure behaviour, recovery objectives and the quality model (issue 16).

- extensions/data/resilience.yml: every limit is printed by the generated code or manifests that
  implement it (read from the rendered files, not from the model), every scenario's evidence file
  exists in the render, and the document's section 11.3 lists exactly the dependencies the render has.
- extensions/data/recovery.yml: the RTO is one SLO window's error budget, the RPO follows the tiers,
  and a restore from backups is said to fit only when it does.
- extensions/data/quality.yml: every quality goal of every industry profile has a meaning, every
  decision a tactic or scenario names is in the ADR catalogue, and section 2.4 of the document has a
  row for each goal of the profile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, load_yaml

from extensions.playbook import model, objectives

RESILIENCE = load_yaml(REPO / "extensions" / "data" / "resilience.yml")
LIMITS = RESILIENCE["limits"]
QUALITY = load_yaml(REPO / "extensions" / "data" / "quality.yml")
INDUSTRIES = load_yaml(REPO / "extensions" / "data" / "industries.yml")
ADR_KEYS = {record["key"] for record in load_yaml(REPO / "extensions" / "data" / "adrs.yml")["records"]}
DOC = Path("docs/architecture/DOC006-BackendArchitecture.md")


def _read(root: Path, relative: str) -> str:
    return (root / relative).read_text(encoding="utf-8")


def _section(doc: str, number: str) -> str:
    match = re.search(rf"^### {re.escape(number)} .*?(?=^### |^## |\Z)", doc, re.M | re.S)
    assert match, f"section {number} missing"
    return match.group(0)


def test_the_code_and_manifests_print_the_limits(rendered: Path) -> None:
    answers = yaml.safe_load(_read(rendered, ".copier-answers.yml"))
    context = model.context(answers)
    assert context is not None
    if not context["artifacts"]["app"]:
        assert not (rendered / "src").exists(), "include_app: false must not render application code"
        return
    platform = context["platform_dir"]
    expected = {
        f"{platform}/health/health.controller.ts": [f"withTimeout({LIMITS['database_readiness_ms']})"],
        f"{platform}/database/database.module.ts": [f"retryAttempts: {LIMITS['database_connect_attempts']},",
                                                    f"retryDelay: {LIMITS['database_connect_delay_ms']},"],
        f"{platform}/http/bootstrap.ts": [f"resolve(false), {LIMITS['consumer_start_wait_ms']})"],
    }
    if context["artifacts"]["redis"]:
        expected[f"{context['redis_dir']}/redis.health.ts"] = [f"withTimeout({LIMITS['redis_readiness_ms']})"]
    if context["artifacts"]["broker"]:
        messaging = context["messaging_dir"]
        expected[f"{messaging}/broker.health.ts"] = [f"withTimeout({LIMITS['broker_readiness_ms']})"]
        expected[f"{messaging}/integration-events.ts"] = [f"timeout({LIMITS['publish_ms']})"]
        expected[f"{messaging}/outbox.relay.ts"] = [
            f"const {name.upper()} = {LIMITS['outbox_' + name]};" if name != "retention_hours" else
            f"const RETENTION_MS = {LIMITS['outbox_retention_hours']} * 3_600_000;"
            for name in ("batch", "poll_ms", "backoff_ms", "max_backoff_ms", "retention_hours")]
        if answers["message_broker"] == "rabbitmq":
            expected[f"{messaging}/broker-options.ts"] = [f"'x-delivery-limit': {LIMITS['consumer_attempts']},",
                                                          f"prefetchCount: {LIMITS['consumer_prefetch']},"]
            expected[f"{messaging}/consumer.interceptor.ts"] = [
                f"const BACKOFF_MS = {LIMITS['consumer_backoff_ms']};",
                f"const MAX_BACKOFF_MS = {LIMITS['consumer_max_backoff_ms']};"]
        if answers["message_broker"] == "kafka":
            expected[f"{messaging}/broker-options.ts"] = [
                f"initialRetryTime: {LIMITS['consumer_backoff_ms']},", f"maxRetryTime: {LIMITS['consumer_max_backoff_ms']},",
                f"retries: {LIMITS['consumer_attempts']},"]
            expected[f"{messaging}/consumer.interceptor.ts"] = [f"failures < {LIMITS['consumer_attempts']})"]
    else:
        expected.pop(f"{platform}/http/bootstrap.ts")
    if answers["auth"] == "oidc":
        expected[f"{platform}/security/issuer-client.ts"] = [
            f"const TIMEOUT_MS = {LIMITS['oidc_discovery_ms']};", f"const ATTEMPTS = {LIMITS['oidc_attempts']};",
            f"const BACKOFF_MS = {LIMITS['oidc_backoff_ms']};", f"volumeThreshold: {LIMITS['oidc_breaker_volume']},",
            f"resetTimeout: {LIMITS['oidc_breaker_reset_ms']},"]
    missing = [f"{path}: {needle}" for path, needles in expected.items() for needle in needles
               if needle not in _read(rendered, path)]
    assert not missing, f"limits of resilience.yml not printed: {missing}"


def test_the_deployment_uses_the_probe_and_shutdown_limits(rendered: Path) -> None:
    found = 0
    for deployment in rendered.glob("deploy/k8s/base/deployment*.yaml"):
        for doc in yaml.safe_load_all(deployment.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "Deployment":
                continue
            found += 1
            pod = doc["spec"]["template"]["spec"]
            assert pod["terminationGracePeriodSeconds"] == LIMITS["termination_grace_s"]
            container = pod["containers"][0]
            assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == LIMITS["pre_stop_s"]
            readiness = container["readinessProbe"]
            assert readiness["periodSeconds"] == LIMITS["readiness_period_s"]
            assert readiness["failureThreshold"] == LIMITS["readiness_failure_threshold"]
            assert LIMITS["pre_stop_s"] < LIMITS["termination_grace_s"], "the drain needs time after the sleep"
    assert found, "no Deployment in deploy/k8s/base/"


def test_section_11_3_lists_each_dependency_with_existing_evidence(rendered: Path) -> None:
    answers = yaml.safe_load(_read(rendered, ".copier-answers.yml"))
    context = model.context(answers)
    assert context is not None
    section = _section(_read(rendered, str(DOC)), "11.3")
    keys = [s["key"] for s in context["resilience"]["scenarios"]]
    assert keys[0] == "database" and ("redis" in keys) == context["artifacts"]["redis"]
    assert ("broker" in keys) == context["artifacts"]["broker"]
    assert ("identity" in keys) == (answers["auth"] == "oidc")
    for scenario in context["resilience"]["scenarios"]:
        if context["artifacts"]["app"]:
            assert f"| {scenario['dependency']} |" in section, f"11.3 has no row for {scenario['dependency']}"
        else:
            assert scenario["dependency"] in section
        for path in scenario["evidence"]:
            assert (rendered / path).is_file(), f"evidence {path} of {scenario['key']} is not in the render"
            assert f"`{path}`" in section


@pytest.mark.parametrize("availability, rpo, rto, restore_fits", [
    (99.99, 0, 4, False),
    (99.95, 5, 21, False),
    (99.9, 5, 43, False),
    (99.5, 15, 216, False),
    (99.0, 15, 432, True),
])
def test_recovery_objectives_follow_the_availability(availability: float, rpo: int, rto: int,
                                                     restore_fits: bool) -> None:
    answers = {"slo_availability": availability, "p95_latency_ms": 200, "coverage_threshold": 80}
    recovery = objectives.recovery(answers)
    budget = float(objectives.slo(answers)["budget_minutes"])
    assert (recovery["rpo_minutes"], recovery["rto_minutes"], recovery["restore_fits"]) == (rpo, rto, restore_fits)
    assert recovery["rto_minutes"] <= budget < recovery["rto_minutes"] + 1, "the RTO is the budget, rounded down"


def test_section_8_5_states_the_derived_objectives(rendered: Path) -> None:
    context = model.context(yaml.safe_load(_read(rendered, ".copier-answers.yml")))
    assert context is not None
    section = _section(_read(rendered, str(DOC)), "8.5")
    recovery = context["recovery"]
    assert f"**{recovery['rto_minutes']} minutes**" in section
    assert f"**{recovery['rpo_minutes']} minutes**" in section
    assert "fits the RTO" in section if recovery["restore_fits"] else "does not fit" in section


def test_quality_data_is_complete() -> None:
    goals = {goal for profile in INDUSTRIES.values() for goal in profile["quality_goals"]}
    assert goals <= set(QUALITY["goals"]), f"goals without a meaning: {sorted(goals - set(QUALITY['goals']))}"
    named: list[dict[str, Any]] = [*QUALITY["scenarios"], *QUALITY["tactics"]]
    unknown = sorted({entry["adr"] for entry in named if entry.get("adr")} - ADR_KEYS)
    assert not unknown, f"decisions not in adrs.yml: {unknown}"
    assert all(isinstance(tactic["generated"], bool) for tactic in QUALITY["tactics"])


def test_section_2_4_has_a_row_per_goal(rendered: Path) -> None:
    context = model.context(yaml.safe_load(_read(rendered, ".copier-answers.yml")))
    assert context is not None
    section = _section(_read(rendered, str(DOC)), "2.4")
    for node in context["quality"]["tree"]:
        assert f"| {node['goal'].replace('-', ' ').capitalize()} |" in section
        for tactic in node["tactics"]:
            state = "built" if tactic["generated"] else "not built"
            assert f"{tactic['text']} (*{state}*)" in section
    ids = [s["id"] for s in context["quality"]["scenarios"]]
    assert len(ids) == len(set(ids)), f"scenario ids repeat: {ids}"
